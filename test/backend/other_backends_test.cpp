#include <boost/test/unit_test.hpp>

#include <array>
#include <cmath>
#include <thread>
#include <vector>

#include "common.hpp"
#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/backend/compare.hpp"
#include "edgestack/concepts.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif

using namespace edgestack;

BOOST_AUTO_TEST_SUITE(other_backends)

BOOST_AUTO_TEST_CASE(every_backend_is_a_backend) {
    static_assert(Backend<backend::Reference>);
    static_assert(Backend<backend::Simd>);
    static_assert(Backend<backend::Parallel<backend::Simd>>);
    static_assert(Engine<backend::ParallelEngine<backend::SimdEngine>>);
#if defined(EDGESTACK_HAS_XNNPACK)
    static_assert(Backend<backend::Xnnpack>);
#endif
    BOOST_TEST(backend::simd_accelerated == (EDGESTACK_EXPECT_AVX2 != 0));
}

BOOST_AUTO_TEST_CASE(parallel_equals_its_inner_backend) {
    const backend::Parallel<backend::Simd> par{{}, 3};
    for (const auto& g : test::op_zoo()) {
        const auto x = backend::nets::random_inputs(g, 10);
        const auto e = par.compile(g);
        test::check_equal(test::run_engine(e, x), test::run_engine(backend::SimdEngine(g), x));
        const auto q = test::quantized(g);
        test::check_equal(test::run_engine(par.compile(q), x), test::run_engine(backend::ReferenceEngine(q), x));
    }
    // One sample with three slices prepared: still right.
    const auto g = backend::nets::cnn(2);
    const auto x = backend::nets::random_inputs(g, 1);
    test::check_equal(test::run_engine(par.compile(g), x), test::run_engine(backend::SimdEngine(g), x));
}

// Each engine runs the add with its activation fused as Reference runs the two apart:
// fp32 within float tolerance, int8 code for code. XNNPACK requantizes its convolutions
// its own way (within one step of Reference), so in int8 it is held to its own unfused run.
BOOST_AUTO_TEST_CASE(every_engine_runs_a_fused_add_as_the_unfused_graph) {
    const backend::Parallel<backend::Simd> par{{}, 3};
    for (const auto& c : test::add_relu_cases()) {
        BOOST_TEST_CONTEXT(c.what) {
            const auto x = backend::nets::random_inputs(c.unfused, 7, 29);
            const auto want = test::run_engine(backend::ReferenceEngine(c.unfused), x);
            const auto check = [&](const std::vector<float>& got) {
                if (c.fused.value_quant.empty()) test::check_close(got, want);
                else test::check_equal(got, want);
            };
            check(test::run_engine(backend::SimdEngine(c.fused), x));
            check(test::run_engine(par.compile(c.fused), x));
#if defined(EDGESTACK_HAS_XNNPACK)
            const auto xnn = test::run_engine(backend::Xnnpack{1}.compile(c.fused), x);
            if (c.fused.value_quant.empty()) check(xnn);
            else test::check_equal(xnn, test::run_engine(backend::Xnnpack{1}.compile(c.unfused), x));
#endif
        }
    }
}

#if defined(EDGESTACK_HAS_XNNPACK)
BOOST_AUTO_TEST_CASE(xnnpack_fp32_agrees_with_reference) {
    for (const auto& g : test::op_zoo()) {
        const auto x = backend::nets::random_inputs(g, 5);
        test::check_close(test::run_engine(backend::Xnnpack{1}.compile(g), x),
                          test::run_engine(backend::ReferenceEngine(g), x));
        test::check_close(test::run_engine(backend::Xnnpack{2}.compile(g), x),
                          test::run_engine(backend::ReferenceEngine(g), x));
    }
}

