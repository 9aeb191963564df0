// Convolutions over NHWC images: Conv2D (im2col + Eigen GEMM, batch chunks in parallel; with
// AVX2+FMA, 3x3 stride-1 layers of 16+ channels run forward, input and weight gradients as
// Winograd F(2x2, 3x3), nn/detail/winograd_conv.hpp; a following ReLU can be applied in the
// same pass, see forward_relu) and DepthwiseConv2D (direct loops).
// Weights [out][kh][kw][in] and [kh][kw][channels].
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/aligned.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/detail/chunks.hpp"
#include "edgestack/nn/detail/conv_geometry.hpp"
#include "edgestack/nn/detail/eigen.hpp"
#include "edgestack/nn/detail/gemm.hpp"
#include "edgestack/nn/detail/winograd_conv.hpp"
#include "edgestack/nn/init.hpp"

namespace edgestack::nn {

namespace detail {

/// col[p][(ky*KW + kx)*C + c] = in[iy][ix][c] (0 in the padding), one sample.
template <class G, std::size_t KH, std::size_t KW>
void im2col(const float* in, float* col) noexcept {
    constexpr std::size_t C = G::C, Kc = KH * KW * G::C;
    for (std::size_t oy = 0; oy < G::OH; ++oy)
        for (std::size_t ox = 0; ox < G::OW; ++ox) {
            float* row = col + (oy * G::OW + ox) * Kc;
            for (std::size_t ky = 0; ky < KH; ++ky) {
                const long iy = G::in_y(oy, ky);
                for (std::size_t kx = 0; kx < KW; ++kx) {
                    float* dst = row + (ky * KW + kx) * C;
                    const long ix = G::in_x(ox, kx);
                    if (iy < 0 || ix < 0) std::fill_n(dst, C, 0.0f);
                    else std::copy_n(in + (static_cast<std::size_t>(iy) * G::W +
                                           static_cast<std::size_t>(ix)) * C, C, dst);
                }
            }
        }
}

/// The adjoint of im2col: din (zeroed by the caller) += scatter of dcol, one sample.
template <class G, std::size_t KH, std::size_t KW>
void col2im(const float* dcol, float* din) noexcept {
    constexpr std::size_t C = G::C, Kc = KH * KW * G::C;
    for (std::size_t oy = 0; oy < G::OH; ++oy)
        for (std::size_t ox = 0; ox < G::OW; ++ox) {
            const float* row = dcol + (oy * G::OW + ox) * Kc;
            for (std::size_t ky = 0; ky < KH; ++ky) {
                const long iy = G::in_y(oy, ky);
                if (iy < 0) continue;
                for (std::size_t kx = 0; kx < KW; ++kx) {
                    const long ix = G::in_x(ox, kx);
                    if (ix < 0) continue;
                    const float* src = row + (ky * KW + kx) * C;
                    float* dst = din + (static_cast<std::size_t>(iy) * G::W +
                                        static_cast<std::size_t>(ix)) * C;
                    for (std::size_t c = 0; c < C; ++c) dst[c] += src[c];
                }
            }
        }
}

} // namespace detail

/// 2-D convolution: `Conv2D<32, 3>` is 32 filters of 3x3, stride 1, same padding.
///
/// Kernel, stride and dilation are a number (a square) or a rectangle, padding is
/// `Padding::same`, `Padding::valid` or explicit (nn::Pad): the declaration
/// `Conv2D<64, Kernel<10, 4>, Stride<2, 2>, Pad<5, 1>>` is PyTorch's
/// `Conv2d(c, 64, (10, 4), (2, 2), (5, 1))`.
template <std::size_t Filters, KernelSize K, StrideSize S = 1, Padding P = Padding::same,
          DilationSize D = 1>
struct Conv2D {
    static_assert(Filters > 0 && K.h > 0 && K.w > 0 && S.h > 0 && S.w > 0 && D.h > 0 && D.w > 0,
                  "Conv2D<F, K, S, P, D>: filters, kernel, stride and dilation must be >= 1");

