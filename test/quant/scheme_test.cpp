// The int8 scheme: weight scales per channel and per tensor, bias, requantization rounding.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/round.hpp"
#include "edgestack/quant/fixed_point.hpp"
#include "edgestack/quant/scheme.hpp"

namespace eq = edgestack::quant;
namespace ec = edgestack::compile;

BOOST_AUTO_TEST_SUITE(scheme)

BOOST_AUTO_TEST_CASE(weight_scales_per_channel_and_per_tensor) {
    // Two output channels of three weights each: [out][in].
    const std::vector<float> w{0.5f, -1.27f, 0.1f, 0.02f, -0.01f, 0.0127f};
    const auto pc = eq::weight_scales(w, {2, false}, true);
    BOOST_REQUIRE_EQUAL(pc.size(), 2u);
    BOOST_TEST(pc[0] == 1.27f / 127.0f);
    BOOST_TEST(pc[1] == 0.02f / 127.0f);
    const auto pt = eq::weight_scales(w, {2, false}, false);
    BOOST_REQUIRE_EQUAL(pt.size(), 1u);
    BOOST_TEST(pt[0] == 1.27f / 127.0f);
    // Depthwise: channel is the fastest index.
    const std::vector<float> dw{1.0f, 0.1f, -2.0f, 0.05f};
    const auto ds = eq::weight_scales(dw, {2, true}, true);
    BOOST_TEST(ds[0] == 2.0f / 127.0f);
    BOOST_TEST(ds[1] == 0.1f / 127.0f);
    // An all-zero channel gets scale 1, not 0 (no division by zero downstream).
    const auto zs = eq::weight_scales(std::vector<float>{0.0f, 0.0f}, {1, false}, true);
    BOOST_TEST(zs[0] == 1.0f);
}

BOOST_AUTO_TEST_CASE(weights_are_symmetric_and_never_minus_128) {
    BOOST_TEST(eq::quantize_weight(-1.0f, 1.0f / 127.0f) == -127);
    BOOST_TEST(eq::quantize_weight(-5.0f, 1.0f / 127.0f) == -127);
    BOOST_TEST(eq::quantize_weight(1.0f, 1.0f / 127.0f) == 127);
    // Ties to even: 2.5 -> 2, 3.5 -> 4.
    BOOST_TEST(eq::quantize_weight(2.5f, 1.0f) == 2);
    BOOST_TEST(eq::quantize_weight(3.5f, 1.0f) == 4);
}

BOOST_AUTO_TEST_CASE(fake_quantized_weights_are_the_int8_codes_times_scale) {
    const std::vector<float> w{0.3f, -0.7f, 0.11f, 0.9f, 0.0f, -0.45f};
    std::vector<float> fq(w.size());
    eq::fake_quantize_weights(w, fq, {2, false}, true);
    const auto s = eq::weight_scales(w, {2, false}, true);
    for (std::size_t i = 0; i < w.size(); ++i) {
        const float sc = s[i / 3];
        BOOST_TEST(fq[i] == sc * eq::quantize_weight(w[i], sc));
        BOOST_TEST(std::fabs(fq[i] - w[i]) <= sc / 2 + 1e-7f);
    }
}

BOOST_AUTO_TEST_CASE(quantize_weight_node_fills_the_int8_fields) {
    ec::Node n;
    n.op = ec::Op::dense;
    n.name = "dense_0";
    n.weights = {0.5f, -1.0f, 0.25f, 0.1f};
    n.bias = {0.3f, -0.2f};
    eq::quantize_weight_node(n, {2}, 0.01f, true);
    BOOST_TEST(n.weight_quant.axis == 0);
    BOOST_REQUIRE_EQUAL(n.weight_quant.scale.size(), 2u);
    BOOST_TEST(n.qweights[1] == -127);
    BOOST_TEST(n.qweights[2] == 127);
    BOOST_TEST(n.qweights[3] == 51); // 0.1 / (0.25 / 127) = 50.8
    // Bias at scale s_in * s_w[c].
    BOOST_TEST(n.qbias[0] == std::lround(0.3 / (0.01 * (1.0 / 127.0))));
    BOOST_TEST(n.qbias[1] == std::lround(-0.2 / (0.01 * (0.25 / 127.0))));
    eq::quantize_weight_node(n, {2}, 0.01f, false);
    BOOST_TEST(n.weight_quant.axis == -1);
    BOOST_TEST(n.weight_quant.scale.size() == 1u);
}

