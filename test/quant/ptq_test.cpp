// Ptq<Observer>: calibration through the pipeline, lowering, and agreement of the int8
// engine with the fake-quantized forward pass on a Fashion-MNIST test slice.
#include <boost/test/unit_test.hpp>

#include <string>
#include <tuple>
#include <vector>

#include "edgestack/quant/ptq.hpp"
#include "fixtures.hpp"
#include "int8_ref.hpp"

namespace eq = edgestack::quant;
using quant_test::Mlp;

namespace {
template <class Q>
using MlpPipeline = edgestack::Pipeline<edgestack::data::IdxLoader, edgestack::data::NoAugment,
                                        Mlp, Q, edgestack::backend::Reference>;
using Observers = std::tuple<eq::MinMax, eq::MovingAverageMinMax, eq::Percentile, eq::MseOptimal>;
} // namespace

BOOST_AUTO_TEST_SUITE(ptq)

BOOST_AUTO_TEST_CASE_TEMPLATE(int8_engine_agrees_with_fake_quant_within_one_step, Obs, Observers) {
    MlpPipeline<eq::Ptq<Obs>> p;
    p.model() = quant_test::trained_mlp();
    p.calibrate(quant_test::train_slice(), 8, 64);
    BOOST_TEST(p.quantizer().batches_seen() == 8u);
    auto g = p.model().lower();
    p.quantizer().lower(g);
    BOOST_REQUIRE_EQUAL(g.value_quant.size(), g.values.size());

    const std::size_t n = quant_test::test_slice().size();
    std::vector<std::int32_t> y;
    const auto x = quant_test::features(quant_test::test_slice(), n, &y);
    const auto int8 = quant_test::run_float(g, x.data(), n);
    const float* fq = p.quantizer().forward(p.model(), x.data(), n);
    const float step = g.value_quant[static_cast<std::size_t>(g.output)].scale[0];
    const double worst = quant_test::worst_steps(int8.data(), fq, int8.size(), step);
    BOOST_TEST_MESSAGE(Obs::name << ": worst |int8 - fake quant| = " << worst << " steps");
    BOOST_TEST(worst <= 1.0 + 1e-3);

    // And the int8 model is about as accurate as the fp32 one.
    std::vector<float> fp(n * 10);
    p.model().predict(x.data(), fp.data(), n);
    const double a32 = quant_test::accuracy(fp.data(), y, 10);
    const double a8 = quant_test::accuracy(int8.data(), y, 10);
    BOOST_TEST_MESSAGE(Obs::name << ": fp32 " << a32 << " int8 " << a8);
    BOOST_TEST(a8 > a32 - 0.03);
}

BOOST_AUTO_TEST_CASE(relu_is_fused_and_flatten_keeps_the_input_params) {
    MlpPipeline<eq::Ptq<eq::MinMax, eq::Int8PerTensor>> p;
    p.model() = quant_test::trained_mlp();
    p.calibrate(quant_test::train_slice(), 2);
    auto g = p.model().lower();
    BOOST_REQUIRE_EQUAL(g.nodes.size(), 4u); // flatten, dense, relu, dense
    p.quantizer().lower(g);
    BOOST_REQUIRE_EQUAL(g.nodes.size(), 3u);
    BOOST_TEST((g.nodes[1].fused == edgestack::compile::Activation::relu));
    BOOST_TEST(g.value_quant[1].scale == g.value_quant[0].scale);
    BOOST_TEST(g.nodes[1].weight_quant.scale.size() == 1u); // per tensor
    // Pixels in [0, 1]: the input grid is exactly 1/255 with zero point -128.
    BOOST_TEST(g.value_quant[0].scale[0] == 1.0f / 255.0f);
    BOOST_TEST(g.value_quant[0].zero_point[0] == -128);
    // The ReLU output never goes below zero: its zero point is -128.
    BOOST_TEST(g.value_quant[2].zero_point[0] == -128);
}

BOOST_AUTO_TEST_CASE(deploy_before_calibrate_says_what_to_do) {
    MlpPipeline<eq::Ptq<>> p;
    try {
        (void)p.deploy();
        BOOST_FAIL("expected config_error");
    } catch (const edgestack::config_error& e) {
        BOOST_TEST(std::string(e.what()).find("calibrate") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(lowering_another_graph_is_refused) {
    MlpPipeline<eq::Ptq<>> p;
    p.calibrate(quant_test::train_slice(), 1);
    auto g = edgestack::compile::Graph::with_input({3});
    BOOST_CHECK_THROW(p.quantizer().lower(g), edgestack::config_error);
}

BOOST_AUTO_TEST_CASE(zero_batches_is_a_config_error) {
    MlpPipeline<eq::Ptq<>> p;
    BOOST_CHECK_THROW(p.calibrate(quant_test::train_slice(), 0), edgestack::config_error);
}

BOOST_AUTO_TEST_CASE(calibration_leaves_the_model_without_hooks) {
    MlpPipeline<eq::Ptq<eq::Percentile>> p;
    p.calibrate(quant_test::train_slice(), 1);
    BOOST_TEST(p.model().hooks() == nullptr);
    BOOST_TEST(p.quantizer().ranges().size() == p.model().lower().values.size());
}

BOOST_AUTO_TEST_SUITE_END()