    template <ShapeType In>
    struct bind {
        static_assert(In::rank == 3, "Conv2D: input must be rank 3 (height x width x channels) - "
                                     "use Input<H, W, C> or add a channel axis of 1");
        using G = detail::WindowGeometry<In, K, S, P, D>;
        static_assert(G::OH > 0 && G::OW > 0,
                      "Conv2D: the kernel is larger than the padded input - use Padding::same, "
                      "pad more (Pad<h, w>) or a smaller kernel");
        static constexpr std::size_t C = G::C;
        static constexpr std::size_t Kc = G::taps * C; // one im2col row
        // 1x1, stride 1, no padding: the input is the im2col matrix.
        static constexpr bool direct = G::taps == 1 && S.h == 1 && S.w == 1 && !G::padded;
        // Winograd F(2x2, 3x3): square 3x3 stride 1, and padding the transposed pass can
        // mirror (2 - pad on each side).
        static constexpr bool winograd =
            K.h == K.w && S.h == S.w && D.h == D.w && G::y.pad_before <= 2 &&
            G::y.pad_after <= 2 && G::x.pad_before <= 2 && G::x.pad_after <= 2 &&
            detail::winograd_trainable(K.h, S.h, D.h, G::H, G::W, C, G::OH, G::OW, Filters);

        using input_shape = In;
        using output_shape = Shape<G::OH, G::OW, Filters>;
        static constexpr std::size_t weight_count = Filters * Kc;
        static constexpr std::size_t param_count = weight_count + Filters;
        static constexpr std::size_t macs = G::pixels * Filters * Kc;
        static constexpr std::size_t chunk = detail::samples_per_chunk(G::pixels);
        static std::string name() {
            return "Conv2D<" + std::to_string(Filters) + ", " + detail::extent_arg(K, "Kernel") +
                   detail::window_args(S, 1, P, D) + ">";
        }

        void init(std::span<float> p, Rng& rng) const {
            init::he_uniform(p.first(weight_count), Kc, rng);
            init::constant(p.subspan(weight_count), 0.0f);
        }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode mode, Rng&) {
            run_forward(in, out, batch, p, mode, false);
        }
        /// forward followed by ReLU, in one pass over the output: what Sequential runs for
        /// a Conv2D directly followed by ReLU (no hooks installed).
        void forward_relu(const float* in, float* out, std::size_t batch,
                          std::span<const float> p, Mode mode, Rng&) {
            run_forward(in, out, batch, p, mode, true);
        }

        void backward(const float* in, const float* /*out*/, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            run_backward(in, dout, nullptr, din, batch, p, g);
        }
        /// The backward of forward_relu: `y` is its output (ReLU's), `dout` the gradient
        /// with respect to it; the ReLU's mask is applied per chunk, in cache.
        void backward_relu(const float* in, const float* y, const float* dout, float* din,
                           std::size_t batch, std::span<const float> p, std::span<float> g) {
            run_backward(in, dout, y, din, batch, p, g);
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            compile::Node node = G::node(compile::Op::conv2d);
            node.name = g.fresh_name(node.op);
            node.weights.assign(p.begin(), p.begin() + weight_count);
            node.bias.assign(p.begin() + weight_count, p.begin() + param_count);
            return g.append(std::move(node), {value}, {G::OH, G::OW, Filters});
        }

