// The int8 attention, layer_norm and positional_embedding (compile/ops/attention_int8.hpp,
// layer_norm.hpp, positional_embedding.hpp): the Reference kernels against the documented
// scheme written out here, a transformer encoder block quantized end to end (GraphPtq) on
// every backend against the fp32 engine, and the int8 projections' refusals.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#include "edgestack/nn/nn.hpp"
#include "edgestack/quant/graph_ptq.hpp"
#include "declared_checks.hpp"
#include "int8_checks.hpp"
#include "io_util.hpp"

using namespace edgestack;

namespace {

using iotest::random_codes;
using iotest::run_codes;
using iotest::worst_step;

/// A model's fp32 graph and its int8 form (32 calibration samples in [-1.0, 1.0]).
template <class Net>
std::pair<compile::Graph, compile::Graph> graphs(unsigned seed) {
    return iotest::int8_graphs<Net>(seed, 32, 1.0f);
}

std::int8_t q8(float v, float s, int zp) {
    return static_cast<std::int8_t>(std::clamp(std::nearbyint(v / s) + static_cast<float>(zp), -128.0f, 127.0f));
}

/// Per-row symmetric codes of a [rows][cols] block of `w` starting at `off`, with the scales.
void rows(const std::vector<float>& w, std::size_t off, std::size_t n_rows, std::size_t cols, std::vector<int>& codes,
          std::vector<float>& scale) {
    codes.resize(n_rows * cols);
    scale.resize(n_rows);
    for (std::size_t r = 0; r < n_rows; ++r) {
        float m = 0;
        for (std::size_t k = 0; k < cols; ++k) m = std::max(m, std::fabs(w[off + r * cols + k]));
        scale[r] = m > 0 ? m / 127.0f : 1.0f;
        for (std::size_t k = 0; k < cols; ++k)
            codes[r * cols + k] = static_cast<int>(std::lrint(std::clamp(w[off + r * cols + k] / scale[r], -127.0f, 127.0f)));
    }
}

/// The int8 attention scheme written out: int8 projections summed in int64, fp32 softmax,
/// each context row quantized with its own symmetric scale.
std::vector<std::int8_t> attention_scheme(const compile::Graph& q, const std::vector<std::int8_t>& x) {
    const compile::Node& n = q.nodes.at(0);
    const std::size_t T = q.values[0][0], D = q.values[0][1], H = n.kernel[0], Dh = D / H;
    const float s_in = q.value_quant[0].scale[0], s_out = q.value_quant[1].scale[0];
    const int zp_in = q.value_quant[0].zero_point[0], zp_out = q.value_quant[1].zero_point[0];
    std::vector<int> w, wo;
    std::vector<float> sw, so;
    rows(n.weights, 0, 3 * D, D, w, sw);
    rows(n.weights, 3 * D * D, D, D, wo, so);
    const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
    const std::size_t batch = x.size() / (T * D);
    std::vector<std::int8_t> y(x.size());
    for (std::size_t b = 0; b < batch; ++b) {
        std::vector<float> qkv(T * 3 * D), ctx(T * D, 0.0f);
        for (std::size_t r = 0; r < T; ++r)
            for (std::size_t o = 0; o < 3 * D; ++o) {
                long long acc = 0;
                for (std::size_t i = 0; i < D; ++i) acc += (x[(b * T + r) * D + i] - zp_in) * w[o * D + i];
                qkv[r * 3 * D + o] = s_in * sw[o] * static_cast<float>(acc) + n.bias[o];
            }
        for (std::size_t h = 0; h < H; ++h)
            for (std::size_t r = 0; r < T; ++r) {
                std::vector<float> row(T, 0.0f);
                for (std::size_t j = 0; j < Dh; ++j)
                    for (std::size_t u = 0; u < T; ++u) row[u] += qkv[r * 3 * D + h * Dh + j] * qkv[u * 3 * D + D + h * Dh + j];
                float m = row[0] * scale;
                for (auto& v : row) m = std::max(m, v *= scale);
                float sum = 0;
                for (auto& v : row) sum += v = std::exp(v - m);
                for (std::size_t u = 0; u < T; ++u)
                    for (std::size_t j = 0; j < Dh; ++j)
                        ctx[r * D + h * Dh + j] += row[u] * (1.0f / sum) * qkv[u * 3 * D + 2 * D + h * Dh + j];
            }
        for (std::size_t r = 0; r < T; ++r) {
            float m = 0;
            for (std::size_t i = 0; i < D; ++i) m = std::max(m, std::fabs(ctx[r * D + i]));
            const float sc = m > 0 ? m / 127.0f : 1.0f;
            std::vector<long> cq(D);
            for (std::size_t i = 0; i < D; ++i) cq[i] = std::lrint(std::clamp(ctx[r * D + i] / sc, -127.0f, 127.0f));
            for (std::size_t o = 0; o < D; ++o) {
                long long acc = 0;
                for (std::size_t i = 0; i < D; ++i) acc += cq[i] * wo[o * D + i];
                y[(b * T + r) * D + o] = q8(sc * so[o] * static_cast<float>(acc) + n.bias[3 * D + o], s_out, zp_out);
            }
        }
    }
    return y;
}

} // namespace

