#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <vector>

#include "common.hpp"
#include "edgestack/backend/compare.hpp"
#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/compile/passes.hpp"

using namespace edgestack;
using compile::Op;

BOOST_AUTO_TEST_SUITE(reference)

BOOST_AUTO_TEST_CASE(conv_matches_a_hand_computed_value) {
    compile::Graph g = compile::Graph::with_input({3, 3, 1});
    compile::Node n;
    n.op = Op::conv2d;
    n.name = "c";
    n.kernel = {3, 3};
    n.pad = {1, 1, 1, 1};
    n.weights.assign(9, 1.0f);
    n.bias = {0.5f};
    g.append(std::move(n), {0}, {3, 3, 1});
    backend::ReferenceEngine e(g);
    std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, y(9);
    BOOST_REQUIRE(e.run(x, y));
    BOOST_TEST(y[4] == 45.5f);            // centre: all nine
    BOOST_TEST(y[0] == 1 + 2 + 4 + 5 + 0.5f); // corner: padding reads zero
}

BOOST_AUTO_TEST_CASE(passes_preserve_the_function) {
    Rng rng(11);
    compile::Graph g = compile::Graph::with_input({6, 6, 3});
    int v = backend::nets::conv2d(g, 0, 8, 3, rng);
    compile::Node bn;
    bn.op = Op::batch_norm;
    bn.name = "bn";
    bn.alpha = 1e-3f;
    for (int i = 0; i < 32; ++i) bn.extra.push_back(i < 24 ? rng.uniform(-1, 1) : rng.uniform(0.5f, 2));
    v = g.append(std::move(bn), {v}, {6, 6, 8});
    compile::Node drop;
    drop.op = Op::dropout;
    drop.name = "drop";
    v = g.append(std::move(drop), {v}, {6, 6, 8});
    v = backend::nets::unary(g, v, Op::relu);
    backend::nets::dense(g, backend::nets::flatten(g, v), 4, rng);

    // Run the unfolded graph op by op: batch norm as an affine map, dropout as identity.
    compile::Graph raw = g;
    const auto x = backend::nets::random_inputs(g, 3);
    compile::Graph folded = g;
    const auto rep = compile::canonicalize(folded);
    BOOST_TEST(rep.batch_norm_folded == 1u);
    BOOST_TEST(rep.dropout_removed == 1u);
    BOOST_TEST(rep.activations_fused == 1u);
    BOOST_TEST(folded.nodes.size() == 3u); // conv(+bn+relu), flatten, dense
    BOOST_TEST((folded.nodes[0].fused == compile::Activation::relu));
    BOOST_TEST(compile::canonicalize(folded).activations_fused == 0u); // idempotent
    // Oracle: the reference's own batch-norm kernel on a graph the passes cannot fold
    // (a relu between conv and batch norm blocks folding).
    backend::ReferenceEngine e(folded);
    const auto y = test::run_engine(e, x);
    // Recompute by hand: conv, bn, relu, dense.
    const auto& c = g.nodes[0];
    const auto& b = g.nodes[1];
    const auto& d = g.nodes.back();
    for (std::size_t s = 0; s < 3; ++s) {
        std::vector<float> h(6 * 6 * 8);
        for (std::size_t oh = 0; oh < 6; ++oh)
            for (std::size_t ow = 0; ow < 6; ++ow)
                for (std::size_t o = 0; o < 8; ++o) {
                    float acc = c.bias[o];
                    for (std::size_t i = 0; i < 3; ++i)
                        for (std::size_t j = 0; j < 3; ++j) {
                            const long ih = long(oh + i) - 1, iw = long(ow + j) - 1;
                            if (ih < 0 || iw < 0 || ih >= 6 || iw >= 6) continue;
                            for (std::size_t ci = 0; ci < 3; ++ci)
                                acc += x[s * 108 + (std::size_t(ih) * 6 + std::size_t(iw)) * 3 + ci] *
                                       c.weights[((o * 3 + i) * 3 + j) * 3 + ci];
                        }
                    const float k = b.extra[o] / std::sqrt(b.extra[24 + o] + b.alpha);
                    const float v2 = (acc - b.extra[16 + o]) * k + b.extra[8 + o];
                    h[(oh * 6 + ow) * 8 + o] = v2 > 0 ? v2 : 0;
                }
        for (std::size_t o = 0; o < 4; ++o) {
            float acc = d.bias[o];
            for (std::size_t i = 0; i < h.size(); ++i) acc += h[i] * d.weights[o * h.size() + i];
            BOOST_TEST(std::abs(y[s * 4 + o] - acc) <= 1e-4f * std::max(1.0f, std::abs(acc)));
        }
    }
}