    private:
        void run_forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                         Mode mode, bool relu) {
            const std::size_t n_chunks = detail::chunk_count(batch, chunk);
            ensure_scratch(n_chunks, false);
            if constexpr (winograd) {
                auto& conv = winograd_conv();
                conv.set_weights(p.first(weight_count), p.subspan(weight_count));
                cols_in_ = nullptr;
                parallel_chunks(0, batch, chunk, [&](std::size_t b0, std::size_t b1) {
                    conv.forward(in + b0 * In::size, out + b0 * output_shape::size, b1 - b0,
                                 scratch_[b0 / chunk].wino.data(), relu);
                });
                return;
            }
            // In train mode the im2col matrices are kept for backward (the contract keeps
            // `in` alive and unchanged until then), which saves building them twice.
            cols_in_ = mode == Mode::train ? in : nullptr;
            cols_batch_ = batch;
            detail::ConstMapVector b(p.data() + weight_count, Filters);
            parallel_chunks(0, batch, chunk, [&](std::size_t b0, std::size_t b1) {
                const auto rows = static_cast<Eigen::Index>((b1 - b0) * G::pixels);
                const float* col = columns(in, b0, b1, scratch_[b0 / chunk].col.data());
                detail::MapMatrix y(out + b0 * output_shape::size, rows, Filters);
                // Bias first, then accumulate y += x w^T: `y = x * w^T` would zero y before
                // the GEMM and the bias would be one more pass over the output.
                y.rowwise() = b.transpose();
                detail::gemm(false, true, rows, Filters, Kc, col, Kc, p.data(), Kc, y.data(),
                             Filters, true);
                // A plain loop, not y.cwiseMax(0): GCC 12 vectorizes it as well, while
                // Eigen's AVX-512 pmax trips GCC 12's -Wmaybe-uninitialized in its own
                // intrinsic headers (_mm512_undefined_ps), hundreds of times per build.
                if (relu) {
                    float* v = y.data();
                    const std::size_t n = static_cast<std::size_t>(y.size());
                    for (std::size_t i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
                }
            });
        }

        /// The output gradient of samples [b0, b1): dout itself, or masked by the fused
        /// ReLU's output y into chunk scratch.
        const float* output_grad(const float* dout, const float* y, std::size_t b0,
                                 std::size_t b1) {
            const float* d = dout + b0 * output_shape::size;
            if (y == nullptr) return d;
            const std::size_t n = (b1 - b0) * output_shape::size;
            auto& buf = scratch_[b0 / chunk].dmask;
            if (buf.size() < n) buf.resize(n);
            const float* __restrict yy = y + b0 * output_shape::size;
            float* __restrict m = buf.data();
            for (std::size_t i = 0; i < n; ++i) m[i] = yy[i] > 0.0f ? d[i] : 0.0f;
            return m;
        }

        void run_backward(const float* in, const float* dout, const float* relu_y, float* din,
                          std::size_t batch, std::span<const float> p, std::span<float> g) {
            const std::size_t n_chunks = detail::chunk_count(batch, chunk);
            ensure_scratch(n_chunks, din != nullptr);
            if (partial_.size() < n_chunks * param_count) partial_.resize(n_chunks * param_count);
            if constexpr (winograd) {
                // Weight and input gradients both in the Winograd domain: no im2col matrix.
                if (din != nullptr) winograd_conv().set_weights_transposed(p.first(weight_count));
                parallel_chunks(0, batch, chunk, [&](std::size_t b0, std::size_t b1) {
                    const std::size_t c = b0 / chunk;
                    const float* dy = output_grad(dout, relu_y, b0, b1);
                    float* part = partial_.data() + c * param_count;
                    const auto rows = static_cast<Eigen::Index>((b1 - b0) * G::pixels);
                    winograd_conv().weight_grad(in + b0 * In::size, dy, b1 - b0, part,
                                                scratch_[c].wino.data());
                    detail::MapVector(part + weight_count, Filters) =
                        detail::ConstMapMatrix(dy, rows, Filters).colwise().sum().transpose();
                    if (din != nullptr)
                        winograd_conv().input_grad(dy, din + b0 * In::size, b1 - b0,
                                                   scratch_[c].wino.data());
                });
                detail::reduce_partials(g, partial_, n_chunks);
                return;
            }
            const bool kept = cols_in_ == in && cols_batch_ == batch;
            cols_in_ = nullptr;
            parallel_chunks(0, batch, chunk, [&](std::size_t b0, std::size_t b1) {
                const std::size_t c = b0 / chunk;
                const auto rows = static_cast<Eigen::Index>((b1 - b0) * G::pixels);
                const float* col = kept ? (direct ? in + b0 * In::size : scratch_[c].col.data())
                                        : columns(in, b0, b1, scratch_[c].col.data());
                const float* dyp = output_grad(dout, relu_y, b0, b1);
                detail::ConstMapMatrix dy(dyp, rows, Filters);
                float* part = partial_.data() + c * param_count;
                detail::MapVector db(part + weight_count, Filters);
                // dw = dy^T x
                detail::gemm(true, false, Filters, Kc, rows, dyp, Filters, col, Kc, part, Kc,
                             false);
                db = dy.colwise().sum().transpose();
                if (din == nullptr) return;
                float* dx = din + b0 * In::size;
                // dx (or its im2col form) = dy w
                if constexpr (direct) {
                    detail::gemm(false, false, rows, Kc, Filters, dyp, Filters, p.data(), Kc, dx,
                                 Kc, false);
                } else {
                    float* dcol = scratch_[c].dcol.data();
                    detail::gemm(false, false, rows, Kc, Filters, dyp, Filters, p.data(), Kc,
                                 dcol, Kc, false);
                    std::fill_n(dx, (b1 - b0) * In::size, 0.0f);
                    for (std::size_t s = 0; s < b1 - b0; ++s)
                        detail::col2im<G, G::KH, G::KW>(dcol + s * G::pixels * Kc,
                                                          dx + s * In::size);
                }
            });
            detail::reduce_partials(g, partial_, n_chunks);
        }

        struct Scratch {
            AlignedVector<float> col, dcol, wino, dmask;
        };
        auto& winograd_conv() {
            if (!wino_.conv)
                wino_.conv.emplace(kernels::Hwc{G::H, G::W, C},
                                   kernels::Hwc{G::OH, G::OW, Filters},
                                   std::array<std::size_t, 4>{G::y.pad_before, G::x.pad_before,
                                                              G::y.pad_after, G::x.pad_after});
            return *wino_.conv;
        }
        void ensure_scratch(std::size_t n_chunks, bool need_dcol) {
            if (scratch_.size() < n_chunks) scratch_.resize(n_chunks);
            if constexpr (winograd) {
                auto& conv = winograd_conv();
                const std::size_t n = std::max(conv.scratch_floats(), conv.weight_grad_floats(chunk));
                for (std::size_t c = 0; c < n_chunks; ++c)
                    if (scratch_[c].wino.size() < n) scratch_[c].wino.resize(n);
            } else if constexpr (!direct) {
                const std::size_t n = chunk * G::pixels * Kc;
                for (std::size_t c = 0; c < n_chunks; ++c) {
                    if (scratch_[c].col.size() < n) scratch_[c].col.resize(n);
                    if (need_dcol && scratch_[c].dcol.size() < n) scratch_[c].dcol.resize(n);
                }
            }
        }
        /// The im2col matrix of samples [b0, b1): the input itself for a 1x1 convolution.
        static const float* columns(const float* in, std::size_t b0, std::size_t b1, float* buf) {
            if constexpr (direct) {
                (void)b1; (void)buf;
                return in + b0 * In::size;
            } else {
                for (std::size_t s = b0; s < b1; ++s)
                    detail::im2col<G, G::KH, G::KW>(in + s * In::size,
                                                      buf + (s - b0) * G::pixels * Kc);
                return buf;
            }
        }

        std::vector<Scratch> scratch_;
        AlignedVector<float> partial_;
        detail::WinogradSlot<winograd> wino_;
        const float* cols_in_ = nullptr; // the input whose im2col matrices scratch_ holds
        std::size_t cols_batch_ = 0;
    };
};