// XNNPACK requantizes in fp32 with ties to even: codes may differ by one step, never more.
BOOST_AUTO_TEST_CASE(xnnpack_int8_is_within_one_step_of_reference) {
    for (const auto& g : test::op_zoo()) {
        const auto q = test::quantized(g);
        const auto x = backend::nets::random_inputs(g, 5, 17);
        const auto e = backend::Xnnpack{1}.compile(q);
        const auto ref = backend::ReferenceEngine(q);
        const auto cmp = backend::compare_layers(ref, e, x, {0.0, 0.0, 1.01});
        BOOST_TEST(!cmp.layers.empty());
        for (const auto& l : cmp.layers) BOOST_TEST(l.max_abs <= l.step * 1.01, l.name << "\n" << cmp.table());
    }
}

// Each arena gets XNNPACK operators set up once for its buffers: two threads with arenas
// of their own never rebind (nor wait for) each other's operators, and agree with one thread.
BOOST_AUTO_TEST_CASE(xnnpack_runs_from_two_threads_in_their_own_arenas) {
    for (const auto& g : test::op_zoo()) {
        for (const bool int8 : {false, true}) {
            const auto model = int8 ? test::quantized(g) : g;
            const auto e = backend::Xnnpack{1}.compile(model);
            std::array<std::vector<float>, 2> x{backend::nets::random_inputs(g, 3, 21),
                                                backend::nets::random_inputs(g, 3, 22)};
            auto own = e.make_arena(3); // alive throughout: no thread's arena reuses its bytes
            std::array<std::vector<float>, 2> want;
            for (std::size_t k = 0; k < 2; ++k) {
                want[k].resize(3 * e.output_size());
                BOOST_REQUIRE(e.run(x[k], want[k], own));
            }
            std::array<std::vector<std::vector<float>>, 2> got;
            // Both alive at once: a thread that ended first could leave its bytes to the other.
            std::array<backend::Arena, 2> arenas{e.make_arena(3), e.make_arena(3)};
            std::vector<std::thread> threads;
            for (std::size_t t = 0; t < 2; ++t)
                threads.emplace_back([&, t] {
                    auto& arena = arenas[t];
                    std::vector<float> y(want[0].size());
                    for (int i = 0; i < 40; ++i) {
                        const std::size_t k = (t + static_cast<std::size_t>(i)) % 2;
                        if (!e.run(x[k], y, arena)) y.assign(y.size(), -1.0f);
                        got[t].push_back(y);
                    }
                });
            for (auto& th : threads) th.join();
            for (std::size_t t = 0; t < 2; ++t)
                for (std::size_t i = 0; i < got[t].size(); ++i)
                    test::check_equal(got[t][i], want[(t + i) % 2]);
            // Three arenas (this thread's and two more): one setup each, no more.
            for (const auto& st : e.program().steps)
                if (st.xnn()) BOOST_TEST(backend::detail::xnn::setups(st) == 3u, st.name << " (int8 " << int8 << "): " << backend::detail::xnn::setups(st));
        }
    }
}

BOOST_AUTO_TEST_CASE(xnnpack_arenas_alternating_in_one_thread_are_set_up_once) {
    const auto e = backend::Xnnpack{2}.compile(backend::nets::cnn(3));
    const auto x = backend::nets::random_inputs(e.graph(), 2);
    std::vector<float> y(2 * e.output_size()), first;
    auto a = e.make_arena(2), b = e.make_arena(2);
    for (int i = 0; i < 10; ++i) {
        BOOST_REQUIRE(e.run(x, y, i % 2 == 0 ? a : b));
        if (i == 0) first = y;
        test::check_equal(y, first);
    }
    for (const auto& st : e.program().steps)
        if (st.xnn()) BOOST_TEST(backend::detail::xnn::setups(st) == 2u, st.name);
}

BOOST_AUTO_TEST_CASE(xnnpack_leaves_other_ops_to_the_simd_kernels) {
    // avg pool, softmax, tables run on the Simd kernels; conv, depthwise, dense in XNNPACK.
    const auto e = backend::Xnnpack{}.compile(test::op_zoo()[2]);
    std::size_t xnn = 0, own = 0;
    for (const auto& s : e.program().steps) (s.xnn() ? xnn : own) += 1;
    BOOST_TEST(xnn == 5u);
    BOOST_TEST(own == 6u);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
