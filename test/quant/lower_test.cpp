// Lowering an fp32 graph to the canonical int8 graph: which values get parameters, fusion,
// batch-norm folding, and the errors for graphs that cannot be lowered.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/quant/detail/plan.hpp"
#include "int8_ref.hpp"

namespace eq = edgestack::quant;
namespace ec = edgestack::compile;
namespace ed = edgestack::quant::detail;

namespace {

ec::Node weight_node(ec::Op op, std::size_t n_weights, std::size_t n_bias, edgestack::Rng& rng) {
    ec::Node n;
    n.op = op;
    for (std::size_t i = 0; i < n_weights; ++i) n.weights.push_back(rng.uniform(-0.5f, 0.5f));
    for (std::size_t i = 0; i < n_bias; ++i) n.bias.push_back(rng.uniform(-0.1f, 0.1f));
    return n;
}
ec::Node op_node(ec::Op op) {
    ec::Node n;
    n.op = op;
    return n;
}

// input 6x6x2 -> conv 3x3 (4) -> bn -> relu -> maxpool 2 -> flatten -> dropout -> dense 5
ec::Graph small_cnn(edgestack::Rng& rng) {
    ec::Graph g = ec::Graph::with_input({6, 6, 2});
    auto conv = weight_node(ec::Op::conv2d, 4 * 3 * 3 * 2, 4, rng);
    conv.name = g.fresh_name(conv.op);
    conv.kernel = {3, 3};
    conv.pad = {1, 1, 1, 1};
    int v = g.append(conv, {0}, {6, 6, 4});
    auto bn = op_node(ec::Op::batch_norm);
    bn.name = g.fresh_name(bn.op);
    bn.alpha = 1e-3f;
    bn.extra = {1.0f, 0.5f, 2.0f, 1.5f,   // gamma
                0.1f, 0.0f, -0.1f, 0.2f,  // beta
                0.05f, -0.02f, 0.0f, 0.1f, // mean
                1.0f, 0.25f, 4.0f, 0.5f}; // var
    v = g.append(bn, {v}, {6, 6, 4});
    auto relu = op_node(ec::Op::relu);
    relu.name = g.fresh_name(relu.op);
    v = g.append(relu, {v}, {6, 6, 4});
    auto pool = op_node(ec::Op::max_pool2d);
    pool.name = g.fresh_name(pool.op);
    pool.kernel = {2, 2};
    pool.stride = {2, 2};
    v = g.append(pool, {v}, {3, 3, 4});
    auto flat = op_node(ec::Op::flatten);
    flat.name = g.fresh_name(flat.op);
    v = g.append(flat, {v}, {36});
    auto drop = op_node(ec::Op::dropout);
    drop.name = g.fresh_name(drop.op);
    v = g.append(drop, {v}, {36});
    auto dense = weight_node(ec::Op::dense, 5 * 36, 5, rng);
    dense.name = g.fresh_name(dense.op);
    g.append(dense, {v}, {5});
    return g;
}

std::vector<eq::Range> ranges_for(const ec::Graph& g) {
    std::vector<eq::Range> r(g.values.size());
    for (auto& x : r) x = {-1.0f, 2.0f, true};
    return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lower)

BOOST_AUTO_TEST_CASE(plan_marks_fused_and_inherited_values) {
    edgestack::Rng rng(1);
    const auto g = small_cnn(rng);
    const auto p = ed::make_plan(g);
    BOOST_TEST((p.values[0].role == ed::Role::observed)); // input
    BOOST_TEST((p.values[1].role == ed::Role::absorbed)); // conv out -> bn
    BOOST_TEST((p.values[2].role == ed::Role::absorbed)); // bn out -> relu
    BOOST_TEST((p.values[3].role == ed::Role::observed)); // relu out: the fused conv's output
    BOOST_TEST((p.values[4].role == ed::Role::inherit));  // max pool
    BOOST_TEST(p.values[4].from == 3);
    BOOST_TEST((p.values[5].role == ed::Role::inherit));  // flatten
    BOOST_TEST((p.values[6].role == ed::Role::inherit));  // dropout
    BOOST_TEST((p.values[7].role == ed::Role::observed)); // logits
}

BOOST_AUTO_TEST_CASE(lowered_graph_is_canonical_and_fully_quantized) {
    edgestack::Rng rng(2);
    const auto g = small_cnn(rng);
    const auto q = ed::lower_int8(g, ranges_for(g), true);
    // conv(+bn+relu), max pool, flatten, dense: dropout and bn gone, relu fused.
    BOOST_REQUIRE_EQUAL(q.nodes.size(), 4u);
    BOOST_TEST((q.nodes[0].op == ec::Op::conv2d));
    BOOST_TEST((q.nodes[0].fused == ec::Activation::relu));
    BOOST_TEST((q.nodes[1].op == ec::Op::max_pool2d));
    BOOST_TEST((q.nodes[2].op == ec::Op::flatten));
    BOOST_TEST((q.nodes[3].op == ec::Op::dense));
    BOOST_REQUIRE_EQUAL(q.values.size(), 5u);
    BOOST_REQUIRE_EQUAL(q.value_quant.size(), q.values.size());
    for (const auto& vq : q.value_quant) {
        BOOST_TEST(vq.scale.size() == 1u);
        BOOST_TEST(vq.axis == -1);
    }
    // Pass-through ops keep their input's parameters exactly.
    BOOST_TEST(q.value_quant[2].scale == q.value_quant[1].scale);
    BOOST_TEST(q.value_quant[3].zero_point == q.value_quant[1].zero_point);
    BOOST_TEST(q.output == 4);
    for (int k : {0, 3}) {
        const auto& n = q.nodes[static_cast<std::size_t>(k)];
        BOOST_TEST(n.qweights.size() == n.weights.size());
        BOOST_TEST(n.qbias.size() == n.bias.size());
        BOOST_TEST(n.weight_quant.scale.size() == n.bias.size());
        for (auto w : n.qweights) BOOST_TEST(w >= -127);
    }
}

BOOST_AUTO_TEST_CASE(batch_norm_is_folded_into_the_conv) {
    edgestack::Rng rng(3);
    const auto g = small_cnn(rng);
    const auto q = ed::lower_int8(g, ranges_for(g), true);
    const auto& conv = g.nodes[0];
    const auto& bn = g.nodes[1];
    const auto& folded = q.nodes[0];
    for (std::size_t c = 0; c < 4; ++c) {
        const float k = bn.extra[c] / std::sqrt(bn.extra[12 + c] + bn.alpha);
        BOOST_TEST(folded.weights[c * 18 + 5] == conv.weights[c * 18 + 5] * k,
                   boost::test_tools::tolerance(1e-6f));
        const float b = (conv.bias[c] - bn.extra[8 + c]) * k + bn.extra[4 + c];
        BOOST_TEST(folded.bias[c] == b, boost::test_tools::tolerance(1e-6f));
    }
}

BOOST_AUTO_TEST_CASE(int8_dense_net_tracks_fp32_within_quantization_error) {
    // input 16 -> dense 12 + relu -> dense 4, ranges from the fp32 run itself.
    edgestack::Rng rng(4);
    ec::Graph g = ec::Graph::with_input({16});
    auto d0 = weight_node(ec::Op::dense, 12 * 16, 12, rng);
    d0.name = "dense_0";
    int v = g.append(d0, {0}, {12});
    auto r = op_node(ec::Op::relu);
    r.name = "relu_0";
    v = g.append(r, {v}, {12});
    auto d1 = weight_node(ec::Op::dense, 4 * 12, 4, rng);
    d1.name = "dense_1";
    g.append(d1, {v}, {4});
    const std::size_t batch = 64;
    std::vector<float> x(batch * 16);
    for (auto& e : x) e = rng.uniform(-1.0f, 1.0f);
    // Observe every value with the fp32 reference backend, value by value.
    std::vector<eq::Range> ranges(g.values.size());
    auto observe = [&](std::size_t val, const std::vector<float>& y) {
        auto [lo, hi] = std::minmax_element(y.begin(), y.end());
        ranges[val] = {*lo, *hi, true};
    };
    observe(0, x);
    edgestack::backend::ReferenceEngine full(g);
    std::vector<float> logits(batch * 4);
    BOOST_REQUIRE(full.run(x, logits));
    ec::Graph g2 = g; // ends at the relu
    g2.nodes.pop_back();
    g2.values.pop_back();
    g2.output = 2;
    edgestack::backend::ReferenceEngine hidden(g2);
    std::vector<float> h(batch * 12);
    BOOST_REQUIRE(hidden.run(x, h));
    observe(2, h);
    observe(3, logits);
    const auto q = ed::lower_int8(g, ranges, true);
    const auto y = quant_test::run_float(q, x.data(), batch);
    const float step = q.value_quant[static_cast<std::size_t>(q.output)].scale[0];
    float worst = 0.0f;
    for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::fabs(y[i] - logits[i]));
    BOOST_TEST_MESSAGE("int8 vs fp32 worst logit error " << worst << " (step " << step << ")");
    BOOST_TEST(worst < 4.0f * step);
}

