// Recurrent layers over a fixed-length sequence (T x F -> Units, or T x Units with
// ReturnSequences): LSTM and GRU, PyTorch's gate equations, trained by back-propagation
// through time. The input projection of all steps is one GEMM; each step adds h W_h^T.
#pragma once

#include <cmath>
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
#include "edgestack/nn/detail/eigen.hpp"
#include "edgestack/nn/init.hpp"

namespace edgestack::nn {

namespace detail {

using StridedMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;

inline float sigmoid(float x) noexcept { return 1.0f / (1.0f + std::exp(-x)); }

/// What LSTM and GRU share: shapes, the [G*U][F] | [G*U][U] | bias layout, the input
/// projection and its gradient, the output copy.
template <std::size_t Gates, std::size_t Units, bool Seq, ShapeType In, std::size_t Biases>
struct RecurrentBase {
    static_assert(In::rank == 2, "LSTM/GRU: input must be rank 2 (time steps x features) - e.g. "
                                 "Input<49, 10> for 49 frames of 10 coefficients");
    static constexpr std::size_t T = In::dims[0];
    static constexpr std::size_t F = In::dims[1];
    static constexpr std::size_t U = Units;
    static constexpr std::size_t GU = Gates * Units;
    using input_shape = In;
    using output_shape = std::conditional_t<Seq, Shape<T, Units>, Shape<Units>>;
    static constexpr std::size_t wx = GU * F, wh = GU * U;
    static constexpr std::size_t param_count = wx + wh + Biases * GU;
    /// W_x and W_h are gate-major, not one [out][...] tensor per unit: hooks see no weights.
    static constexpr std::size_t weight_count = 0;
    static constexpr std::size_t macs = T * GU * (F + U);

    static void init_weights(std::span<float> p, Rng& rng) {
        init::glorot_uniform(p.first(wx), F, U, rng);
        init::glorot_uniform(p.subspan(wx, wh), U, U, rng);
        init::constant(p.subspan(wx + wh), 0.0f);
    }

    /// xw[b][t][:] = W_x x[b][t] + b_x, for every step at once.
    void project(const float* in, std::size_t batch, std::span<const float> p) {
        const auto rows = static_cast<Eigen::Index>(batch * T);
        xw_.resize(batch * T * GU);
        ConstMapMatrix x(in, rows, F);
        ConstMapMatrix w(p.data(), GU, F);
        MapMatrix y(xw_.data(), rows, GU);
        y.noalias() = x * w.transpose();
        y.rowwise() += ConstMapVector(p.data() + wx + wh, GU).transpose();
    }
    /// The rows of xw (or of da) for step t: batch rows, T*GU apart.
    static ConstStridedMap step(const float* base, std::size_t t, std::size_t batch) {
        return ConstStridedMap(base + t * GU, static_cast<Eigen::Index>(batch), GU,
                               Eigen::OuterStride<>(T * GU));
    }
    static StridedMap step(float* base, std::size_t t, std::size_t batch) {
        return StridedMap(base + t * GU, static_cast<Eigen::Index>(batch), GU,
                          Eigen::OuterStride<>(T * GU));
    }
    /// h_t of every sample, t in 1..T (h_0 = 0).
    const float* h(std::size_t t, std::size_t batch) const { return hs_.data() + t * batch * U; }
    float* h(std::size_t t, std::size_t batch) { return hs_.data() + t * batch * U; }

