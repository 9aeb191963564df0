// The Simd backend's Winograd F(2x2, 3x3) path: chosen for the 3x3 stride-1 convolutions
// it suits, within 1e-5 of Reference in fp32 and identical in int8, at odd sizes, channel
// tails, both paddings, fused activations, and worst-case int8 values at the widest input
// it accepts.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include "common.hpp"
#include "edgestack/backend/simd.hpp"

using namespace edgestack;

namespace {

struct Case {
    std::size_t h, w, c, oc;
    bool same;
    compile::Op act; // dropout: no activation (removed by the deploy passes anyway)
};

compile::Graph conv_graph(const Case& k, std::uint64_t seed) {
    Rng rng(seed);
    compile::Graph g = compile::Graph::with_input({k.h, k.w, k.c});
    const int v = backend::nets::conv2d(g, 0, k.oc, 3, rng, 1, k.same);
    if (k.act != compile::Op::dropout) backend::nets::unary(g, v, k.act);
    return g;
}

template <class Engine>
std::size_t winograd_steps(const Engine& e) {
    std::size_t n = 0;
    for (const auto& s : e.program().steps) n += s.winograd ? 1 : 0;
    return n;
}

const Case cases[] = {
    {7, 5, 17, 19, true, compile::Op::relu6},   // odd sizes, odd channels, tails of 16 and 8
    {9, 6, 16, 16, false, compile::Op::relu},   // valid padding, an odd number of output rows
    {2, 3, 20, 33, true, compile::Op::dropout}, // one row of tiles, 33 = 2 x 16 + 1
    {14, 14, 32, 64, true, compile::Op::relu},  // the reference CNN's second convolution
    {30, 30, 24, 40, true, compile::Op::relu},  // more tiles than one chunk holds
};

} // namespace

BOOST_AUTO_TEST_SUITE(winograd)

BOOST_AUTO_TEST_CASE(chosen_only_where_it_applies) {
    Rng rng(1);
    compile::Graph g = compile::Graph::with_input({12, 12, 16});
    int v = backend::nets::conv2d(g, 0, 16, 3, rng);    // yes
    v = backend::nets::conv2d(g, v, 16, 3, rng, 2);     // stride 2: no
    v = backend::nets::conv2d(g, v, 16, 5, rng);        // 5x5: no
    backend::nets::conv2d(g, v, 8, 3, rng);             // 8 outputs: too few
    const backend::SimdEngine e(g);
    BOOST_TEST(winograd_steps(e) == (backend::simd_accelerated ? 1u : 0u));
}

BOOST_AUTO_TEST_CASE(fp32_agrees_with_reference) {
    for (const auto& k : cases) {
        const auto g = conv_graph(k, k.c);
        const backend::SimdEngine fast(g);
        if (backend::simd_accelerated) BOOST_TEST(winograd_steps(fast) == 1u);
        const auto x = backend::nets::random_inputs(g, 3, 11);
        test::check_close(test::run_engine(fast, x), test::run_engine(backend::ReferenceEngine(g), x));
    }
}

BOOST_AUTO_TEST_CASE(int8_is_identical_to_reference) {
    for (const auto& k : cases) {
        const auto q = test::quantized(conv_graph(k, k.c + 100));
        const backend::SimdEngine fast(q);
        if (backend::simd_accelerated) BOOST_TEST(winograd_steps(fast) == 1u);
        const auto x = backend::nets::random_inputs(q, 3, 12);
        test::check_equal(test::run_engine(fast, x), test::run_engine(backend::ReferenceEngine(q), x));
    }
}

// The int32 bound of the int8 transform is tightest at the widest input accepted: random
// +-127 weights over inputs at -128 or 127 (a checkerboard of extremes drives the input
// transform to its +-512 bound). The output scale keeps the exact sums visible.
BOOST_AUTO_TEST_CASE(int8_is_exact_at_the_widest_input_with_extreme_values) {
    using backend::detail::winograd::max_int8_channels;
    Rng rng(4);
    compile::Graph g = compile::Graph::with_input({6, 6, max_int8_channels});
    backend::nets::conv2d(g, 0, 16, 3, rng);
    auto& n = g.nodes[0];
    n.qweights.resize(n.weights.size());
    for (auto& w : n.qweights) w = rng.bernoulli(0.5f) ? std::int8_t{-127} : std::int8_t{127};
    n.qbias.assign(16, 0);
    n.weight_quant = {{1.0f}, {0}, -1};
    g.value_quant = {{{1.0f}, {0}, -1}, {{1048576.0f}, {0}, -1}};
    const backend::ReferenceEngine ref(g);
    const backend::SimdEngine fast(g);
    if (backend::simd_accelerated) BOOST_TEST(winograd_steps(fast) == 1u);
    std::vector<std::int8_t> x(g.input_size()), a(g.output_size()), b(g.output_size());
    auto ra = ref.make_arena(1), rb = fast.make_arena(1);
    for (int pattern = 0; pattern < 3; ++pattern) {
        for (std::size_t i = 0; i < x.size(); ++i) {
            const std::size_t pix = i / max_int8_channels, hh = pix / 6, ww = pix % 6;
            const bool high = pattern == 0 ? (hh + ww) % 2 == 0 : pattern == 1 ? true : rng.bernoulli(0.5f);
            x[i] = high ? std::int8_t{127} : std::int8_t{-128};
        }
        BOOST_REQUIRE(ref.run_int8(x, a, ra));
        BOOST_REQUIRE(fast.run_int8(x, b, rb));
        BOOST_TEST(a == b, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_SUITE_END()