BOOST_AUTO_TEST_SUITE(op_attention_int8)

BOOST_AUTO_TEST_CASE(attention_reference_is_the_documented_scheme) {
    for (unsigned seed : {11u, 12u}) {
        const auto [g, q] = seed == 11 ? graphs<nn::Sequential<nn::Input<7, 8>, nn::MultiHeadSelfAttention<2>>>(seed)
                                       : graphs<nn::Sequential<nn::Input<49, 64>, nn::MultiHeadSelfAttention<4>>>(seed);
        const auto x = random_codes(2 * g.input_size(), seed + 5);
        const auto want = attention_scheme(q, x);
        BOOST_TEST(worst_step(run_codes(backend::Reference{}, q, x), want) <= 1, "seed " << seed);
        BOOST_TEST(worst_step(run_codes(backend::Simd{}, q, x), want) <= 1, "seed " << seed);
    }
}

BOOST_AUTO_TEST_CASE(layer_norm_and_positional_embedding_are_fp32_between_quantizations) {
    const auto [g, q] = graphs<nn::Sequential<nn::Input<6, 5>, nn::PositionalEmbedding, nn::LayerNorm>>(21);
    const auto x = random_codes(3 * g.input_size(), 22);
    const auto& pe = q.nodes.at(0);
    const auto& ln = q.nodes.at(1);
    const auto& vq = q.value_quant;
    std::vector<std::int8_t> want(x.size());
    for (std::size_t r = 0; r < x.size() / 5; ++r) {
        float v[5], mean = 0, var = 0;
        for (std::size_t c = 0; c < 5; ++c) {
            const float in = vq[0].scale[0] * static_cast<float>(x[r * 5 + c] - vq[0].zero_point[0]);
            const std::int8_t e = q8(in + pe.weights[(r % 6) * 5 + c], vq[1].scale[0], vq[1].zero_point[0]);
            v[c] = vq[1].scale[0] * static_cast<float>(e - vq[1].zero_point[0]);
            mean += v[c];
        }
        mean /= 5;
        for (float a : v) var += (a - mean) * (a - mean);
        var /= 5;
        for (std::size_t c = 0; c < 5; ++c)
            want[r * 5 + c] = q8(ln.extra[c] * ((v[c] - mean) * (1.0f / std::sqrt(var + ln.alpha))) + ln.extra[5 + c],
                                 vq[2].scale[0], vq[2].zero_point[0]);
    }
    BOOST_TEST(worst_step(run_codes(backend::Reference{}, q, x), want) == 0);
    BOOST_TEST(worst_step(run_codes(backend::Simd{}, q, x), want) == 0);
}

BOOST_AUTO_TEST_CASE(an_encoder_block_quantizes_end_to_end_on_every_backend) {
    using Net = nn::Sequential<nn::Input<10, 16>, nn::PositionalEmbedding,
                               nn::Residual<nn::LayerNorm, nn::MultiHeadSelfAttention<4>>, nn::LayerNorm,
                               nn::TimeDense<16>, nn::ReLU, nn::Flatten, nn::Dense<5>>;
    const auto [g, q] = graphs<Net>(31);
    const auto x = iotest::random_floats(8 * g.input_size(), -1.0f, 1.0f, 32);
    const auto f = iotest::run_on(backend::Reference{}, g, x);
    const auto ref = iotest::run_on(backend::Reference{}, q, x);
    const float step = q.value_quant.at(static_cast<std::size_t>(q.output)).scale.at(0);
    float spread = 0, worst = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
        spread = std::max(spread, std::fabs(f[i]));
        worst = std::max(worst, std::fabs(ref[i] - f[i]));
    }
    BOOST_TEST(worst <= 6 * step, "int8 reference is " << worst / step << " output steps from fp32");
    BOOST_TEST(worst <= 0.08f * spread, "int8 reference is " << worst << " from fp32 (outputs up to " << spread << ")");
    auto same = [&](const std::vector<float>& y, const char* backend) {
        BOOST_REQUIRE_EQUAL(y.size(), ref.size());
        float w = 0;
        for (std::size_t i = 0; i < y.size(); ++i) w = std::max(w, std::fabs(y[i] - ref[i]));
        BOOST_TEST(w <= step * 1.001f, backend << ": " << w / step << " output steps from reference");
    };
    same(iotest::run_on(backend::Simd{}, q, x), "simd");
#if defined(EDGESTACK_HAS_XNNPACK)
    same(iotest::run_on(backend::Xnnpack{}, q, x), "xnnpack");
#endif
}

BOOST_AUTO_TEST_CASE(attention_weights_that_do_not_fit_are_refused_in_int8) {
    compile::Graph g = nn::Sequential<nn::Input<4, 8>, nn::MultiHeadSelfAttention<2>>{}.lower();
    g.value_quant.assign(g.values.size(), {{0.05f}, {0}, -1});
    g.nodes[0].weights.pop_back();
    iotest::refused_everywhere<shape_error>(g, "'" + g.nodes[0].name + "' (attention)", "expected 256");
}

BOOST_AUTO_TEST_SUITE_END()
