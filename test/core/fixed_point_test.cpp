#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

#include "edgestack/core/error.hpp"
#include "edgestack/quant/fixed_point.hpp"

using namespace edgestack;
using namespace edgestack::quant;

namespace {
// The exact value of acc * M / 2^(31 + shift) rounded half away from zero, in long double
// (64-bit mantissa holds every product of two 32-bit integers exactly).
std::int64_t exact(std::int32_t acc, Requant r) {
    const long double v =
        static_cast<long double>(acc) * r.multiplier / std::ldexp(1.0L, 31 + r.shift);
    return static_cast<std::int64_t>(std::round(v));
}
} // namespace

BOOST_AUTO_TEST_SUITE(fixed_point)

BOOST_AUTO_TEST_CASE(multiplier_decomposition_is_normalised_and_accurate) {
    for (double m : {1e-6, 0.0009765625, 0.0123, 0.25, 0.5, 0.99999999, 1.0, 3.7, 1000.0}) {
        const Requant r = quantize_multiplier(m);
        BOOST_TEST(r.multiplier >= (1 << 30));
        const double back = r.multiplier * std::ldexp(1.0, -(31 + r.shift));
        BOOST_TEST(std::abs(back - m) <= m * 1e-9);
    }
}

BOOST_AUTO_TEST_CASE(bad_multipliers_are_refused) {
    BOOST_CHECK_THROW(quantize_multiplier(0.0), config_error);
    BOOST_CHECK_THROW(quantize_multiplier(-0.5), config_error);
    BOOST_CHECK_THROW(quantize_multiplier(std::numeric_limits<double>::quiet_NaN()), config_error);
    BOOST_CHECK_THROW(quantize_multiplier(2e9), config_error);
}

BOOST_AUTO_TEST_CASE(requantization_rounds_half_away_from_zero_exactly) {
    // Multiplier 0.5 exactly: odd accumulators land on ties.
    const Requant half = quantize_multiplier(0.5);
    BOOST_TEST(multiply_by_quantized(3, half) == 2);   // 1.5 -> 2
    BOOST_TEST(multiply_by_quantized(-3, half) == -2); // -1.5 -> -2
    BOOST_TEST(multiply_by_quantized(5, half) == 3);   // 2.5 -> 3
    BOOST_TEST(multiply_by_quantized(-1, half) == -1); // -0.5 -> -1
    for (double m : {0.0001234, 0.017, 0.333333, 0.75}) {
        const Requant r = quantize_multiplier(m);
        for (std::int64_t acc = -2000000; acc <= 2000000; acc += 997)
            BOOST_REQUIRE(multiply_by_quantized(static_cast<std::int32_t>(acc), r) ==
                          exact(static_cast<std::int32_t>(acc), r));
    }
}

BOOST_AUTO_TEST_CASE(extreme_accumulators_do_not_overflow) {
    const Requant r = quantize_multiplier(0.999);
    const auto lo = std::numeric_limits<std::int32_t>::min();
    const auto hi = std::numeric_limits<std::int32_t>::max();
    BOOST_TEST(multiply_by_quantized(lo, r) == exact(lo, r));
    BOOST_TEST(multiply_by_quantized(hi, r) == exact(hi, r));
    BOOST_TEST(requantize(hi, r, 0) == 127);
    BOOST_TEST(requantize(lo, r, 0) == -128);
}

BOOST_AUTO_TEST_CASE(quantize_rounds_ties_to_even_and_saturates) {
    BOOST_TEST(quantize(0.5f, 1.0f, 0) == 0);
    BOOST_TEST(quantize(1.5f, 1.0f, 0) == 2);
    BOOST_TEST(quantize(-2.5f, 1.0f, 0) == -2);
    BOOST_TEST(quantize(1000.0f, 1.0f, 0) == 127);
    BOOST_TEST(quantize(-1000.0f, 1.0f, 3) == -128);
    BOOST_TEST(dequantize(quantize(0.3f, 0.01f, -5), 0.01f, -5) == 0.3f, boost::test_tools::tolerance(0.006f));
}

BOOST_AUTO_TEST_CASE(affine_range_always_represents_zero_exactly) {
    for (auto [lo, hi] : {std::pair{-1.0f, 3.0f}, std::pair{0.5f, 6.0f}, std::pair{-4.0f, -1.0f}}) {
        const AffineParams p = choose_affine(lo, hi);
        BOOST_TEST(dequantize(quantize(0.0f, p.scale, p.zero_point), p.scale, p.zero_point) == 0.0f);
        BOOST_TEST(p.zero_point >= -128);
        BOOST_TEST(p.zero_point <= 127);
    }
    BOOST_TEST(choose_symmetric(2.54f) == 0.02f, boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_SUITE_END()