    void write_output(float* out, std::size_t batch) const {
        for (std::size_t b = 0; b < batch; ++b) {
            if constexpr (Seq) {
                for (std::size_t t = 0; t < T; ++t)
                    std::copy_n(h(t + 1, batch) + b * U, U, out + (b * T + t) * U);
            } else {
                std::copy_n(h(T, batch) + b * U, U, out + b * U);
            }
        }
    }
    /// The gradient arriving at h_t from the layer's output (0 for t < T without Seq).
    static void add_output_grad(const float* dout, std::size_t t, std::size_t batch, float* dh) {
        for (std::size_t b = 0; b < batch; ++b) {
            const float* src = nullptr;
            if constexpr (Seq) src = dout + (b * T + t) * U;
            else if (t == T - 1) src = dout + b * U;
            if (src != nullptr)
                for (std::size_t u = 0; u < U; ++u) dh[b * U + u] += src[u];
        }
    }
    /// From da (gradients of the input pre-activations, [b][t][GU]): dW_x, db_x and din.
    void finish_backward(const float* in, float* din, std::size_t batch, std::span<const float> p,
                         std::span<float> g) const {
        const auto rows = static_cast<Eigen::Index>(batch * T);
        ConstMapMatrix da(da_.data(), rows, GU);
        ConstMapMatrix x(in, rows, F);
        MapMatrix(g.data(), GU, F).noalias() = da.transpose() * x;
        MapVector(g.data() + wx + wh, GU) = da.colwise().sum().transpose();
        if (din != nullptr)
            MapMatrix(din, rows, F).noalias() = da * ConstMapMatrix(p.data(), GU, F);
    }

    int lower_as(compile::Op op, compile::Graph& g, int value, std::span<const float> p) const {
        compile::Node node;
        node.op = op;
        node.name = g.fresh_name(op);
        node.weights.assign(p.begin(), p.begin() + wx + wh);
        node.bias.assign(p.begin() + wx + wh, p.end());
        return g.append(std::move(node), {value},
                        compile::Dims(output_shape::dims.begin(), output_shape::dims.end()));
    }

    AlignedVector<float> xw_, hs_, da_;
};

} // namespace detail

/// Long short-term memory: gates i, f, g, o (in that order in W_x, W_h, b); the forget gate's
/// bias starts at 1.
template <std::size_t Units, bool ReturnSequences = false>
struct LSTM {
    static_assert(Units > 0, "LSTM<Units>: Units must be at least 1");

    template <ShapeType In>
    struct bind : detail::RecurrentBase<4, Units, ReturnSequences, In, 1> {
        using base = detail::RecurrentBase<4, Units, ReturnSequences, In, 1>;
        using base::T, base::U, base::GU, base::wx, base::wh;
        static std::string name() {
            return "LSTM<" + std::to_string(Units) + (ReturnSequences ? ", seq>" : ">");
        }

        void init(std::span<float> p, Rng& rng) const {
            base::init_weights(p, rng);
            init::constant(p.subspan(wx + wh + U, U), 1.0f);
        }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode, Rng&) {
            this->project(in, batch, p);
            this->hs_.assign((T + 1) * batch * U, 0.0f);
            cs_.assign((T + 1) * batch * U, 0.0f);
            gates_.resize(T * batch * GU);
            detail::ConstMapMatrix wh_m(p.data() + wx, GU, U);
            for (std::size_t t = 0; t < T; ++t) {
                detail::MapMatrix z(gates_.data() + t * batch * GU, static_cast<Eigen::Index>(batch), GU);
                z = base::step(this->xw_.data(), t, batch);
                z.noalias() += detail::ConstMapMatrix(this->h(t, batch), static_cast<Eigen::Index>(batch), U) *
                               wh_m.transpose();
                for (std::size_t b = 0; b < batch; ++b) {
                    float* zb = z.data() + b * GU;
                    const float* cp = cs_.data() + (t * batch + b) * U;
                    float* c = cs_.data() + ((t + 1) * batch + b) * U;
                    float* hh = this->h(t + 1, batch) + b * U;
                    for (std::size_t u = 0; u < U; ++u) {
                        const float i = detail::sigmoid(zb[u]), f = detail::sigmoid(zb[U + u]);
                        const float gg = std::tanh(zb[2 * U + u]), o = detail::sigmoid(zb[3 * U + u]);
                        zb[u] = i, zb[U + u] = f, zb[2 * U + u] = gg, zb[3 * U + u] = o;
                        c[u] = f * cp[u] + i * gg;
                        hh[u] = o * std::tanh(c[u]);
                    }
                }
            }
            this->write_output(out, batch);
        }

