// Flatten: any sample shape to rank 1. NHWC order is kept, so it costs one copy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"

namespace edgestack::nn {

struct Flatten {
    template <ShapeType In>
    struct bind {
        using input_shape = In;
        using output_shape = Shape<In::size>;
        static constexpr std::size_t param_count = 0;
        static constexpr std::size_t macs = 0;
        static std::string name() { return "Flatten"; }

        void init(std::span<float>, Rng&) const {}
        void forward(const float* in, float* out, std::size_t batch, std::span<const float>, Mode,
                     Rng&) {
            std::copy_n(in, batch * In::size, out);
        }
        void backward(const float*, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float>, std::span<float>) {
            if (din != nullptr) std::copy_n(dout, batch * In::size, din);
        }
        int lower(compile::Graph& g, int value, std::span<const float>) const {
            compile::Node node;
            node.op = compile::Op::flatten;
            node.name = g.fresh_name(node.op);
            return g.append(std::move(node), {value}, {In::size});
        }
    };
};

} // namespace edgestack::nn
