// Qat on a recurrent model: the GRU's W_x and W_h are fake-quantized one symmetric scale per
// gate row (as the int8 engine quantizes them, compile/ops/recurrent_int8.hpp) and its output
// on the learned range; the lowered int8 graph then agrees with the fake-quantized forward
// pass on Reference and Simd. PTQ of the same model is checked against fp32.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/nn/nn.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/quant/detail/hooks.hpp"
#include "edgestack/quant/graph_ptq.hpp"
#include "edgestack/quant/qat.hpp"
#include "edgestack/train/optimizer.hpp"

namespace eq = edgestack::quant;
namespace es = edgestack;

namespace {

using Net = es::nn::Sequential<es::nn::Input<12, 4>, es::nn::GRU<16>, es::nn::Dense<3>>;
template <class Q>
using Seq = es::Pipeline<es::data::InMemoryLoader, es::data::NoAugment, Net, Q, es::backend::Reference>;

/// Sequences of 12 steps x 4 features; the class says whether feature 0 summed over time is
/// low, middle or high.
void make_data(std::size_t n, std::uint64_t seed, std::vector<float>& x, std::vector<std::int32_t>& y) {
    es::Rng rng(seed);
    x.resize(n * 48);
    y.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        float s = 0;
        for (std::size_t k = 0; k < 48; ++k) {
            x[i * 48 + k] = rng.uniform(-1.0f, 1.0f);
            if (k % 4 == 0) s += x[i * 48 + k];
        }
        y[i] = s < -1.0f ? 0 : (s > 1.0f ? 2 : 1);
    }
}

template <class Engine>
std::vector<float> run(const Engine& e, const std::vector<float>& x) {
    std::vector<float> y(x.size() / e.input_size() * e.output_size());
    auto arena = e.make_arena(x.size() / e.input_size());
    BOOST_REQUIRE(e.run(x, y, arena));
    return y;
}

double worst_steps(const std::vector<float>& a, const float* b, float step) {
    double w = 0;
    for (std::size_t i = 0; i < a.size(); ++i) w = std::max(w, std::fabs(double(a[i]) - b[i]) / step);
    return w;
}

} // namespace

BOOST_AUTO_TEST_SUITE(qat_recurrent)

BOOST_AUTO_TEST_CASE(gru_weights_are_fake_quantized_per_gate_row) {
    Net m;
    es::Rng rng(3);
    m.init(rng);
    eq::detail::QuantState s;
    s.build(m, true);
    eq::detail::QuantHooks h(s);
    h.fake_quant = true;
    const auto p = m.layer_params<0>();
    const auto fq = h.forward_params(m.layer_info(0), p, es::nn::Mode::train);
    // W_x: 48 rows of 4, W_h: 48 rows of 16, then the biases untouched.
    for (std::size_t r = 0; r < 96; ++r) {
        const std::size_t off = r < 48 ? r * 4 : 48 * 4 + (r - 48) * 16, cols = r < 48 ? 4 : 16;
        float m_abs = 0;
        for (std::size_t k = 0; k < cols; ++k) m_abs = std::max(m_abs, std::fabs(p[off + k]));
        const float sc = m_abs / 127.0f;
        for (std::size_t k = 0; k < cols; ++k)
            BOOST_TEST(fq[off + k] == sc * std::nearbyint(p[off + k] / sc), "row " << r << " column " << k);
    }
    for (std::size_t i = 48 * 20; i < p.size(); ++i) BOOST_TEST(fq[i] == p[i]);
}

BOOST_AUTO_TEST_CASE(qat_trained_gru_deploys_in_int8_within_a_step_of_fake_quant) {
    std::vector<float> xt, xv;
    std::vector<std::int32_t> yt, yv;
    make_data(512, 1, xt, yt);
    make_data(64, 2, xv, yv);
    const es::data::InMemoryLoader train(xt, yt, 48, 3);
    Seq<eq::Qat<>> p(5);
    p.calibrate(train, 4);
    es::train::Adam adam(5e-3f);
    p.fit(train, adam, {.epochs = 3, .batch_size = 32});
    auto g = p.model().lower();
    p.quantizer().lower(g);
    const float* fq = p.quantizer().forward(p.model(), xv.data(), 64);
    const float step = g.value_quant[static_cast<std::size_t>(g.output)].scale[0];
    const double ref = worst_steps(run(es::backend::Reference{}.compile(g), xv), fq, step);
    const double simd = worst_steps(run(es::backend::Simd{}.compile(g), xv), fq, step);
    BOOST_TEST_MESSAGE("QAT GRU: worst |int8 - fake quant| = " << ref << " steps (reference), " << simd
                                                               << " (simd)");
    BOOST_TEST(ref <= 1.0 + 1e-3);
    BOOST_TEST(simd <= 1.0 + 1e-3);
}

BOOST_AUTO_TEST_CASE(ptq_of_a_trained_gru_follows_fp32) {
    std::vector<float> xt, xv;
    std::vector<std::int32_t> yt, yv;
    make_data(512, 3, xt, yt);
    make_data(64, 4, xv, yv);
    const es::data::InMemoryLoader train(xt, yt, 48, 3);
    Seq<eq::NoQuant> p(6);
    es::train::Adam adam(5e-3f);
    p.fit(train, adam, {.epochs = 3, .batch_size = 32});
    const auto g = p.model().lower();
    const auto q = eq::quantize_graph(g, std::span<const float>(xt).first(128 * 48));
    const auto f = run(es::backend::Reference{}.compile(g), xv);
    const float step = q.value_quant[static_cast<std::size_t>(q.output)].scale[0];
    for (const auto& y : {run(es::backend::Reference{}.compile(q), xv), run(es::backend::Simd{}.compile(q), xv)})
        BOOST_TEST(worst_steps(y, f.data(), step) <= 3.0);
}

BOOST_AUTO_TEST_SUITE_END()