/// Depthwise 2-D convolution (one filter per channel, depth multiplier 1); kernel, stride,
/// padding and dilation as in Conv2D: `DepthwiseConv2D<3, 2, Pad<1>>` is PyTorch's
/// `Conv2d(c, c, 3, 2, 1, groups=c)`.
template <KernelSize K, StrideSize S = 1, Padding P = Padding::same, DilationSize D = 1>
struct DepthwiseConv2D {
    static_assert(K.h > 0 && K.w > 0 && S.h > 0 && S.w > 0 && D.h > 0 && D.w > 0,
                  "DepthwiseConv2D<K, S, P, D>: kernel, stride and dilation must be >= 1");

    template <ShapeType In>
    struct bind {
        static_assert(In::rank == 3, "DepthwiseConv2D: input must be rank 3 (height x width x "
                                     "channels) - use Input<H, W, C>");
        using G = detail::WindowGeometry<In, K, S, P, D>;
        static_assert(G::OH > 0 && G::OW > 0,
                      "DepthwiseConv2D: the kernel is larger than the padded input - use "
                      "Padding::same, pad more (Pad<h, w>) or a smaller kernel");
        static constexpr std::size_t C = G::C;
        using input_shape = In;
        using output_shape = Shape<G::OH, G::OW, C>;
        static constexpr std::size_t weight_count = G::taps * C;
        /// Weights are [kh][kw][c]: the channel is the last axis, not the first.
        static constexpr bool weights_channel_last = true;
        static constexpr std::size_t param_count = weight_count + C;
        static constexpr std::size_t macs = G::pixels * G::taps * C;
        static constexpr std::size_t chunk = 8;
        static std::string name() {
            return "DepthwiseConv2D<" + detail::extent_arg(K, "Kernel") +
                   detail::window_args(S, 1, P, D) + ">";
        }

