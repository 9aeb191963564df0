// The mul op unit end to end (compile/ops/mul.hpp): a PyTorch export with SiLU (Sigmoid then
// Mul of two tensors) and a gated dense layer imported with import_onnx_graph, run on every
// backend against ONNX Runtime and PyTorch, quantized and compared with ONNX Runtime running
// the same QDQ model, exported and read back, saved in a model file; its int8 arithmetic
// checked against the formula; mismatched shapes refused by name.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/io/model_file.hpp"
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_graph_import.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_checks.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

namespace {

/// a * b over two 2x3x4 inputs given side by side as one 2x3x8 input (split by two 1x1
/// convolutions that pick each half).
compile::Graph product_graph() {
    compile::Graph g = compile::Graph::with_input({2, 3, 8});
    auto pick = [&](std::size_t from, const char* name) {
        compile::Node c;
        c.op = compile::Op::conv2d;
        c.name = name;
        c.weights.assign(4 * 8, 0.0f);
        for (std::size_t o = 0; o < 4; ++o) c.weights[o * 8 + from + o] = 1.0f;
        c.bias.assign(4, 0.0f);
        return g.append(std::move(c), {0}, {2, 3, 4});
    };
    const int a = pick(0, "a"), b = pick(4, "b");
    compile::Node m;
    m.op = compile::Op::mul;
    m.name = "mul_0";
    g.append(std::move(m), {a, b}, {2, 3, 4});
    return g;
}

} // namespace

BOOST_AUTO_TEST_SUITE(op_mul)

BOOST_AUTO_TEST_CASE(silu_export_imports_and_matches_ort_and_pytorch, *utf::precondition(iotest::OrtPresent{})) {
    iotest::TempDir dir;
    const std::string model = dir.file("silu_cnn.onnx");
    iotest::write_text(model, iotest::fixture_bytes("silu_cnn.onnx"));
    const compile::Graph g = io::import_onnx_graph(model);
    const auto muls = std::count_if(g.nodes.begin(), g.nodes.end(), [](const compile::Node& n) { return n.op == compile::Op::mul; });
    BOOST_TEST(muls == 3, "two SiLUs and the gate read as mul nodes, got " << muls);
    iotest::check_network({"silu_cnn", "silu_cnn.onnx", {3, 12, 12}, true});
}

BOOST_AUTO_TEST_CASE(silu_export_quantized_matches_ort, *utf::precondition(iotest::OrtPresent{})) {
    iotest::check_quantized_network({"silu_cnn", "silu_cnn.onnx", {3, 12, 12}, true});
}

BOOST_AUTO_TEST_CASE(exports_to_onnx_and_reads_back, *utf::precondition(iotest::OrtPresent{})) {
    iotest::TempDir dir;
    const compile::Graph g = product_graph();
    io::export_onnx(dir.file("mul.onnx"), g);
    const auto x = iotest::random_floats(3 * g.input_size(), -2.0f, 2.0f, 3);
    const auto want = iotest::ort_run(dir.file("mul.onnx"), x, 3, g.input_shape(), dir);
    iotest::check_within(iotest::run_on(backend::Reference{}, g, x), want, "mul vs ONNX Runtime");
    for (std::size_t i = 0; i < 24; ++i) { // the first sample, by hand: a * b per element
        const std::size_t pos = i / 4, c = i % 4;
        BOOST_TEST(std::abs(want[i] - x[pos * 8 + c] * x[pos * 8 + 4 + c]) < 1e-5f);
    }
    const compile::Graph back = io::import_onnx_graph(dir.file("mul.onnx"));
    iotest::check_within(iotest::run_on(backend::Simd{}, back, x), want, "mul read back");

    io::save_model(dir.file("mul.esm"), g);
    const compile::Graph loaded = io::load_model(dir.file("mul.esm")).to_graph();
    iotest::check_within(iotest::run_on(backend::Simd{}, loaded, x), want, "mul from a model file");
}

BOOST_AUTO_TEST_CASE(int8_follows_the_formula) {
    compile::Graph g = product_graph();
    g.value_quant.resize(g.values.size());
    auto set = [&](int v, float s, std::int32_t zp) { g.value_quant[static_cast<std::size_t>(v)] = {{s}, {zp}, -1}; };
    set(0, 0.05f, 3);
    set(1, 0.05f, 3); // the picks keep the input's grid: weight 1 at scale 1/127 x 127
    set(2, 0.05f, 3);
    set(3, 0.02f, -7);
    for (int v : {1, 2}) {
        auto& n = g.nodes[static_cast<std::size_t>(v - 1)];
        n.qweights.assign(n.weights.size(), 0);
        for (std::size_t i = 0; i < n.weights.size(); ++i) n.qweights[i] = n.weights[i] != 0.0f ? 127 : 0;
        n.weight_quant = {{1.0f / 127.0f}, {0}, -1};
        n.qbias.assign(4, 0);
    }
    std::vector<std::int8_t> x(g.input_size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::int8_t>(static_cast<int>(i * 37 % 256) - 128);
    for (auto&& [name, y] : {std::pair{"reference", [&] {
                                 auto e = backend::Reference{}.compile(g);
                                 auto arena = e.make_arena(1);
                                 std::vector<std::int8_t> out(e.output_size());
                                 BOOST_REQUIRE(e.run_int8(x, out, arena));
                                 return out;
                             }()},
                             std::pair{"simd", [&] {
                                 auto e = backend::Simd{}.compile(g);
                                 auto arena = e.make_arena(1);
                                 std::vector<std::int8_t> out(e.output_size());
                                 BOOST_REQUIRE(e.run_int8(x, out, arena));
                                 return out;
                             }()}}) {
        const quant::Requant r = quant::quantize_multiplier(0.05 * 0.05 / 0.02);
        for (std::size_t i = 0; i < y.size(); ++i) {
            const std::size_t pos = i / 4, c = i % 4;
            const std::int32_t a = x[pos * 8 + c], b = x[pos * 8 + 4 + c];
            const std::int8_t want = quant::requantize((a - 3) * (b - 3), r, -7);
            BOOST_TEST(int{y[i]} == int{want}, name << " element " << i);
        }
    }
}

BOOST_AUTO_TEST_CASE(mismatched_shapes_are_refused_by_name) {
    compile::Graph g = compile::Graph::with_input({4});
    compile::Node d;
    d.op = compile::Op::dense;
    d.name = "wide";
    d.weights.assign(4 * 6, 0.5f);
    const int wide = g.append(std::move(d), {0}, {6});
    compile::Node m;
    m.op = compile::Op::mul;
    m.name = "bad_mul";
    g.append(std::move(m), {0, wide}, {4});
    try {
        (void)backend::Reference{}.compile(g);
        BOOST_ERROR("a product of a 4 and a 6 wide value compiled");
    } catch (const std::exception& e) {
        const std::string m = e.what();
        BOOST_TEST(m.find("'bad_mul' (mul)") != std::string::npos, m);
        BOOST_TEST(m.find("same shape") != std::string::npos, m);
    }
}

BOOST_AUTO_TEST_SUITE_END()
