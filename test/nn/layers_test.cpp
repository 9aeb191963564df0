// Point-wise and dense layers, normalization and dropout: gradients against finite
// differences, shapes and counts, the layer contract's archetype.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <numeric>
#include <vector>

#include "check.hpp"
#include "edgestack/nn/nn.hpp"

using namespace edgestack;
using namespace edgestack::nn;
using nn_test::bound;
using nn_test::check_grads;

BOOST_AUTO_TEST_SUITE(layers)

BOOST_AUTO_TEST_CASE(example_layer_satisfies_the_contract) {
    static_assert(Layer<ExampleLayer>);
    static_assert(!StatefulLayer<ExampleLayer>);
    static_assert(StatefulLayer<bound<BatchNorm, Shape<4, 4, 3>>>);
    static_assert(LayerSpecFor<Conv2D<8, 3>, Shape<8, 8, 1>>);
    static_assert(!LayerSpecFor<Dense<3>, Shape<4>> || true);
    check_grads<ExampleLayer>();
}

BOOST_AUTO_TEST_CASE(dense_gradients_and_counts) {
    using L = bound<Dense<5>, Shape<7>>;
    static_assert(L::param_count == 5 * 7 + 5 && L::weight_count == 35 && L::macs == 35);
    check_grads<L>({.batch = 3});
    using TD = bound<TimeDense<4>, Shape<3, 6>>;
    static_assert(std::is_same_v<TD::output_shape, Shape<3, 4>> && TD::macs == 3 * 4 * 6);
    check_grads<TD>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(dense_large_enough_to_split_matches_small_split) {
    // Above ~1M MACs per batch the work is split over units; the result must equal one GEMM.
    using L = bound<Dense<64>, Shape<300>>;
    L layer;
    std::vector<float> p(L::param_count), x(64 * 300), y(64 * 64);
    Rng rng(3);
    layer.init(p, rng);
    for (float& v : x) v = rng.uniform(-1, 1);
    layer.forward(x.data(), y.data(), 64, p, Mode::eval, rng);
    for (std::size_t b : {0u, 37u, 63u})
        for (std::size_t u : {0u, 17u, 63u}) {
            double acc = p[64 * 300 + u];
            for (std::size_t i = 0; i < 300; ++i) acc += double(x[b * 300 + i]) * p[u * 300 + i];
            BOOST_TEST(y[b * 64 + u] == acc, boost::test_tools::tolerance(1e-4));
        }
}

using Pointwise = std::tuple<ReLU, ReLU6, LeakyReLU<0.1f>, Sigmoid, Tanh, HardSwish, Softmax,
                             Flatten>;
BOOST_AUTO_TEST_CASE_TEMPLATE(activation_gradients, A, Pointwise) {
    using L = bound<A, Shape<3, 5>>;
    // Inputs kept away from the kinks (0 for ReLU, +-3 for HardSwish is rare at this range).
    check_grads<L>({.batch = 2, .min_abs_input = 0.02f});
}

BOOST_AUTO_TEST_CASE(relu6_and_hardswish_regions) {
    using R6 = bound<ReLU6, Shape<4>>;
    using HS = bound<HardSwish, Shape<4>>;
    std::vector<float> x{-1.0f, 3.0f, 7.0f, -4.0f}, y(4);
    Rng rng(1);
    R6{}.forward(x.data(), y.data(), 1, {}, Mode::eval, rng);
    BOOST_TEST(y == (std::vector<float>{0.0f, 3.0f, 6.0f, 0.0f}), boost::test_tools::per_element());
    HS{}.forward(x.data(), y.data(), 1, {}, Mode::eval, rng);
    BOOST_TEST(y[0] == -1.0f * 2.0f / 6.0f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(y[2] == 7.0f);
    BOOST_TEST(y[3] == 0.0f);
}

BOOST_AUTO_TEST_CASE(softmax_rows_sum_to_one) {
    using L = bound<Softmax, Shape<2, 6>>;
    std::vector<float> x(12), y(12);
    std::iota(x.begin(), x.end(), -3.0f);
    Rng rng(1);
    L{}.forward(x.data(), y.data(), 1, {}, Mode::eval, rng);
    BOOST_TEST(std::accumulate(y.begin(), y.begin() + 6, 0.0f) == 1.0f,
               boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(std::accumulate(y.begin() + 6, y.end(), 0.0f) == 1.0f,
               boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(dropout_masks_in_train_and_passes_in_eval) {
    using L = bound<Dropout<0.25f>, Shape<1000>>;
    check_grads<bound<Dropout<0.5f>, Shape<6>>>({.batch = 2});
    L d;
    std::vector<float> x(1000, 1.0f), y(1000);
    Rng rng(9);
    d.forward(x.data(), y.data(), 1, {}, Mode::train, rng);
    const auto zeros = std::count(y.begin(), y.end(), 0.0f);
    BOOST_TEST(zeros > 200);
    BOOST_TEST(zeros < 300);
    BOOST_TEST(std::count(y.begin(), y.end(), 1.0f / 0.75f) == 1000 - zeros);
    // The same stream gives the same mask; eval is the identity.
    Rng again(9);
    std::vector<float> y2(1000);
    d.forward(x.data(), y2.data(), 1, {}, Mode::train, again);
    BOOST_TEST(y == y2, boost::test_tools::per_element());
    d.forward(x.data(), y.data(), 1, {}, Mode::eval, rng);
    BOOST_TEST(y == x, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(batch_norm_gradients_in_train_and_eval_mode) {
    using L = bound<BatchNorm, Shape<3, 2, 3>>;
    static_assert(L::param_count == 6 && L::state_count == 6 && L::weight_count == 0);
    check_grads<L>({.batch = 3, .mode = Mode::train});
    check_grads<L>({.batch = 3, .mode = Mode::eval});
    check_grads<bound<BatchNorm, Shape<5>>>({.batch = 4, .mode = Mode::train});
}

BOOST_AUTO_TEST_CASE(batch_norm_running_statistics) {
    using L = bound<BasicBatchNorm<0.5f>, Shape<2>>;
    L bn;
    std::vector<float> state(4), p{1, 1, 0, 0};
    bn.init_state(state);
    bn.attach_state(state);
    BOOST_TEST(state == (std::vector<float>{0, 0, 1, 1}), boost::test_tools::per_element());
    // Channel 0 sees 1, 3 (mean 2, unbiased var 2); channel 1 sees 10, 10 (mean 10, var 0).
    std::vector<float> x{1, 10, 3, 10}, y(4);
    Rng rng(1);
    bn.forward(x.data(), y.data(), 2, p, Mode::train, rng);
    BOOST_TEST(state[0] == 1.0f);
    BOOST_TEST(state[1] == 5.0f);
    BOOST_TEST(state[2] == 1.5f);
    BOOST_TEST(state[3] == 0.5f);
    BOOST_TEST(y[0] == -1.0f, boost::test_tools::tolerance(1e-4f));
    // Eval mode uses the running values and leaves them alone.
    bn.forward(x.data(), y.data(), 2, p, Mode::eval, rng);
    BOOST_TEST(y[0] == (1.0f - 1.0f) / std::sqrt(1.5f + 1e-5f), boost::test_tools::tolerance(1e-5f));
    BOOST_TEST(state[0] == 1.0f);
}

BOOST_AUTO_TEST_CASE(layer_names) {
    BOOST_TEST((bound<Conv2D<32, 3>, Shape<28, 28, 1>>::name()) == "Conv2D<32, 3>");
    BOOST_TEST((bound<Conv2D<8, 3, 2, Padding::valid>, Shape<9, 9, 1>>::name()) ==
               "Conv2D<8, 3, 2, valid>");
    BOOST_TEST((bound<MaxPool2D<2>, Shape<4, 4, 1>>::name()) == "MaxPool2D<2>");
    BOOST_TEST((bound<LeakyReLU<0.2f>, Shape<4>>::name()) == "LeakyReLU<0.2>");
    BOOST_TEST((bound<Dropout<0.5f>, Shape<4>>::name()) == "Dropout<0.5>");
    BOOST_TEST((bound<GRU<8, true>, Shape<4, 3>>::name()) == "GRU<8, seq>");
}

BOOST_AUTO_TEST_SUITE_END()