        void init(std::span<float> p, Rng& rng) const {
            init::he_uniform(p.first(weight_count), G::taps, rng);
            init::constant(p.subspan(weight_count), 0.0f);
        }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode, Rng&) {
            const float* w = p.data();
            const float* bias = p.data() + weight_count;
            parallel_for(0, batch, [&](std::size_t s) {
                const float* x = in + s * In::size;
                float* y = out + s * output_shape::size;
                for (std::size_t oy = 0; oy < G::OH; ++oy)
                    for (std::size_t ox = 0; ox < G::OW; ++ox) {
                        float* yo = y + (oy * G::OW + ox) * C;
                        std::copy_n(bias, C, yo);
                        taps(oy, ox, [&](std::size_t k, std::size_t i) {
                            const float* xi = x + i * C;
                            const float* wk = w + k * C;
                            for (std::size_t c = 0; c < C; ++c) yo[c] += xi[c] * wk[c];
                        });
                    }
            }, chunk);
        }

        void backward(const float* in, const float* /*out*/, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            const std::size_t n_chunks = detail::chunk_count(batch, chunk);
            if (partial_.size() < n_chunks * param_count) partial_.resize(n_chunks * param_count);
            const float* w = p.data();
            parallel_chunks(0, batch, chunk, [&](std::size_t b0, std::size_t b1) {
                float* part = partial_.data() + (b0 / chunk) * param_count;
                std::fill_n(part, param_count, 0.0f);
                for (std::size_t s = b0; s < b1; ++s) {
                    const float* x = in + s * In::size;
                    const float* dy = dout + s * output_shape::size;
                    float* dx = din != nullptr ? din + s * In::size : nullptr;
                    if (dx != nullptr) std::fill_n(dx, In::size, 0.0f);
                    for (std::size_t oy = 0; oy < G::OH; ++oy)
                        for (std::size_t ox = 0; ox < G::OW; ++ox) {
                            const float* dyo = dy + (oy * G::OW + ox) * C;
                            float* db = part + weight_count;
                            for (std::size_t c = 0; c < C; ++c) db[c] += dyo[c];
                            taps(oy, ox, [&](std::size_t k, std::size_t i) {
                                const float* xi = x + i * C;
                                float* dwk = part + k * C;
                                for (std::size_t c = 0; c < C; ++c) dwk[c] += dyo[c] * xi[c];
                                if (dx != nullptr) {
                                    const float* wk = w + k * C;
                                    float* dxi = dx + i * C;
                                    for (std::size_t c = 0; c < C; ++c) dxi[c] += dyo[c] * wk[c];
                                }
                            });
                        }
                }
            });
            detail::reduce_partials(g, partial_, n_chunks);
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            compile::Node node = G::node(compile::Op::depthwise_conv2d);
            node.name = g.fresh_name(node.op);
            node.weights.assign(p.begin(), p.begin() + weight_count);
            node.bias.assign(p.begin() + weight_count, p.begin() + param_count);
            return g.append(std::move(node), {value}, {G::OH, G::OW, C});
        }

    private:
        /// f(tap index ky*KW+kx, input pixel index) for every tap of output (oy, ox) inside
        /// the image.
        template <class F>
        static void taps(std::size_t oy, std::size_t ox, F&& f) {
            for (std::size_t ky = 0; ky < G::KH; ++ky) {
                const long iy = G::in_y(oy, ky);
                if (iy < 0) continue;
                for (std::size_t kx = 0; kx < G::KW; ++kx) {
                    const long ix = G::in_x(ox, kx);
                    if (ix < 0) continue;
                    f(ky * G::KW + kx,
                      static_cast<std::size_t>(iy) * G::W + static_cast<std::size_t>(ix));
                }
            }
        }
        AlignedVector<float> partial_;
    };
};

} // namespace edgestack::nn