BOOST_AUTO_TEST_CASE(an_activation_after_an_add_is_fused) {
    compile::Graph g = test::residual_relu();
    const auto rep = compile::canonicalize(g);
    BOOST_TEST(rep.activations_fused == 3u); // the first conv's relu, and both adds'
    std::vector<compile::Activation> add_acts;
    for (const auto& n : g.nodes) {
        BOOST_TEST((n.op != Op::relu && n.op != Op::relu6), n.name << " was left unfused");
        if (n.op == Op::add) add_acts.push_back(n.fused);
    }
    BOOST_TEST((add_acts == std::vector{compile::Activation::relu, compile::Activation::relu6}));
    BOOST_TEST(compile::canonicalize(g).activations_fused == 0u); // idempotent
    compile::Graph blocked = test::residual_relu(true);
    BOOST_TEST(compile::canonicalize(blocked).activations_fused == 1u); // the conv's only

    // An add whose sum is also read elsewhere keeps its relu: the other reader needs the
    // sum before the activation.
    compile::Graph shared = compile::Graph::with_input({4, 4, 2});
    compile::Node add;
    add.op = Op::add;
    add.name = "add_0";
    const int sum = shared.append(add, {0, 0}, {4, 4, 2});
    const int r = backend::nets::unary(shared, sum, Op::relu);
    add.name = "add_1";
    shared.append(add, {r, sum}, {4, 4, 2});
    BOOST_TEST(compile::canonicalize(shared).activations_fused == 0u);
    BOOST_TEST(shared.nodes.size() == 3u);
}

// The oracle is the unfused graph on Reference: the add and the activation as two steps,
// each its own unit's reference kernel. In int8 the add's output keeps the parameters it
// observed before the activation, so its clamp to [max(-128, zp), 127], and to the code
// of 6.0, is what makes the codes the activation's.
BOOST_AUTO_TEST_CASE(a_fused_add_computes_the_unfused_graph) {
    for (const auto& c : test::add_relu_cases()) {
        BOOST_TEST_CONTEXT(c.what) {
            const auto x = backend::nets::random_inputs(c.unfused, 6, 23);
            const backend::ReferenceEngine fused(c.fused), unfused(c.unfused);
            // unfused: two identity pools and two activations more
            BOOST_TEST(fused.program().steps.size() + 4 == unfused.program().steps.size());
            if (!fused.int8()) {
                test::check_close(test::run_engine(fused, x), test::run_engine(unfused, x));
                continue;
            }
            test::check_equal(test::run_engine(fused, x), test::run_engine(unfused, x));
            std::vector<compile::ops::Rescale> adds;
            for (const auto& s : fused.program().steps)
                if (s.op == Op::add) adds.push_back(s.get<compile::ops::Rescale>());
            BOOST_REQUIRE_EQUAL(adds.size(), 2u);
            BOOST_TEST(adds[0].lo > -128); // relu: a real clamp, not the int8 range
            BOOST_TEST(adds[0].hi == 127);
            BOOST_TEST(adds[1].lo > -128); // relu6
            BOOST_TEST(adds[1].hi < 127);
        }
    }
}

