// A recurrent layer run both ways over the sequence (stage 2, model): Bidirectional<GRU<32>>
// trains a forward GRU over t = 0..T-1 and a backward one over t = T-1..0 and concatenates
// them, 2U per step (with ReturnSequences) or forward's last h then backward's last h (the
// one after t = 0), as ONNX's Y_h and PyTorch's h_n hold them. It lowers to one gru / lstm
// node holding both directions' weights (compile/ops/recurrent.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "edgestack/core/aligned.hpp"
#include "edgestack/nn/recurrent.hpp"

namespace edgestack::nn {

/// `Layer` (an LSTM or GRU spec) run forward and backward over the sequence, outputs
/// concatenated. Parameters: the forward layer's, then the backward layer's.
template <class Layer>
struct Bidirectional {
    /// Bound to a T x F input.
    template <ShapeType In>
    struct bind {
        using inner = typename Layer::template bind<In>; ///< one direction
        static_assert(inner::U > 0, "Bidirectional<Layer>: Layer must be an LSTM or GRU");
        static constexpr std::size_t T = inner::T, F = inner::F, U = inner::U;
        static constexpr bool seq = inner::output_shape::rank == 2; ///< every step
        using input_shape = In;                                     ///< T x F
        using output_shape = std::conditional_t<seq, Shape<T, 2 * U>, Shape<2 * U>>; ///< 2U per step
        static constexpr std::size_t param_count = 2 * inner::param_count; ///< both directions
        static constexpr std::size_t weight_count = 0; ///< gate-major weights, as the recurrent layers
        static constexpr std::size_t macs = 2 * inner::macs; ///< both directions
        /// "Bidirectional<GRU<32>>".
        static std::string name() { return "Bidirectional<" + inner::name() + ">"; }

        /// Each direction's initialisation.
        void init(std::span<float> p, Rng& rng) const {
            fwd_.init(p.first(inner::param_count), rng);
            bwd_.init(p.subspan(inner::param_count), rng);
        }
        /// Forward over x, backward over x reversed in time; outputs side by side.
        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p, Mode mode, Rng& rng) {
            const std::size_t per = inner::output_shape::size;
            rin_.resize(batch * T * F);
            reverse(in, rin_.data(), batch, F);
            of_.resize(batch * per);
            ob_.resize(batch * per);
            fwd_.forward(in, of_.data(), batch, p.first(inner::param_count), mode, rng);
            bwd_.forward(rin_.data(), ob_.data(), batch, p.subspan(inner::param_count), mode, rng);
            for (std::size_t b = 0; b < batch; ++b) {
                if constexpr (seq) {
                    for (std::size_t t = 0; t < T; ++t) {
                        std::copy_n(of_.data() + (b * T + t) * U, U, out + (b * T + t) * 2 * U);
                        std::copy_n(ob_.data() + (b * T + T - 1 - t) * U, U, out + (b * T + t) * 2 * U + U);
                    }
                } else {
                    std::copy_n(of_.data() + b * U, U, out + b * 2 * U);
                    std::copy_n(ob_.data() + b * U, U, out + b * 2 * U + U);
                }
            }
        }
        /// Splits the output gradient between the directions (the backward one's reversed in
        /// time) and sums their input gradients.
        void backward(const float* in, const float*, const float* dout, float* din, std::size_t batch,
                      std::span<const float> p, std::span<float> g) {
            const std::size_t per = inner::output_shape::size;
            df_.resize(batch * per);
            db_.resize(batch * per);
            for (std::size_t b = 0; b < batch; ++b) {
                if constexpr (seq) {
                    for (std::size_t t = 0; t < T; ++t) {
                        std::copy_n(dout + (b * T + t) * 2 * U, U, df_.data() + (b * T + t) * U);
                        std::copy_n(dout + (b * T + t) * 2 * U + U, U, db_.data() + (b * T + T - 1 - t) * U);
                    }
                } else {
                    std::copy_n(dout + b * 2 * U, U, df_.data() + b * U);
                    std::copy_n(dout + b * 2 * U + U, U, db_.data() + b * U);
                }
            }
            float* dinb = nullptr;
            if (din != nullptr) {
                dinr_.resize(batch * T * F);
                dinb = dinr_.data();
            }
            fwd_.backward(in, of_.data(), df_.data(), din, batch, p.first(inner::param_count),
                          g.first(inner::param_count));
            bwd_.backward(rin_.data(), ob_.data(), db_.data(), dinb, batch, p.subspan(inner::param_count),
                          g.subspan(inner::param_count));
            if (din != nullptr)
                for (std::size_t b = 0; b < batch; ++b)
                    for (std::size_t t = 0; t < T; ++t)
                        for (std::size_t f = 0; f < F; ++f) din[(b * T + t) * F + f] += dinr_[(b * T + T - 1 - t) * F + f];
        }
        /// One gru / lstm node holding both directions' weights and biases.
        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            compile::Graph both = compile::Graph::with_input(g.values[static_cast<std::size_t>(value)]);
            fwd_.lower(both, 0, p.first(inner::param_count));
            bwd_.lower(both, 0, p.subspan(inner::param_count));
            compile::Node node = std::move(both.nodes[0]);
            const auto& back = both.nodes[1];
            node.name = g.fresh_name(node.op);
            node.inputs.clear();
            node.weights.insert(node.weights.end(), back.weights.begin(), back.weights.end());
            node.bias.insert(node.bias.end(), back.bias.begin(), back.bias.end());
            return g.append(std::move(node), {value}, compile::Dims(output_shape::dims.begin(), output_shape::dims.end()));
        }

    private:
        static void reverse(const float* x, float* y, std::size_t batch, std::size_t width) {
            for (std::size_t b = 0; b < batch; ++b)
                for (std::size_t t = 0; t < T; ++t) std::copy_n(x + (b * T + t) * width, width, y + (b * T + T - 1 - t) * width);
        }
        inner fwd_, bwd_;
        AlignedVector<float> rin_, of_, ob_, df_, db_, dinr_;
    };
};

} // namespace edgestack::nn
