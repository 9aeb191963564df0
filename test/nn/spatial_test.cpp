// Convolutions, pooling and residual blocks over NHWC images: gradients against finite
// differences, output against a plain-loop convolution, shapes of every padding mode
// (same, valid, explicit Pad<...>; square and rectangular kernels, windows and strides),
// and gradients that do not depend on the thread count.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "check.hpp"
#include "edgestack/core/parallel.hpp"
#include "edgestack/nn/nn.hpp"

using namespace edgestack;
using namespace edgestack::nn;
using nn_test::bound;
using nn_test::check_grads;

BOOST_AUTO_TEST_SUITE(spatial)

BOOST_AUTO_TEST_CASE(conv_output_shapes) {
    static_assert(std::is_same_v<bound<Conv2D<8, 3>, Shape<28, 28, 1>>::output_shape,
                                 Shape<28, 28, 8>>);
    static_assert(std::is_same_v<bound<Conv2D<8, 3, 1, Padding::valid>, Shape<28, 28, 1>>::output_shape,
                                 Shape<26, 26, 8>>);
    static_assert(std::is_same_v<bound<Conv2D<8, 3, 2>, Shape<7, 7, 1>>::output_shape,
                                 Shape<4, 4, 8>>);
    static_assert(std::is_same_v<bound<Conv2D<8, 3, 1, Padding::valid, 2>, Shape<9, 9, 1>>::output_shape,
                                 Shape<5, 5, 8>>);
    static_assert(std::is_same_v<bound<MaxPool2D<2>, Shape<7, 7, 3>>::output_shape, Shape<3, 3, 3>>);
    static_assert(std::is_same_v<bound<AvgPool2D<3, 2, Padding::same>, Shape<7, 7, 3>>::output_shape,
                                 Shape<4, 4, 3>>);
    static_assert(bound<Conv2D<32, 3>, Shape<28, 28, 1>>::macs == 28 * 28 * 32 * 9);
    static_assert(bound<Conv2D<32, 3>, Shape<28, 28, 1>>::param_count == 32 * 9 + 32);
    // The lowered graph carries the same shapes.
    using M = Sequential<Input<9, 9, 1>, Conv2D<4, 3, 2, Padding::valid>, AvgPool2D<3, 2, Padding::same>>;
    const auto g = M{}.lower();
    BOOST_TEST(compile::to_string(g.values[1]) == "4x4x4");
    BOOST_TEST(compile::to_string(g.values[2]) == "2x2x4");
    BOOST_TEST(M::layer_type<1>::name() == "AvgPool2D<3, 2, same>");
}

BOOST_AUTO_TEST_CASE(conv_gradients) {
    check_grads<bound<Conv2D<3, 3>, Shape<5, 5, 2>>>({.batch = 2});
    check_grads<bound<Conv2D<2, 3, 2, Padding::valid>, Shape<7, 6, 2>>>({.batch = 2});
    check_grads<bound<Conv2D<2, 3, 2, Padding::same>, Shape<6, 5, 3>>>({.batch = 3});
    check_grads<bound<Conv2D<2, 2, 1, Padding::valid, 2>, Shape<5, 5, 2>>>({.batch = 2});
    check_grads<bound<Conv2D<4, 1>, Shape<3, 3, 3>>>({.batch = 2});
    check_grads<bound<Conv2D<2, 5, 1, Padding::same, 2>, Shape<4, 4, 1>>>({.batch = 1});
}

BOOST_AUTO_TEST_CASE(winograd_conv_gradients) {
    // 3x3 stride-1 layers of 16+ channels train through Winograd where AVX2 is available.
    using Same = bound<Conv2D<16, 3>, Shape<5, 4, 16>>;
    using Valid = bound<Conv2D<17, 3, 1, Padding::valid>, Shape<5, 6, 16>>;
    static_assert(Same::winograd == nn::detail::winograd_available);
    static_assert(Valid::winograd == nn::detail::winograd_available);
    static_assert(!bound<Conv2D<16, 3>, Shape<5, 4, 15>>::winograd);
    static_assert(!bound<Conv2D<15, 3>, Shape<5, 4, 16>>::winograd);
    static_assert(!bound<Conv2D<16, 3, 2>, Shape<5, 4, 16>>::winograd);
    static_assert(!bound<Conv2D<16, 3, 1, Padding::same, 2>, Shape<5, 4, 16>>::winograd);
    check_grads<Same>({.batch = 2});
    check_grads<Valid>({.batch = 1});
}

