// 1-D layers (nn/conv1d.hpp): shapes and names, gradients against finite differences, the
// forward pass against a plain 1-D loop, and what they lower to.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "check.hpp"
#include "edgestack/nn/conv1d.hpp"
#include "edgestack/nn/nn.hpp"

using namespace edgestack;
using namespace edgestack::nn;
using nn_test::bound;
using nn_test::check_grads;

BOOST_AUTO_TEST_SUITE(conv1d)

BOOST_AUTO_TEST_CASE(shapes_and_names) {
    using C = bound<Conv1D<16, 5, 1, Pad<2>>, Shape<128, 6>>;
    static_assert(std::is_same_v<C::input_shape, Shape<128, 6>>);
    static_assert(std::is_same_v<C::output_shape, Shape<128, 16>>);
    static_assert(C::param_count == 16 * 5 * 6 + 16);
    static_assert(C::macs == 128 * 16 * 5 * 6);
    BOOST_TEST(C::name() == "Conv1D<16, 5, 1, Pad<2>>");
    static_assert(std::is_same_v<bound<Conv1D<8, 3, 2>, Shape<128, 6>>::output_shape, Shape<64, 8>>);
    static_assert(std::is_same_v<bound<Conv1D<8, 3, 2, Padding::valid>, Shape<9, 6>>::output_shape, Shape<4, 8>>);
    static_assert(std::is_same_v<bound<Conv1D<4, 3, 1, Pad1D<2, 0>>, Shape<5, 2>>::output_shape, Shape<5, 4>>);
    static_assert(std::is_same_v<bound<Conv1D<4, 3, 1, Padding::valid, 2>, Shape<9, 2>>::output_shape, Shape<5, 4>>);
    BOOST_TEST((bound<Conv1D<4, 3, 1, Pad1D<2, 0>>, Shape<5, 2>>::name()) == "Conv1D<4, 3, 1, Pad1D<2, 0>>");

    using D = bound<DepthwiseConv1D<3, 1, Pad<1>>, Shape<64, 16>>;
    static_assert(std::is_same_v<D::output_shape, Shape<64, 16>>);
    static_assert(D::param_count == 3 * 16 + 16);
    BOOST_TEST(D::name() == "DepthwiseConv1D<3, 1, Pad<1>>");

    using M = bound<MaxPool1D<2>, Shape<128, 16>>;
    static_assert(std::is_same_v<M::output_shape, Shape<64, 16>>);
    BOOST_TEST(M::name() == "MaxPool1D<2>");
    static_assert(std::is_same_v<bound<MaxPool1D<3, 2, Pad<1>>, Shape<64, 8>>::output_shape, Shape<32, 8>>);
    BOOST_TEST((bound<MaxPool1D<3, 2, Pad<1>>, Shape<64, 8>>::name()) == "MaxPool1D<3, 2, Pad<1>>");

    using A = bound<AvgPool1D<3, 1, Pad<1>, CountPad>, Shape<32, 12>>;
    static_assert(std::is_same_v<A::output_shape, Shape<32, 12>>);
    BOOST_TEST(A::name() == "AvgPool1D<3, 1, Pad<1>, CountPad>");
    BOOST_TEST((bound<AvgPool1D<2>, Shape<64, 16>>::name()) == "AvgPool1D<2>");

    // The whole sensor network, as a user declares it.
    using Net = Sequential<Input<128, 6>, Conv1D<16, 5, 1, Pad<2>>, ReLU, MaxPool1D<2>, DepthwiseConv1D<3, 1, Pad<1>>,
                           ReLU, AvgPool1D<2>, GlobalAvgPool, Dense<5>>;
    static_assert(std::is_same_v<Net::output_shape, Shape<5>>);
}