        void backward(const float* in, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            const auto n = static_cast<Eigen::Index>(batch);
            this->da_.assign(batch * T * GU, 0.0f);
            AlignedVector<float> dh(batch * U, 0.0f), dc(batch * U, 0.0f), dz(batch * GU);
            detail::ConstMapMatrix wh_m(p.data() + wx, GU, U);
            detail::MapMatrix dwh(g.data() + wx, GU, U);
            dwh.setZero();
            for (std::size_t t = T; t-- > 0;) {
                base::add_output_grad(dout, t, batch, dh.data());
                for (std::size_t b = 0; b < batch; ++b) {
                    const float* gt = gates_.data() + (t * batch + b) * GU;
                    const float* cp = cs_.data() + (t * batch + b) * U;
                    const float* c = cs_.data() + ((t + 1) * batch + b) * U;
                    float* dzb = dz.data() + b * GU;
                    for (std::size_t u = 0; u < U; ++u) {
                        const float i = gt[u], f = gt[U + u], gg = gt[2 * U + u], o = gt[3 * U + u];
                        const float tc = std::tanh(c[u]);
                        const float dhu = dh[b * U + u];
                        const float dcu = dc[b * U + u] + dhu * o * (1.0f - tc * tc);
                        dzb[u] = dcu * gg * i * (1.0f - i);
                        dzb[U + u] = dcu * cp[u] * f * (1.0f - f);
                        dzb[2 * U + u] = dcu * i * (1.0f - gg * gg);
                        dzb[3 * U + u] = dhu * tc * o * (1.0f - o);
                        dc[b * U + u] = dcu * f;
                    }
                }
                detail::ConstMapMatrix dzm(dz.data(), n, GU);
                base::step(this->da_.data(), t, batch) = dzm;
                dwh.noalias() += dzm.transpose() *
                                 detail::ConstMapMatrix(this->h(t, batch), n, U);
                detail::MapMatrix(dh.data(), n, U).noalias() = dzm * wh_m;
            }
            this->finish_backward(in, din, batch, p, g);
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            return this->lower_as(compile::Op::lstm, g, value, p);
        }

    private:
        AlignedVector<float> cs_, gates_;
    };
};

/// Gated recurrent unit (PyTorch's form: n = tanh(W_xn x + b_xn + r * (W_hn h + b_hn))).
/// Gates r, z, n; biases b_x[3U] then b_h[3U].
template <std::size_t Units, bool ReturnSequences = false>
struct GRU {
    static_assert(Units > 0, "GRU<Units>: Units must be at least 1");

    template <ShapeType In>
    struct bind : detail::RecurrentBase<3, Units, ReturnSequences, In, 2> {
        using base = detail::RecurrentBase<3, Units, ReturnSequences, In, 2>;
        using base::T, base::U, base::GU, base::wx, base::wh;
        static std::string name() {
            return "GRU<" + std::to_string(Units) + (ReturnSequences ? ", seq>" : ">");
        }

        void init(std::span<float> p, Rng& rng) const { base::init_weights(p, rng); }

