// Sequence layers (GRU, LSTM, LayerNorm, self-attention, positional embedding): gradients
// against finite differences through time and across heads.
#include <boost/test/unit_test.hpp>

#include "check.hpp"
#include "edgestack/nn/nn.hpp"

using namespace edgestack;
using namespace edgestack::nn;
using nn_test::bound;
using nn_test::check_grads;

BOOST_AUTO_TEST_SUITE(sequence)

BOOST_AUTO_TEST_CASE(lstm_gradients) {
    using L = bound<LSTM<3>, Shape<4, 2>>;
    static_assert(std::is_same_v<L::output_shape, Shape<3>>);
    static_assert(L::param_count == 12 * 2 + 12 * 3 + 12);
    check_grads<L>({.batch = 2});
    check_grads<bound<LSTM<2, true>, Shape<3, 3>>>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(gru_gradients) {
    using L = bound<GRU<3>, Shape<4, 2>>;
    static_assert(L::param_count == 9 * 2 + 9 * 3 + 18);
    check_grads<L>({.batch = 2});
    check_grads<bound<GRU<2, true>, Shape<3, 3>>>({.batch = 3});
}

BOOST_AUTO_TEST_CASE(bidirectional_gradients) {
    using L = bound<Bidirectional<GRU<3>>, Shape<4, 2>>;
    static_assert(std::is_same_v<L::output_shape, Shape<6>>);
    static_assert(L::param_count == 2 * (9 * 2 + 9 * 3 + 18));
    check_grads<L>({.batch = 2});
    check_grads<bound<Bidirectional<GRU<2, true>>, Shape<3, 3>>>({.batch = 3});
    check_grads<bound<Bidirectional<LSTM<2>>, Shape<3, 2>>>({.batch = 2});
    check_grads<bound<Bidirectional<LSTM<3, true>>, Shape<4, 3>>>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(layer_norm_gradients) {
    check_grads<bound<LayerNorm, Shape<3, 5>>>({.batch = 2});
    check_grads<bound<LayerNorm, Shape<6>>>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(attention_and_embedding_gradients) {
    using A = bound<MultiHeadSelfAttention<2>, Shape<4, 6>>;
    static_assert(A::param_count == 4 * 36 + 24);
    check_grads<A>({.batch = 2});
    check_grads<bound<MultiHeadSelfAttention<1>, Shape<3, 4>>>({.batch = 1});
    check_grads<bound<PositionalEmbedding, Shape<3, 4>>>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(encoder_block_gradients) {
    using Block = bound<Residual<LayerNorm, MultiHeadSelfAttention<2>>, Shape<3, 4>>;
    check_grads<Block>({.batch = 2});
    using Ffn = bound<Residual<LayerNorm, TimeDense<8>, ReLU, TimeDense<4>>, Shape<3, 4>>;
    check_grads<Ffn>({.batch = 2});
}

BOOST_AUTO_TEST_CASE(recurrent_lowering) {
    using M = Sequential<Input<5, 3>, GRU<4, true>, LSTM<2>>;
    M m;
    Rng rng(1);
    m.init(rng);
    const auto g = m.lower();
    BOOST_REQUIRE_EQUAL(g.nodes.size(), 2u);
    BOOST_TEST(g.nodes[0].op == compile::Op::gru);
    BOOST_TEST(g.nodes[0].weights.size() == 12u * 3 + 12u * 4);
    BOOST_TEST(g.nodes[0].bias.size() == 24u);
    BOOST_TEST(compile::to_string(g.values[1]) == "5x4");
    BOOST_TEST(g.nodes[1].op == compile::Op::lstm);
    BOOST_TEST(compile::to_string(g.output_shape()) == "2");

    // Bidirectional: one node, forward's weights then backward's, 2U wide.
    using B = Sequential<Input<5, 3>, Bidirectional<GRU<4, true>>, Bidirectional<LSTM<2>>>;
    B b;
    b.init(rng);
    const auto gb = b.lower();
    BOOST_REQUIRE_EQUAL(gb.nodes.size(), 2u);
    BOOST_TEST(gb.nodes[0].weights.size() == 2u * (12 * 3 + 12 * 4));
    BOOST_TEST(gb.nodes[0].bias.size() == 48u);
    BOOST_TEST(compile::to_string(gb.values[1]) == "5x8");
    const auto w = gb.nodes[0].weights.begin();
    const auto p = b.parameters().begin(); // forward's W_x, W_h, biases, then backward's
    BOOST_TEST(std::equal(w, w + 84, p));
    BOOST_TEST(std::equal(w + 84, w + 168, p + 84 + 24));
    BOOST_TEST(std::equal(gb.nodes[0].bias.begin() + 24, gb.nodes[0].bias.end(), p + 84 + 24 + 84));
    BOOST_TEST(compile::to_string(gb.output_shape()) == "4");
}

BOOST_AUTO_TEST_SUITE_END()
