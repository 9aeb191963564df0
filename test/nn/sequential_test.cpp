// nn::Sequential with the full layer set: shapes and summary of the reference CNN, the state
// block (BatchNorm running statistics), lowering, hooks, and models that learn small
// synthetic tasks (an image CNN with residual and batch norm, a GRU, a tiny Transformer).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "check.hpp"
#include "edgestack/nn/nn.hpp"

using namespace edgestack;
using namespace edgestack::nn;

namespace {

using ReferenceCnn = Sequential<Input<28, 28, 1>, Conv2D<32, 3>, ReLU, MaxPool2D<2>, Conv2D<64, 3>,
                                ReLU, MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dense<10>>;

/// Softmax cross-entropy gradient for integer labels; returns the mean loss.
double xent(const float* logits, const std::vector<int>& labels, std::size_t classes,
            std::vector<float>& d) {
    const std::size_t n = labels.size();
    d.assign(n * classes, 0.0f);
    double loss = 0;
    for (std::size_t b = 0; b < n; ++b) {
        const float* z = logits + b * classes;
        float m = z[0];
        for (std::size_t c = 1; c < classes; ++c) m = std::max(m, z[c]);
        double s = 0;
        for (std::size_t c = 0; c < classes; ++c) s += std::exp(double(z[c] - m));
        for (std::size_t c = 0; c < classes; ++c) {
            const double pr = std::exp(double(z[c] - m)) / s;
            d[b * classes + c] = float((pr - (int(c) == labels[b] ? 1.0 : 0.0)) / double(n));
        }
        loss -= std::log(std::exp(double(z[labels[b]] - m)) / s);
    }
    return loss / double(n);
}

double accuracy(const float* logits, const std::vector<int>& labels, std::size_t classes) {
    std::size_t ok = 0;
    for (std::size_t b = 0; b < labels.size(); ++b) {
        const float* z = logits + b * classes;
        ok += std::size_t(std::max_element(z, z + classes) - z) == std::size_t(labels[b]);
    }
    return double(ok) / double(labels.size());
}

/// Plain SGD with momentum over the one parameter block; returns the final training accuracy
/// in eval mode.
template <class M, class Gen>
double train(M& m, Gen&& make_batch, int steps, float lr) {
    std::vector<float> x, d, v(M::param_count, 0.0f);
    std::vector<int> y;
    Rng rng(11);
    for (int s = 0; s < steps; ++s) {
        make_batch(rng, x, y);
        const float* z = m.forward(x.data(), y.size(), Mode::train, rng);
        xent(z, y, M::output_shape::size, d);
        m.backward(d.data());
        auto p = m.parameters();
        auto g = m.gradients();
        for (std::size_t i = 0; i < p.size(); ++i) {
            v[i] = 0.9f * v[i] + g[i];
            p[i] -= lr * v[i];
        }
    }
    Rng test_rng(12345);
    make_batch(test_rng, x, y);
    std::vector<float> out(y.size() * M::output_shape::size);
    m.predict(x.data(), out.data(), y.size());
    return accuracy(out.data(), y, M::output_shape::size);
}

} // namespace

BOOST_AUTO_TEST_SUITE(sequential)

