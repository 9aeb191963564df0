// backend::Reference: runs a graph op by op with plain loops. Slow and obviously right; the
// oracle the other backends are compared with, and the fallback for any op they lack.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "edgestack/backend/arena.hpp"
#include "edgestack/backend/detail/reference_kernels.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"

namespace edgestack::backend {

class ReferenceEngine {
public:
    using arena_type = Arena;

    explicit ReferenceEngine(compile::Graph g) : graph_(std::move(g)) {
        offsets_.resize(graph_.values.size() + 1);
        std::size_t acc = 0;
        for (std::size_t v = 0; v < graph_.values.size(); ++v) {
            offsets_[v] = acc;
            acc += compile::volume(graph_.values[v]);
        }
        offsets_.back() = acc;
        for (const auto& n : graph_.nodes) check_supported(n);
    }

    std::size_t input_size() const noexcept { return graph_.input_size(); }
    std::size_t output_size() const noexcept { return graph_.output_size(); }
    const compile::Graph& graph() const noexcept { return graph_; }

    /// An arena for batches of up to `max_batch` samples.
    Arena make_arena(std::size_t max_batch) const {
        Arena a;
        a.max_batch = max_batch;
        a.floats.assign(offsets_.back() * max_batch, 0.0f);
        return a;
    }

    /// Run on in.size() / input_size() samples. False (and nothing written) when the sizes
    /// do not fit: a ragged input, a short output, or more samples than the arena holds.
    bool run(std::span<const float> in, std::span<float> out, Arena& arena) const noexcept {
        const std::size_t isz = input_size(), osz = output_size();
        if (in.empty() || in.size() % isz != 0) return false;
        const std::size_t batch = in.size() / isz;
        if (out.size() != batch * osz || batch > arena.max_batch) return false;
        float* base = arena.floats.data();
        auto value = [&](int v) { return base + offsets_[static_cast<std::size_t>(v)] * batch; };
        std::copy(in.begin(), in.end(), value(0));
        for (const auto& n : graph_.nodes) {
            const float* x = value(n.inputs[0]);
            float* y = value(n.output);
            const std::size_t in_n = compile::volume(graph_.values[static_cast<std::size_t>(n.inputs[0])]);
            const std::size_t out_n = compile::volume(graph_.values[static_cast<std::size_t>(n.output)]);
            switch (n.op) {
            case compile::Op::dense:
                detail::f32_dense_ref(x, n.weights.data(), n.bias.data(), y, batch, in_n, out_n,
                                      n.fused);
                break;
            case compile::Op::relu: detail::f32_relu_ref(x, y, batch * out_n); break;
            case compile::Op::flatten:
            case compile::Op::dropout: detail::f32_copy_ref(x, y, batch * out_n); break;
            default: return false; // unreachable: rejected by check_supported
            }
        }
        const float* y = value(graph_.output);
        std::copy(y, y + batch * osz, out.begin());
        return true;
    }

    /// Convenience for one caller: runs in an arena the engine keeps (not thread-safe).
    bool run(std::span<const float> in, std::span<float> out) {
        const std::size_t batch = in.size() / input_size();
        if (own_.max_batch < batch) own_ = make_arena(batch);
        return run(in, out, own_);
    }

private:
    static void check_supported(const compile::Node& n) {
        switch (n.op) {
        case compile::Op::dense:
        case compile::Op::relu:
        case compile::Op::flatten:
        case compile::Op::dropout: return;
        default:
            throw config_error("backend::Reference: node '" + n.name + "' has op '" +
                               std::string(compile::op_name(n.op)) +
                               "', which this backend does not run");
        }
    }

    compile::Graph graph_;
    std::vector<std::size_t> offsets_;
    Arena own_;
};

struct Reference {
    static constexpr const char* name = "reference";
    ReferenceEngine compile(const compile::Graph& g) const { return ReferenceEngine(g); }
};

} // namespace edgestack::backend