BOOST_AUTO_TEST_CASE(missing_range_names_the_value_and_node) {
    edgestack::Rng rng(5);
    const auto g = small_cnn(rng);
    auto ranges = ranges_for(g);
    ranges[7].valid = false;
    try {
        ed::lower_int8(g, ranges, true);
        BOOST_FAIL("expected config_error");
    } catch (const edgestack::config_error& e) {
        const std::string m = e.what();
        BOOST_TEST(m.find("value 7") != std::string::npos);
        BOOST_TEST(m.find("dense_0") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(lonely_batch_norm_is_rejected_with_its_name) {
    ec::Graph g = ec::Graph::with_input({4});
    auto bn = op_node(ec::Op::batch_norm);
    bn.name = "batch_norm_0";
    bn.extra.assign(16, 1.0f);
    g.append(bn, {0}, {4});
    try {
        ed::make_plan(g);
        BOOST_FAIL("expected config_error");
    } catch (const edgestack::config_error& e) {
        BOOST_TEST(std::string(e.what()).find("batch_norm_0") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(softmax_gets_the_fixed_parameters) {
    edgestack::Rng rng(6);
    ec::Graph g = ec::Graph::with_input({3});
    auto d = weight_node(ec::Op::dense, 9, 3, rng);
    d.name = "dense_0";
    int v = g.append(d, {0}, {3});
    auto s = op_node(ec::Op::softmax);
    s.name = "softmax_0";
    g.append(s, {v}, {3});
    std::vector<eq::Range> r(g.values.size(), eq::Range{-1.0f, 1.0f, true});
    r[2].valid = false; // softmax needs no observed range
    const auto q = ed::lower_int8(g, r, false);
    BOOST_TEST(q.value_quant[2].scale[0] == 1.0f / 256.0f);
    BOOST_TEST(q.value_quant[2].zero_point[0] == -128);
    BOOST_TEST(q.nodes[0].weight_quant.scale.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
