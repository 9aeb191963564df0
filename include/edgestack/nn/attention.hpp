// The pieces of a tiny Transformer encoder over a T x D sequence: a learned positional
// embedding and multi-head self-attention (no mask: every step sees every other).
// With TimeDense, LayerNorm and Residual they make an encoder block.
#pragma once

#include <algorithm>
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
#include "edgestack/nn/detail/eigen.hpp"
#include "edgestack/nn/init.hpp"

namespace edgestack::nn {

/// y[t] = x[t] + E[t] with a learned table E [T][D] (small normal init).
struct PositionalEmbedding {
    template <ShapeType In>
    struct bind {
        static_assert(In::rank == 2, "PositionalEmbedding: input must be rank 2 (time steps x "
                                     "features) - project features first with TimeDense<D>");
        using input_shape = In;
        using output_shape = In;
        static constexpr std::size_t param_count = In::size;
        static constexpr std::size_t weight_count = 0;
        static constexpr std::size_t macs = 0;
        static std::string name() { return "PositionalEmbedding"; }

        void init(std::span<float> p, Rng& rng) const {
            for (float& v : p) v = rng.normal(0.0f, 0.02f);
        }
        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode, Rng&) {
            for (std::size_t b = 0; b < batch; ++b)
                for (std::size_t i = 0; i < In::size; ++i)
                    out[b * In::size + i] = in[b * In::size + i] + p[i];
        }
        void backward(const float*, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float>, std::span<float> g) {
            std::fill(g.begin(), g.end(), 0.0f);
            for (std::size_t b = 0; b < batch; ++b)
                for (std::size_t i = 0; i < In::size; ++i) g[i] += dout[b * In::size + i];
            if (din != nullptr) std::copy_n(dout, batch * In::size, din);
        }
        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            compile::Node node;
            node.op = compile::Op::positional_embedding;
            node.name = g.fresh_name(node.op);
            node.weights.assign(p.begin(), p.end());
            return g.append(std::move(node), {value},
                            compile::Dims(In::dims.begin(), In::dims.end()));
        }
    };
};

/// Multi-head self-attention: softmax(Q K^T / sqrt(D/Heads)) V per head, heads concatenated,
/// then an output projection. Parameters W_q|W_k|W_v|W_o ([D][D] each, [out][in]) then
/// b_q|b_k|b_v|b_o.
template <std::size_t Heads>
struct MultiHeadSelfAttention {
    static_assert(Heads > 0, "MultiHeadSelfAttention<Heads>: Heads must be at least 1");

    template <ShapeType In>
    struct bind {
        static_assert(In::rank == 2, "MultiHeadSelfAttention: input must be rank 2 (time steps "
                                     "x features)");
        static constexpr std::size_t T = In::dims[0];
        static constexpr std::size_t D = In::dims[1];
        static_assert(D % Heads == 0, "MultiHeadSelfAttention<Heads>: the feature size must be a "
                                      "multiple of Heads - change Heads or the TimeDense width");
        static constexpr std::size_t Dh = D / Heads;
        using input_shape = In;
        using output_shape = In;
        static constexpr std::size_t param_count = 4 * D * D + 4 * D;
        /// Four projections, not one [out][...] tensor: hooks see no weights.
        static constexpr std::size_t weight_count = 0;
        static constexpr std::size_t macs = 4 * T * D * D + 2 * T * T * D;
        static std::string name() {
            return "MultiHeadSelfAttention<" + std::to_string(Heads) + ">";
        }

        void init(std::span<float> p, Rng& rng) const {
            init::glorot_uniform(p.first(4 * D * D), D, D, rng);
            init::constant(p.subspan(4 * D * D), 0.0f);
        }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode, Rng&) {
            const auto rows = static_cast<Eigen::Index>(batch * T);
            qkv_.resize(batch * T * 3 * D);
            att_.resize(batch * Heads * T * T);
            ctx_.resize(batch * T * D);
            detail::ConstMapMatrix x(in, rows, D);
            detail::MapMatrix qkv(qkv_.data(), rows, 3 * D);
            qkv.noalias() = x * detail::ConstMapMatrix(p.data(), 3 * D, D).transpose();
            qkv.rowwise() += detail::ConstMapVector(p.data() + 4 * D * D, 3 * D).transpose();
            const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
            for (std::size_t b = 0; b < batch; ++b)
                for (std::size_t h = 0; h < Heads; ++h) {
                    auto q = part(qkv_.data(), b, 0, h), k = part(qkv_.data(), b, 1, h),
                         v = part(qkv_.data(), b, 2, h);
                    detail::MapMatrix a(att_.data() + (b * Heads + h) * T * T, T, T);
                    a.noalias() = scale * (q * k.transpose());
                    for (std::size_t i = 0; i < T; ++i) {
                        const float m = a.row(static_cast<Eigen::Index>(i)).maxCoeff();
                        a.row(static_cast<Eigen::Index>(i)) =
                            (a.row(static_cast<Eigen::Index>(i)).array() - m).exp();
                        a.row(static_cast<Eigen::Index>(i)) /= a.row(static_cast<Eigen::Index>(i)).sum();
                    }
                    ctx(ctx_.data(), b, h).noalias() = a * v;
                }
            detail::MapMatrix y(out, rows, D);
            y.noalias() = detail::ConstMapMatrix(ctx_.data(), rows, D) *
                          detail::ConstMapMatrix(p.data() + 3 * D * D, D, D).transpose();
            y.rowwise() += detail::ConstMapVector(p.data() + 4 * D * D + 3 * D, D).transpose();
        }

