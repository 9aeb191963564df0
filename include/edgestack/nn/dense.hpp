// Dense (fully connected) layer: y = W x + b with W stored [out][in], GEMM through Eigen.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include <Eigen/Core>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"

namespace edgestack::nn {

namespace detail {
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapMatrix = Eigen::Map<RowMatrix>;
using ConstMapMatrix = Eigen::Map<const RowMatrix>;
using MapVector = Eigen::Map<Eigen::VectorXf>;
using ConstMapVector = Eigen::Map<const Eigen::VectorXf>;
} // namespace detail

template <std::size_t Units>
struct Dense {
    static_assert(Units > 0, "Dense<N>: N (the number of units) must be at least 1");

    template <ShapeType In>
    struct bind {
        static_assert(In::rank == 1, "Dense<N>: input must be rank 1 - insert Flatten before it");

        using input_shape = In;
        using output_shape = Shape<Units>;
        static constexpr std::size_t in_features = In::size;
        static constexpr std::size_t param_count = Units * in_features + Units;
        static constexpr std::size_t macs = Units * in_features;
        static std::string name() { return "Dense<" + std::to_string(Units) + ">"; }

        /// He-uniform weights (suits the ReLU networks this is mostly used in), zero bias.
        void init(std::span<float> p, Rng& rng) const {
            const float limit = std::sqrt(6.0f / static_cast<float>(in_features));
            for (std::size_t i = 0; i < Units * in_features; ++i) p[i] = rng.uniform(-limit, limit);
            for (std::size_t i = Units * in_features; i < param_count; ++i) p[i] = 0.0f;
        }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode, Rng&) {
            const auto n = static_cast<Eigen::Index>(batch);
            detail::ConstMapMatrix x(in, n, in_features);
            detail::ConstMapMatrix w(p.data(), Units, in_features);
            detail::ConstMapVector b(p.data() + Units * in_features, Units);
            detail::MapMatrix y(out, n, Units);
            y.noalias() = x * w.transpose();
            y.rowwise() += b.transpose();
        }

        void backward(const float* in, const float* /*out*/, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            const auto n = static_cast<Eigen::Index>(batch);
            detail::ConstMapMatrix x(in, n, in_features);
            detail::ConstMapMatrix dy(dout, n, Units);
            detail::ConstMapMatrix w(p.data(), Units, in_features);
            detail::MapMatrix dw(g.data(), Units, in_features);
            detail::MapVector db(g.data() + Units * in_features, Units);
            dw.noalias() = dy.transpose() * x;
            db = dy.colwise().sum().transpose();
            if (din != nullptr) {
                detail::MapMatrix dx(din, n, in_features);
                dx.noalias() = dy * w;
            }
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            compile::Node node;
            node.op = compile::Op::dense;
            node.name = g.fresh_name(node.op);
            node.weights.assign(p.begin(), p.begin() + Units * in_features);
            node.bias.assign(p.begin() + Units * in_features, p.begin() + param_count);
            return g.append(std::move(node), {value}, {Units});
        }
    };
};

} // namespace edgestack::nn