namespace {

/// A stride-1 3x3 convolution (pads top/left pt, pl) by plain loops in double: the output,
/// and for a given output gradient the input and weight gradients.
struct PlainConv3x3 {
    int H, W, C, OH, OW, OC, pt, pl;
    template <class F>
    void taps(F&& f) const {
        for (int oy = 0; oy < OH; ++oy)
            for (int ox = 0; ox < OW; ++ox)
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx) {
                        const int iy = oy + ky - pt, ix = ox + kx - pl;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                            f((oy * OW + ox) * OC, (iy * W + ix) * C, ky * 3 + kx);
                    }
    }
    void run(const float* x, const float* w, const float* dy, std::vector<double>& y,
             std::vector<double>& dx, std::vector<double>& dw) const {
        y.assign(std::size_t(OH * OW * OC), 0.0);
        dx.assign(std::size_t(H * W * C), 0.0);
        dw.assign(std::size_t(OC * 9 * C), 0.0);
        taps([&](int out, int in, int t) {
            for (int o = 0; o < OC; ++o)
                for (int c = 0; c < C; ++c) {
                    const std::size_t wi = std::size_t((o * 9 + t) * C + c);
                    y[std::size_t(out + o)] += double(x[in + c]) * w[wi];
                    dx[std::size_t(in + c)] += double(dy[out + o]) * w[wi];
                    dw[wi] += double(dy[out + o]) * x[in + c];
                }
        });
    }
};

template <class L>
void check_against_plain_loops(int pt, int pl) {
    using In = typename L::input_shape;
    using Out = typename L::output_shape;
    constexpr std::size_t batch = 3, C = In::dims[2], OC = Out::dims[2];
    L conv;
    std::vector<float> p(L::param_count), x(batch * In::size), dy(batch * Out::size);
    Rng rng(11);
    conv.init(p, rng);
    for (float& v : p) v += rng.uniform(-0.1f, 0.1f);
    for (float& v : x) v = rng.uniform(-1, 1);
    for (float& v : dy) v = rng.uniform(-1, 1);
    std::vector<float> y(batch * Out::size), dx(batch * In::size), g(L::param_count);
    conv.forward(x.data(), y.data(), batch, p, Mode::train, rng);
    conv.backward(x.data(), y.data(), dy.data(), dx.data(), batch, p, g);
    const PlainConv3x3 ref{int(In::dims[0]), int(In::dims[1]), int(C), int(Out::dims[0]),
                           int(Out::dims[1]), int(OC), pt, pl};
    std::vector<double> dw_sum(OC * 9 * C, 0.0), yr, dxr, dwr;
    double worst_y = 0, worst_dx = 0, worst_dw = 0;
    for (std::size_t b = 0; b < batch; ++b) {
        ref.run(x.data() + b * In::size, p.data(), dy.data() + b * Out::size, yr, dxr, dwr);
        for (std::size_t i = 0; i < yr.size(); ++i)
            worst_y = std::max(worst_y, std::abs(y[b * Out::size + i] - yr[i] -
                                                 p[L::weight_count + i % OC]));
        for (std::size_t i = 0; i < dxr.size(); ++i)
            worst_dx = std::max(worst_dx, std::abs(dx[b * In::size + i] - dxr[i]));
        for (std::size_t i = 0; i < dwr.size(); ++i) dw_sum[i] += dwr[i];
    }
    for (std::size_t i = 0; i < dw_sum.size(); ++i)
        worst_dw = std::max(worst_dw, std::abs(g[i] - dw_sum[i]));
    BOOST_TEST_INFO(L::name() << " on " << In::name());
    BOOST_TEST(worst_y < 1e-4);
    BOOST_TEST(worst_dx < 1e-4);
    BOOST_TEST(worst_dw < 1e-3);
}

} // namespace

