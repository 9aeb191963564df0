// Shared helpers of the backend tests: run an engine on a batch, compare with Reference.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/compile/passes.hpp"

namespace edgestack::test {

template <class Engine>
std::vector<float> run_engine(const Engine& e, const std::vector<float>& x) {
    const std::size_t batch = x.size() / e.input_size();
    std::vector<float> y(batch * e.output_size());
    auto arena = e.make_arena(batch);
    BOOST_REQUIRE(e.run(x, y, arena));
    return y;
}

/// fp32: within 1e-5 relative (of the larger magnitude, floor 1) of Reference.
inline void check_close(const std::vector<float>& got, const std::vector<float>& want) {
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        const float tol = 1e-5f * std::max({1.0f, std::abs(got[i]), std::abs(want[i])});
        if (std::abs(got[i] - want[i]) > tol)
            BOOST_FAIL("element " << i << ": " << got[i] << " vs reference " << want[i]);
    }
}

/// int8 engines: identical codes (hence identical dequantized floats).
inline void check_equal(const std::vector<float>& got, const std::vector<float>& want) {
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i]) BOOST_FAIL("element " << i << ": " << got[i] << " vs reference " << want[i]);
}

/// A residual network whose adds are followed by a relu and by a relu6, as in a ResNet
/// block: conv + relu, conv, add(a, b) -> relu, 1x1 conv, add -> relu6, global average pool,
/// dense. 7 x 5 x 12 = 420 values per add (not a multiple of 16: vector tails). The 1x1
/// conv's weights are large enough that the second add's sum passes 6, so relu6 clips it.
/// `blocked`: a 1x1 average pool (the identity, in int8 too: its multiplier is 1) sits
/// between each add and its activation, so compile::canonicalize cannot fuse them: the
/// unfused form, run as two steps. (Every engine runs it; XNNPACK refuses a 1x1 max pool.)
inline compile::Graph residual_relu(bool blocked = false) {
    using namespace backend::nets;
    using compile::Op;
    Rng rng(12);
    compile::Graph g = compile::Graph::with_input({7, 5, 6});
    const auto add = [&](int a, int b, Op act) {
        compile::Node n;
        n.op = Op::add;
        n.name = g.fresh_name(Op::add);
        int v = g.append(std::move(n), {a, b}, g.values.at(static_cast<std::size_t>(a)));
        if (blocked) v = pool(g, v, Op::avg_pool2d, 1, 1);
        return unary(g, v, act);
    };
    const int a = unary(g, conv2d(g, 0, 12, 3, rng), Op::relu);
    const int b = conv2d(g, a, 12, 3, rng);
    const int v = add(a, b, Op::relu);
    const int c = conv2d(g, v, 12, 1, rng);
    for (float& w : g.nodes.back().weights) w *= 4.0f;
    int y = add(v, c, Op::relu6);
    compile::Node gap;
    gap.op = Op::global_avg_pool;
    gap.name = "global_avg_pool_0";
    y = g.append(std::move(gap), {y}, {12});
    dense(g, y, 4, rng);
    return g;
}

/// `g` without its 1x1 stride-1 average pools, the identities residual_relu(true) put
/// between an add and its activation: an int8 graph quantized in that unfused form, whose
/// activations keep the add's parameters, can then be fused.
inline compile::Graph without_identity_pools(compile::Graph g) {
    for (std::size_t i = 0; i < g.nodes.size();) {
        const compile::Node& n = g.nodes[i];
        if (n.op == compile::Op::avg_pool2d && n.kernel == std::array<std::size_t, 2>{1, 1} &&
            n.stride == std::array<std::size_t, 2>{1, 1}) {
            compile::detail::redirect(g, n.output, n.inputs.at(0));
            g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            ++i;
        }
    }
    compile::compact(g);
    return g;
}

