// Dense (fully connected) layers: y = W x + b with W stored [out][in], GEMM through Eigen;
// TimeDense applies the same to each step of a sequence.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/detail/chunks.hpp"
#include "edgestack/nn/detail/eigen.hpp"
#include "edgestack/nn/detail/gemm.hpp"
#include "edgestack/nn/init.hpp"

namespace edgestack::nn {

namespace detail {

/// y[r] = W x[r] + b for every row r of a Rows x In sample: Dense (Rows = 1) and TimeDense
/// (one row per time step) share it. Work is split over output units (forward, weight
/// gradient) or input features (input gradient), so no partial sums cross threads.
template <std::size_t Rows, std::size_t In, std::size_t Units>
struct DenseRows {
    static constexpr std::size_t in_features = In;
    static constexpr std::size_t weight_count = Units * In;
    static constexpr std::size_t param_count = Units * In + Units;
    static constexpr std::size_t macs = Rows * Units * In;

    /// He-uniform weights (suits the ReLU networks this is mostly used in), zero bias.
    void init(std::span<float> p, Rng& rng) const {
        init::he_uniform(p.first(weight_count), In, rng);
        init::constant(p.subspan(weight_count), 0.0f);
    }

    static constexpr std::size_t split(std::size_t n, std::size_t work) noexcept {
        // Below ~1M MACs a split costs more than it saves.
        return work < (std::size_t{1} << 20) ? n : std::max<std::size_t>(16, (n + 3) / 4);
    }

    void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                 Mode, Rng&) {
        const auto n = static_cast<Eigen::Index>(batch * Rows);
        ConstMapVector b(p.data() + weight_count, Units);
        MapMatrix y(out, n, Units);
        parallel_chunks(0, Units, split(Units, batch * macs), [&](std::size_t u0, std::size_t u1) {
            const auto c0 = static_cast<Eigen::Index>(u0), nc = static_cast<Eigen::Index>(u1 - u0);
            // y[:, c0:c0+nc] = x w[c0:c0+nc, :]^T
            gemm(false, true, n, nc, In, in, In, p.data() + u0 * In, In, out + u0, Units, false);
            y.middleCols(c0, nc).rowwise() += b.segment(c0, nc).transpose();
        });
    }

    void backward(const float* in, const float* dout, float* din, std::size_t batch,
                  std::span<const float> p, std::span<float> g) {
        const auto n = static_cast<Eigen::Index>(batch * Rows);
        ConstMapMatrix dy(dout, n, Units);
        MapVector db(g.data() + weight_count, Units);
        parallel_chunks(0, Units, split(Units, batch * macs), [&](std::size_t u0, std::size_t u1) {
            const auto c0 = static_cast<Eigen::Index>(u0), nc = static_cast<Eigen::Index>(u1 - u0);
            // dw[c0:c0+nc, :] = dy[:, c0:c0+nc]^T x
            gemm(true, false, nc, In, n, dout + u0, Units, in, In, g.data() + u0 * In, In, false);
            db.segment(c0, nc) = dy.middleCols(c0, nc).colwise().sum().transpose();
        });
        if (din != nullptr) {
            parallel_chunks(0, In, split(In, batch * macs), [&](std::size_t i0, std::size_t i1) {
                // dx[:, i0:i1] = dy w[:, i0:i1]
                const auto nc = static_cast<Eigen::Index>(i1 - i0);
                gemm(false, false, n, nc, Units, dout, Units, p.data() + i0, In, din + i0, In,
                     false);
            });
        }
    }

    int lower(compile::Graph& g, int value, std::span<const float> p, compile::Dims out) const {
        compile::Node node;
        node.op = compile::Op::dense;
        node.name = g.fresh_name(node.op);
        node.weights.assign(p.begin(), p.begin() + weight_count);
        node.bias.assign(p.begin() + weight_count, p.begin() + param_count);
        return g.append(std::move(node), {value}, std::move(out));
    }
};

} // namespace detail

/// Fully connected layer over a feature vector: `Dense<128>`.
template <std::size_t Units>
struct Dense {
    static_assert(Units > 0, "Dense<N>: N (the number of units) must be at least 1");

    template <ShapeType In>
    struct bind : detail::DenseRows<1, In::size, Units> {
        static_assert(In::rank == 1,
                      "Dense<N>: input must be rank 1 - insert Flatten before it (or use "
                      "TimeDense<N> to apply it to every time step of a sequence)");
        using input_shape = In;
        using output_shape = Shape<Units>;
        static std::string name() { return "Dense<" + std::to_string(Units) + ">"; }

        void backward(const float* in, const float* /*out*/, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            detail::DenseRows<1, In::size, Units>::backward(in, dout, din, batch, p, g);
        }
        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            return detail::DenseRows<1, In::size, Units>::lower(g, value, p, {Units});
        }
    };
};

/// The same dense layer applied to every time step of a sequence (T x F -> T x Units), as
/// Transformer feed-forward blocks and projections need. Lowers to `dense` over the last axis.
template <std::size_t Units>
struct TimeDense {
    static_assert(Units > 0, "TimeDense<N>: N (the number of units) must be at least 1");

    template <ShapeType In>
    struct bind : detail::DenseRows<In::dims[0], In::dims[In::rank - 1], Units> {
        static_assert(In::rank == 2, "TimeDense<N>: input must be rank 2 (time x features) - "
                                     "use Dense<N> for a feature vector");
        using base = detail::DenseRows<In::dims[0], In::dims[In::rank - 1], Units>;
        using input_shape = In;
        using output_shape = Shape<In::dims[0], Units>;
        static std::string name() { return "TimeDense<" + std::to_string(Units) + ">"; }

        void backward(const float* in, const float* /*out*/, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            base::backward(in, dout, din, batch, p, g);
        }
        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            return base::lower(g, value, p, {In::dims[0], Units});
        }
    };
};

} // namespace edgestack::nn