BOOST_AUTO_TEST_CASE(conv_gradients) {
    check_grads<bound<Conv1D<3, 3>, Shape<7, 2>>>({.batch = 2});
    check_grads<bound<Conv1D<2, 3, 2, Padding::valid>, Shape<9, 3>>>({.batch = 2});
    check_grads<bound<Conv1D<2, 4, 2, Pad1D<2, 1>>, Shape<8, 2>>>({.batch = 3});
    check_grads<bound<Conv1D<2, 2, 1, Padding::valid, 2>, Shape<6, 2>>>({.batch = 2});
    check_grads<bound<Conv1D<4, 1>, Shape<5, 3>>>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(depthwise_and_pool_gradients) {
    check_grads<bound<DepthwiseConv1D<3>, Shape<7, 3>>>({.batch = 2});
    check_grads<bound<DepthwiseConv1D<3, 2, Padding::valid>, Shape<9, 2>>>({.batch = 2});
    check_grads<bound<MaxPool1D<2>, Shape<8, 3>>>({.batch = 2});
    check_grads<bound<MaxPool1D<3, 2, Pad<1>>, Shape<7, 2>>>({.batch = 2});
    check_grads<bound<AvgPool1D<2>, Shape<8, 3>>>({.batch = 2});
    check_grads<bound<AvgPool1D<3, 1, Pad<1>, CountPad>, Shape<6, 2>>>({.batch = 2});
    check_grads<bound<AvgPool1D<3, 1, Pad<1>>, Shape<6, 2>>>({.batch = 2});
}

// y[t][f] = b[f] + sum_k sum_c x[t * S + k * D - pad][c] * w[f][k][c], written out in 1-D.
BOOST_AUTO_TEST_CASE(conv_matches_a_plain_loop) {
    constexpr std::size_t T = 11, C = 3, F = 4, K = 3, S = 2, D = 2, PB = 2, PE = 1;
    using L = bound<Conv1D<F, K, S, Pad1D<PB, PE>, D>, Shape<T, C>>;
    constexpr std::size_t OT = L::output_shape::dims[0];
    static_assert(OT == (T + PB + PE - (K - 1) * D - 1) / S + 1);
    L layer;
    Rng rng(3);
    std::vector<float> p(L::param_count);
    layer.init(p, rng);
    for (std::size_t f = 0; f < F; ++f) p[F * K * C + f] = 0.1f * static_cast<float>(f + 1);
    constexpr std::size_t batch = 2;
    std::vector<float> x(batch * T * C), y(batch * OT * F);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
    layer.forward(x.data(), y.data(), batch, p, Mode::eval, rng);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t t = 0; t < OT; ++t)
            for (std::size_t f = 0; f < F; ++f) {
                double want = p[F * K * C + f];
                for (std::size_t k = 0; k < K; ++k) {
                    const long i = static_cast<long>(t * S + k * D) - static_cast<long>(PB);
                    if (i < 0 || i >= static_cast<long>(T)) continue;
                    for (std::size_t c = 0; c < C; ++c)
                        want += double{x[(b * T + static_cast<std::size_t>(i)) * C + c]} * p[(f * K + k) * C + c];
                }
                BOOST_TEST(std::abs(y[(b * OT + t) * F + f] - want) < 1e-5, "b " << b << " t " << t << " f " << f);
            }
}

BOOST_AUTO_TEST_CASE(lowers_to_the_two_d_ops_on_sequence_values) {
    using Net = Sequential<Input<32, 6>, Conv1D<8, 5, 2, Pad<2>>, ReLU, MaxPool1D<2>, DepthwiseConv1D<3, 1, Pad<1>>,
                           AvgPool1D<3, 1, Pad<1>, CountPad>, AvgPool1D<2>, GlobalAvgPool, Dense<3>>;
    Net net;
    Rng rng(1);
    net.init(rng);
    const compile::Graph g = net.lower();
    using compile::Op;
    const std::vector<Op> ops{Op::conv2d,           Op::relu,             Op::max_pool2d, Op::depthwise_conv2d,
                              Op::depthwise_conv2d, Op::avg_pool2d,       Op::global_avg_pool, Op::dense};
    BOOST_REQUIRE_EQUAL(g.nodes.size(), ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) BOOST_TEST(g.nodes[i].op == ops[i]);
    const auto& conv = g.nodes[0];
    BOOST_TEST((conv.kernel == std::array<std::size_t, 2>{1, 5}));
    BOOST_TEST((conv.stride == std::array<std::size_t, 2>{1, 2}));
    BOOST_TEST((conv.pad == std::array<std::size_t, 4>{0, 2, 0, 2}));
    BOOST_TEST((g.values[1] == compile::Dims{16, 8}));  // T x C, not 1 x T x C
    BOOST_TEST((g.values[3] == compile::Dims{8, 8}));
    BOOST_TEST((g.values[7] == compile::Dims{8}));
    // The counting average is a depthwise convolution of weights 1/3 and no bias.
    BOOST_TEST(g.nodes[4].bias.empty());
    for (float v : g.nodes[4].weights) BOOST_TEST(std::abs(v - 1.0f / 3.0f) < 1e-7f);
}

BOOST_AUTO_TEST_SUITE_END()
