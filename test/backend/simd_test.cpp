#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"
#include "edgestack/backend/simd.hpp"

using namespace edgestack;

BOOST_AUTO_TEST_SUITE(simd)

BOOST_AUTO_TEST_CASE(fp32_agrees_with_reference_on_every_op) {
    for (const auto& g : test::op_zoo()) {
        const auto x = backend::nets::random_inputs(g, 7);
        test::check_close(test::run_engine(backend::SimdEngine(g), x),
                          test::run_engine(backend::ReferenceEngine(g), x));
    }
}

BOOST_AUTO_TEST_CASE(int8_is_identical_to_reference_on_every_op) {
    for (const auto& g : test::op_zoo()) {
        const auto q = test::quantized(g);
        const auto x = backend::nets::random_inputs(g, 7, 31);
        test::check_equal(test::run_engine(backend::SimdEngine(q), x),
                          test::run_engine(backend::ReferenceEngine(q), x));
    }
}

// fp32 pools sum (or take the maximum of) the same values in the same order as Reference
// and divide by the same count, so they agree bit for bit, inside the map and at its border.
BOOST_AUTO_TEST_CASE(fp32_pools_are_identical_to_reference) {
    using compile::Op;
    for (std::size_t c : {3u, 8u, 21u, 40u}) {
        BOOST_TEST_CONTEXT(c << " channels") {
            compile::Graph g = compile::Graph::with_input({13, 11, c});
            int v = backend::nets::pool(g, 0, Op::avg_pool2d, 3, 1, {1, 1, 1, 1});
            v = backend::nets::pool(g, v, Op::max_pool2d, 2, 2);
            compile::Node gap;
            gap.op = Op::global_avg_pool;
            gap.name = "global_avg_pool_0";
            g.append(std::move(gap), {v}, {c});
            const auto x = backend::nets::random_inputs(g, 3, 5);
            const backend::SimdEngine fast(g);
            if (fast.isa() != Isa::scalar) // the vector kernels ran
                for (const auto& s : fast.program().steps) BOOST_TEST(s.kernel.find("scalar") == std::string::npos);
            test::check_equal(test::run_engine(fast, x), test::run_engine(backend::ReferenceEngine(g), x));
        }
    }
}

// Worst case for 16-bit pair sums: every weight +-127 and every activation at -128 or 127
// (vpmaddubsw-style kernels saturate here: 2 x 127 x 128 > 32767). A unit output scale of
// 1/2^k keeps the exact int32 sum visible after requantization: we check it by hand.
compile::Graph extreme_graph(bool conv, std::int8_t wv) {
    Rng rng(3);
    compile::Graph g = compile::Graph::with_input(conv ? compile::Dims{6, 6, 32} : compile::Dims{2048});
    if (conv) backend::nets::conv2d(g, 0, 24, 3, rng);
    else backend::nets::dense(g, 0, 20, rng);
    auto& n = g.nodes[0];
    const std::size_t oc = n.bias.size(), per = n.weights.size() / oc;
    n.qweights.resize(n.weights.size());
    for (std::size_t i = 0; i < n.qweights.size(); ++i)
        n.qweights[i] = (i / per) % 2 == 1 ? static_cast<std::int8_t>(-wv) : wv;
    n.qbias.assign(oc, 0);
    n.weight_quant = {{1.0f}, {0}, -1};
    // Largest |sum| is 2048 * 127 * 128 < 2^26: scale the output by 2^-19 to land in int8.
    g.value_quant = {{{1.0f}, {0}, -1}, {{524288.0f}, {0}, -1}};
    return g;
}

BOOST_AUTO_TEST_CASE(int8_is_exact_for_extreme_inputs_and_weights) {
    for (const bool conv : {true, false})
        for (const std::int8_t wv : {std::int8_t{127}, std::int8_t{-127}})
            for (const std::int8_t xv : {std::int8_t{127}, std::int8_t{-128}}) {
                const auto g = extreme_graph(conv, wv);
                const backend::ReferenceEngine ref(g);
                const backend::SimdEngine fast(g);
                std::vector<std::int8_t> x(g.input_size(), xv), a(g.output_size()), b(g.output_size());
                auto ra = ref.make_arena(1), rb = fast.make_arena(1);
                BOOST_REQUIRE(ref.run_int8(x, a, ra));
                BOOST_REQUIRE(fast.run_int8(x, b, rb));
                BOOST_TEST(a == b, boost::test_tools::per_element());
                // Output channel 0 at a position where every tap is real: the exact sum.
                const auto& n = g.nodes[0];
                const std::size_t taps = n.weights.size() / n.bias.size();
                const std::int64_t want = std::int64_t{xv} * wv * static_cast<std::int64_t>(taps);
                const auto r = quant::quantize_multiplier(1.0 / 524288.0);
                const std::size_t at = conv ? (2 * 6 + 2) * 24 : 0;
                BOOST_TEST(int(b[at]) == int(quant::requantize(static_cast<std::int32_t>(want), r, 0)));
                BOOST_TEST(std::abs(int(b[at])) >= 2); // far from zero: a saturated sum would show
            }
}

BOOST_AUTO_TEST_CASE(batches_of_every_tile_size_agree) {
    const auto g = backend::nets::cnn(9);
    const auto q = test::quantized(g);
    for (std::size_t batch : {1u, 2u, 5u, 6u, 7u, 13u}) {
        const auto x = backend::nets::random_inputs(g, batch, batch);
        test::check_close(test::run_engine(backend::SimdEngine(g), x), test::run_engine(backend::ReferenceEngine(g), x));
        test::check_equal(test::run_engine(backend::SimdEngine(q), x), test::run_engine(backend::ReferenceEngine(q), x));
    }
}

BOOST_AUTO_TEST_SUITE_END()
