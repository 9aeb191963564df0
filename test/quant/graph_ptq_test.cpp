// GraphPtq and quantize_graph: every value of any fp32 graph observed and quantized,
// Ptq on models with Residual blocks (values inside the block included), batch sources,
// and the refusals of what cannot be quantized.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/nn/nn.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/graph_ptq.hpp"
#include "edgestack/quant/ptq.hpp"

namespace es = edgestack;
namespace eq = edgestack::quant;

namespace {

using ResNetLike =
    es::nn::Sequential<es::nn::Input<8, 8, 3>, es::nn::Conv2D<8, 3>, es::nn::ReLU,
                       es::nn::Residual<es::nn::Conv2D<8, 3>, es::nn::BatchNorm, es::nn::ReLU,
                                        es::nn::Conv2D<8, 3>>,
                       es::nn::ReLU,
                       es::nn::Residual<es::nn::Projection<es::nn::Conv2D<16, 1, 2>>,
                                        es::nn::Conv2D<16, 3, 2>, es::nn::ReLU>,
                       es::nn::GlobalAvgPool, es::nn::Dense<4>>;

std::vector<float> uniform(std::size_t n, std::uint64_t seed) {
    es::Rng rng(seed);
    std::vector<float> x(n);
    for (auto& v : x) v = 2.0f * rng.uniform() - 1.0f;
    return x;
}

es::data::InMemoryLoader random_loader(std::size_t n, std::size_t sample, std::uint64_t seed) {
    return {uniform(n * sample, seed), std::vector<std::int32_t>(n, 0), sample, 4};
}

std::vector<float> run(const es::compile::Graph& g, const std::vector<float>& x) {
    const es::backend::ReferenceEngine e(g);
    std::vector<float> y(x.size() / e.input_size() * e.output_size());
    auto arena = e.make_arena(x.size() / e.input_size());
    BOOST_REQUIRE(e.run(x, y, arena));
    return y;
}

/// Largest |a - b| as a fraction of b's range.
float stray(const std::vector<float>& a, const std::vector<float>& b) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    const auto [lo, hi] = std::minmax_element(b.begin(), b.end());
    float worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    return worst / (*hi - *lo);
}

template <class M>
es::compile::Graph graph_of(const M& model) {
    return model.lower();
}

} // namespace

BOOST_AUTO_TEST_SUITE(graph_ptq)

BOOST_AUTO_TEST_CASE(ptq_observes_values_inside_residual_blocks) {
    // The block's inner convolutions and the adds get ranges of their own: deploy works,
    // and the int8 engine stays close to the fp32 model.
    using P = es::Pipeline<es::data::InMemoryLoader, es::data::NoAugment, ResNetLike, eq::Ptq<>,
                           es::backend::Reference>;
    P p(11);
    const auto calib = random_loader(96, 8 * 8 * 3, 3);
    p.calibrate(calib, 3, 32);
    const auto g = p.model().lower();
    auto q = g;
    p.quantizer().lower(q);
    BOOST_TEST(q.value_quant.size() == q.values.size());
    std::size_t adds = 0;
    for (const auto& n : q.nodes) adds += n.op == es::compile::Op::add;
    BOOST_TEST(adds == 2u);

    const auto x = uniform(16 * g.input_size(), 99);
    const float d = stray(run(q, x), run(g, x));
    BOOST_TEST_MESSAGE("residual model: max |int8 - fp32| = " << d << " of the output range");
    BOOST_TEST(d < 0.08f);
    const auto engine = p.deploy();
    BOOST_TEST(engine.int8());
}

BOOST_AUTO_TEST_CASE(batches_and_samples_give_the_same_ranges) {
    es::nn::Sequential<es::nn::Input<4, 4, 2>, es::nn::Conv2D<3, 3>, es::nn::ReLU, es::nn::Flatten,
                       es::nn::Dense<5>>
        model;
    es::Rng rng(5);
    model.init(rng);
    const auto loader = random_loader(40, 32, 8);
    eq::GraphPtq<> from_samples(graph_of(model));
    from_samples.observe(uniform(40 * 32, 8), 7);
    BOOST_TEST(from_samples.samples_seen() == 40u);

    const es::data::NoAugment none;
    es::data::Batcher<es::data::InMemoryLoader, es::data::NoAugment> batches(
        loader, none, es::SampleLayout{4, 4, 2}, {16, false, false}, es::Rng(1));
    eq::GraphPtq<> from_batches(graph_of(model));
    BOOST_TEST(from_batches.observe(batches, 100) == 3u); // 16 + 16 + 8
    const auto a = from_samples.ranges(), b = from_batches.ranges();
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    for (std::size_t v = 0; v < a.size(); ++v) {
        BOOST_TEST(a[v].valid);
        BOOST_TEST(a[v].lo == b[v].lo);
        BOOST_TEST(a[v].hi == b[v].hi);
    }
}

