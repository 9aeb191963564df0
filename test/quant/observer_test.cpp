// Range observers: what range each proposes, on data whose answer is known.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "edgestack/core/rng.hpp"
#include "edgestack/quant/observer.hpp"

namespace eq = edgestack::quant;

static_assert(eq::Observer<eq::MinMax>);
static_assert(eq::Observer<eq::MovingAverageMinMax>);
static_assert(eq::Observer<eq::Percentile>);
static_assert(eq::Observer<eq::MseOptimal>);

namespace {
std::vector<float> normal_samples(std::size_t n, std::uint64_t seed) {
    edgestack::Rng rng(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = rng.normal();
    return v;
}
} // namespace

BOOST_AUTO_TEST_SUITE(observer)

BOOST_AUTO_TEST_CASE(nothing_seen_means_no_range) {
    BOOST_TEST(!eq::MinMax{}.range().valid);
    BOOST_TEST(!eq::MovingAverageMinMax{}.range().valid);
    BOOST_TEST(!eq::Percentile{}.range().valid);
    BOOST_TEST(!eq::MseOptimal{}.range().valid);
}

BOOST_AUTO_TEST_CASE(min_max_covers_every_batch) {
    eq::MinMax o;
    o.observe(std::vector<float>{0.5f, 2.0f});
    o.observe(std::vector<float>{-1.0f, 1.0f});
    const auto r = o.range();
    BOOST_TEST(r.valid);
    BOOST_TEST(r.lo == -1.0f);
    BOOST_TEST(r.hi == 2.0f);
}

BOOST_AUTO_TEST_CASE(moving_average_moves_by_momentum) {
    eq::MovingAverageMinMax o;
    o.momentum = 0.5f;
    o.observe(std::vector<float>{0.0f, 4.0f});
    o.observe(std::vector<float>{-2.0f, 2.0f});
    const auto r = o.range();
    BOOST_TEST(r.lo == -1.0f);
    BOOST_TEST(r.hi == 3.0f);
}

BOOST_AUTO_TEST_CASE(percentile_ignores_rare_outliers) {
    auto v = normal_samples(100000, 1);
    v[17] = 80.0f; // one outlier would stretch a min-max range 20x
    eq::Percentile p;
    p.percentile = 99.9;
    p.observe(std::span<const float>(v).first(50000));
    p.observe(std::span<const float>(v).subspan(50000)); // regrid on the way
    const auto r = p.range();
    // The 0.1% and 99.9% points of a standard normal are about -3.09 and 3.09.
    BOOST_TEST(std::fabs(r.hi - 3.09f) < 0.15f);
    BOOST_TEST(std::fabs(r.lo + 3.09f) < 0.15f);
    eq::MinMax mm;
    mm.observe(v);
    BOOST_TEST(mm.range().hi == 80.0f);
}

BOOST_AUTO_TEST_CASE(mse_optimal_beats_min_max_on_heavy_tails) {
    auto v = normal_samples(50000, 2);
    for (std::size_t i = 0; i < 20; ++i) v[i * 997] = 30.0f + static_cast<float>(i);
    eq::MseOptimal m;
    m.observe(v);
    const auto r = m.range();
    BOOST_TEST(r.valid);
    BOOST_TEST(r.hi < 49.0f); // it clipped the tail
    BOOST_TEST(m.error(r.lo, r.hi) < m.error(m.h.lo(), m.h.hi()));
    // And the real squared error agrees that the chosen grid is better.
    auto sse = [&](eq::Range rr) {
        const auto p = rr.params();
        double e = 0;
        for (float x : v) e += std::pow(double(x - eq::fake_quantize(x, p)), 2);
        return e;
    };
    eq::MinMax mm;
    mm.observe(v);
    BOOST_TEST(sse(r) < sse(mm.range()));
}

BOOST_AUTO_TEST_CASE(observers_skip_non_finite_batches) {
    eq::Percentile p;
    p.observe(std::vector<float>{1.0f, NAN});
    BOOST_TEST(!p.range().valid);
    p.observe(std::vector<float>{1.0f, 2.0f});
    BOOST_TEST(p.range().valid);
}

BOOST_AUTO_TEST_SUITE_END()
