#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>

#include "common.hpp"
#include "edgestack/dist/shard.hpp"

using namespace edgestack;
using dist_test::make_data;

namespace {
using Mem = data::InMemoryLoader;
using Shards = dist::ShardedBatcher<Mem, data::NoAugment>;
const data::NoAugment none;
const SampleLayout layout = layout_of<Shape<8>>();
} // namespace

BOOST_AUTO_TEST_SUITE(shard)

BOOST_AUTO_TEST_CASE(ranks_together_see_the_batches_of_one_process_with_the_global_batch) {
    const auto d = make_data(37);
    const Rng rng(11);
    for (std::size_t epoch : {0u, 3u}) {
        data::Batcher<Mem, data::NoAugment> whole(d, none, layout, {10, true, false},
                                                     rng);
        Shards r0(d, none, layout, {5, true, false}, rng, 0, 2);
        Shards r1(d, none, layout, {5, true, false}, rng, 1, 2);
        whole.start_epoch(epoch);
        r0.start_epoch(epoch);
        r1.start_epoch(epoch);
        BOOST_TEST(r0.batches_per_epoch() == whole.batches_per_epoch());
        data::Batch w, a, b;
        std::size_t ga = 0, gb = 0, steps = 0;
        while (whole.next(w)) {
            BOOST_REQUIRE(r0.next(a, ga));
            BOOST_REQUIRE(r1.next(b, gb));
            BOOST_TEST(ga == w.size());
            BOOST_TEST(gb == w.size());
            BOOST_REQUIRE(a.size() + b.size() == w.size());
            for (std::size_t i = 0; i < w.size(); ++i) {
                const data::Batch& s = i < a.size() ? a : b;
                const std::size_t j = i < a.size() ? i : i - a.size();
                BOOST_TEST(s.index[j] == w.index[i]);
                BOOST_TEST(s.y[j] == w.y[i]);
                BOOST_TEST(s.x.data()[j * 8] == w.x.data()[i * 8]);
            }
            ++steps;
        }
        BOOST_TEST(!r0.next(a, ga));
        BOOST_TEST(!r1.next(b, gb));
        BOOST_TEST(steps == 4u); // 37 = 10 + 10 + 10 + 7
    }
}

BOOST_AUTO_TEST_CASE(a_rank_gets_an_empty_slice_of_a_short_last_batch_but_still_steps) {
    const auto d = make_data(23); // global batches of 2 x 10: 20, then 3 (all on rank 0)
    Shards r1(d, none, layout, {10, false, false}, Rng(1), 1, 2);
    data::Batch b;
    std::size_t g = 0;
    BOOST_REQUIRE(r1.next(b, g));
    BOOST_TEST(b.size() == 10u);
    BOOST_TEST(b.index[0] == 10u); // unshuffled: rank 1 holds samples 10..19
    BOOST_REQUIRE(r1.next(b, g));
    BOOST_TEST(b.size() == 0u);
    BOOST_TEST(g == 3u);
    BOOST_TEST(!r1.next(b, g));
}

BOOST_AUTO_TEST_CASE(every_sample_once_per_epoch_across_three_ranks) {
    const auto d = make_data(50);
    std::multiset<std::size_t> seen;
    for (int r = 0; r < 3; ++r) {
        Shards s(d, none, layout, {4, true, false}, Rng(3), r, 3);
        s.start_epoch(2);
        data::Batch b;
        std::size_t g = 0;
        while (s.next(b, g)) seen.insert(b.index.begin(), b.index.end());
    }
    BOOST_TEST(seen.size() == 50u);
    BOOST_TEST(std::set<std::size_t>(seen.begin(), seen.end()).size() == 50u);
}

BOOST_AUTO_TEST_CASE(drop_last_drops_the_short_global_batch_on_every_rank) {
    const auto d = make_data(23);
    Shards s(d, none, layout, {5, true, true}, Rng(3), 1, 2);
    BOOST_TEST(s.batches_per_epoch() == 2u);
    data::Batch b;
    std::size_t g = 0, steps = 0;
    while (s.next(b, g)) ++steps;
    BOOST_TEST(steps == 2u);
}

BOOST_AUTO_TEST_CASE(seek_resumes_mid_epoch_where_an_uninterrupted_run_would_be) {
    const auto d = make_data(40);
    Shards a(d, none, layout, {4, true, false}, Rng(5), 0, 2);
    Shards b(d, none, layout, {4, true, false}, Rng(5), 0, 2);
    a.start_epoch(1);
    b.start_epoch(1);
    data::Batch x, y;
    std::size_t g = 0;
    for (int i = 0; i < 3; ++i) a.next(x, g);
    b.seek(3);
    BOOST_REQUIRE(a.next(x, g));
    BOOST_REQUIRE(b.next(y, g));
    BOOST_TEST(x.index == y.index, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_configuration_is_a_config_or_shape_error) {
    const auto d = make_data(10);
    BOOST_CHECK_THROW(Shards(d, none, layout, {0, true, false}, Rng(1), 0, 1), config_error);
    BOOST_CHECK_THROW(Shards(d, none, layout, {4, true, false}, Rng(1), 2, 2), config_error);
    BOOST_CHECK_THROW(Shards(d, none, layout, {4, true, false}, Rng(1), -1, 2), config_error);
    BOOST_CHECK_EXCEPTION(Shards(d, none, layout_of<Shape<9>>(), {4, true, false}, Rng(1), 0, 1),
                          shape_error, [](const shape_error& e) {
                              return std::string(e.what()).find("8 values") != std::string::npos;
                          });
}

BOOST_AUTO_TEST_SUITE_END()