BOOST_AUTO_TEST_CASE(bad_weight_count_names_the_node) {
    ec::Node n;
    n.op = ec::Op::dense;
    n.name = "dense_7";
    n.weights = {1.0f, 2.0f, 3.0f};
    try {
        eq::quantize_weight_node(n, {2}, 1.0f, true);
        BOOST_FAIL("expected shape_error");
    } catch (const edgestack::shape_error& e) {
        BOOST_TEST(std::string(e.what()).find("dense_7") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(requantization_rounds_half_away_from_zero) {
    // M = 0.5 exactly: multiplier 2^30, shift 0.
    const auto r = eq::quantize_multiplier(0.5);
    BOOST_TEST(eq::multiply_by_quantized(3, r) == 2);   // 1.5 -> 2
    BOOST_TEST(eq::multiply_by_quantized(-3, r) == -2); // -1.5 -> -2
    BOOST_TEST(eq::multiply_by_quantized(5, r) == 3);   // 2.5 -> 3 (not 2: not ties-to-even)
    BOOST_TEST(eq::multiply_by_quantized(-5, r) == -3);
    BOOST_TEST(eq::multiply_by_quantized(4, r) == 2);
    // Against the exact real product, for many accumulators and a non-power-of-two M.
    const double m = 0.0123456;
    const auto rq = eq::quantize_multiplier(m);
    const double m_exact = rq.multiplier / std::ldexp(1.0, 31 + rq.shift);
    for (std::int32_t acc = -100000; acc <= 100000; acc += 37) {
        const double exact = acc * m_exact;
        const double want = exact >= 0 ? std::floor(exact + 0.5) : -std::floor(-exact + 0.5);
        BOOST_TEST(eq::multiply_by_quantized(acc, rq) == static_cast<std::int32_t>(want));
    }
}

BOOST_AUTO_TEST_CASE(output_multiplier_is_formed_in_double) {
    const float si = 0.02f, sw = 0.003f, so = 0.07f;
    const auto a = eq::output_multiplier(si, sw, so);
    const auto b = eq::quantize_multiplier(double(si) * double(sw) / double(so));
    BOOST_TEST((a == b));
    BOOST_CHECK_THROW(eq::output_multiplier(1.0f, 1.0f, 0.0f), edgestack::config_error);
}

BOOST_AUTO_TEST_CASE(bias_saturates_instead_of_wrapping) {
    BOOST_TEST(eq::quantize_bias(1e9f, 1e-6f, 1e-6f) == 2147483647);
    BOOST_TEST(eq::quantize_bias(-1e9f, 1e-6f, 1e-6f) == -2147483647 - 1);
    BOOST_TEST(eq::quantize_bias(2.5f, 1.0f, 1.0f) == 2); // ties to even
}

// quantize rounds with plain float arithmetic (no library call): the same integers as
// std::nearbyint in the default rounding mode, at ties, below and above 2^23, at +-0 and
// for values no float fraction reaches.
BOOST_AUTO_TEST_CASE(round_half_even_is_nearbyint) {
    std::vector<float> xs = {0.0f, -0.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, -0.49999997f,
                             8388607.5f, -8388607.5f, 8388608.0f, 16777216.0f, 3e9f, -3e9f, 1e-40f, -1e-40f,
                             std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
    for (float x = -300.0f; x < 300.0f; x += 0.125f) xs.push_back(x); // every tie of the int8 range
    std::uint32_t u = 12345;
    for (int i = 0; i < 20000; ++i) { // random bit patterns: every exponent
        u = u * 1664525u + 1013904223u;
        float x;
        std::memcpy(&x, &u, sizeof x);
        if (!std::isnan(x)) xs.push_back(x);
    }
    for (float x : xs) {
        const float got = edgestack::round_half_even(x), want = std::nearbyint(x);
        BOOST_TEST((got == want && std::signbit(got) == std::signbit(want)), x << ": " << got << " vs " << want);
    }
    BOOST_TEST(std::isnan(edgestack::round_half_even(std::numeric_limits<float>::quiet_NaN())));
    for (float x = -2.0f; x < 2.0f; x += 0.001f)
        BOOST_TEST(eq::quantize(x, 0.01f, 3) ==
                   static_cast<std::int8_t>(std::clamp(std::nearbyint(x / 0.01f) + 3.0f, -128.0f, 127.0f)));
}

BOOST_AUTO_TEST_CASE(fake_quantize_matches_quantize_then_dequantize) {
    const eq::AffineParams p = eq::choose_affine(-1.0f, 3.0f);
    for (float x = -2.0f; x < 4.0f; x += 0.013f) {
        const float want = eq::dequantize(eq::quantize(x, p.scale, p.zero_point), p.scale,
                                          p.zero_point);
        BOOST_TEST(eq::fake_quantize(x, p) == want);
    }
    // Zero is exact.
    BOOST_TEST(eq::fake_quantize(0.0f, p) == 0.0f);
}

BOOST_AUTO_TEST_CASE(parameter_bytes_of_int8_is_about_a_quarter) {
    ec::Graph g = ec::Graph::with_input({64});
    ec::Node n;
    n.op = ec::Op::dense;
    n.name = "dense_0";
    n.weights.assign(64 * 32, 0.1f);
    n.bias.assign(32, 0.0f);
    g.append(n, {0}, {32});
    const std::size_t fp32 = eq::parameter_bytes(g);
    BOOST_TEST(fp32 == (64 * 32 + 32) * 4u);
    eq::quantize_weight_node(g.nodes[0], {32}, 0.1f, true);
    const std::size_t int8 = eq::parameter_bytes(g);
    BOOST_TEST(int8 == 64 * 32 + 32 * 4 + 32 * 8u);
}

BOOST_AUTO_TEST_SUITE_END()
