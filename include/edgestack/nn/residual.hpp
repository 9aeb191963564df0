// Residual<Block...>: out = Block(x) + shortcut(x). The shortcut is the identity, or a
// projection when the block changes the shape: Residual<Projection<Conv2D<64, 1, 2>>, ...>.
// Lowers to the block's nodes, the projection's nodes, then an `add`.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "edgestack/core/aligned.hpp"
#include "edgestack//compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/detail/shape_graph.hpp"
#include "edgestack/nn/detail/stack.hpp"

namespace edgestack::nn {

/// The layers of a projection shortcut; as the first argument of Residual.
template <class... Specs>
struct Projection {};

namespace detail {

template <class... Block>
struct residual_parts {
    template <class In>
    using main = LayerStack<In, Block...>;
    template <class In>
    using shortcut = LayerStack<In>;
};
template <class... P, class... Block>
struct residual_parts<Projection<P...>, Block...> {
    template <class In>
    using main = LayerStack<In, Block...>;
    template <class In>
    using shortcut = LayerStack<In, P...>;
};

} // namespace detail

template <class... Block>
struct Residual {
    template <ShapeType In>
    struct bind {
        using Main = typename detail::residual_parts<Block...>::template main<In>;
        using Short = typename detail::residual_parts<Block...>::template shortcut<In>;
        static_assert(Main::depth > 0, "Residual<...>: the block needs at least one layer");
        static_assert(std::is_same_v<typename Main::output_shape, typename Short::output_shape>,
                      "Residual<...>: the block's output shape differs from its shortcut's - "
                      "add (or fix) a projection: Residual<Projection<Conv2D<C, 1, S>>, ...>");

        using input_shape = In;
        using output_shape = typename Main::output_shape;
        static constexpr std::size_t param_count = Main::param_count + Short::param_count;
        /// Several layers' weights: not one [out][...] tensor, so hooks see no weights here.
        static constexpr std::size_t weight_count = 0;
        static constexpr std::size_t state_count = Main::state_count + Short::state_count;
        static constexpr std::size_t macs = Main::macs + Short::macs;
        static std::string name() {
            std::string s = "Residual<";
            if constexpr (Short::depth > 0) s += "Projection<" + Short::names() + ">, ";
            return s + Main::names() + ">";
        }

        void init(std::span<float> p, Rng& rng) const {
            Rng a = rng.split(0), b = rng.split(1);
            main_.init(p.first(Main::param_count), a);
            short_.init(p.subspan(Main::param_count), b);
        }
        void init_state(std::span<float> s) const {
            main_.init_state(s.first(Main::state_count));
            short_.init_state(s.subspan(Main::state_count));
        }
        void attach_state(std::span<float> s) {
            main_.attach_state(s.first(Main::state_count));
            short_.attach_state(s.subspan(Main::state_count));
        }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode mode, Rng& rng) {
            const float* a = main_.forward(in, batch, p.first(Main::param_count), mode, rng);
            const float* b = short_.forward(in, batch, p.subspan(Main::param_count), mode, rng);
            const std::size_t n = batch * output_shape::size;
            for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
        }

        void backward(const float* in, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            const std::size_t n = batch * In::size;
            float* dmain = nullptr;
            if (din != nullptr) {
                if (dmain_.size() < n) dmain_.resize(n);
                dmain = dmain_.data();
            }
            main_.backward(in, dout, dmain, batch, p.first(Main::param_count),
                           g.first(Main::param_count));
            // The identity shortcut's stack copies dout into din; a projection back-propagates.
            short_.backward(in, dout, din, batch, p.subspan(Main::param_count),
                            g.subspan(Main::param_count));
            if (din != nullptr)
                for (std::size_t i = 0; i < n; ++i) din[i] += dmain[i];
        }

        /// The values lower() makes, from the types alone: the input stays alive until the
        /// add reads it (static_arena_bytes).
        static constexpr int lower_shape(compile::ShapeGraph& g, int value) {
            const int a = detail::lower_stack_shape<Main>(g, value);
            const int b = detail::lower_stack_shape<Short>(g, value);
            return g.append({a, b}, output_shape::size);
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            const int a = main_.lower(g, value, p.first(Main::param_count));
            const int b = short_.lower(g, value, p.subspan(Main::param_count));
            compile::Node node;
            node.op = compile::Op::add;
            node.name = g.fresh_name(node.op);
            return g.append(std::move(node), {a, b},
                            compile::Dims(output_shape::dims.begin(), output_shape::dims.end()));
        }

    private:
        Main main_;
        Short short_;
        AlignedVector<float> dmain_;
    };
};

} // namespace edgestack::nn
