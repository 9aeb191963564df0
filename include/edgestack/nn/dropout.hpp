// Dropout: in train mode zeroes each value with probability Rate and scales the rest by
// 1 / (1 - Rate), drawing from the Rng given to forward; in eval mode it is the identity.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/aligned.hpp"
#include "edgestack//compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"

namespace edgestack::nn {

template <float Rate = 0.5f>
struct Dropout {
    static_assert(Rate >= 0.0f && Rate < 1.0f, "Dropout<Rate>: Rate must be in [0, 1)");

    template <ShapeType In>
    struct bind {
        using input_shape = In;
        using output_shape = In;
        static constexpr std::size_t param_count = 0;
        static constexpr std::size_t macs = 0;
        static std::string name() {
            char b[48];
            std::snprintf(b, sizeof b, "Dropout<%g>", static_cast<double>(Rate));
            return b;
        }

        void init(std::span<float>, Rng&) const {}
        void forward(const float* in, float* out, std::size_t batch, std::span<const float>,
                     Mode mode, Rng& rng) {
            const std::size_t n = batch * In::size;
            train_ = mode == Mode::train && Rate > 0.0f;
            if (!train_) {
                std::copy_n(in, n, out);
                return;
            }
            // The mask is drawn in sample order from one stream: the same seed gives the same
            // mask whatever the thread count.
            if (scale_.size() < n) scale_.resize(n);
            const float keep = 1.0f / (1.0f - Rate);
            for (std::size_t i = 0; i < n; ++i) {
                scale_[i] = rng.bernoulli(Rate) ? 0.0f : keep;
                out[i] = in[i] * scale_[i];
            }
        }
        void backward(const float*, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float>, std::span<float>) {
            if (din == nullptr) return;
            const std::size_t n = batch * In::size;
            if (!train_) std::copy_n(dout, n, din);
            else
                for (std::size_t i = 0; i < n; ++i) din[i] = dout[i] * scale_[i];
        }
        int lower(compile::Graph& g, int value, std::span<const float>) const {
            compile::Node node;
            node.op = compile::Op::dropout;
            node.name = g.fresh_name(node.op);
            node.alpha = Rate;
            return g.append(std::move(node), {value},
                            compile::Dims(In::dims.begin(), In::dims.end()));
        }

    private:
        AlignedVector<float> scale_;
        bool train_ = false;
    };
};

} // namespace edgestack::nn