BOOST_AUTO_TEST_CASE(memory_plan_never_overlaps_live_values) {
    for (auto g : test::op_zoo()) {
        compile::canonicalize(g);
        const auto plan = compile::plan_memory(g, [](int) { return std::size_t{4}; },
                                               [](const compile::Node& n) { return n.op == Op::flatten; });
        std::size_t sum = 0;
        for (const auto& d : g.values) sum += compile::align_up(compile::volume(d) * 4);
        BOOST_TEST(plan.bytes_per_sample < sum); // buffers are reused
        // Every node's inputs and output are disjoint, and no value still to be read is
        // overwritten by a node before its last reader.
        std::vector<std::size_t> last(g.values.size(), 0);
        for (std::size_t s = 0; s < g.nodes.size(); ++s)
            for (int v : g.nodes[s].inputs) last[std::size_t(v)] = s;
        for (std::size_t s = 0; s < g.nodes.size(); ++s) {
            const auto o = std::size_t(g.nodes[s].output);
            if (g.nodes[s].op == Op::flatten) continue;
            const std::size_t ob = plan.offset[o], oe = ob + compile::volume(g.values[o]) * 4;
            for (std::size_t v = 0; v < g.values.size(); ++v) {
                if (v == o || last[v] < s) continue;
                bool defined_before = v == 0;
                for (std::size_t t = 0; t < s; ++t) defined_before |= std::size_t(g.nodes[t].output) == v;
                if (!defined_before) continue;
                const std::size_t vb = plan.offset[v], ve = vb + compile::volume(g.values[v]) * 4;
                BOOST_TEST((oe <= vb || ve <= ob), "node " << g.nodes[s].name << " overwrites live value " << v);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(static_arena_bound_is_a_constant) {
    constexpr std::array<std::size_t, 3> chain{400, 100, 400};
    static_assert(compile::chain_arena_bytes(chain) == 448 + 128); // first and last share
    BOOST_TEST(compile::chain_arena_bytes(chain) == 576u);
}

BOOST_AUTO_TEST_CASE(int8_tracks_fp32_layer_by_layer) {
    // The int8 reference against the fp32 reference of the same graph, layer by layer:
    // the first conv within two output steps (input rounding plus one requantization),
    // every layer's rms error under two steps (random weights, min/max calibration).
    auto g = backend::nets::cnn(3);
    const auto x = backend::nets::random_inputs(g, 4, 1234);
    const backend::ReferenceEngine fe(g);
    const auto q = test::quantized(g);
    const backend::ReferenceEngine qe(q);
    BOOST_TEST(qe.int8());
    const auto cmp = backend::compare_layers(fe, qe, x, {1e-6, 0.0, 2.0});
    BOOST_REQUIRE_EQUAL(cmp.layers.size(), 7u);
    BOOST_TEST(cmp.layers[0].name == "conv2d_0");
    BOOST_TEST(!cmp.layers[0].exceeds, cmp.table());
    for (const auto& l : cmp.layers) BOOST_TEST(l.rms < 2 * l.step, cmp.table());
}

BOOST_AUTO_TEST_CASE(comparison_names_the_first_divergent_layer) {
    auto g = backend::nets::cnn(3);
    auto broken = g;
    broken.nodes[7].weights[5] += 0.5f; // dense_0
    const backend::ReferenceEngine a(g), b(broken);
    const auto x = backend::nets::random_inputs(g, 2);
    const auto cmp = backend::compare_layers(a, b, x);
    BOOST_REQUIRE(cmp.first() != nullptr);
    BOOST_TEST(cmp.first()->name == "dense_0");
    BOOST_TEST(cmp.layers[0].max_abs == 0.0);
    BOOST_TEST(cmp.table().find("<- first beyond tolerance") != std::string::npos);
    BOOST_TEST(backend::compare_layers(a, a, x).first() == nullptr);
}

BOOST_AUTO_TEST_CASE(int8_requantizes_with_the_shared_arithmetic) {
    // One dense unit: acc = qbias + sum (x - zp) w, then quant::requantize.
    compile::Graph g = compile::Graph::with_input({3});
    compile::Node n;
    n.op = Op::dense;
    n.name = "d";
    n.weights = {0.1f, -0.2f, 0.3f};
    n.bias = {0.0f};
    n.qweights = {42, -85, 127};
    n.qbias = {-17};
    n.weight_quant = {{0.3f / 127}, {0}, 0};
    n.fused = compile::Activation::relu;
    g.append(std::move(n), {0}, {1});
    g.value_quant = {{{0.02f}, {-5}, -1}, {{0.05f}, {3}, -1}};
    backend::ReferenceEngine e(g);
    const std::vector<std::int8_t> x{100, -128, 7};
    std::vector<std::int8_t> y(1);
    auto arena = e.make_arena(1);
    BOOST_REQUIRE(e.run_int8(x, y, arena));
    const std::int32_t acc = -17 + (100 + 5) * 42 + (-128 + 5) * -85 + (7 + 5) * 127;
    const auto r = quant::quantize_multiplier(double(0.02f) * double(0.3f / 127) / double(0.05f));
    BOOST_TEST(int(y[0]) == int(quant::requantize(acc, r, 3, 3, 127)));
}

BOOST_AUTO_TEST_CASE(bad_graphs_name_the_node) {
    auto g = backend::nets::cnn(1);
    g.nodes[3].weights.pop_back();
    try {
        backend::ReferenceEngine e(g);
        BOOST_FAIL("accepted a conv with a missing weight");
    } catch (const shape_error& e) {
        BOOST_TEST(std::string(e.what()).find("conv2d_1") != std::string::npos, e.what());
    }
    auto q = test::quantized(backend::nets::cnn(1));
    q.value_quant[2].scale.clear();
    BOOST_CHECK_THROW(backend::ReferenceEngine{q}, config_error);
    auto q2 = test::quantized(backend::nets::cnn(1));
    q2.nodes[0].weight_quant.zero_point[0] = 1;
    try {
        backend::ReferenceEngine e(q2);
        BOOST_FAIL("accepted asymmetric weights");
    } catch (const config_error& e) {
        BOOST_TEST(std::string(e.what()).find("conv2d_0") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(run_rejects_wrong_sizes) {
    backend::ReferenceEngine e(backend::nets::cnn(1));
    auto arena = e.make_arena(2);
    std::vector<float> x(784 * 3), y(30);
    BOOST_TEST(!e.run(x, y, arena)); // more samples than the arena holds
    x.resize(784 * 2 - 1);
    y.resize(20);
    BOOST_TEST(!e.run(x, y, arena)); // ragged
    x.resize(784 * 2);
    y.resize(19);
    BOOST_TEST(!e.run(x, y, arena)); // short output
    y.resize(20);
    BOOST_TEST(e.run(x, y, arena));
}

BOOST_AUTO_TEST_SUITE_END()
