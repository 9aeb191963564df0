// Loaders with float targets or none: batches carry each sample's own targets (also when
// shuffled and prefetched), subsets and the inputs-only view forward them, and the three
// kinds of loader are told apart at compile time.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "edgestack/data/batcher.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/data/subset.hpp"
#include "edgestack/data/targets.hpp"

using namespace edgestack;
using namespace edgestack::data;

namespace {
// Sample i is {i, -i}; its targets {10 i, 10 i + 1, 10 i + 2}.
InMemoryTargetLoader numbered(std::size_t n) {
    std::vector<float> x, t;
    for (std::size_t i = 0; i < n; ++i) {
        const auto f = static_cast<float>(i);
        x.insert(x.end(), {f, -f});
        t.insert(t.end(), {10 * f, 10 * f + 1, 10 * f + 2});
    }
    return InMemoryTargetLoader(std::move(x), std::move(t), 2, 3);
}
} // namespace

BOOST_AUTO_TEST_SUITE(targets)

BOOST_AUTO_TEST_CASE(the_three_kinds_of_loader) {
    static_assert(target_kind_of<InMemoryLoader> == TargetKind::label);
    static_assert(target_kind_of<InMemoryTargetLoader> == TargetKind::value);
    static_assert(target_kind_of<InputsOnly<InMemoryLoader>> == TargetKind::input);
    static_assert(target_kind_of<Subset<InMemoryTargetLoader>> == TargetKind::value);
    static_assert(target_kind_of<Subset<InputsOnly<InMemoryLoader>>> == TargetKind::input);
    static_assert(!LabelLoader<InMemoryTargetLoader> && !InputLoader<InMemoryTargetLoader>);

    // And each reads what its kind says: features and targets, or features alone.
    const auto values = numbered(4);
    BOOST_TEST(values.size() == 4u);
    BOOST_TEST(values.target_size() == 3u);
    std::vector<float> x(2), t(3);
    values.read(2, x, t);
    BOOST_TEST(x == (std::vector<float>{2.0f, -2.0f}), boost::test_tools::per_element());
    BOOST_TEST(t == (std::vector<float>{20.0f, 21.0f, 22.0f}), boost::test_tools::per_element());
    const InputsOnly<InMemoryTargetLoader> inputs(values);
    BOOST_TEST(inputs.size() == 4u);
    inputs.read(3, x);
    BOOST_TEST(x == (std::vector<float>{3.0f, -3.0f}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(batches_keep_each_samples_targets) {
    const auto loader = numbered(37);
    const NoAugment none;
    Batcher<InMemoryTargetLoader, NoAugment> b(loader, none, {1, 2, 1}, {8, true, false, true},
                                               Rng(3));
    for (std::size_t epoch = 0; epoch < 2; ++epoch) {
        b.start_epoch(epoch);
        Batch batch;
        std::size_t seen = 0;
        while (b.next(batch)) {
            BOOST_REQUIRE_EQUAL(batch.t.shape()[1], 3u);
            BOOST_REQUIRE_EQUAL(batch.t.shape()[0], batch.size());
            for (std::size_t i = 0; i < batch.size(); ++i) {
                const auto f = static_cast<float>(batch.index[i]);
                BOOST_TEST(batch.x(i, 0) == f);
                BOOST_TEST(batch.t(i, 0) == 10 * f);
                BOOST_TEST(batch.t(i, 2) == 10 * f + 2);
            }
            seen += batch.size();
        }
        BOOST_TEST(seen == 37u);
    }
}

BOOST_AUTO_TEST_CASE(subsets_and_inputs_only_forward) {
    const auto loader = numbered(5);
    const Subset<InMemoryTargetLoader> s(loader, {4, 1});
    BOOST_TEST(s.target_size() == 3u);
    std::vector<float> x(2), t(3);
    s.read(0, x, t);
    BOOST_TEST(x[0] == 4.0f);
    BOOST_TEST(t[1] == 41.0f);
    const InputsOnly<InMemoryTargetLoader> in(loader);
    BOOST_TEST(in.size() == 5u);
    in.read(3, x);
    BOOST_TEST(x[1] == -3.0f);
    // A labelled loader's inputs, for an autoencoder.
    const InMemoryLoader labelled({1, 2, 3, 4}, {0, 1}, 2, 2);
    const InputsOnly<InMemoryLoader> ae(labelled);
    ae.read(1, x);
    BOOST_TEST(x[0] == 3.0f);
    Batch batch;
    batch.resize(1, 2);
    read_sample(ae, 0, batch, 0);
    BOOST_TEST(batch.x(0, 1) == 2.0f);
    BOOST_TEST(batch.y[0] == 0);
    BOOST_TEST(batch.t.size() == 0u);
}

BOOST_AUTO_TEST_CASE(target_scaler_standardizes_and_inverts) {
    // Two outputs: {1, 3, 5} (mean 3, population sd sqrt(8/3)) and a constant column.
    const std::vector<float> t{1, 7, 3, 7, 5, 7};
    TargetScaler s;
    std::vector<float> one{1.0f}, three{1, 2, 3};
    BOOST_CHECK_THROW(s.transform(one), config_error);
    s.fit(t, 2);
    BOOST_TEST(s.mean()[0] == 3.0);
    BOOST_TEST(s.sd()[0] == std::sqrt(8.0 / 3.0), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(s.sd()[1] == 1.0); // constant: left unscaled
    std::vector<float> v = t;
    s.transform(v);
    BOOST_TEST(v[0] == static_cast<float>(-2.0 / std::sqrt(8.0 / 3.0)),
               boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(v[1] == 0.0f);
    s.inverse(v);
    for (std::size_t i = 0; i < t.size(); ++i)
        BOOST_TEST(v[i] == t[i], boost::test_tools::tolerance(1e-6f));
    BOOST_CHECK_THROW(s.fit(t, 4), shape_error);
    BOOST_CHECK_THROW(s.inverse(three), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
