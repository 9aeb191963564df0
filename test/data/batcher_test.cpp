#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <set>
#include <stdexcept>
#include <vector>

#include "data/fixtures.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/data/augment.hpp"
#include "edgestack/data/batcher.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/image_augment.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"

using namespace edgestack;
using namespace edgestack::data;

namespace {
InMemoryLoader numbered(std::size_t n, std::size_t features) {
    std::vector<float> x(n * features);
    std::vector<std::int32_t> y(n);
    for (std::size_t i = 0; i < n; ++i) {
        y[i] = static_cast<std::int32_t>(i % 3);
        for (std::size_t k = 0; k < features; ++k) x[i * features + k] = static_cast<float>(i);
    }
    return InMemoryLoader(std::move(x), std::move(y), features, 3);
}

template <class L, class A>
std::vector<Batch> epoch(const L& l, const A& a, SampleLayout d, BatchOptions o, std::size_t e) {
    Batcher<L, A> b(l, a, d, o, Rng(77));
    b.start_epoch(e);
    std::vector<Batch> out;
    Batch batch;
    while (b.next(batch)) out.push_back(batch);
    return out;
}

bool same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].y != b[i].y || a[i].index != b[i].index || !(a[i].x == b[i].x)) return false;
    return true;
}

struct Throwing {
    std::size_t size() const { return 10; }
    std::size_t sample_size() const { return 1; }
    std::size_t num_classes() const { return 2; }
    std::int32_t read(std::size_t i, std::span<float> out) const {
        if (i == 7) throw format_error("sample 7 is broken");
        out[0] = 0;
        return 0;
    }
};
} // namespace

BOOST_AUTO_TEST_SUITE(batcher)

BOOST_AUTO_TEST_CASE(every_sample_once_per_epoch_and_reshuffled) {
    const auto l = numbered(103, 4);
    const NoAugment none;
    Batcher<InMemoryLoader, NoAugment> b(l, none, {1, 4, 1}, {10, true, false}, Rng(1));
    BOOST_TEST(b.batches_per_epoch() == 11u);
    std::vector<std::size_t> first;
    for (std::size_t e = 0; e < 3; ++e) {
        b.start_epoch(e);
        Batch batch;
        std::vector<std::size_t> seen;
        std::size_t batches = 0;
        while (b.next(batch)) {
            ++batches;
            for (std::size_t i = 0; i < batch.size(); ++i) {
                BOOST_TEST(batch.sample(i)[0] == static_cast<float>(batch.index[i]));
                BOOST_TEST(batch.y[i] == static_cast<std::int32_t>(batch.index[i] % 3));
                seen.push_back(batch.index[i]);
            }
        }
        BOOST_TEST(batches == 11u);
        BOOST_TEST(batch.size() == 3u);
        auto sorted = seen;
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t i = 0; i < sorted.size(); ++i) BOOST_TEST(sorted[i] == i);
        if (e == 0) first = seen;
        else BOOST_TEST(seen != first);
    }
}

BOOST_AUTO_TEST_CASE(drop_last_and_no_shuffle) {
    const auto l = numbered(25, 2);
    const NoAugment none;
    Batcher<InMemoryLoader, NoAugment> b(l, none, {1, 2, 1}, {8, false, true}, Rng(1));
    BOOST_TEST(b.batches_per_epoch() == 3u);
    Batch batch;
    std::size_t n = 0, expect = 0;
    while (b.next(batch)) {
        BOOST_TEST(batch.size() == 8u);
        for (auto i : batch.index) BOOST_TEST(i == expect++);
        ++n;
    }
    BOOST_TEST(n == 3u);
    BOOST_TEST(!b.next(batch));
}

BOOST_AUTO_TEST_CASE(same_batches_whatever_threads_and_prefetch) {
    const auto l = numbered(300, 16);
    const Augment<Shift<1>, FlipX, GaussianNoise> aug;
    const SampleLayout d{4, 4, 1};
    const auto ref = epoch(l, aug, d, {32, true, false, true}, 2);
    BOOST_TEST(same(ref, epoch(l, aug, d, {32, true, false, false}, 2)));
    {
        ThreadLimit one(1);
        BOOST_TEST(same(ref, epoch(l, aug, d, {32, true, false, true}, 2)));
    }
    BOOST_TEST(!same(ref, epoch(l, aug, d, {32, true, false, true}, 3)));
}

