// Batch normalization over the last (channel) axis. Train mode normalizes with the batch's
// statistics and updates running ones; eval mode uses the running ones. The running mean and
// variance are model *state*, kept in Sequential's state block, not in its parameters, so
// optimizers and weight decay never touch them while checkpoints still save them.
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

/// Parameters: gamma[C] then beta[C]. State: running mean[C] then running variance[C]
/// (unbiased, updated as r = (1 - Momentum) r + Momentum * batch value, as PyTorch does).
template <float Momentum = 0.1f, float Eps = 1e-5f>
struct BasicBatchNorm {
    static_assert(Momentum > 0.0f && Momentum <= 1.0f && Eps > 0.0f,
                  "BatchNorm<Momentum, Eps>: Momentum must be in (0, 1] and Eps > 0");

    template <ShapeType In>
    struct bind {
        static constexpr std::size_t C = In::dims[In::rank - 1];
        static constexpr std::size_t positions = In::size / C;
        using input_shape = In;
        using output_shape = In;
        static constexpr std::size_t param_count = 2 * C;
        /// Gamma and beta are folded into the layer before it, not quantized per channel.
        static constexpr std::size_t weight_count = 0;
        static constexpr std::size_t state_count = 2 * C;
        static constexpr std::size_t macs = In::size;
        static std::string name() { return "BatchNorm"; }

        void init(std::span<float> p, Rng&) const {
            init::constant(p.first(C), 1.0f);
            init::constant(p.subspan(C), 0.0f);
        }
        void init_state(std::span<float> s) const {
            init::constant(s.first(C), 0.0f);
            init::constant(s.subspan(C), 1.0f);
        }
        void attach_state(std::span<float> s) noexcept { state_ = s; }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode mode, Rng&) {
            const float* gamma = p.data();
            const float* beta = p.data() + C;
            float* rmean = state_.data();
            float* rvar = state_.data() + C;
            mean_.assign(C, 0.0f);
            inv_std_.assign(C, 0.0f);
            train_ = mode == Mode::train;
            const std::size_t m = batch * positions;
            if (train_) {
                // Two passes in double: one batch can hold 10^5+ values per channel.
                std::vector<double> sum(C, 0.0), sq(C, 0.0);
                for (std::size_t r = 0; r < m; ++r)
                    for (std::size_t c = 0; c < C; ++c) sum[c] += in[r * C + c];
                for (std::size_t c = 0; c < C; ++c) sum[c] /= static_cast<double>(m);
                for (std::size_t r = 0; r < m; ++r)
                    for (std::size_t c = 0; c < C; ++c) {
                        const double d = in[r * C + c] - sum[c];
                        sq[c] += d * d;
                    }
                for (std::size_t c = 0; c < C; ++c) {
                    const double var = sq[c] / static_cast<double>(m);
                    mean_[c] = static_cast<float>(sum[c]);
                    inv_std_[c] = static_cast<float>(1.0 / std::sqrt(var + Eps));
                    const double unbiased = m > 1 ? sq[c] / static_cast<double>(m - 1) : var;
                    rmean[c] = (1.0f - Momentum) * rmean[c] + Momentum * mean_[c];
                    rvar[c] = (1.0f - Momentum) * rvar[c] + Momentum * static_cast<float>(unbiased);
                }
            } else {
                for (std::size_t c = 0; c < C; ++c) {
                    mean_[c] = rmean[c];
                    inv_std_[c] = 1.0f / std::sqrt(rvar[c] + Eps);
                }
            }
            for (std::size_t r = 0; r < m; ++r)
                for (std::size_t c = 0; c < C; ++c)
                    out[r * C + c] = gamma[c] * (in[r * C + c] - mean_[c]) * inv_std_[c] + beta[c];
        }

        void backward(const float* in, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            const float* gamma = p.data();
            const std::size_t m = batch * positions;
            std::vector<double> dgamma(C, 0.0), dbeta(C, 0.0);
            for (std::size_t r = 0; r < m; ++r)
                for (std::size_t c = 0; c < C; ++c) {
                    const double xhat = (in[r * C + c] - mean_[c]) * inv_std_[c];
                    dgamma[c] += dout[r * C + c] * xhat;
                    dbeta[c] += dout[r * C + c];
                }
            for (std::size_t c = 0; c < C; ++c) {
                g[c] = static_cast<float>(dgamma[c]);
                g[C + c] = static_cast<float>(dbeta[c]);
            }
            if (din == nullptr) return;
            if (!train_) {
                for (std::size_t r = 0; r < m; ++r)
                    for (std::size_t c = 0; c < C; ++c)
                        din[r * C + c] = dout[r * C + c] * gamma[c] * inv_std_[c];
                return;
            }
            // dx = gamma * inv_std / m * (m dy - sum(dy) - xhat * sum(dy * xhat))
            const double inv_m = 1.0 / static_cast<double>(m);
            for (std::size_t r = 0; r < m; ++r)
                for (std::size_t c = 0; c < C; ++c) {
                    const double xhat = (in[r * C + c] - mean_[c]) * inv_std_[c];
                    const double v = dout[r * C + c] - dbeta[c] * inv_m - xhat * dgamma[c] * inv_m;
                    din[r * C + c] = static_cast<float>(gamma[c] * inv_std_[c] * v);
                }
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            compile::Node node;
            node.op = compile::Op::batch_norm;
            node.name = g.fresh_name(node.op);
            node.alpha = Eps;
            node.extra.assign(p.begin(), p.begin() + 2 * C);
            node.extra.insert(node.extra.end(), state_.begin(), state_.end());
            return g.append(std::move(node), {value},
                            compile::Dims(In::dims.begin(), In::dims.end()));
        }

    private:
        std::span<float> state_;
        AlignedVector<float> mean_, inv_std_;
        bool train_ = false;
    };
};

/// Batch normalization with PyTorch's defaults (momentum 0.1, eps 1e-5).
using BatchNorm = BasicBatchNorm<>;

} // namespace edgestack::nn
