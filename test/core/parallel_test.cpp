#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include "edgestack/core/parallel.hpp"
#include "edgestack/core/rng.hpp"

using namespace edgestack;

BOOST_AUTO_TEST_SUITE(parallel)

BOOST_AUTO_TEST_CASE(every_index_runs_exactly_once) {
    std::vector<std::atomic<int>> hits(1003);
    parallel_for(0, hits.size(), [&](std::size_t i) { hits[i].fetch_add(1); }, 7);
    for (const auto& h : hits) BOOST_REQUIRE(h.load() == 1);
}

BOOST_AUTO_TEST_CASE(chunks_do_not_depend_on_the_thread_count) {
    auto chunks_with = [](std::size_t threads) {
        ThreadLimit limit(threads);
        std::mutex m;
        std::vector<std::pair<std::size_t, std::size_t>> out;
        parallel_chunks(5, 105, 16, [&](std::size_t b, std::size_t e) {
            std::lock_guard lock(m);
            out.emplace_back(b, e);
        });
        std::sort(out.begin(), out.end());
        return out;
    };
    const auto one = chunks_with(1), two = chunks_with(2);
    BOOST_TEST(one == two);
    BOOST_TEST(one.size() == 7u);
    BOOST_TEST(one.front().first == 5u);
    BOOST_TEST(one.back().second == 105u);
}

BOOST_AUTO_TEST_CASE(per_chunk_streams_give_the_same_numbers_with_any_thread_count) {
    auto draw = [](std::size_t threads) {
        ThreadLimit limit(threads);
        std::vector<float> v(256);
        const Rng base(11);
        parallel_chunks(0, v.size(), 32, [&](std::size_t b, std::size_t e) {
            Rng r = base.split(b);
            for (std::size_t i = b; i < e; ++i) v[i] = r.uniform();
        });
        return v;
    };
    BOOST_TEST(draw(1) == draw(2));
}

BOOST_AUTO_TEST_CASE(empty_range_calls_nothing) {
    bool called = false;
    parallel_for(4, 4, [&](std::size_t) { called = true; });
    parallel_chunks(9, 3, 2, [&](std::size_t, std::size_t) { called = true; });
    BOOST_TEST(!called);
}

BOOST_AUTO_TEST_SUITE_END()
