#include <boost/test/unit_test.hpp>

#include <cmath>
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
        BOOST_TEST(cmp.layers[0].max_abs <= cmp.layers[0].step * 1.01, cmp.table());
        for (const auto& l : cmp.layers) BOOST_TEST(l.rms <= l.step, cmp.table());
    }
}

BOOST_AUTO_TEST_CASE(xnnpack_leaves_other_ops_to_the_simd_kernels) {
    // avg pool, softmax, tables run on the Simd kernels; conv, depthwise, dense in XNNPACK.
    const auto e = backend::Xnnpack{}.compile(test::op_zoo()[2]);
    std::size_t xnn = 0, own = 0;
    for (const auto& s : e.program().steps) (s.handle ? xnn : own) += 1;
    BOOST_TEST(xnn == 5u);
    BOOST_TEST(own == 6u);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