        void backward(const float* in, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            const auto rows = static_cast<Eigen::Index>(batch * T);
            detail::ConstMapMatrix dy(dout, rows, D);
            detail::ConstMapMatrix c(ctx_.data(), rows, D);
            detail::ConstMapMatrix wo(p.data() + 3 * D * D, D, D);
            detail::MapMatrix(g.data() + 3 * D * D, D, D).noalias() = dy.transpose() * c;
            detail::MapVector(g.data() + 4 * D * D + 3 * D, D) = dy.colwise().sum().transpose();
            dctx_.resize(batch * T * D);
            detail::MapMatrix(dctx_.data(), rows, D).noalias() = dy * wo;
            dqkv_.resize(batch * T * 3 * D);
            const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
            detail::RowMatrix da(T, T), ds(T, T);
            for (std::size_t b = 0; b < batch; ++b)
                for (std::size_t h = 0; h < Heads; ++h) {
                    auto q = part(qkv_.data(), b, 0, h), k = part(qkv_.data(), b, 1, h),
                         v = part(qkv_.data(), b, 2, h);
                    detail::ConstMapMatrix a(att_.data() + (b * Heads + h) * T * T, T, T);
                    auto dc = ctx(dctx_.data(), b, h);
                    da.noalias() = dc * v.transpose();
                    part(dqkv_.data(), b, 2, h).noalias() = a.transpose() * dc;
                    // Softmax backward, row by row: ds = a * (da - rowsum(da * a)).
                    const Eigen::VectorXf dot = (da.array() * a.array()).rowwise().sum();
                    ds = (a.array() * (da.array().colwise() - dot.array())).matrix() * scale;
                    part(dqkv_.data(), b, 0, h).noalias() = ds * k;
                    part(dqkv_.data(), b, 1, h).noalias() = ds.transpose() * q;
                }
            detail::ConstMapMatrix dqkv(dqkv_.data(), rows, 3 * D);
            detail::ConstMapMatrix x(in, rows, D);
            detail::MapMatrix(g.data(), 3 * D, D).noalias() = dqkv.transpose() * x;
            detail::MapVector(g.data() + 4 * D * D, 3 * D) = dqkv.colwise().sum().transpose();
            if (din != nullptr)
                detail::MapMatrix(din, rows, D).noalias() =
                    dqkv * detail::ConstMapMatrix(p.data(), 3 * D, D);
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            compile::Node node;
            node.op = compile::Op::attention;
            node.name = g.fresh_name(node.op);
            node.kernel = {Heads, 1};
            node.weights.assign(p.begin(), p.begin() + 4 * D * D);
            node.bias.assign(p.begin() + 4 * D * D, p.end());
            return g.append(std::move(node), {value},
                            compile::Dims(In::dims.begin(), In::dims.end()));
        }

    private:
        using Strided = Eigen::Map<detail::RowMatrix, 0, Eigen::OuterStride<>>;
        /// Head h's slice of Q (which = 0), K (1) or V (2) for sample b: T x Dh, rows 3D apart.
        static Strided part(float* base, std::size_t b, std::size_t which, std::size_t h) {
            return Strided(base + b * T * 3 * D + which * D + h * Dh, T, Dh,
                           Eigen::OuterStride<>(3 * D));
        }
        /// Head h's columns of the concatenated context: T x Dh, rows D apart.
        static Strided ctx(float* base, std::size_t b, std::size_t h) {
            return Strided(base + b * T * D + h * Dh, T, Dh, Eigen::OuterStride<>(D));
        }

        AlignedVector<float> qkv_, att_, ctx_, dctx_, dqkv_;
    };
};

} // namespace edgestack::nn
