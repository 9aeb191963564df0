#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/data/augment.hpp"
#include "edgestack/data/image_augment.hpp"
#include "edgestack/data/series_augment.hpp"

using namespace edgestack;
using namespace edgestack::data;

static_assert(Augmentation<Augment<>>);
static_assert(Augmentation<Augment<Shift<2>, FlipX, Rotate<10>, GaussianNoise, RandomErasing,
                                   BrightnessContrast, Jitter, Scaling, TimeShift<3>>>);
template <class A>
concept Identity = requires { A::is_identity; };
static_assert(Identity<Augment<>>);
static_assert(!Identity<Augment<FlipX>>);
static_assert(sizeof(Augment<>) == 1);

namespace {
struct Holder {
    [[no_unique_address]] Augment<> none;
    int payload;
};
static_assert(sizeof(Holder) == sizeof(int), "an empty augmentation list must take no space");

std::vector<float> ramp(std::size_t n) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 97) / 97.0f;
    return v;
}
} // namespace

BOOST_AUTO_TEST_SUITE(augment)

BOOST_AUTO_TEST_CASE(same_stream_same_result) {
    const Augment<Shift<3>, FlipX, Rotate<15>, GaussianNoise, RandomErasing, BrightnessContrast> aug;
    const SampleLayout d{28, 28, 1};
    auto a = ramp(784), b = ramp(784), c = ramp(784);
    Rng r1(42), r2(42), r3(43);
    aug(a, d, r1);
    aug(b, d, r2);
    aug(c, d, r3);
    BOOST_TEST(a == b);
    BOOST_TEST(a != c);
}

BOOST_AUTO_TEST_CASE(probability_zero_changes_nothing_and_half_changes_about_half) {
    const SampleLayout d{8, 8, 1};
    const auto x0 = ramp(64);
    const Augment<Shift<2>, FlipX, Rotate<10>, GaussianNoise, RandomErasing, BrightnessContrast>
        off{Shift<2>{0.0f}, FlipX{0.0f}, Rotate<10>{0.0f}, GaussianNoise{0.0f},
            RandomErasing{0.0f}, BrightnessContrast{0.0f}};
    Rng r(1);
    for (int i = 0; i < 50; ++i) {
        auto x = x0;
        off(x, d, r);
        BOOST_TEST(x == x0);
    }
    const FlipX half{0.5f};
    int changed = 0;
    for (int i = 0; i < 1000; ++i) {
        auto x = x0;
        half(x, d, r);
        changed += x != x0;
    }
    BOOST_TEST(changed > 420);
    BOOST_TEST(changed < 580);
}