BOOST_AUTO_TEST_CASE(every_observer_quantizes_a_graph) {
    es::nn::Sequential<es::nn::Input<6, 6, 1>, es::nn::Conv2D<4, 3>, es::nn::BatchNorm,
                       es::nn::ReLU6, es::nn::MaxPool2D<2>, es::nn::Flatten, es::nn::Dense<3>,
                       es::nn::Softmax>
        model;
    es::Rng rng(7);
    model.init(rng);
    const auto g = graph_of(model);
    const auto calib = uniform(64 * g.input_size(), 1);
    const auto x = uniform(8 * g.input_size(), 2);
    const auto fp = run(g, x);
    auto check = [&]<class Obs>(Obs obs) {
        const auto q = eq::quantize_graph(g, calib, obs);
        const float d = stray(run(q, x), fp);
        BOOST_TEST_MESSAGE(Obs::name << ": max |int8 - fp32| = " << d << " of the output range");
        BOOST_TEST(d < 0.1f, Obs::name);
    };
    check(eq::MinMax{});
    check(eq::MovingAverageMinMax{});
    check(eq::Percentile{});
    check(eq::MseOptimal{});
}

// A relu6 fused into an add whose sums reach far past 6: the add's output is quantized
// over the relu6's range, [0, 6], at least 4x finer than its inputs', which the engines
// refuse (the int8 add's rescale could overflow). The quantizer widens that range just
// enough; the fused clamp still stops at the code of 6.
BOOST_AUTO_TEST_CASE(a_fused_add_gets_an_output_scale_the_engines_accept) {
    namespace nets = es::backend::nets;
    es::Rng rng(3);
    auto g = es::compile::Graph::with_input({4, 4, 2});
    const int c = nets::conv2d(g, 0, 2, 1, rng);
    for (float& w : g.nodes.back().weights) w *= 60.0f;
    es::compile::Node add;
    add.op = es::compile::Op::add;
    add.name = "add_0";
    const int sum = g.append(std::move(add), {0, c}, {4, 4, 2});
    nets::unary(g, sum, es::compile::Op::relu6);
    const auto calib = uniform(32 * g.input_size(), 5);
    const auto q = eq::quantize_graph(g, calib);
    BOOST_REQUIRE_EQUAL(q.nodes.size(), 2u);
    const auto& n = q.nodes[1];
    BOOST_TEST((n.op == es::compile::Op::add && n.fused == es::compile::Activation::relu6));
    const float s_out = q.value_quant[static_cast<std::size_t>(n.output)].scale[0];
    float widest = 0.0f;
    for (int in : n.inputs) {
        const float s_in = q.value_quant[static_cast<std::size_t>(in)].scale[0];
        BOOST_TEST(s_in / s_out < 4.0f);
        widest = std::max(widest, s_in);
    }
    BOOST_TEST(s_out > 6.0f / 255.0f); // widened past the relu6's own range
    const auto x = uniform(16 * g.input_size(), 7);
    const auto y = run(q, x), want = run(g, x);
    for (float v : y) BOOST_TEST((v >= 0.0f && v <= 6.0f));
    // int8: within half an output step of fp32, plus the inputs' rounding (half a step each)
    // and the conv's weights'
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(std::abs(y[i] - want[i]) <= s_out + widest);
}

BOOST_AUTO_TEST_CASE(what_cannot_be_quantized_is_refused_by_name) {
    es::nn::Sequential<es::nn::Input<3>, es::nn::Dense<2>> model;
    es::Rng rng(1);
    model.init(rng);
    const auto g = graph_of(model);
    auto says = [](const char* part) {
        return [part](const std::exception& e) { return std::string(e.what()).find(part) != std::string::npos; };
    };
    eq::GraphPtq<> ptq(g);
    BOOST_CHECK_EXCEPTION((void)ptq.lower(), es::config_error, says("nothing observed"));
    BOOST_CHECK_EXCEPTION(ptq.observe(std::vector<float>(7)), es::shape_error, says("not a whole number of 3-float"));
    BOOST_CHECK_EXCEPTION(ptq.observe(std::vector<float>{}), es::shape_error, says("0 floats"));
    const auto q = eq::quantize_graph(g, uniform(30, 3));
    BOOST_CHECK_EXCEPTION(eq::GraphPtq<>{q}, es::config_error, says("already int8"));
    auto empty = random_loader(0, 3, 1);
    const es::data::NoAugment none;
    es::data::Batcher<es::data::InMemoryLoader, es::data::NoAugment> batches(
        empty, none, es::SampleLayout{1, 1, 3}, {4, false, false}, es::Rng(1));
    BOOST_CHECK_EXCEPTION(ptq.observe(batches, 0), es::config_error, says("at least one batch"));
    BOOST_CHECK_EXCEPTION(ptq.observe(batches, 2), es::config_error, says("no batch"));
}

BOOST_AUTO_TEST_SUITE_END()
