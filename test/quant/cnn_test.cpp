// Convolutional models: PTQ and QAT on conv / depthwise / pool / batch-norm layers, the
// int8 engines (Reference and Simd) against this folder's integer interpreter, and the
// fake-quantized forward pass against the int8 engine within one quantization step.
#include <boost/test/unit_test.hpp>

#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/nn/batch_norm.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/quant/ptq.hpp"
#include "edgestack/quant/qat.hpp"
#include "fixtures.hpp"
#include "int8_ref.hpp"

namespace eq = edgestack::quant;
namespace nn = edgestack::nn;

namespace {
using Cnn = nn::Sequential<nn::Input<28, 28, 1>, nn::Conv2D<8, 3>, nn::ReLU, nn::MaxPool<2>,
                           nn::DepthwiseConv2D<3>, nn::ReLU, nn::MaxPool<2>, nn::Flatten,
                           nn::Dense<10>>;
using BnCnn = nn::Sequential<nn::Input<28, 28, 1>, nn::Conv2D<8, 3>, nn::BatchNorm, nn::ReLU,
                             nn::MaxPool<2>, nn::Flatten, nn::Dense<10>>;
template <class M, class Q>
using P = edgestack::Pipeline<edgestack::data::IdxLoader, edgestack::data::NoAugment, M, Q,
                              edgestack::backend::Reference>;

template <class Backend>
std::vector<float> run_engine(const edgestack::compile::Graph& g, const std::vector<float>& x,
                              std::size_t n) {
    const auto e = Backend{}.compile(g);
    std::vector<float> y(n * e.output_size());
    auto arena = e.make_arena(n);
    BOOST_REQUIRE(e.run(x, y, arena));
    return y;
}
} // namespace

BOOST_AUTO_TEST_SUITE(cnn)

BOOST_AUTO_TEST_CASE(ptq_cnn_engines_agree_exactly_and_with_fake_quant) {
    P<Cnn, eq::Ptq<eq::Percentile>> p(5);
    edgestack::train::Sgd sgd(0.02f, 0.9f);
    const auto slice = edgestack::data::load_fashion_mnist(
        edgestack::data::Split::train, EDGESTACK_FASHION_MNIST_DIR, 640);
    p.fit(slice, sgd, {1, 64, true, false});
    p.calibrate(slice, 4);
    auto g = p.model().lower();
    p.quantizer().lower(g);
    BOOST_TEST((g.nodes[0].fused == edgestack::compile::Activation::relu));
    BOOST_TEST((g.nodes[2].op == edgestack::compile::Op::depthwise_conv2d));
    BOOST_TEST(g.nodes[2].weight_quant.scale.size() == 8u);
    const std::size_t n = 64;
    const auto x = quant_test::features(quant_test::test_slice(), n);
    const auto ours = quant_test::run_float(g, x.data(), n);
    const auto ref = run_engine<edgestack::backend::Reference>(g, x, n);
    const auto simd = run_engine<edgestack::backend::Simd>(g, x, n);
    BOOST_TEST(ours == ref, boost::test_tools::per_element());
    BOOST_TEST(simd == ref, boost::test_tools::per_element());
    const float* fq = p.quantizer().forward(p.model(), x.data(), n);
    const float step = g.value_quant[static_cast<std::size_t>(g.output)].scale[0];
    const double worst = quant_test::worst_steps(ref.data(), fq, ref.size(), step);
    BOOST_TEST_MESSAGE("PTQ CNN: worst |int8 - fake quant| = " << worst << " steps");
    BOOST_TEST(worst <= 1.0 + 1e-3);
}

BOOST_AUTO_TEST_CASE(qat_with_batch_norm_matches_the_folded_int8_engine) {
    // Per-channel weight quantization commutes with the batch norm's per-channel scale, so
    // QAT on the unfolded conv trains exactly the codes the folded int8 conv runs.
    P<BnCnn, eq::Qat<>> p(6, {}, eq::Qat<>(eq::QatOptions{0.05f, 8}));
    const auto slice = edgestack::data::load_fashion_mnist(
        edgestack::data::Split::train, EDGESTACK_FASHION_MNIST_DIR, 640);
    p.calibrate(slice, 2);
    edgestack::train::Sgd sgd(0.02f, 0.9f);
    p.fit(slice, sgd, {1, 64, true, false});
    BOOST_TEST(p.quantizer().frozen());
    auto g = p.model().lower();
    p.quantizer().lower(g);
    for (const auto& node : g.nodes)
        BOOST_TEST((node.op != edgestack::compile::Op::batch_norm)); // folded
    const std::size_t n = 64;
    const auto x = quant_test::features(quant_test::test_slice(), n);
    const auto ref = run_engine<edgestack::backend::Reference>(g, x, n);
    const float* fq = p.quantizer().forward(p.model(), x.data(), n);
    const float step = g.value_quant[static_cast<std::size_t>(g.output)].scale[0];
    const double worst = quant_test::worst_steps(ref.data(), fq, ref.size(), step);
    BOOST_TEST_MESSAGE("QAT CNN + BN: worst |int8 - fake quant| = " << worst << " steps");
    BOOST_TEST(worst <= 1.0 + 1e-3);
}

BOOST_AUTO_TEST_SUITE_END()