BOOST_AUTO_TEST_CASE(flip_mirrors_rows_keeping_channels) {
    const SampleLayout d{2, 3, 2};
    std::vector<float> x{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    Rng r(0);
    FlipX{1.0f}(x, d, r);
    BOOST_TEST(x == (std::vector<float>{4, 5, 2, 3, 0, 1, 10, 11, 8, 9, 6, 7}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(translate_moves_and_fills) {
    const SampleLayout d{3, 3, 1};
    std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
    auto z = x;
    data::detail::translate(z, d, 1, -1, Fill::zero); // down one, left one
    BOOST_TEST(z == (std::vector<float>{0, 0, 0, 2, 3, 0, 5, 6, 0}), boost::test_tools::per_element());
    auto e = x;
    data::detail::translate(e, d, -1, 1, Fill::edge); // up one, right one, edges replicated
    BOOST_TEST(e == (std::vector<float>{4, 4, 5, 7, 7, 8, 7, 7, 8}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(shift_is_a_translation_within_range) {
    const SampleLayout d{6, 6, 1};
    const auto x0 = ramp(36);
    Rng r(5);
    for (int t = 0; t < 20; ++t) {
        auto x = x0;
        Shift<2>{1.0f}(x, d, r);
        bool found = false;
        for (int dy = -2; dy <= 2 && !found; ++dy)
            for (int dx = -2; dx <= 2 && !found; ++dx) {
                auto y = x0;
                data::detail::translate(y, d, dy, dx, Fill::zero);
                found = y == x;
            }
        BOOST_TEST(found);
    }
}

BOOST_AUTO_TEST_CASE(rotation_keeps_a_centred_blob) {
    const SampleLayout d{15, 15, 1};
    std::vector<float> x(225, 0.0f);
    for (int y = 5; y < 10; ++y)
        for (int xx = 5; xx < 10; ++xx) x[y * 15 + xx] = 1.0f;
    Rng r(3);
    Rotate<20>{1.0f}(x, d, r);
    const float mass = std::accumulate(x.begin(), x.end(), 0.0f);
    BOOST_TEST(mass > 22.0f);
    BOOST_TEST(mass < 28.0f);
    BOOST_TEST(x[7 * 15 + 7] > 0.99f); // the centre does not move
    BOOST_TEST(x[0] == 0.0f);
}

BOOST_AUTO_TEST_CASE(gaussian_noise_has_the_asked_spread) {
    const SampleLayout d{1, 20000, 1};
    std::vector<float> x(20000, 0.0f);
    Rng r(9);
    GaussianNoise{1.0f, 0.1f, 1.0f, 0.0f}(x, d, r);
    double m = 0, s = 0;
    for (float v : x) m += v;
    m /= x.size();
    for (float v : x) s += (v - m) * (v - m);
    s = std::sqrt(s / x.size());
    BOOST_TEST(std::abs(m) < 0.005);
    BOOST_TEST(s == 0.1, boost::test_tools::tolerance(0.05));
    std::vector<float> y(100, 0.5f);
    GaussianNoise{1.0f, 5.0f}(y, d, r); // clamped to [0, 1] by default
    for (float v : y) BOOST_TEST((v >= 0.0f && v <= 1.0f));
}

BOOST_AUTO_TEST_CASE(random_erasing_blanks_one_rectangle) {
    const SampleLayout d{20, 20, 1};
    Rng r(11);
    for (int t = 0; t < 20; ++t) {
        std::vector<float> x(400, 1.0f);
        RandomErasing{1.0f, 0.1f, 0.2f, 2.0f, 0.0f}(x, d, r);
        std::size_t y0 = 99, y1 = 0, x0 = 99, x1 = 0, zeros = 0;
        for (std::size_t y = 0; y < 20; ++y)
            for (std::size_t xx = 0; xx < 20; ++xx)
                if (x[y * 20 + xx] == 0.0f) {
                    ++zeros;
                    y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, xx), x1 = std::max(x1, xx);
                }
        BOOST_TEST(zeros == (y1 - y0 + 1) * (x1 - x0 + 1)); // a full rectangle
        BOOST_TEST(zeros >= 25u);
        BOOST_TEST(zeros <= 110u);
    }
}

BOOST_AUTO_TEST_CASE(brightness_contrast) {
    const SampleLayout d{1, 4, 1};
    std::vector<float> x{0.2f, 0.4f, 0.6f, 0.8f};
    Rng r(2);
    BrightnessContrast{1.0f, 0.0f, 0.0f}(x, d, r);
    BOOST_TEST(x == (std::vector<float>{0.2f, 0.4f, 0.6f, 0.8f}), boost::test_tools::per_element());
    BrightnessContrast{1.0f, 0.1f, 0.0f}(x, d, r); // brightness alone: one common offset
    const float off = x[0] - 0.2f;
    BOOST_TEST(off != 0.0f);
    BOOST_TEST(std::abs(off) <= 0.1f);
    BOOST_TEST(x[3] - 0.8f == off, boost::test_tools::tolerance(1e-5f));
    std::vector<float> y{0.2f, 0.4f, 0.6f, 0.8f};
    BrightnessContrast{1.0f, 0.0f, 0.5f}(y, d, r); // contrast alone: the mean stays
    BOOST_TEST((y[0] + y[1] + y[2] + y[3]) / 4 == 0.5f, boost::test_tools::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(series_policies) {
    const SampleLayout d{1, 10, 2}; // 10 steps, 2 channels
    std::vector<float> x0(20);
    for (std::size_t t = 0; t < 10; ++t) x0[2 * t] = static_cast<float>(t), x0[2 * t + 1] = 100.0f + t;
    Rng r(4);
    // Time shift with wrap: a rotation by whole steps, channels kept together.
    for (int k = 0; k < 10; ++k) {
        auto x = x0;
        TimeShift<3>{1.0f}(x, d, r);
        const auto s = static_cast<std::size_t>(x[0]); // which step moved to the front
        for (std::size_t t = 0; t < 10; ++t) {
            BOOST_TEST(x[2 * t] == x0[2 * ((t + s) % 10)]);
            BOOST_TEST(x[2 * t + 1] == x0[2 * ((t + s) % 10) + 1]);
        }
        BOOST_TEST((s <= 3 || s >= 7));
    }
    // Scaling: one factor per channel.
    auto x = x0;
    Scaling{1.0f, 0.2f}(x, d, r);
    const float f0 = x[2] / x0[2], f1 = x[3] / x0[3];
    for (std::size_t t = 1; t < 10; ++t) {
        BOOST_TEST(x[2 * t] / x0[2 * t] == f0, boost::test_tools::tolerance(1e-5f));
        BOOST_TEST(x[2 * t + 1] / x0[2 * t + 1] == f1, boost::test_tools::tolerance(1e-5f));
    }
    BOOST_TEST(f0 != f1);
    // Jitter: small noise everywhere, no clamping.
    auto j = x0;
    Jitter{1.0f, 0.01f}(j, d, r);
    for (std::size_t i = 0; i < 20; ++i) {
        BOOST_TEST(j[i] != x0[i]);
        BOOST_TEST(std::abs(j[i] - x0[i]) < 0.06f);
    }
}

BOOST_AUTO_TEST_SUITE_END()
