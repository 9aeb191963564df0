// Counts calls of the global operator new: after deploy, inference allocates nothing.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "common.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/sequential.hpp"

namespace {
std::atomic<long> g_news{0};
}

void* operator new(std::size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace edgestack;

BOOST_AUTO_TEST_SUITE(allocation)

template <class Engine>
long news_during_runs(const Engine& e, std::size_t batch, int runs) {
    const auto x = backend::nets::random_inputs(e.graph(), batch);
    std::vector<float> y(batch * e.output_size());
    auto arena = e.make_arena(batch);
    BOOST_REQUIRE(e.run(x, y, arena)); // warm
    const long before = g_news.load();
    for (int i = 0; i < runs; ++i) e.run(x, y, arena);
    return g_news.load() - before;
}

BOOST_AUTO_TEST_CASE(inference_never_calls_operator_new) {
    for (const auto& g : test::op_zoo()) {
        const auto q = test::quantized(g);
        const long before = g_news.load();
        const backend::SimdEngine probe(g);
        BOOST_TEST(g_news.load() > before); // the counter sees the deploy's allocations
        BOOST_TEST(news_during_runs(probe, 3, 200) == 0);
        BOOST_TEST(news_during_runs(backend::SimdEngine(q), 3, 200) == 0);
        BOOST_TEST(news_during_runs(backend::ReferenceEngine(g), 2, 20) == 0);
        BOOST_TEST(news_during_runs(backend::ReferenceEngine(q), 2, 20) == 0);
    }
}

BOOST_AUTO_TEST_CASE(caller_owned_static_arena) {
    // A microcontroller-style deployment: the arena is a static buffer sized by constants.
    using Net = nn::Sequential<nn::Input<8, 8, 1>, nn::Flatten, nn::Dense<32>, nn::ReLU, nn::Dense<4>>;
    constexpr std::size_t bound = compile::static_arena_bytes<Net>();
    static_assert(bound > 0 && bound < 1024, "Net: arena bound must be a small compile-time constant");
    Net net;
    Rng rng(1);
    net.init(rng);
    const backend::SimdEngine e(net.lower());
    BOOST_TEST(e.activation_bytes_per_sample() <= bound);
    alignas(compile::arena_alignment) static std::byte storage[bound + 4096];
    auto arena = backend::Arena::over(storage, 1);
    std::vector<float> x(64, 0.5f), y(4);
    const long before = g_news.load();
    BOOST_TEST(e.run(x, y, arena));
    BOOST_TEST(g_news.load() == before);
    BOOST_TEST(e.arena_bytes(1) <= sizeof storage);
}

BOOST_AUTO_TEST_SUITE_END()
