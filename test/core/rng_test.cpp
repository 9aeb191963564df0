#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "edgestack/core/rng.hpp"

using namespace edgestack;

BOOST_AUTO_TEST_SUITE(rng)

BOOST_AUTO_TEST_CASE(same_seed_same_stream_other_seed_other_stream) {
    Rng a(42), b(42), c(43);
    std::vector<std::uint64_t> xa, xb, xc;
    for (int i = 0; i < 100; ++i) {
        xa.push_back(a());
        xb.push_back(b());
        xc.push_back(c());
    }
    BOOST_TEST(xa == xb);
    BOOST_TEST(xa != xc);
}

BOOST_AUTO_TEST_CASE(split_streams_do_not_depend_on_what_was_drawn_before) {
    Rng a(7), b(7);
    for (int i = 0; i < 1000; ++i) (void)a();
    Rng sa = a.split(3), sb = b.split(3), other = b.split(4);
    std::uint64_t x = sa(), y = sb(), z = other();
    BOOST_TEST(x == y);
    BOOST_TEST(x != z);
}

BOOST_AUTO_TEST_CASE(uniform_and_below_stay_in_range_and_cover_it) {
    Rng r(1);
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 10000; ++i) {
        const float u = r.uniform();
        BOOST_REQUIRE(u >= 0.0f);
        BOOST_REQUIRE(u < 1.0f);
        const auto k = r.below(10);
        BOOST_REQUIRE(k < 10u);
        seen.insert(k);
    }
    BOOST_TEST(seen.size() == 10u);
}

BOOST_AUTO_TEST_CASE(normal_has_unit_moments) {
    Rng r(9);
    double sum = 0, sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        const double x = r.normal();
        sum += x;
        sq += x * x;
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    BOOST_TEST(std::abs(mean) < 0.01);
    BOOST_TEST(std::abs(var - 1.0) < 0.02);
}

BOOST_AUTO_TEST_CASE(works_with_standard_algorithms) {
    static_assert(std::uniform_random_bit_generator<Rng>);
    std::vector<int> v{1, 2, 3, 4, 5, 6, 7, 8};
    Rng r(5);
    std::shuffle(v.begin(), v.end(), r);
    std::vector<int> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    BOOST_TEST(sorted == (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
}

BOOST_AUTO_TEST_SUITE_END()
