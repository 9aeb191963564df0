// Op unit: attention. Multi-head self-attention over T x D; weights W_q | W_k | W_v | W_o,
// each [D][D] ([out][in]); bias b_q | b_k | b_v | b_o; kernel[0] = heads; scale
// 1/sqrt(D / heads). int8: the projections as int8 matrix products (attention_int8.hpp). ONNX: the opset-13
// decomposition (MatMul and Add per projection, Reshape and Transpose to heads, scaled
// scores, Softmax over the keys, Transpose and Reshape back, output projection).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "edgestack/compile/ops/attention_int8.hpp"
#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// The fp32 parameters of an attention step, laid out for loops that run along a row.
struct AttentionParams {
    std::vector<float> wqkv; ///< W_q | W_k | W_v transposed: [D][3D], row i holds input i's weights
    std::vector<float> wo;   ///< W_o transposed: [D][D]
    std::vector<float> b;    ///< b_q | b_k | b_v | b_o
    float scale = 1.0f;      ///< 1 / sqrt(D / heads)
    AttentionInt8 q;         ///< the int8 form (attention_int8.hpp); empty in fp32
};

/// Multi-head self-attention.
struct Attention : UnitBase {
    static constexpr Op op = Op::attention; ///< its enumerator
    using State = AttentionParams;          ///< transposed weights, bias, scale

    /// Equal T x D input and output, heads dividing D.
    static std::string check(const Node& n, const Io& io) {
        if (io.in.size() != 2 || io.out != io.in)
            return "needs equal T x D input and output, got " + to_string(io.in) + " -> " + to_string(io.out);
        if (n.kernel[0] == 0 || io.in[1] % n.kernel[0] != 0)
            return std::to_string(n.kernel[0]) + " heads do not divide the width " + std::to_string(io.in[1]);
        return {};
    }
    /// 4 x D x D weights, 4 x D biases.
    static Tensors tensors(const Node&, const Io& io) {
        const std::size_t d = io.in[1];
        return {4 * d * d, 4 * d, 0, d};
    }
    /// Four projections (4 T D^2) and, over all heads, scores and context (2 T^2 D).
    static std::size_t macs(const Node&, const Io& io) {
        const std::size_t t = io.in[0], d = io.in[1];
        return 4 * t * d * d + 2 * t * t * d;
    }

    /// Floats of scratch one sample needs: Q|K|V rows, one head's K transposed, one row of
    /// scores, the concatenated context.
    static std::size_t scratch_floats(std::size_t t, std::size_t d, std::size_t heads) {
        return t * 3 * d + (d / heads) * t + t + t * d;
    }

    /// Transposes the weights, keeps the bias and the scale; scratch for one sample (the
    /// kernel runs the samples of a batch one after another). int8: the int8 form instead
    /// of the transposed weights.
    template <class S>
    static void prepare(S& s, State& st, const Node& n, Prep& p) {
        const std::size_t d = s.in.c, t = s.in.w, heads = s.kh;
        if (p.int8) {
            prepare_attention_int8(st.q, n, p, d, s.s_in, s.zp_in);
            st.b = n.bias;
            st.scale = 1.0f / std::sqrt(static_cast<float>(d / heads));
            s.scratch_bytes = std::max(s.scratch_bytes, align_up(attention_int8_scratch_floats(t, d, heads) * sizeof(float)));
            p.weight_bytes += 4 * d * d + 7 * d * sizeof(float);
            return;
        }
        st.wqkv.assign(d * 3 * d, 0.0f);
        for (std::size_t o = 0; o < 3 * d; ++o)
            for (std::size_t i = 0; i < d; ++i) st.wqkv[i * 3 * d + o] = n.weights[o * d + i];
        st.wo.assign(d * d, 0.0f);
        for (std::size_t o = 0; o < d; ++o)
            for (std::size_t i = 0; i < d; ++i) st.wo[i * d + o] = n.weights[3 * d * d + o * d + i];
        st.b = n.bias;
        st.scale = 1.0f / std::sqrt(static_cast<float>(d / heads));
        s.scratch_bytes = std::max(s.scratch_bytes, align_up(scratch_floats(t, d, heads) * sizeof(float)));
        p.weight_bytes += (st.wqkv.size() + st.wo.size() + st.b.size()) * sizeof(float);
    }

