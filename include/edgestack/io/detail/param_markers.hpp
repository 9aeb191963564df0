// What both ways of importing weights into a declared model share: the model lowered with
// every parameter holding its own index (and every state slot -1 - its index), so that each
// element of a lowered tensor names the parameter it came from; the model lowered with NaN
// parameters, so that what stays finite is a constant of the lowering (an average pool that
// counts its padding lowers to a depthwise convolution of constant weights); and the copies
// of parameters and state that imported values go into before the model is changed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"

namespace edgestack::io::detail {

/// The model's parameters and state as values to be filled, then written back at once.
template <class Model>
struct ParamSink {
    std::vector<float> params; ///< the model's parameters, to be overwritten
    std::vector<float> state;  ///< its state (batch norm statistics ...), likewise

    /// Copies of `model`'s parameters and state.
    explicit ParamSink(Model& model) : params(model.parameters().begin(), model.parameters().end()) {
        if constexpr (requires { model.state(); }) state.assign(model.state().begin(), model.state().end());
    }
    /// values[i] goes to the parameter (markers[i] >= 0) or state slot (-1 - markers[i])
    /// the marker names; elements whose `constants` entry is finite are no parameter.
    void assign(const std::vector<float>& markers, const std::vector<float>& values,
                const std::vector<float>* constants = nullptr) {
        for (std::size_t i = 0; i < markers.size(); ++i) {
            if (constants && i < constants->size() && std::isfinite((*constants)[i])) continue;
            const float mk = markers[i];
            if (mk >= 0) params[static_cast<std::size_t>(mk)] = values[i];
            else state[static_cast<std::size_t>(-mk - 1.0f)] = values[i];
        }
    }
    /// Writes the values into `model`.
    void commit(Model& model) const {
        std::copy(params.begin(), params.end(), model.parameters().begin());
        if constexpr (requires { model.state(); }) std::copy(state.begin(), state.end(), model.state().begin());
    }
};

/// `model` lowered with every parameter holding its index and every state slot -1 - its
/// index; config_error (naming `name`) when there are too many to be exact in a float.
template <class Model>
compile::Graph lower_with_markers(const Model& model, const std::string& name) {
    Model probe = model;
    auto p = probe.parameters();
    constexpr std::size_t exact = std::size_t{1} << 24;
    std::size_t state_n = 0;
    if constexpr (requires { probe.state(); }) state_n = probe.state().size();
    if (p.size() >= exact || state_n >= exact)
        throw config_error(name + ": the model has more than 2^24 parameters, too many for import");
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(i);
    if constexpr (requires { probe.state(); }) {
        auto s = probe.state();
        for (std::size_t i = 0; i < s.size(); ++i) s[i] = -1.0f - static_cast<float>(i);
    }
    return probe.lower();
}

/// `model` lowered with every parameter NaN: the finite elements are constants of the lowering.
template <class Model>
compile::Graph lower_with_nans(const Model& model) {
    Model probe = model;
    for (auto& v : probe.parameters()) v = std::numeric_limits<float>::quiet_NaN();
    return probe.lower();
}

} // namespace edgestack::io::detail