BOOST_AUTO_TEST_CASE(winograd_conv_matches_plain_loops) {
    // Odd sizes leave partial 2x2 tiles at the bottom and the right.
    check_against_plain_loops<bound<Conv2D<24, 3>, Shape<7, 9, 20>>>(1, 1);
    check_against_plain_loops<bound<Conv2D<16, 3, 1, Padding::valid>, Shape<6, 7, 18>>>(0, 0);
    check_against_plain_loops<bound<Conv2D<64, 3>, Shape<14, 14, 32>>>(1, 1);
}

BOOST_AUTO_TEST_CASE(winograd_conv_follows_weight_updates) {
    // The Winograd path keeps its transformed weights while they are unchanged: a change to
    // a single weight or bias must still reach the output.
    using L = bound<Conv2D<16, 3>, Shape<6, 6, 16>>;
    std::vector<float> p(L::param_count), x(2 * L::input_shape::size);
    Rng rng(12);
    L{}.init(p, rng);
    for (float& v : x) v = rng.uniform(-1, 1);
    L conv;
    auto run = [&](L& l) {
        std::vector<float> y(2 * L::output_shape::size);
        l.forward(x.data(), y.data(), 2, p, Mode::eval, rng);
        return y;
    };
    const auto before = run(conv);
    for (std::size_t i : {L::weight_count - 1, L::weight_count + 7}) { // last weight, a bias
        p[i] += 0.5f;
        const auto updated = run(conv);
        L fresh;
        BOOST_TEST(updated != before);
        BOOST_TEST(updated == run(fresh), boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(conv_matches_a_plain_loop) {
    using L = bound<Conv2D<3, 3, 2, Padding::same, 1>, Shape<6, 5, 2>>;
    L conv;
    std::vector<float> p(L::param_count), x(2 * 60), y(2 * L::output_shape::size);
    Rng rng(4);
    conv.init(p, rng);
    for (float& v : x) v = rng.uniform(-1, 1);
    conv.forward(x.data(), y.data(), 2, p, Mode::eval, rng);
    // TF "same": out 3x3, total pad rows (3-1)*2+3-6 = 1 -> top 0, bottom 1; cols 2 -> 1, 1.
    const int pt = 0, pl = 1;
    for (int b = 0; b < 2; ++b)
        for (int oy = 0; oy < 3; ++oy)
            for (int ox = 0; ox < 3; ++ox)
                for (int o = 0; o < 3; ++o) {
                    double acc = p[L::weight_count + o];
                    for (int ky = 0; ky < 3; ++ky)
                        for (int kx = 0; kx < 3; ++kx)
                            for (int c = 0; c < 2; ++c) {
                                const int iy = oy * 2 + ky - pt, ix = ox * 2 + kx - pl;
                                if (iy < 0 || iy >= 6 || ix < 0 || ix >= 5) continue;
                                acc += double(x[b * 60 + (iy * 5 + ix) * 2 + c]) *
                                       p[((o * 3 + ky) * 3 + kx) * 2 + c];
                            }
                    BOOST_TEST(y[b * 27 + (oy * 3 + ox) * 3 + o] == acc,
                               boost::test_tools::tolerance(1e-5));
                }
    compile::Graph g = compile::Graph::with_input({6, 5, 2});
    conv.lower(g, 0, p);
    BOOST_TEST(g.nodes[0].pad == (std::array<std::size_t, 4>{0, 1, 1, 1}));
    BOOST_TEST(g.nodes[0].stride[0] == 2u);
}

template <class L>
void check_thread_count_independence() {
    constexpr std::size_t batch = 37; // not a multiple of the chunk size
    constexpr std::size_t nin = batch * L::input_shape::size, nout = batch * L::output_shape::size;
    std::vector<float> p(L::param_count), x(nin), dy(nout);
    Rng rng(5);
    L{}.init(p, rng);
    for (float& v : x) v = rng.uniform(-1, 1);
    for (float& v : dy) v = rng.uniform(-1, 1);
    auto run = [&](std::size_t threads) {
        ThreadLimit limit(threads);
        L conv;
        std::vector<float> y(nout), dx(nin), g(L::param_count);
        conv.forward(x.data(), y.data(), batch, p, Mode::train, rng);
        conv.backward(x.data(), y.data(), dy.data(), dx.data(), batch, p, g);
        g.insert(g.end(), dx.begin(), dx.end());
        g.insert(g.end(), y.begin(), y.end());
        return g;
    };
    const auto one = run(1), two = run(2);
    BOOST_TEST(one == two, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(conv_gradients_do_not_depend_on_the_thread_count) {
    check_thread_count_independence<bound<Conv2D<8, 3>, Shape<10, 10, 4>>>();
    check_thread_count_independence<bound<Conv2D<16, 3>, Shape<7, 6, 16>>>(); // Winograd
}

BOOST_AUTO_TEST_CASE(depthwise_gradients) {
    using L = bound<DepthwiseConv2D<3>, Shape<5, 4, 3>>;
    static_assert(L::weight_count == 27 && L::param_count == 30 && L::weights_channel_last);
    check_grads<L>({.batch = 2});
    check_grads<bound<DepthwiseConv2D<3, 2, Padding::valid>, Shape<7, 7, 2>>>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(pool_gradients) {
    check_grads<bound<MaxPool2D<2>, Shape<4, 6, 3>>>({.batch = 2});
    check_grads<bound<MaxPool2D<3, 2, Padding::same>, Shape<5, 5, 2>>>({.batch = 2});
    check_grads<bound<AvgPool2D<2>, Shape<4, 4, 2>>>({.batch = 2});
    check_grads<bound<AvgPool2D<3, 2, Padding::same>, Shape<5, 4, 2>>>({.batch = 2});
    check_grads<bound<GlobalAvgPool, Shape<3, 3, 4>>>({.batch = 2});
    check_grads<bound<GlobalAvgPool, Shape<5, 4>>>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(residual_gradients) {
    using Id = bound<Residual<Conv2D<3, 3>, BatchNorm, ReLU, Conv2D<3, 3>>, Shape<4, 4, 3>>;
    static_assert(std::is_same_v<Id::output_shape, Shape<4, 4, 3>>);
    static_assert(Id::param_count == 2 * (27 * 3 + 3) + 6 && Id::state_count == 6);
    check_grads<Id>({.batch = 2, .mode = Mode::train});
    using Proj = bound<Residual<Projection<Conv2D<4, 1, 2>>, Conv2D<4, 3, 2>, ReLU>, Shape<5, 5, 2>>;
    static_assert(std::is_same_v<Proj::output_shape, Shape<3, 3, 4>>);
    check_grads<Proj>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(residual_lowers_to_its_block_and_an_add) {
    using M = Sequential<Input<4, 4, 2>, Residual<Projection<Conv2D<3, 1>>, Conv2D<3, 3>, ReLU>>;
    M m;
    Rng rng(1);
    m.init(rng);
    const auto g = m.lower();
    BOOST_REQUIRE_EQUAL(g.nodes.size(), 4u);
    BOOST_TEST(g.nodes[0].op == compile::Op::conv2d);
    BOOST_TEST(g.nodes[1].op == compile::Op::relu);
    BOOST_TEST(g.nodes[2].op == compile::Op::conv2d);
    BOOST_TEST(g.nodes[2].inputs == std::vector<int>{0}, boost::test_tools::per_element());
    BOOST_TEST(g.nodes[3].op == compile::Op::add);
    BOOST_TEST(g.nodes[3].inputs == (std::vector<int>{2, 3}), boost::test_tools::per_element());
    BOOST_TEST(M::layer_type<0>::name() == "Residual<Projection<Conv2D<3, 1>>, Conv2D<3, 3>, ReLU>");
}

// Rectangular kernels, windows and strides, explicit padding (Pad<p>, Pad<h, w>,
// Pad<top, left, bottom, right>) and average pools that count their padding.
BOOST_AUTO_TEST_CASE(rectangular_and_explicit_geometry_shapes) {
    // PyTorch's floor((in + pad_before + pad_after - kernel) / stride) + 1 on each axis.
    using Stem = bound<Conv2D<64, Kernel<10, 4>, Stride<2, 2>, Pad<5, 1>>, Shape<49, 10, 1>>;
    static_assert(std::is_same_v<Stem::output_shape, Shape<25, 5, 64>>);
    static_assert(Stem::weight_count == 64 * 10 * 4 && Stem::macs == 25 * 5 * 64 * 40);
    static_assert(std::is_same_v<bound<Conv2D<8, 3, 2, Pad<1>>, Shape<8, 8, 3>>::output_shape,
                                 Shape<4, 4, 8>>);
    static_assert(std::is_same_v<bound<DepthwiseConv2D<Kernel<3, 3>, Stride<2, 2>, Pad<1, 1, 1, 1>>,
                                       Shape<7, 7, 4>>::output_shape, Shape<4, 4, 4>>);
    static_assert(std::is_same_v<bound<Conv2D<2, Kernel<3, 1>, Stride<1, 2>, Pad<0, 0, 2, 1>>,
                                       Shape<5, 6, 1>>::output_shape, Shape<5, 4, 2>>);
    static_assert(std::is_same_v<bound<AvgPool2D<Window<24, 5>>, Shape<25, 5, 32>>::output_shape,
                                 Shape<1, 1, 32>>);
    static_assert(std::is_same_v<bound<MaxPool2D<Window<3, 3>, Stride<2, 2>, Pad<1, 1>>,
                                       Shape<16, 16, 8>>::output_shape, Shape<8, 8, 8>>);
    static_assert(std::is_same_v<bound<AvgPool2D<Window<3, 2>, 1, Pad<1, 0>, CountPad>,
                                       Shape<2, 2, 24>>::output_shape, Shape<2, 1, 24>>);
    // The old spellings are the new ones: a number is a square, Pad<1> on a 3x3 stride-1
    // kernel is what `same` gives.
    static_assert(std::is_same_v<Conv2D<8, 3, 2>, Conv2D<8, Kernel<3>, Stride<2, 2>>>);
    static_assert(std::is_same_v<bound<MaxPool2D<2>, Shape<6, 6, 1>>,
                                 bound<MaxPool2D<Window<2, 2>, Stride<2, 2>>, Shape<6, 6, 1>>>);
    BOOST_TEST(Stem::name() == "Conv2D<64, Kernel<10, 4>, 2, Pad<5, 1>>");
    BOOST_TEST((bound<Conv2D<4, 3, Stride<2, 1>, Pad<1, 0, 2, 1>>, Shape<6, 6, 1>>::name()) ==
               "Conv2D<4, 3, Stride<2, 1>, Pad<1, 0, 2, 1>>");
    BOOST_TEST((bound<AvgPool2D<Window<24, 5>>, Shape<25, 5, 1>>::name()) == "AvgPool2D<Window<24, 5>>");
    BOOST_TEST((bound<AvgPool2D<3, 1, Pad<1>, CountPad>, Shape<5, 5, 1>>::name()) ==
               "AvgPool2D<3, 1, Pad<1>, CountPad>");
    BOOST_TEST((bound<MaxPool2D<3, 2, Pad<1>>, Shape<5, 5, 1>>::name()) == "MaxPool2D<3, 2, Pad<1>>");
    BOOST_TEST((bound<MaxPool2D<2>, Shape<4, 4, 1>>::name()) == "MaxPool2D<2>");

    // lower() writes the same geometry into the graph node.
    using M = Sequential<Input<49, 10, 1>, Conv2D<4, Kernel<10, 4>, Stride<2, 2>, Pad<5, 1>>,
                         DepthwiseConv2D<3, Stride<2, 1>, Pad<1, 1, 0, 0>>, MaxPool2D<Window<3, 2>, 1, Pad<1, 0>>,
                         AvgPool2D<3, 1, Pad<1>, CountPad>, AvgPool2D<3, 1, Pad<1>>>;
    const auto g = M{}.lower();
    BOOST_REQUIRE_EQUAL(g.nodes.size(), 5u);
    BOOST_TEST(g.nodes[0].kernel == (std::array<std::size_t, 2>{10, 4}));
    BOOST_TEST(g.nodes[0].stride == (std::array<std::size_t, 2>{2, 2}));
    BOOST_TEST(g.nodes[0].pad == (std::array<std::size_t, 4>{5, 1, 5, 1}));
    BOOST_TEST(compile::to_string(g.values[1]) == "25x5x4");
    BOOST_TEST(g.nodes[1].stride == (std::array<std::size_t, 2>{2, 1}));
    BOOST_TEST(g.nodes[1].pad == (std::array<std::size_t, 4>{1, 1, 0, 0}));
    BOOST_TEST(compile::to_string(g.values[2]) == "12x4x4");
    BOOST_TEST(g.nodes[2].op == compile::Op::max_pool2d);
    BOOST_TEST(g.nodes[2].kernel == (std::array<std::size_t, 2>{3, 2}));
    BOOST_TEST(g.nodes[2].pad == (std::array<std::size_t, 4>{1, 0, 1, 0}));
    BOOST_TEST(compile::to_string(g.values[3]) == "12x3x4");
    // The graph's avg_pool2d never counts padding: counting is a depthwise convolution of
    // weights 1 / 9 without bias.
    BOOST_TEST(g.nodes[3].op == compile::Op::depthwise_conv2d);
    BOOST_TEST(g.nodes[3].bias.empty());
    BOOST_TEST(g.nodes[3].weights == std::vector<float>(9 * 4, 1.0f / 9.0f), boost::test_tools::per_element());
    BOOST_TEST(g.nodes[4].op == compile::Op::avg_pool2d);
}

BOOST_AUTO_TEST_CASE(rectangular_conv_with_asymmetric_padding_matches_a_plain_loop) {
    // 3x2 kernel, stride (2, 1), padding top 1, left 0, bottom 2, right 1 over 6x5x2.
    using L = bound<Conv2D<3, Kernel<3, 2>, Stride<2, 1>, Pad<1, 0, 2, 1>>, Shape<6, 5, 2>>;
    constexpr int H = 6, W = 5, C = 2, KH = 3, KW = 2, SH = 2, SW = 1, PT = 1, PL = 0;
    constexpr int OH = (H + 1 + 2 - KH) / SH + 1, OW = (W + 0 + 1 - KW) / SW + 1, F = 3;
    static_assert(std::is_same_v<L::output_shape, Shape<OH, OW, F>>);
    L conv;
    std::vector<float> p(L::param_count), x(2 * H * W * C), y(2 * L::output_shape::size);
    Rng rng(6);
    conv.init(p, rng);
    for (std::size_t i = L::weight_count; i < p.size(); ++i) p[i] = rng.uniform(-1, 1);
    for (float& v : x) v = rng.uniform(-1, 1);
    conv.forward(x.data(), y.data(), 2, p, Mode::eval, rng);
    for (int b = 0; b < 2; ++b)
        for (int oy = 0; oy < OH; ++oy)
            for (int ox = 0; ox < OW; ++ox)
                for (int o = 0; o < F; ++o) {
                    double acc = p[L::weight_count + o];
                    for (int ky = 0; ky < KH; ++ky)
                        for (int kx = 0; kx < KW; ++kx)
                            for (int c = 0; c < C; ++c) {
                                const int iy = oy * SH + ky - PT, ix = ox * SW + kx - PL;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += double(x[b * H * W * C + (iy * W + ix) * C + c]) *
                                       p[((o * KH + ky) * KW + kx) * C + c];
                            }
                    BOOST_TEST(std::abs(y[b * OH * OW * F + (oy * OW + ox) * F + o] - acc) <= 1e-5);
                }
}

BOOST_AUTO_TEST_CASE(average_pool_counts_its_padding_only_with_count_pad) {
    // 2x2 image, 3x3 window, stride 1, padding 1: the corner window sees all four cells.
    using Count = bound<AvgPool2D<3, 1, Pad<1>, CountPad>, Shape<2, 2, 1>>;
    using Exclude = bound<AvgPool2D<3, 1, Pad<1>>, Shape<2, 2, 1>>;
    const std::vector<float> x{1, 2, 3, 6};
    std::vector<float> yc(4), ye(4);
    Rng rng(1);
    Count{}.forward(x.data(), yc.data(), 1, {}, Mode::eval, rng);
    Exclude{}.forward(x.data(), ye.data(), 1, {}, Mode::eval, rng);
    for (std::size_t i = 0; i < 4; ++i) {
        BOOST_TEST(yc[i] == 12.0f / 9.0f, boost::test_tools::tolerance(1e-6f));
        BOOST_TEST(ye[i] == 3.0f, boost::test_tools::tolerance(1e-6f));
    }
    // Without padding the policies agree and both lower to avg_pool2d.
    using Plain = bound<AvgPool2D<Window<2, 1>, 0, Padding::valid, CountPad>, Shape<4, 3, 2>>;
    static_assert(!Plain::count_pad);
}

BOOST_AUTO_TEST_CASE(rectangular_and_explicit_geometry_gradients) {
    check_grads<bound<Conv2D<2, Kernel<3, 2>, Stride<2, 1>, Pad<1, 0, 2, 1>>, Shape<6, 5, 2>>>({.batch = 2});
    check_grads<bound<Conv2D<3, Kernel<4, 2>, Stride<2, 2>, Pad<2, 1>>, Shape<7, 6, 1>>>({.batch = 3});
    check_grads<bound<Conv2D<2, 1, 1, Pad<1, 0>>, Shape<3, 4, 2>>>({.batch = 2}); // 1x1, padded
    check_grads<bound<Conv2D<2, 3, 1, Pad<2>, 2>, Shape<4, 4, 1>>>({.batch = 1}); // dilated
    check_grads<bound<DepthwiseConv2D<Kernel<3, 2>, Stride<2, 1>, Pad<1, 1, 0, 0>>, Shape<7, 5, 3>>>(
        {.batch = 2});
    check_grads<bound<DepthwiseConv2D<3, 2, Pad<1>>, Shape<6, 6, 2>>>({.batch = 2});
    check_grads<bound<MaxPool2D<Window<3, 2>, Stride<2, 1>, Pad<1, 0>>, Shape<5, 4, 2>>>({.batch = 2});
    check_grads<bound<MaxPool2D<3, 2, Pad<1>>, Shape<6, 6, 2>>>({.batch = 2});
    check_grads<bound<AvgPool2D<Window<3, 2>, 1, Pad<1, 0>, CountPad>, Shape<4, 3, 2>>>({.batch = 2});
    check_grads<bound<AvgPool2D<Window<3, 2>, Stride<1, 2>, Pad<1, 1>>, Shape<4, 5, 2>>>({.batch = 2});
    check_grads<bound<AvgPool2D<Window<2, 3>>, Shape<4, 6, 2>>>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(explicit_padding_keeps_the_winograd_path_where_it_applies) {
    // 3x3 stride 1 with padding 1 or 2 (the transposed pass pads 2 - pad): Winograd;
    // rectangles and strides: im2col.
    static_assert(nn::detail::winograd_available == bound<Conv2D<16, 3, 1, Pad<1>>, Shape<5, 4, 16>>::winograd);
    static_assert(nn::detail::winograd_available == bound<Conv2D<16, 3, 1, Pad<0, 1, 2, 1>>, Shape<5, 4, 16>>::winograd);
    static_assert(!bound<Conv2D<16, 3, 1, Pad<3>>, Shape<5, 4, 16>>::winograd);
    static_assert(!bound<Conv2D<16, Kernel<3, 1>, 1, Pad<1, 0>>, Shape<5, 4, 16>>::winograd);
    check_grads<bound<Conv2D<16, 3, 1, Pad<0, 1, 2, 1>>, Shape<5, 4, 16>>>({.batch = 2});
    check_against_plain_loops<bound<Conv2D<16, 3, 1, Pad<0, 1, 2, 1>>, Shape<6, 7, 16>>>(0, 1);
    check_against_plain_loops<bound<Conv2D<16, 3, 1, Pad<2>>, Shape<5, 5, 16>>>(2, 2);
}

BOOST_AUTO_TEST_SUITE_END()
