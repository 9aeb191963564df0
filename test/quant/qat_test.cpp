// Qat: fake quantization in training, the straight-through estimator, frozen ranges, and
// agreement of the lowered int8 graph with the fake-quantized forward pass.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "edgestack/quant/detail/hooks.hpp"
#include "edgestack/quant/qat.hpp"
#include "fixtures.hpp"
#include "int8_ref.hpp"

namespace eq = edgestack::quant;
using quant_test::Mlp;

namespace {
template <class Q>
using MlpPipeline = edgestack::Pipeline<edgestack::data::IdxLoader, edgestack::data::NoAugment,
                                        Mlp, Q, edgestack::backend::Reference>;

struct RangeRecorder {
    const eq::Qat<>* q;
    std::vector<std::vector<eq::Range>> seen;
    void on_batch_end(const edgestack::train::BatchStats&) {
        seen.emplace_back(q->ranges().begin(), q->ranges().end());
    }
};
} // namespace

BOOST_AUTO_TEST_SUITE(qat)

BOOST_AUTO_TEST_CASE(straight_through_estimator_zeroes_clipped_gradients) {
    Mlp m;
    eq::detail::QuantState s;
    s.build(m, true);
    // Layers: Flatten, Dense<48>, ReLU, Dense<10>. The first dense is fused with the ReLU
    // after it (only the ReLU's output is quantized); flatten keeps the input's grid.
    BOOST_TEST(!s.layer_observed[0]);
    BOOST_TEST(!s.layer_observed[1]);
    BOOST_TEST(s.layer_observed[2]);
    BOOST_TEST(s.layer_observed[3]);
    s.ranges[static_cast<std::size_t>(s.layer_value[3])] = {-1.0f, 1.0f, true};
    eq::detail::QuantHooks h(s);
    h.fake_quant = true;
    std::vector<float> out{-3.0f, -0.5f, 0.0f, 0.99f, 1.5f, 0.3f, 0.2f, 0.1f, -1.0f, 7.0f};
    const auto before = out;
    h.after_forward(m.layer_info(3), out, edgestack::nn::Mode::train);
    std::vector<float> dout(10, 1.0f);
    h.before_backward(m.layer_info(3), dout, out);
    const auto p = eq::Range{-1.0f, 1.0f, true}.params();
    const float lo = p.scale * (-128 - p.zero_point), hi = p.scale * (127 - p.zero_point);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const bool inside = before[i] >= lo && before[i] <= hi;
        BOOST_TEST(dout[i] == (inside ? 1.0f : 0.0f), "element " << i);
        BOOST_TEST(out[i] == eq::fake_quantize(before[i], p));
    }
}

BOOST_AUTO_TEST_CASE(weights_are_fake_quantized_in_forward) {
    Mlp m;
    edgestack::Rng rng(3);
    m.init(rng);
    eq::detail::QuantState s;
    s.build(m, true);
    eq::detail::QuantHooks h(s);
    h.fake_quant = true;
    const auto p = m.layer_params<1>();
    const auto& info = m.layer_info(1);
    const auto fq = h.forward_params(info, p, edgestack::nn::Mode::train);
    std::vector<float> want(info.weight_count);
    eq::fake_quantize_weights(p.first(info.weight_count), want, {48, false}, true);
    for (std::size_t i = 0; i < info.weight_count; i += 97) BOOST_TEST(fq[i] == want[i]);
    for (std::size_t i = info.weight_count; i < p.size(); ++i) BOOST_TEST(fq[i] == p[i]);
    h.fake_quant = false;
    BOOST_TEST(h.forward_params(info, p, edgestack::nn::Mode::train).data() == p.data());
}

