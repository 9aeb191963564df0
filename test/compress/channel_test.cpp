// Structured channel pruning: a narrower model type built from a wider trained one.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "edgestack/compress/channel.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/nn/sequential.hpp"

namespace ec = edgestack::compress;
namespace nn = edgestack::nn;

namespace {
using Wide = nn::Sequential<nn::Input<6>, nn::Dense<8>, nn::ReLU, nn::Dense<3>>;
using Narrow = nn::Sequential<nn::Input<6>, nn::Dense<2>, nn::ReLU, nn::Dense<3>>;
using WideCnn = nn::Sequential<nn::Input<6, 6, 1>, nn::Conv2D<8, 3>, nn::ReLU, nn::MaxPool<2>,
                               nn::Flatten, nn::Dense<4>>;
using NarrowCnn = nn::Sequential<nn::Input<6, 6, 1>, nn::Conv2D<3, 3>, nn::ReLU, nn::MaxPool<2>,
                                 nn::Flatten, nn::Dense<4>>;
using WrongLast = nn::Sequential<nn::Input<6>, nn::Dense<8>, nn::ReLU, nn::Dense<2>>;
} // namespace

BOOST_AUTO_TEST_SUITE(channel)

BOOST_AUTO_TEST_CASE(keeps_the_strongest_units_and_their_outgoing_weights) {
    Wide w;
    auto p = w.parameters();
    std::fill(p.begin(), p.end(), 0.01f);
    // Units 2 and 5 of the first layer are the strongest.
    for (std::size_t i = 0; i < 6; ++i) {
        p[2 * 6 + i] = 1.0f + static_cast<float>(i);
        p[5 * 6 + i] = -2.0f;
    }
    const std::size_t b0 = 8 * 6;
    p[b0 + 2] = 0.25f;
    p[b0 + 5] = -0.5f;
    const std::size_t w1 = Wide::param_offsets[2];
    for (std::size_t o = 0; o < 3; ++o) {
        p[w1 + o * 8 + 2] = 10.0f + static_cast<float>(o);
        p[w1 + o * 8 + 5] = 20.0f + static_cast<float>(o);
    }
    const Narrow n = ec::prune_channels<Narrow>(w);
    const auto q = n.parameters();
    for (std::size_t i = 0; i < 6; ++i) {
        BOOST_TEST(q[0 * 6 + i] == 1.0f + static_cast<float>(i));
        BOOST_TEST(q[1 * 6 + i] == -2.0f);
    }
    BOOST_TEST(q[12] == 0.25f);
    BOOST_TEST(q[13] == -0.5f);
    const std::size_t n1 = Narrow::param_offsets[2];
    for (std::size_t o = 0; o < 3; ++o) {
        BOOST_TEST(q[n1 + o * 2 + 0] == 10.0f + static_cast<float>(o));
        BOOST_TEST(q[n1 + o * 2 + 1] == 20.0f + static_cast<float>(o));
        BOOST_TEST(q[n1 + 6 + o] == p[w1 + 24 + o]); // last-layer biases copied
    }
}

BOOST_AUTO_TEST_CASE(pruned_cnn_equals_the_wide_one_when_dropped_channels_are_dead) {
    WideCnn w;
    edgestack::Rng rng(5);
    w.init(rng);
    auto p = w.parameters();
    // Kill filters 0, 2, 4, 5, 7 entirely (weights and bias): they output ReLU(0) = 0.
    for (std::size_t f : {0u, 2u, 4u, 5u, 7u}) {
        for (std::size_t i = 0; i < 9; ++i) p[f * 9 + i] = 0.0f;
        p[8 * 9 + f] = -1.0f; // negative bias: dead after ReLU
    }
    const NarrowCnn n = ec::prune_channels<NarrowCnn>(w);
    std::vector<float> x(2 * 36);
    for (auto& v : x) v = rng.uniform();
    std::vector<float> yw(8), yn(8);
    WideCnn wc = w;
    NarrowCnn nc = n;
    wc.predict(x.data(), yw.data(), 2);
    nc.predict(x.data(), yn.data(), 2);
    for (std::size_t i = 0; i < 8; ++i) BOOST_TEST(yn[i] == yw[i], boost::test_tools::tolerance(1e-5f));
    BOOST_TEST(NarrowCnn::param_count < WideCnn::param_count);
}

BOOST_AUTO_TEST_CASE(the_last_layer_keeps_its_width) {
    Wide w;
    try {
        (void)ec::prune_channels<WrongLast>(w);
        BOOST_FAIL("expected shape_error");
    } catch (const edgestack::shape_error& e) {
        const std::string m = e.what();
        BOOST_TEST(m.find("layer 2") != std::string::npos);
        BOOST_TEST(m.find("last layer") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(widening_is_refused) {
    Narrow n;
    BOOST_CHECK_THROW((void)ec::prune_channels<Wide>(n), edgestack::shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