    /// The definition, sample by sample: Q|K|V = x W^T + b; per head, softmax(Q K^T * scale)
    /// V into the head's columns of the context; y = context W_o^T + b_o. `scratch` holds
    /// scratch_floats() floats.
    template <class S, class T>
    static void reference(const S& s, const State& st, const T* x, const T*, T* y, std::size_t batch,
                          std::byte* scratch) noexcept {
        if constexpr (std::is_same_v<T, float>) {
            const std::size_t d = s.in.c, t = s.in.w, heads = s.kh, dh = d / heads, d3 = 3 * d;
            float* qkv = reinterpret_cast<float*>(scratch);
            float* kt = qkv + t * d3;
            float* row = kt + dh * t;
            float* ctx = row + t;
            for (std::size_t b = 0; b < batch; ++b) {
                const float* xs = x + b * t * d;
                float* ys = y + b * t * d;
                // Projections: each row starts at the bias and adds input i times weight row i.
                for (std::size_t r = 0; r < t; ++r) {
                    float* out = qkv + r * d3;
                    for (std::size_t o = 0; o < d3; ++o) out[o] = st.b[o];
                    for (std::size_t i = 0; i < d; ++i) {
                        const float xi = xs[r * d + i];
                        const float* w = st.wqkv.data() + i * d3;
                        for (std::size_t o = 0; o < d3; ++o) out[o] += xi * w[o];
                    }
                }
                for (std::size_t h = 0; h < heads; ++h) {
                    const std::size_t qo = h * dh, ko = d + h * dh, vo = 2 * d + h * dh;
                    for (std::size_t u = 0; u < t; ++u)
                        for (std::size_t j = 0; j < dh; ++j) kt[j * t + u] = qkv[u * d3 + ko + j];
                    for (std::size_t r = 0; r < t; ++r) {
                        for (std::size_t u = 0; u < t; ++u) row[u] = 0.0f;
                        for (std::size_t j = 0; j < dh; ++j) {
                            const float qj = qkv[r * d3 + qo + j];
                            const float* k = kt + j * t;
                            for (std::size_t u = 0; u < t; ++u) row[u] += qj * k[u];
                        }
                        float m = row[0] * st.scale;
                        for (std::size_t u = 0; u < t; ++u) {
                            row[u] *= st.scale;
                            m = row[u] > m ? row[u] : m;
                        }
                        float sum = 0.0f;
                        for (std::size_t u = 0; u < t; ++u) {
                            row[u] = std::exp(row[u] - m);
                            sum += row[u];
                        }
                        const float inv = 1.0f / sum;
                        float* c = ctx + r * d + h * dh;
                        for (std::size_t j = 0; j < dh; ++j) c[j] = 0.0f;
                        for (std::size_t u = 0; u < t; ++u) {
                            const float pu = row[u] * inv;
                            const float* v = qkv + u * d3 + vo;
                            for (std::size_t j = 0; j < dh; ++j) c[j] += pu * v[j];
                        }
                    }
                }
                for (std::size_t r = 0; r < t; ++r) {
                    float* out = ys + r * d;
                    for (std::size_t o = 0; o < d; ++o) out[o] = st.b[3 * d + o];
                    for (std::size_t i = 0; i < d; ++i) {
                        const float ci = ctx[r * d + i];
                        const float* w = st.wo.data() + i * d;
                        for (std::size_t o = 0; o < d; ++o) out[o] += ci * w[o];
                    }
                }
            }
        } else {
            attention_int8_reference(s, st.q, st.b, st.scale, x, y, batch, scratch);
        }
    }