BOOST_AUTO_TEST_CASE(ranges_freeze_after_k_steps) {
    MlpPipeline<eq::Qat<>> p(11, {}, eq::Qat<>(eq::QatOptions{0.1f, 3}));
    p.model() = quant_test::trained_mlp();
    p.calibrate(quant_test::train_slice(), 2);
    RangeRecorder rec{&p.quantizer(), {}};
    edgestack::train::Sgd sgd(0.01f);
    const auto slice = edgestack::data::load_fashion_mnist(
        edgestack::data::Split::train, EDGESTACK_FASHION_MNIST_DIR, 64 * 6);
    // Same loader type as the pipeline's: a 6-batch slice.
    p.fit(slice, sgd, {1, 64, true, false}, rec);
    BOOST_TEST(p.quantizer().steps() == 6u);
    BOOST_TEST(p.quantizer().frozen());
    BOOST_REQUIRE_EQUAL(rec.seen.size(), 6u);
    const std::size_t v = 4; // logits value
    BOOST_TEST(rec.seen[0][v].hi != rec.seen[1][v].hi); // still moving
    for (std::size_t b = 3; b < 6; ++b) {
        BOOST_TEST(rec.seen[b][v].lo == rec.seen[2][v].lo);
        BOOST_TEST(rec.seen[b][v].hi == rec.seen[2][v].hi);
    }
}

BOOST_AUTO_TEST_CASE(fine_tuned_int8_graph_agrees_with_fake_quant_within_one_step) {
    MlpPipeline<eq::Qat<>> p(12, {}, eq::Qat<>(eq::QatOptions{0.01f, 60}));
    p.model() = quant_test::trained_mlp();
    p.calibrate(quant_test::train_slice(), 4);
    edgestack::train::Sgd sgd(0.005f, 0.9f);
    p.fit(quant_test::train_slice(), sgd, {1, 64, true, false});
    BOOST_TEST(p.model().hooks() != nullptr); // QAT hooks stay installed: eval is fake-quant
    auto g = p.model().lower();
    p.quantizer().lower(g);
    const std::size_t n = quant_test::test_slice().size();
    std::vector<std::int32_t> y;
    const auto x = quant_test::features(quant_test::test_slice(), n, &y);
    const auto int8 = quant_test::run_float(g, x.data(), n);
    const float* fq = p.quantizer().forward(p.model(), x.data(), n);
    const float step = g.value_quant[static_cast<std::size_t>(g.output)].scale[0];
    const double worst = quant_test::worst_steps(int8.data(), fq, int8.size(), step);
    BOOST_TEST_MESSAGE("QAT: worst |int8 - fake quant| = " << worst << " steps");
    BOOST_TEST(worst <= 1.0 + 1e-3);
    // The pipeline's own evaluation runs through the hooks: it is the fake-quant accuracy.
    const auto ev = p.evaluate(quant_test::test_slice());
    BOOST_TEST(ev.accuracy == quant_test::accuracy(int8.data(), y, 10), boost::test_tools::tolerance(0.01));
    p.quantizer().detach(p.model());
    BOOST_TEST(p.model().hooks() == nullptr);
}

BOOST_AUTO_TEST_CASE(deploy_before_training_says_what_to_do) {
    MlpPipeline<eq::Qat<>> p;
    try {
        (void)p.deploy();
        BOOST_FAIL("expected config_error");
    } catch (const edgestack::config_error& e) {
        BOOST_TEST(std::string(e.what()).find("Qat") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(uncalibrated_input_range_is_named) {
    MlpPipeline<eq::Qat<>> p;
    edgestack::train::Sgd sgd(0.01f);
    const auto slice = edgestack::data::load_fashion_mnist(
        edgestack::data::Split::train, EDGESTACK_FASHION_MNIST_DIR, 64);
    p.fit(slice, sgd, {1, 64, true, false});
    auto g = p.model().lower();
    try {
        p.quantizer().lower(g);
        BOOST_FAIL("expected config_error");
    } catch (const edgestack::config_error& e) {
        BOOST_TEST(std::string(e.what()).find("graph input") != std::string::npos);
    }
    p.quantizer().set_input_range(0.0f, 1.0f);
    BOOST_CHECK_NO_THROW(p.quantizer().lower(g));
}

BOOST_AUTO_TEST_CASE(bad_options_are_rejected) {
    BOOST_CHECK_THROW(eq::Qat<>(eq::QatOptions{0.0f, 0}), edgestack::config_error);
    BOOST_CHECK_THROW(eq::Qat<>(eq::QatOptions{1.5f, 0}), edgestack::config_error);
}

BOOST_AUTO_TEST_SUITE_END()