BOOST_AUTO_TEST_CASE(reference_cnn_shapes_counts_and_summary) {
    static_assert(std::is_same_v<ReferenceCnn::output_shape, Shape<10>>);
    static_assert(ReferenceCnn::param_count == 320 + 18'496 + 401'536 + 1'290);
    static_assert(ReferenceCnn::macs == 225'792 + 3'612'672 + 401'408 + 1'280);
    static_assert(ReferenceCnn::state_count == 0);
    const std::string s = ReferenceCnn::summary();
    BOOST_TEST(s.find("Conv2D<64, 3>                14x14x64               18,496      3,612,672") !=
               std::string::npos, s);
    BOOST_TEST(s.find("MaxPool2D<2>                 7x7x64") != std::string::npos, s);
    BOOST_TEST(s.find("Total params: 421,642") != std::string::npos, s);
    BOOST_TEST(ReferenceCnn::architecture().find("Conv2D<32, 3> 28x28x32 p320") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(state_block_holds_running_statistics_apart_from_parameters) {
    using M = Sequential<Input<4, 4, 2>, Conv2D<3, 3>, BatchNorm, ReLU, Flatten, Dense<2>,
                         BatchNorm>;
    static_assert(M::state_count == 2 * 3 + 2 * 2);
    static_assert(M::state_offsets[1] == 0 && M::state_offsets[2] == 6 && M::state_offsets[5] == 6);
    M m;
    Rng rng(2);
    m.init(rng);
    BOOST_TEST(m.state()[0] == 0.0f);
    BOOST_TEST(m.state()[3] == 1.0f);
    const std::vector<float> params(m.parameters().begin(), m.parameters().end());
    std::vector<float> x(8 * 32);
    for (float& v : x) v = rng.uniform(0.5f, 2.0f);
    M copy = m;
    m.forward(x.data(), 8, Mode::train, rng);
    BOOST_TEST(m.state()[0] != 0.0f);
    BOOST_TEST(std::vector<float>(m.parameters().begin(), m.parameters().end()) == params,
               boost::test_tools::per_element());
    // The copy keeps its own state: training the original did not move it.
    BOOST_TEST(copy.state()[0] == 0.0f);
    copy.forward(x.data(), 8, Mode::train, rng);
    BOOST_TEST(copy.state()[0] == m.state()[0]);
    // Lowering writes gamma | beta | running mean | running var.
    const auto g = m.lower();
    BOOST_TEST(g.nodes[1].op == compile::Op::batch_norm);
    BOOST_REQUIRE_EQUAL(g.nodes[1].extra.size(), 12u);
    BOOST_TEST(g.nodes[1].extra[6] == m.state()[0]);
    BOOST_TEST(g.nodes[1].extra[9] == m.state()[3]);
    // Eval mode reads the running statistics, so the state changes eval outputs.
    std::vector<float> a(16), b(16);
    m.predict(x.data(), a.data(), 8);
    m.state()[6] += 1.0f;
    m.predict(x.data(), b.data(), 8);
    BOOST_TEST(a != b);
    m.reset_state();
    BOOST_TEST(m.state()[6] == 0.0f);
}

BOOST_AUTO_TEST_CASE(hooks_see_weights_per_output_channel) {
    struct Count : TrainHooks {
        std::vector<LayerInfo> seen;
        std::span<const float> forward_params(const LayerInfo& i, std::span<const float> p,
                                              Mode) override {
            seen.push_back(i);
            return p;
        }
    } hooks;
    using M = Sequential<Input<6, 6, 2>, Conv2D<4, 3>, DepthwiseConv2D<3>, BatchNorm, Flatten,
                         Dense<3>>;
    M m;
    Rng rng(3);
    m.init(rng);
    m.set_hooks(&hooks);
    std::vector<float> x(2 * 72, 0.5f);
    m.forward(x.data(), 2, Mode::train, rng);
    BOOST_REQUIRE_EQUAL(hooks.seen.size(), 5u);
    BOOST_TEST(hooks.seen[0].weight_count == 4u * 9 * 2);
    BOOST_TEST(hooks.seen[0].bias_count == 4u);
    BOOST_TEST(hooks.seen[0].output_channels == 4u);
    BOOST_TEST(hooks.seen[1].weights_channel_last);
    BOOST_TEST(hooks.seen[1].weight_count == 9u * 4);
    BOOST_TEST(!hooks.seen[2].has_weights());
    BOOST_TEST(hooks.seen[4].weight_count == 3u * 144);
}

BOOST_AUTO_TEST_CASE(conv_then_relu_runs_fused_with_the_same_results) {
    // Three Conv2D paths (im2col GEMM, Winograd, 1x1), each followed by ReLU.
    using M = Sequential<Input<9, 7, 3>, Conv2D<16, 3>, ReLU, Conv2D<16, 3>, ReLU, MaxPool2D<2>,
                         Conv2D<8, 1>, ReLU, ReLU, Flatten, Dense<4>>;
    static_assert(M::fused_with_next<0>() && M::fused_with_next<2>() && M::fused_with_next<5>());
    static_assert(!M::fused_with_next<1>() && !M::fused_with_next<4>() && !M::fused_with_next<6>());
    M fused;
    Rng rng(3);
    fused.init(rng);
    M plain = fused;
    TrainHooks none; // any hooks turn fusion off: they see each layer's own output
    plain.set_hooks(&none);
    constexpr std::size_t batch = 5;
    std::vector<float> x(batch * 9 * 7 * 3), dy(batch * 4);
    for (float& v : x) v = rng.uniform(-1, 1);
    for (float& v : dy) v = rng.uniform(-1, 1);
    for (int round = 0; round < 2; ++round) { // a second round reuses the buffers
        const float* a = fused.forward(x.data(), batch, Mode::train, rng);
        const float* b = plain.forward(x.data(), batch, Mode::train, rng);
        BOOST_TEST(std::vector<float>(a, a + batch * 4) == std::vector<float>(b, b + batch * 4),
                   boost::test_tools::per_element());
        fused.backward(dy.data());
        plain.backward(dy.data());
        const auto ga = fused.gradients(), gb = plain.gradients();
        BOOST_TEST(std::vector<float>(ga.begin(), ga.end()) == std::vector<float>(gb.begin(), gb.end()),
                   boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(cnn_with_residual_and_batch_norm_learns_bars) {
    // Vertical bar (class 0) or horizontal bar (class 1) at a random place, plus noise.
    using M = Sequential<Input<8, 8, 1>, Conv2D<8, 3>, BatchNorm, ReLU,
                         Residual<Conv2D<8, 3>, BatchNorm, ReLU>, MaxPool2D<2>,
                         DepthwiseConv2D<3>, GlobalAvgPool, Dropout<0.1f>, Dense<2>>;
    M m;
    Rng init_rng(5);
    m.init(init_rng);
    auto batch = [](Rng& r, std::vector<float>& x, std::vector<int>& y) {
        const std::size_t n = 32;
        x.assign(n * 64, 0.0f);
        y.resize(n);
        for (std::size_t b = 0; b < n; ++b) {
            y[b] = int(r.below(2));
            const std::size_t k = r.below(8);
            for (std::size_t i = 0; i < 8; ++i)
                x[b * 64 + (y[b] == 0 ? i * 8 + k : k * 8 + i)] = 1.0f;
            for (std::size_t i = 0; i < 64; ++i) x[b * 64 + i] += r.uniform(-0.2f, 0.2f);
        }
    };
    BOOST_TEST(train(m, batch, 150, 0.05f) >= 0.9);
}

BOOST_AUTO_TEST_CASE(gru_learns_the_sign_of_a_running_sum) {
    using M = Sequential<Input<8, 1>, GRU<8>, Dense<2>>;
    M m;
    Rng init_rng(6);
    m.init(init_rng);
    auto batch = [](Rng& r, std::vector<float>& x, std::vector<int>& y) {
        const std::size_t n = 32;
        x.resize(n * 8);
        y.resize(n);
        for (std::size_t b = 0; b < n; ++b) {
            float s = 0;
            for (std::size_t t = 0; t < 8; ++t) s += (x[b * 8 + t] = r.uniform(-1.0f, 1.0f));
            y[b] = s > 0.0f;
        }
    };
    BOOST_TEST(train(m, batch, 300, 0.1f) >= 0.9);
}

BOOST_AUTO_TEST_CASE(tiny_transformer_finds_the_marked_step) {
    // Class = which half of the sequence holds the one step whose first feature is 1.
    using M = Sequential<Input<6, 2>, TimeDense<8>, PositionalEmbedding,
                         Residual<LayerNorm, MultiHeadSelfAttention<2>>,
                         Residual<LayerNorm, TimeDense<16>, ReLU, TimeDense<8>>, LayerNorm,
                         GlobalAvgPool, Dense<2>>;
    M m;
    Rng init_rng(7);
    m.init(init_rng);
    auto batch = [](Rng& r, std::vector<float>& x, std::vector<int>& y) {
        const std::size_t n = 32;
        x.assign(n * 12, 0.0f);
        y.resize(n);
        for (std::size_t b = 0; b < n; ++b) {
            const std::size_t t = r.below(6);
            y[b] = t >= 3;
            for (std::size_t i = 0; i < 6; ++i) x[b * 12 + i * 2 + 1] = r.uniform(-1.0f, 1.0f);
            x[b * 12 + t * 2] = 1.0f;
        }
    };
    BOOST_TEST(train(m, batch, 300, 0.05f) >= 0.9);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(summary)

BOOST_AUTO_TEST_CASE(long_names_widen_the_column_and_state_is_listed) {
    using M = Sequential<Input<8, 8, 4>, Residual<Conv2D<4, 3>, BatchNorm, ReLU, Conv2D<4, 3>>,
                         GlobalAvgPool, Dense<3>>;
    const std::string s = M::summary();
    const std::string name = "Residual<Conv2D<4, 3>, BatchNorm, ReLU, Conv2D<4, 3>>";
    const auto at = s.find(name + "  8x8x4 ");
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, s);
    BOOST_TEST(s.substr(at, s.find('\n', at) - at).ends_with(" 304 " + std::string(8, ' ') + "18,688"), s);
    BOOST_TEST(s.find("GlobalAvgPool" + std::string(name.size() + 2 - 13, ' ') + "4 ") !=
                   std::string::npos, s);
    BOOST_TEST(s.find("State (running statistics): 8 floats") != std::string::npos, s);
}

BOOST_AUTO_TEST_SUITE_END()