BOOST_AUTO_TEST_CASE(restarting_mid_epoch_and_loader_errors) {
    const auto l = numbered(50, 2);
    const NoAugment none;
    Batcher<InMemoryLoader, NoAugment> b(l, none, {1, 2, 1}, {8, true, false}, Rng(1));
    Batch batch;
    b.next(batch); // a batch is now being prepared in the background
    b.start_epoch(0);
    std::size_t total = 0;
    while (b.next(batch)) total += batch.size();
    BOOST_TEST(total == 50u);

    const Throwing t;
    Batcher<Throwing, NoAugment> bt(t, none, {1, 1, 1}, {4, false, false}, Rng(1));
    BOOST_TEST(bt.next(batch)); // 0..3
    BOOST_CHECK_THROW(bt.next(batch), format_error); // 4..7, prepared in the background
}

BOOST_AUTO_TEST_CASE(layout_mismatch_is_a_shape_error) {
    const auto l = numbered(5, 3);
    const NoAugment none;
    using B = Batcher<InMemoryLoader, NoAugment>;
    BOOST_CHECK_THROW(B(l, none, {2, 2, 1}, {}, Rng(1)), shape_error);
    BOOST_CHECK_THROW(B(l, none, {1, 3, 1}, {0}, Rng(1)), config_error);
}

BOOST_AUTO_TEST_CASE(augmented_fashion_mnist_batches) {
    const auto train = load_fashion_mnist(Split::train, fixtures::fashion_dir, 1000);
    const Augment<Shift<2>, FlipX, RandomErasing> aug;
    Batcher<IdxLoader, decltype(aug)> b(train, aug, train.layout(), {64}, Rng(5));
    Batch batch;
    std::size_t n = 0, changed = 0;
    std::vector<float> plain(784);
    while (b.next(batch)) {
        for (std::size_t i = 0; i < batch.size(); ++i) {
            BOOST_TEST(batch.y[i] == train.label(batch.index[i]));
            train.read(batch.index[i], plain);
            const auto s = batch.sample(i);
            changed += !std::equal(s.begin(), s.end(), plain.begin());
            for (float v : s) BOOST_TEST_REQUIRE((v >= 0.0f && v <= 1.0f));
        }
        n += batch.size();
    }
    BOOST_TEST(n == 1000u);
    BOOST_TEST(changed > 700u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(batch_rows)

BOOST_AUTO_TEST_CASE(resize_keeps_rows_in_place_and_aligned) {
    Batch b;
    BOOST_TEST(b.size() == 0u);
    BOOST_TEST(b.x.size() == 0u);
    b.resize(3, 4);
    BOOST_TEST(b.x.shape()[0] == 3u);
    BOOST_TEST(b.x.shape()[1] == 4u);
    BOOST_TEST(b.features() == 4u);
    BOOST_TEST(b.x.size() == 12u);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(b.x.data()) % 64 == 0u);
    for (std::size_t i = 0; i < 12; ++i) b.x.data()[i] = static_cast<float>(i);
    BOOST_TEST(b.x(2, 1) == 9.0f);
    BOOST_TEST(b.sample(1)[3] == 7.0f);
    BOOST_TEST(std::distance(b.x.begin(), b.x.end()) == 12);
    // Fewer rows of the same width: the first rows keep their values.
    b.resize(2, 4);
    BOOST_TEST(b.x.size() == 8u);
    BOOST_TEST(b.x(1, 3) == 7.0f);
    b.resize(0, 4);
    BOOST_TEST(b.x.size() == 0u);
    BOOST_TEST(b.size() == 0u);
}

BOOST_AUTO_TEST_CASE(equal_only_with_the_same_shape_and_values) {
    BatchRows a, b;
    a.resize({2, 3});
    b.resize({3, 2}); // same count, other shape
    std::fill(a.begin(), a.end(), 1.0f);
    std::fill(b.begin(), b.end(), 1.0f);
    BOOST_TEST(!(a == b));
    b.resize({2, 3});
    BOOST_TEST(a == b);
    b(1, 2) = 2.0f;
    BOOST_TEST(!(a == b));
}

BOOST_AUTO_TEST_SUITE_END()