        void forward(const float* in, float* out, std::size_t batch, std::span<const float> p,
                     Mode, Rng&) {
            const auto n = static_cast<Eigen::Index>(batch);
            this->project(in, batch, p);
            this->hs_.assign((T + 1) * batch * U, 0.0f);
            gates_.resize(T * batch * GU);
            hn_.resize(T * batch * U);
            AlignedVector<float> hb(batch * GU);
            detail::ConstMapMatrix wh_m(p.data() + wx, GU, U);
            detail::ConstMapVector bh(p.data() + wx + wh + GU, GU);
            for (std::size_t t = 0; t < T; ++t) {
                detail::MapMatrix hbm(hb.data(), n, GU);
                hbm.noalias() = detail::ConstMapMatrix(this->h(t, batch), n, U) * wh_m.transpose();
                hbm.rowwise() += bh.transpose();
                const auto a = base::step(this->xw_.data(), t, batch);
                for (std::size_t b = 0; b < batch; ++b) {
                    const float* ab = a.data() + b * base::T * GU;
                    const float* hbb = hb.data() + b * GU;
                    float* gt = gates_.data() + (t * batch + b) * GU;
                    float* hn = hn_.data() + (t * batch + b) * U;
                    const float* hp = this->h(t, batch) + b * U;
                    float* hh = this->h(t + 1, batch) + b * U;
                    for (std::size_t u = 0; u < U; ++u) {
                        const float r = detail::sigmoid(ab[u] + hbb[u]);
                        const float z = detail::sigmoid(ab[U + u] + hbb[U + u]);
                        const float nn = std::tanh(ab[2 * U + u] + r * hbb[2 * U + u]);
                        gt[u] = r, gt[U + u] = z, gt[2 * U + u] = nn;
                        hn[u] = hbb[2 * U + u];
                        hh[u] = (1.0f - z) * nn + z * hp[u];
                    }
                }
            }
            this->write_output(out, batch);
        }

        void backward(const float* in, const float*, const float* dout, float* din,
                      std::size_t batch, std::span<const float> p, std::span<float> g) {
            const auto n = static_cast<Eigen::Index>(batch);
            this->da_.assign(batch * T * GU, 0.0f);
            AlignedVector<float> dh(batch * U, 0.0f), dhb(batch * GU), dhp(batch * U);
            detail::ConstMapMatrix wh_m(p.data() + wx, GU, U);
            detail::MapMatrix dwh(g.data() + wx, GU, U);
            detail::MapVector dbh(g.data() + wx + wh + GU, GU);
            dwh.setZero();
            dbh.setZero();
            for (std::size_t t = T; t-- > 0;) {
                base::add_output_grad(dout, t, batch, dh.data());
                auto da = base::step(this->da_.data(), t, batch);
                for (std::size_t b = 0; b < batch; ++b) {
                    const float* gt = gates_.data() + (t * batch + b) * GU;
                    const float* hn = hn_.data() + (t * batch + b) * U;
                    const float* hp = this->h(t, batch) + b * U;
                    float* dab = da.data() + b * base::T * GU;
                    float* dhbb = dhb.data() + b * GU;
                    for (std::size_t u = 0; u < U; ++u) {
                        const float r = gt[u], z = gt[U + u], nn = gt[2 * U + u];
                        const float dhu = dh[b * U + u];
                        const float dan = dhu * (1.0f - z) * (1.0f - nn * nn);
                        const float dar = dan * hn[u] * r * (1.0f - r);
                        const float daz = dhu * (hp[u] - nn) * z * (1.0f - z);
                        dab[u] = dar, dab[U + u] = daz, dab[2 * U + u] = dan;
                        dhbb[u] = dar, dhbb[U + u] = daz, dhbb[2 * U + u] = dan * r;
                        dhp[b * U + u] = dhu * z;
                    }
                }
                detail::ConstMapMatrix dhbm(dhb.data(), n, GU);
                dwh.noalias() += dhbm.transpose() *
                                 detail::ConstMapMatrix(this->h(t, batch), n, U);
                dbh += dhbm.colwise().sum().transpose();
                detail::MapMatrix(dh.data(), n, U).noalias() = dhbm * wh_m;
                for (std::size_t i = 0; i < batch * U; ++i) dh[i] += dhp[i];
            }
            this->finish_backward(in, din, batch, p, g);
        }

        int lower(compile::Graph& g, int value, std::span<const float> p) const {
            return this->lower_as(compile::Op::gru, g, value, p);
        }

    private:
        AlignedVector<float> gates_, hn_;
    };
};

} // namespace edgestack::nn
