// Layer-by-layer comparison of two engines on the same input: any two backends, or the
// fp32 (or fake-quantized) graph against the int8 engine. Names the first layer whose
// outputs differ beyond a tolerance and gives every layer's error statistics, so a
// disagreement at the output can be traced to the layer that caused it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::backend {

/// How one layer's outputs differ between two engines run on the same input.
struct LayerDiff {
    std::string name;         ///< node name (canonical graph)
    std::string op;           ///< operation ("conv2d", ...)
    std::size_t elements = 0; ///< values compared
    double max_abs = 0.0;     ///< largest |a - b|
    double mean_abs = 0.0;    ///< mean |a - b|
    double rms = 0.0;         ///< root mean square of a - b
    double max_rel = 0.0;     ///< |a - b| / max(|a|, |b|, 1e-6) at its largest
    double ref_absmax = 0.0;  ///< largest |a|
    double step = 0.0;        ///< int8 output step of either side (0 if both fp32)
    bool exceeds = false;     ///< beyond the Tolerance somewhere
};

/// Layer-by-layer differences of two engines, and the first layer beyond tolerance.
struct LayerComparison {
    std::vector<LayerDiff> layers; ///< layers both engines have, in execution order
    int first_divergent = -1;      ///< index into layers, -1 when all agree

    /// The first divergent layer, or nullptr when all agree.
    const LayerDiff* first() const noexcept {
        return first_divergent < 0 ? nullptr : &layers[static_cast<std::size_t>(first_divergent)];
    }

    /// One line per layer; the first divergent one marked.
    std::string table() const {
        std::string s = "layer                 op                  max|d|      mean|d|     rms         max rel     int8 step\n";
        char buf[256];
        for (std::size_t i = 0; i < layers.size(); ++i) {
            const auto& l = layers[i];
            std::snprintf(buf, sizeof buf, "%-21s %-19s %-11.4g %-11.4g %-11.4g %-11.4g %-10.4g%s\n",
                          l.name.c_str(), l.op.c_str(), l.max_abs, l.mean_abs, l.rms, l.max_rel,
                          l.step, static_cast<int>(i) == first_divergent ? "  <- first beyond tolerance" : "");
            s += buf;
        }
        return s;
    }
};

/// How far two layers may differ: abs_tol + rel_tol * |reference| + steps * (int8 step).
struct Tolerance {
    double abs_tol = 1e-6; ///< absolute part
    double rel_tol = 1e-5; ///< relative part, times |reference|
    double steps = 0.0;    ///< for int8 against fp32: allow this many output quantization steps
};

namespace detail {

template <class Engine>
std::map<std::string, std::vector<float>> layer_outputs(const Engine& e, std::span<const float> in,
                                                        std::vector<std::string>& order,
                                                        std::map<std::string, double>& steps) {
    const std::size_t batch = in.size() / e.input_size();
    auto arena = e.make_arena(batch);
    std::vector<float> out(batch * e.output_size());
    std::map<std::string, std::vector<float>> outputs;
    const auto& g = e.graph();
    const bool q = e.int8();
    const bool ok = e.run_traced(in, out, arena, [&](std::size_t i, const Step& s, const std::byte* p) {
        const std::size_t n = batch * s.out.size();
        std::vector<float> v(n);
        if (q) {
            const auto& vq = g.value_quant[static_cast<std::size_t>(g.nodes[i].output)];
            const auto* c = reinterpret_cast<const std::int8_t*>(p);
            for (std::size_t k = 0; k < n; ++k) v[k] = quant::dequantize(c[k], vq.scale[0], vq.zero_point[0]);
            steps[s.name] = vq.scale[0];
        } else {
            const auto* f = reinterpret_cast<const float*>(p);
            v.assign(f, f + n);
        }
        order.push_back(s.name);
        outputs[s.name] = std::move(v);
    });
    if (!ok)
        throw shape_error("compare_layers: input of " + std::to_string(in.size()) +
                          " floats is not a whole batch of " + std::to_string(e.input_size()));
    return outputs;
}

} // namespace detail

/// Run `a` (the reference side) and `b` on `in`, compare every layer both have (matched by
/// node name after the passes), and report.
template <class EngineA, class EngineB>
LayerComparison compare_layers(const EngineA& a, const EngineB& b, std::span<const float> in,
                               Tolerance tol = {}) {
    if (a.input_size() != b.input_size())
        throw shape_error("compare_layers: the engines take " + std::to_string(a.input_size()) +
                          " and " + std::to_string(b.input_size()) + " inputs per sample");
    std::vector<std::string> order_a, order_b;
    std::map<std::string, double> steps;
    const auto oa = detail::layer_outputs(a, in, order_a, steps);
    const auto ob = detail::layer_outputs(b, in, order_b, steps);
    LayerComparison r;
    for (const auto& name : order_a) {
        const auto it = ob.find(name);
        if (it == ob.end()) continue;
        const auto& x = oa.at(name);
        const auto& y = it->second;
        if (x.size() != y.size()) continue;
        LayerDiff d;
        d.name = name;
        for (const auto& n : a.graph().nodes)
            if (n.name == name) d.op = std::string(compile::op_name(n.op));
        d.elements = x.size();
        const auto st = steps.find(name);
        d.step = st == steps.end() ? 0.0 : st->second;
        double sum = 0.0, sq = 0.0;
        for (std::size_t k = 0; k < x.size(); ++k) {
            const double diff = std::abs(double(x[k]) - double(y[k]));
            const double mag = std::max({std::abs(double(x[k])), std::abs(double(y[k])), 1e-6});
            d.max_abs = std::max(d.max_abs, diff);
            d.max_rel = std::max(d.max_rel, diff / mag);
            d.ref_absmax = std::max(d.ref_absmax, std::abs(double(x[k])));
            sum += diff;
            sq += diff * diff;
            if (diff > tol.abs_tol + tol.rel_tol * std::abs(double(x[k])) + tol.steps * d.step) d.exceeds = true;
        }
        d.mean_abs = x.empty() ? 0.0 : sum / double(x.size());
        d.rms = x.empty() ? 0.0 : std::sqrt(sq / double(x.size()));
        if (d.exceeds && r.first_divergent < 0) r.first_divergent = static_cast<int>(r.layers.size());
        r.layers.push_back(std::move(d));
    }
    return r;
}

} // namespace edgestack::backend
