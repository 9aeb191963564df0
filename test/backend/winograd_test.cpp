// The Simd backend's Winograd F(2x2, 3x3) path: chosen for the 3x3 stride-1 convolutions
// it suits, within 1e-5 of Reference in fp32 and identical in int8, at odd sizes, channel
// tails, both paddings, fused activations, and worst-case int8 values at the widest input
// it accepts.
#include <boost/test/unit_test.hpp>

#include <algorithm>
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
    for (const auto& s : e.program().steps) n += s.pack().winograd ? 1 : 0;
    return n;
}

const Case cases[] = {
    {7, 5, 17, 19, true, compile::Op::relu6},   // odd sizes, odd channels, tails of 16 and 8
    {9, 6, 16, 16, false, compile::Op::relu},   // valid padding, an odd number of output rows
    {2, 3, 20, 33, true, compile::Op::dropout}, // one row of tiles, 33 = 2 x 16 + 1
    {14, 14, 32, 64, true, compile::Op::relu},  // the reference CNN's second convolution
    {30, 30, 24, 40, true, compile::Op::relu},  // more tiles than one chunk holds
};

/// Winograd runs when it is compiled in and the kernel level chosen (EDGESTACK_ISA may cap
/// it) is AVX2 or above.
bool winograd_on() { return backend::simd_accelerated && selected_isa() >= Isa::avx2; }

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
    BOOST_TEST(winograd_steps(e) == (winograd_on() ? 1u : 0u));
}

BOOST_AUTO_TEST_CASE(fp32_agrees_with_reference) {
    for (const auto& k : cases) {
        const auto g = conv_graph(k, k.c);
        const backend::SimdEngine fast(g);
        if (winograd_on()) BOOST_TEST(winograd_steps(fast) == 1u);
        const auto x = backend::nets::random_inputs(g, 3, 11);
        test::check_close(test::run_engine(fast, x), test::run_engine(backend::ReferenceEngine(g), x));
    }
}

BOOST_AUTO_TEST_CASE(int8_is_identical_to_reference) {
    for (const auto& k : cases) {
        const auto q = test::quantized(conv_graph(k, k.c + 100));
        const backend::SimdEngine fast(q);
        if (winograd_on()) BOOST_TEST(winograd_steps(fast) == 1u);
        const auto x = backend::nets::random_inputs(q, 3, 12);
        test::check_equal(test::run_engine(fast, x), test::run_engine(backend::ReferenceEngine(q), x));
    }
}

// The int8 transform's sums are largest at the widest input accepted, with every weight at
// the same-sign extreme (|U| reaches 9 x 127) and input codes at -128 / 127 (a checkerboard
// drives |V| to its 4 x 128 bound). Compared with an exact int64 sum, not with Reference:
// every scale is 1 and each channel's bias cancels the exact sum at one output pixel, so
// that pixel's code is the engine's error itself and a one-unit error in a sum of ~2^26
// changes it.
BOOST_AUTO_TEST_CASE(int8_is_exact_at_the_widest_input_with_extreme_values) {
    using backend::detail::winograd::max_int8_channels;
    constexpr std::size_t C = max_int8_channels, H = 6, W = 6, OC = 16, OH = H - 2, OW = W - 2;
    Rng rng(4);
    compile::Graph g = compile::Graph::with_input({H, W, C});
    backend::nets::conv2d(g, 0, OC, 3, rng, 1, false); // valid padding: every window full
    auto& n = g.nodes[0];
    n.qweights.resize(n.weights.size());
    for (std::size_t o = 0; o < OC; ++o) // half the channels at +127, half at -127
        std::fill_n(n.qweights.begin() + static_cast<std::ptrdiff_t>(o * 9 * C), 9 * C,
                    o < OC / 2 ? std::int8_t{127} : std::int8_t{-127});
    n.weight_quant = {{1.0f}, {0}, -1};
    g.value_quant = {{{1.0f}, {0}, -1}, {{1.0f}, {0}, -1}};
    std::vector<std::int8_t> x(g.input_size()), got(g.output_size());
    std::size_t shown = 0;
    for (int pattern = 0; pattern < 4; ++pattern) {
        for (std::size_t i = 0; i < x.size(); ++i) {
            const std::size_t pix = i / C, hh = pix / W, ww = pix % W;
            const bool high = pattern == 0   ? (hh + ww) % 2 == 0
                              : pattern == 1 ? true
                              : pattern == 2 ? false
                                             : rng.bernoulli(0.5f);
            x[i] = high ? std::int8_t{127} : std::int8_t{-128};
        }
        std::vector<std::int64_t> exact(OH * OW * OC, 0); // the direct sum, in int64
        for (std::size_t oy = 0; oy < OH; ++oy)
            for (std::size_t ox = 0; ox < OW; ++ox)
                for (std::size_t o = 0; o < OC; ++o) {
                    std::int64_t acc = 0;
                    for (std::size_t t = 0; t < 9; ++t)
                        for (std::size_t c = 0; c < C; ++c)
                            acc += std::int64_t{n.qweights[(o * 9 + t) * C + c]} *
                                   x[((oy + t / 3) * W + ox + t % 3) * C + c];
                    exact[(oy * OW + ox) * OC + o] = acc;
                }
        n.qbias.resize(OC);
        for (std::size_t o = 0; o < OC; ++o) // channel o is exactly 0 at pixel o
            n.qbias[o] = static_cast<std::int32_t>(-exact[o * OC + o] + static_cast<std::int64_t>(o % 3) - 1);
        const backend::SimdEngine fast(g);
        if (winograd_on()) BOOST_TEST(winograd_steps(fast) == 1u);
        auto arena = fast.make_arena(1);
        BOOST_REQUIRE(fast.run_int8(x, got, arena));
        for (std::size_t i = 0; i < got.size(); ++i) {
            const std::int64_t want = std::clamp<std::int64_t>(exact[i] + n.qbias[i % OC], -128, 127);
            shown += want > -128 && want < 127 ? 1 : 0;
            if (got[i] != want)
                BOOST_FAIL("pattern " << pattern << ", output " << i << ": " << int(got[i])
                                      << ", exact " << want << " (sum " << exact[i] << ")");
        }
    }
    BOOST_TEST(shown >= 4 * OC); // at least the pinned pixel of every channel, every pattern
}

BOOST_AUTO_TEST_SUITE_END()