    /// MatMul + Add for Q, K, V; Reshape to [N, T, H, D/H] and Transpose to [N, H, T, D/H]
    /// (K to [N, H, D/H, T]); MatMul, Mul by the scale, Softmax over the keys, MatMul with V;
    /// Transpose and Reshape back to [N, T, D]; MatMul + Add for the output projection.
    template <class E>
    static void to_onnx(E& e, const Node& n) {
        const Dims& in = e.in();
        if (e.spatial || in.size() != 2) e.unsupported(n, "needs a T x D input, got " + to_string(in));
        const std::size_t t = in[0], d = in[1], heads = n.kernel[0];
        if (heads == 0 || d % heads != 0) e.unsupported(n, "heads do not divide the width " + std::to_string(d));
        if (n.weights.size() != 4 * d * d || n.bias.size() != 4 * d)
            e.unsupported(n, "has weights that do not fit its shapes");
        const auto T = static_cast<std::int64_t>(t), D = static_cast<std::int64_t>(d),
                   H = static_cast<std::int64_t>(heads), Dh = static_cast<std::int64_t>(d / heads);
        const std::string p = n.name + "_";
        // Projection k (0 q, 1 k, 2 v, 3 out) of `src` into tensor `dst`: ONNX wants [in][out].
        auto project = [&](std::size_t k, const std::string& src, const std::string& dst, const char* tag) {
            std::vector<float> w(d * d), b(d);
            for (std::size_t o = 0; o < d; ++o) {
                for (std::size_t i = 0; i < d; ++i) w[i * d + o] = n.weights[k * d * d + o * d + i];
                b[o] = n.bias[k * d + o];
            }
            const std::string wn = n.name + ".W_" + tag, bn = n.name + ".b_" + tag;
            e.initializer(wn, {D, D}, w);
            e.initializer(bn, {D}, b);
            e.node("MatMul", p + tag + "_matmul", {src, wn}, {p + tag + "_matmul"});
            e.node("Add", dst == e.y ? n.name : p + tag, {p + tag + "_matmul", bn}, {dst});
        };
        e.initializer_i64(p + "heads_shape", {4}, {0, T, H, Dh});
        e.initializer_i64(p + "merged_shape", {3}, {0, T, D});
        e.initializer(p + "scale", {}, std::vector<float>{1.0f / std::sqrt(static_cast<float>(d / heads))});
        const std::string x = e.x();
        const char* tags[3] = {"q", "k", "v"};
        for (std::size_t k = 0; k < 3; ++k) {
            const std::string tag = tags[k];
            project(k, x, p + tag, tags[k]);
            e.node("Reshape", p + tag + "_split", {p + tag, p + "heads_shape"}, {p + tag + "_split"});
            const std::vector<std::int64_t> perm =
                k == 1 ? std::vector<std::int64_t>{0, 2, 3, 1} : std::vector<std::int64_t>{0, 2, 1, 3};
            e.attr(e.node("Transpose", p + tag + "_heads", {p + tag + "_split"}, {p + tag + "_heads"}), "perm", perm);
        }
        e.node("MatMul", p + "scores", {p + "q_heads", p + "k_heads"}, {p + "scores"});
        e.node("Mul", p + "scaled", {p + "scores", p + "scale"}, {p + "scaled"});
        e.attr(e.node("Softmax", p + "weights", {p + "scaled"}, {p + "weights"}), "axis", -1);
        e.node("MatMul", p + "context", {p + "weights", p + "v_heads"}, {p + "context"});
        e.attr(e.node("Transpose", p + "context_steps", {p + "context"}, {p + "context_steps"}), "perm",
               std::vector<std::int64_t>{0, 2, 1, 3});
        e.node("Reshape", p + "merged", {p + "context_steps", p + "merged_shape"}, {p + "merged"});
        project(3, p + "merged", e.y, "o");
    }
};

} // namespace edgestack::compile::ops