/// One network in the form the engines fuse and in the unfused form, the same function.
struct FusionCase {
    const char* what;          ///< for messages
    compile::Graph fused;      ///< add -> relu / relu6 adjacent: canonicalize fuses them
    compile::Graph unfused;    ///< the same with the activations as steps of their own
};

/// residual_relu in fp32, and in int8 quantized in its unfused form (the add's output keeps
/// the range it observed, negative sums and sums past 6 included, as a graph lowered by
/// quant::Qat does): the fused add's clamp is what turns those codes into the activation's.
inline std::vector<FusionCase> add_relu_cases() {
    std::vector<FusionCase> cases;
    cases.push_back({"fp32", residual_relu(false), residual_relu(true)});
    const auto calib = backend::nets::random_inputs(residual_relu(true), 8, 99);
    compile::Graph q = residual_relu(true);
    backend::nets::quantize_minmax(q, calib);
    cases.push_back({"int8", without_identity_pools(q), q});
    return cases;
}

/// Graphs exercising every op the engines run, one small network each.
inline std::vector<compile::Graph> op_zoo() {
    using namespace backend::nets;
    using compile::Op;
    std::vector<compile::Graph> zoo;
    zoo.push_back(cnn(3));
    zoo.push_back(ds_cnn(4));
    {   // odd sizes: 7 channels in, 19 out, stride 2, 5x5, avg pool, tails of every tile
        Rng rng(5);
        compile::Graph g = compile::Graph::with_input({11, 9, 7});
        int v = conv2d(g, 0, 19, 5, rng, 2);
        v = unary(g, v, Op::relu6);
        v = depthwise(g, v, 3, rng, 1);
        v = unary(g, v, Op::hard_swish);
        v = pool(g, v, Op::avg_pool2d, 2, 1);
        v = conv2d(g, v, 13, 3, rng, 1, false);
        v = unary(g, v, Op::sigmoid);
        v = flatten(g, v);
        v = dense(g, v, 33, rng);
        v = unary(g, v, Op::tanh);
        v = dense(g, v, 5, rng);
        unary(g, v, Op::softmax);
        zoo.push_back(std::move(g));
    }
    {   // residual add, leaky relu, global average pool
        Rng rng(6);
        compile::Graph g = compile::Graph::with_input({8, 8, 4});
        const int a = conv2d(g, 0, 16, 3, rng);
        int b = unary(g, a, Op::leaky_relu, 0.1f);
        b = conv2d(g, b, 16, 3, rng);
        compile::Node add;
        add.op = Op::add;
        add.name = "add_0";
        int v = g.append(std::move(add), {a, b}, {8, 8, 16});
        v = unary(g, v, Op::relu);
        compile::Node gap;
        gap.op = Op::global_avg_pool;
        gap.name = "global_avg_pool_0";
        v = g.append(std::move(gap), {v}, {16});
        dense(g, v, 3, rng);
        zoo.push_back(std::move(g));
    }
    {   // int8 vector tails: 5 x 7 x 21 = 735 values (not a multiple of 16) added, 21
        // channels (one full block of 16 and an overlapping one), a padded average pool whose
        // counts vary at the border, a global average pool
        Rng rng(7);
        compile::Graph g = compile::Graph::with_input({5, 7, 21});
        const int r = unary(g, 0, Op::relu6);
        compile::Node add;
        add.op = Op::add;
        add.name = "add_0";
        int v = g.append(std::move(add), {r, 0}, {5, 7, 21});
        v = pool(g, v, Op::avg_pool2d, 3, 2, {1, 1, 1, 1});
        compile::Node gap;
        gap.op = Op::global_avg_pool;
        gap.name = "global_avg_pool_0";
        g.append(std::move(gap), {v}, {21});
        zoo.push_back(std::move(g));
    }
    {   // fewer channels than one vector block: 7 added (5 x 3 x 7 = 105 values), pooled
        Rng rng(8);
        compile::Graph g = compile::Graph::with_input({5, 3, 7});
        const int r = unary(g, 0, Op::relu);
        compile::Node add;
        add.op = Op::add;
        add.name = "add_0";
        int v = g.append(std::move(add), {0, r}, {5, 3, 7});
        v = pool(g, v, Op::avg_pool2d, 2, 1);
        compile::Node gap;
        gap.op = Op::global_avg_pool;
        gap.name = "global_avg_pool_0";
        g.append(std::move(gap), {v}, {7});
        zoo.push_back(std::move(g));
    }
    {   // depthwise over 8 and 24 channels (the 8 past a block of 16 run two pixels at a
        // time), odd output widths, stride 2, 5x5
        Rng rng(9);
        compile::Graph g = compile::Graph::with_input({6, 7, 8});
        int v = depthwise(g, 0, 3, rng, 1);
        v = conv2d(g, v, 24, 1, rng);
        v = depthwise(g, v, 3, rng, 2);
        v = depthwise(g, v, 5, rng, 1);
        v = conv2d(g, v, 12, 1, rng);
        depthwise(g, v, 3, rng, 1);
        zoo.push_back(std::move(g));
    }
    {   // maps large enough that Simd reads them unpadded (an eighth or less of the pixels on
        // the border): a 3x3 convolution over 5 channels (not Winograd's), 3x3 depthwise over
        // 8 channels (two pixels a register at AVX-512) and 12 (a partial vector), stride 2
        // with padding only at the bottom and right, an odd count of inside columns; a
        // padded 3x3 average pool and a max pool whose inside pixels share one offset table
        Rng rng(10);
        compile::Graph g = compile::Graph::with_input({36, 35, 5});
        int v = conv2d(g, 0, 8, 3, rng, 1);
        v = depthwise(g, v, 3, rng, 1);
        v = conv2d(g, v, 12, 1, rng);
        v = depthwise(g, v, 3, rng, 1);
        v = depthwise(g, v, 3, rng, 2);
        v = pool(g, v, Op::avg_pool2d, 3, 1, {1, 1, 1, 1});
        v = pool(g, v, Op::max_pool2d, 3, 1);
        v = conv2d(g, v, 20, 3, rng, 2);
        compile::Node gap;
        gap.op = Op::global_avg_pool;
        gap.name = "global_avg_pool_0";
        g.append(std::move(gap), {v}, {20});
        zoo.push_back(std::move(g));
    }
    {   // the AVX-512 int8 depthwise layouts: 16 channels (two pixels a register) at stride
        // 1 (contiguous) and 2 (gathered from one 64-byte window), 8 channels at stride 2
        // (four pixels gathered), 43 channels (two registers a pixel, the second with one
        // real lane, and 3 channels left over), and 8 channels 3 pixels wide (fewer pixels
        // than a register holds); odd widths, so a row's last register overlaps; a padded
        // int8 max pool over 43 channels
        Rng rng(11);
        compile::Graph g = compile::Graph::with_input({11, 17, 16});
        int v = depthwise(g, 0, 3, rng, 1);
        v = depthwise(g, v, 3, rng, 2);
        v = conv2d(g, v, 8, 1, rng);
        v = depthwise(g, v, 3, rng, 2);
        v = conv2d(g, v, 43, 1, rng);
        v = depthwise(g, v, 3, rng, 1);
        v = pool(g, v, Op::max_pool2d, 3, 1, {1, 1, 1, 1}); // 43 channels: blocks of 16 overlap
        v = conv2d(g, v, 8, 1, rng);
        depthwise(g, v, 3, rng, 2);
        zoo.push_back(std::move(g));
    }
    zoo.push_back(residual_relu()); // add -> relu and add -> relu6, fused
    return zoo;
}

inline compile::Graph quantized(compile::Graph g, std::size_t samples = 8) {
    const auto calib = backend::nets::random_inputs(g, samples, 99);
    backend::nets::quantize_minmax(g, calib);
    return g;
}

} // namespace edgestack::test
