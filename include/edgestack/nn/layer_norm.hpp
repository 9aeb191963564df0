// LayerNorm over the last axis (each time step or feature vector on its own): the
// normalization of Transformer blocks; no running statistics, so train and eval agree.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/aligned.hpp"
#include "edgestack//compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/init.hpp"

namespace edgestack::nn {

/// Parameters gamma[C] then beta[C].
template <float Eps = 1e-5f>
struct BasicLayerNorm {
    static_assert(Eps > 0.0f, "LayerNorm<Eps>: Eps must be > 0");

    template <ShapeType In>
    struct bind {
        static constexpr std::size_t C = In::dims[In::rank - 1];
        using input_shape = In;
        using output_shape = In;
        static constexpr std::size_t param_count = 2 * C;
        static constexpr std::size_t weight_count = 0;
        static constexpr std::size_t macs = In::size;
        static std::string name() { return "LayerNorm"; }

        void init(std::span<float> p, Rng&) const {
            init::constant(p.first(C), 1.0f);
            init::constant(p.subspan(C), 0.0f);
        }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode, Rng&) {
            const std::size_t rows = batch * In::size / C;
            inv_std_.resize(rows);
            xhat_.resize(rows * C);
            for (std::size_t r = 0; r < rows; ++r) {
                const float* x = in + r * C;
                float mean = 0.0f, var = 0.0f;
                for (std::size_t c = 0; c < C; ++c) mean += x[c];
                mean /= static_cast<float>(C);
                for (std::size_t c = 0; c < C; ++c) var += (x[c] - mean) * (x[c] - mean);
                var /= static_cast<float>(C);
                const float inv = 1.0f / std::sqrt(var + Eps);
                inv_std_[r] = inv;
                for (std::size_t c = 0; c < C; ++c) {
                    const float xh = (x[c] - mean) * inv;
                    xhat_[r * C + c] = xh;
                    out[r * C + c] = p[c] * xh + p[C + c];
                }
            }
        }

        void backward(const float*, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            const std::size_t rows = batch * In::size / C;
            std::fill(g.begin(), g.end(), 0.0f);
            for (std::size_t r = 0; r < rows; ++r) {
                const float* dy = dout + r * C;
                const float* xh = xhat_.data() + r * C;
                float s1 = 0.0f, s2 = 0.0f;
                for (std::size_t c = 0; c < C; ++c) {
                    g[c] += dy[c] * xh[c];
                    g[C + c] += dy[c];
                    const float d = dy[c] * p[c];
                    s1 += d;
                    s2 += d * xh[c];
                }
                if (din == nullptr) continue;
                const float invc = 1.0f / static_cast<float>(C);
                for (std::size_t c = 0; c < C; ++c)
                    din[r * C + c] = inv_std_[r] * (dy[c] * p[c] - invc * s1 - xh[c] * invc * s2);
            }
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            compile::Node node;
            node.op = compile::Op::layer_norm;
            node.name = g.fresh_name(node.op);
            node.alpha = Eps;
            node.extra.assign(p.begin(), p.end());
            return g.append(std::move(node), {value},
                            compile::Dims(In::dims.begin(), In::dims.end()));
        }

    private:
        AlignedVector<float> inv_std_, xhat_;
    };
};

/// Layer normalization with the default epsilon.
using LayerNorm = BasicLayerNorm<>;

} // namespace edgestack::nn
