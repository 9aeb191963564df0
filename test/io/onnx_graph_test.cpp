// ONNX import into a graph: five PyTorch exports (test/fixtures/make_pytorch_exports.py)
// imported with import_onnx_graph, compiled on every backend, and compared with ONNX
// Runtime on the same random inputs and with PyTorch's own output; hand-written models for
// the attribute forms PyTorch does not write; refusals named by node; damaged files refused.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#include "edgestack/data/detail/byte_reader.hpp"
#include "edgestack/io/model_file.hpp"
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_graph_import.hpp"
#include "edgestack/nn/nn.hpp"
#include "edgestack/quant/graph_ptq.hpp"
#include "backend/common.hpp"
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_checks.hpp"
#include "pytorch_exports.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

namespace {

using iotest::check_backends;
using iotest::check_within;
using iotest::check_network;
using iotest::check_quantized_network;
using iotest::fixture_bytes;
using iotest::fixtures;
using iotest::nchw_to_nhwc;
using iotest::run_on;

/// A hand-written ONNX model, for the operator forms PyTorch does not write.
struct Model {
    onnx::ModelProto m;
    onnx::GraphProto* g;
    unsigned seed = 100;

    Model(std::int64_t opset, std::vector<std::int64_t> input) : g(m.mutable_graph()) {
        m.set_ir_version(7);
        auto* o = m.add_opset_import();
        o->set_domain("");
        o->set_version(opset);
        g->set_name("test");
        auto* in = g->add_input();
        in->set_name("x");
        auto* t = in->mutable_type()->mutable_tensor_type();
        t->set_elem_type(onnx::TensorProto::FLOAT);
        t->mutable_shape()->add_dim()->set_dim_param("N");
        for (auto d : input) t->mutable_shape()->add_dim()->set_dim_value(d);
    }
    onnx::NodeProto& node(const std::string& op, std::vector<std::string> ins, const std::string& out) {
        auto* n = g->add_node();
        n->set_op_type(op);
        n->set_name(out);
        for (auto& i : ins) n->add_input(i);
        n->add_output(out);
        return *n;
    }
    /// A float initializer of random values in [lo, hi].
    std::string init(const std::string& name, std::vector<std::int64_t> dims, float lo = -0.5f, float hi = 0.5f) {
        std::size_t n = 1;
        for (auto d : dims) n *= static_cast<std::size_t>(d);
        return init(name, dims, iotest::random_floats(n, lo, hi, seed++));
    }
    std::string init(const std::string& name, std::vector<std::int64_t> dims, const std::vector<float>& v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (auto d : dims) t->add_dims(d);
        for (float x : v) t->add_float_data(x);
        return name;
    }
    std::string init_i64(const std::string& name, std::vector<std::int64_t> v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(static_cast<std::int64_t>(v.size()));
        for (auto x : v) t->add_int64_data(x);
        return name;
    }
    void output(const std::string& name) {
        auto* o = g->add_output();
        o->set_name(name);
        o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    }
    std::string save(const iotest::TempDir& dir, const std::string& name) const {
        std::string b;
        BOOST_REQUIRE(m.SerializeToString(&b));
        iotest::write_text(dir.file(name), b);
        return dir.file(name);
    }
    compile::Graph import() const {
        std::string b;
        BOOST_REQUIRE(m.SerializeToString(&b));
        return io::import_onnx_graph_bytes(std::as_bytes(std::span(b.data(), b.size())), "test.onnx");
    }
};

void ints(onnx::NodeProto& n, const std::string& name, std::vector<std::int64_t> v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
}
void one_int(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
}
void one_float(onnx::NodeProto& n, const std::string& name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
}
void text(onnx::NodeProto& n, const std::string& name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
}

/// Imports `m`, runs it against ONNX Runtime on every backend; `spatial_out` (C, H, W) when
/// the output is N x C x H x W, which ours gives as NHWC.
void check_model(const Model& m, const std::string& name, const std::vector<std::size_t>& in_chw,
                 const std::vector<std::size_t>& spatial_out = {}) {
    iotest::TempDir dir;
    const auto path = m.save(dir, name + ".onnx");
    const auto g = io::import_onnx_graph(path);
    constexpr std::size_t N = 3;
    const auto x = iotest::random_floats(N * g.input_size(), -2.0f, 2.0f, 23);
    auto want = iotest::ort_run(path, x, N, in_chw, dir);
    if (!spatial_out.empty()) want = nchw_to_nhwc(want, N, spatial_out[0], spatial_out[1], spatial_out[2]);
    check_backends(g, in_chw.size() == 3 ? nchw_to_nhwc(x, N, in_chw[0], in_chw[1], in_chw[2]) : x, want, name);
}

} // namespace

BOOST_AUTO_TEST_SUITE(onnx_graph_import)

// Opset 10: Clip and Pad with attributes, auto_pad both ways, Pad folded into a conv and
// into a max pool over non-negative values, average pools counting their padding or not,
// Gemm with transB = 0, alpha and beta, MatMul + Add, LeakyRelu, Tanh, Softmax.
BOOST_AUTO_TEST_CASE(attribute_forms_of_opset_10, *utf::precondition(iotest::OrtPresent{})) {
    Model m(10, {3, 11, 9});
    ints(m.node("Conv", {"x", m.init("w1", {6, 3, 3, 3})}, "c1"), "strides", {2, 2});
    text(m.g->mutable_node(0)[0], "auto_pad", "SAME_UPPER");
    auto& clip = m.node("Clip", {"c1"}, "r1");
    one_float(clip, "min", 0.0f);
    one_float(clip, "max", 6.0f);
    auto& dw = m.node("Conv", {"r1", m.init("w2", {6, 1, 2, 3}), m.init("b2", {6})}, "c2");
    one_int(dw, "group", 6);
    text(dw, "auto_pad", "SAME_LOWER");
    one_float(m.node("LeakyRelu", {"c2"}, "l2"), "alpha", 0.2f);
    ints(m.node("Pad", {"l2"}, "p3"), "pads", {0, 0, 1, 0, 0, 0, 2, 1});
    ints(m.node("Conv", {"p3", m.init("w3", {5, 6, 3, 2})}, "c3"), "pads", {0, 1, 1, 0});
    m.node("Relu", {"c3"}, "r3");
    auto& p4 = m.node("Pad", {"r3"}, "p4");
    ints(p4, "pads", {0, 0, 1, 1, 0, 0, 1, 1});
    auto& mp = m.node("MaxPool", {"p4"}, "m4");
    ints(mp, "kernel_shape", {3, 3});
    ints(mp, "strides", {1, 1});
    auto& ap = m.node("AveragePool", {"m4"}, "a5");
    ints(ap, "kernel_shape", {2, 3});
    ints(ap, "pads", {1, 1, 0, 1});
    one_int(ap, "count_include_pad", 1);
    auto& ap2 = m.node("AveragePool", {"a5"}, "a6");
    ints(ap2, "kernel_shape", {3, 2});
    ints(ap2, "pads", {1, 0, 1, 1});
    m.node("Flatten", {"a6"}, "f");
    auto& gemm = m.node("Gemm", {"f", m.init("w7", {8 * 6 * 5, 8}), m.init("b7", {1, 8})}, "d7");
    one_float(gemm, "alpha", 0.5f);
    one_float(gemm, "beta", 2.0f);
    m.node("Tanh", {"d7"}, "t7");
    m.node("MatMul", {"t7", m.init("w8", {8, 4})}, "d8");
    m.node("Add", {"d8", m.init("b8", {4})}, "e8");
    m.node("Softmax", {"e8"}, "y");
    m.output("y");
    check_model(m, "opset10", {3, 11, 9});
}

// Opset 17: Clip bounds as inputs, HardSigmoid * x as HardSwish (how our own exporter and
// older exporters write it), a channel softmax, a spatial output (NHWC on our side), and a
// Flatten of NCHW features into a batch norm and a Gemm (parameters permuted to (h, w, c)).
BOOST_AUTO_TEST_CASE(opset_17_forms_and_spatial_output, *utf::precondition(iotest::OrtPresent{})) {
    Model m(17, {2, 6, 5});
    ints(m.node("Conv", {"x", m.init("w1", {4, 2, 3, 3}), m.init("b1", {4})}, "c1"), "pads", {1, 1, 1, 1});
    m.init("zero", {}, std::vector<float>{0.0f});
    m.init("six", {}, std::vector<float>{6.0f});
    m.node("Clip", {"c1", "zero", "six"}, "r1");
    auto& hs = m.node("HardSigmoid", {"r1"}, "g1");
    one_float(hs, "alpha", 1.0f / 6.0f);
    one_float(hs, "beta", 0.5f);
    m.node("Mul", {"r1", "g1"}, "h1");
    m.node("Sigmoid", {"h1"}, "s1");
    m.node("Softmax", {"s1"}, "y1");
    one_int(m.g->mutable_node(m.g->node_size() - 1)[0], "axis", 1);
    m.node("Flatten", {"y1"}, "f");
    m.node("BatchNormalization", {"f", m.init("bn_s", {120}, 0.5f, 1.5f), m.init("bn_b", {120}),
                                  m.init("bn_m", {120}), m.init("bn_v", {120}, 0.5f, 1.5f)}, "bn");
    one_int(m.node("Gemm", {"bn", m.init("w2", {3, 120}), m.init("b2", {3})}, "y"), "transB", 1);
    m.output("y");
    check_model(m, "opset17", {2, 6, 5});

    Model s(17, {2, 6, 5});
    ints(s.node("Conv", {"x", s.init("w1", {4, 2, 3, 3})}, "c1"), "strides", {2, 1});
    s.node("HardSwish", {"c1"}, "h");
    s.node("Softmax", {"h"}, "y");
    one_int(s.g->mutable_node(2)[0], "axis", 1);
    s.output("y");
    check_model(s, "spatial_output", {2, 6, 5}, {4, 2, 3});
}

BOOST_AUTO_TEST_CASE(our_exports_import_back) {
    // Our exporter keeps an NHWC interface (Transpose after the input, before Flatten and
    // the output) and writes HardSwish as HardSigmoid * x: all of it reads back.
    for (const auto& g : test::op_zoo()) {
        const auto m = io::to_onnx(g);
        std::string b;
        BOOST_REQUIRE(m.SerializeToString(&b));
        const auto back = io::import_onnx_graph_bytes(std::as_bytes(std::span(b.data(), b.size())), "ours.onnx");
        BOOST_TEST(back.input_shape() == g.input_shape());
        const auto x = backend::nets::random_inputs(g, 3);
        check_within(run_on(backend::Reference{}, back, x), run_on(backend::Reference{}, g, x), "round trip");
    }
}

BOOST_AUTO_TEST_CASE(our_int8_exports_import_as_int8) {
    // QDQ: every value's QuantizeLinear/DequantizeLinear pair becomes its value_quant, int8
    // weights behind a DequantizeLinear their qweights, int32 biases their qbias: the
    // imported graph runs integer-only and gives the same codes as the original.
    for (const auto& g : test::op_zoo()) {
        const auto q = test::quantized(g);
        const auto m = io::to_onnx(q);
        std::string b;
        BOOST_REQUIRE(m.SerializeToString(&b));
        const auto back = io::import_onnx_graph_bytes(std::as_bytes(std::span(b.data(), b.size())), "ours8.onnx");
        BOOST_TEST(!back.value_quant.empty());
        const auto x = backend::nets::random_inputs(q, 5);
        test::check_equal(run_on(backend::Reference{}, back, x), run_on(backend::Reference{}, q, x));
    }
}

BOOST_AUTO_TEST_CASE(qdq_import_matches_onnx_runtime, *utf::precondition(iotest::OrtPresent{})) {
    // The int8 CNN as a QDQ file, run by ONNX Runtime as the operators define it (level
    // "basic"), and imported and run by our int8 engines: within one output step.
    const auto q = test::quantized(test::op_zoo().front());
    iotest::TempDir dir;
    io::export_onnx(dir.file("q.onnx"), q);
    const auto g = io::import_onnx_graph(dir.file("q.onnx"));
    const auto x = backend::nets::random_inputs(g, 4);
    const auto want = iotest::ort_run(dir.file("q.onnx"), x, 4, g.input_shape(), dir, "basic");
    const float step = g.value_quant.at(static_cast<std::size_t>(g.output)).scale.at(0);
    for (const auto& y : {run_on(backend::Reference{}, g, x), run_on(backend::Simd{}, g, x)}) {
        BOOST_REQUIRE_EQUAL(y.size(), want.size());
        float worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - want[i]));
        BOOST_TEST(worst <= step * 1.001f, "max difference " << worst << " > one step " << step);
        BOOST_TEST_MESSAGE("int8 QDQ import vs ONNX Runtime: max difference " << worst / step << " output steps");
    }
}

BOOST_AUTO_TEST_CASE(unsupported_ops_are_refused_by_name) {
    auto concat = [] {
        Model m(13, {2, 4, 4});
        ints(m.node("Conv", {"x", m.init("w1", {3, 2, 1, 1})}, "c1"), "strides", {1, 1});
        auto& c = m.node("Concat", {"x", "c1"}, "joined");
        one_int(c, "axis", 2);
        m.output("joined");
        return m.import();
    };
    BOOST_CHECK_EXCEPTION(concat(), format_error,
                          iotest::message_has("node 1 'joined' (Concat): axis 2: only a concat along the channels"));
    auto unknown = [] {
        Model m(13, {8});
        m.node("Erf", {"x"}, "y");
        m.output("y");
        return m.import();
    };
    BOOST_CHECK_EXCEPTION(unknown(), format_error, [](const format_error& e) {
        const std::string s = e.what();
        return s.find("node 0 'y' (Erf)") != std::string::npos &&
               s.find("operator Erf has no counterpart in the graph") != std::string::npos &&
               s.find("supported: Conv, Gemm") != std::string::npos;
    });
    auto scale = [] {
        Model m(13, {8});
        m.node("Mul", {"x", m.init("k", {3})}, "y");
        m.output("y");
        return m.import();
    };
    BOOST_CHECK_EXCEPTION(scale(), format_error,
                          iotest::message_has("'y' (Mul): a constant of shape [3] is not one value per channel (8)"));
    auto clip = [] {
        Model m(13, {8});
        m.init("lo", {}, std::vector<float>{-1.0f});
        m.init("hi", {}, std::vector<float>{1.0f});
        m.node("Clip", {"x", "lo", "hi"}, "y");
        m.output("y");
        return m.import();
    };
    BOOST_CHECK_EXCEPTION(clip(), format_error, iotest::message_has("only Clip(0, 6) (ReLU6)"));
    auto padded_max = [] {
        // Zero padding can win over negative inputs in ONNX; our max pool never lets it.
        Model m(13, {2, 4, 4});
        m.init_i64("pads", {0, 0, 1, 1, 0, 0, 1, 1});
        m.node("Pad", {"x", "pads"}, "p");
        ints(m.node("MaxPool", {"p"}, "y"), "kernel_shape", {3, 3});
        m.output("y");
        return m.import();
    };
    BOOST_CHECK_EXCEPTION(padded_max(), format_error, iotest::message_has("'y' (MaxPool): a MaxPool after a zero Pad"));
    auto broadcast = [] {
        Model m(13, {2, 4, 4});
        ints(m.node("Conv", {"x", m.init("w1", {1, 2, 1, 1})}, "c1"), "strides", {1, 1});
        ints(m.node("Conv", {"x", m.init("w2", {2, 2, 1, 1})}, "c2"), "strides", {1, 1});
        m.node("Add", {"c1", "c2"}, "y");
        m.output("y");
        return m.import();
    };
    BOOST_CHECK_EXCEPTION(broadcast(), format_error, iotest::message_has("broadcasting is not supported"));
}

BOOST_AUTO_TEST_CASE(damaged_files_are_refused) {
    const std::string good = fixture_bytes("resnet.onnx");
    auto import = [](const std::string& b) {
        return io::import_onnx_graph_bytes(std::as_bytes(std::span(b.data(), b.size())), "damaged.onnx");
    };
    BOOST_CHECK_NO_THROW(import(good));
    // Truncated anywhere: an error, never a crash.
    for (std::size_t cut = 0; cut < good.size(); cut += 997)
        BOOST_CHECK_THROW(import(good.substr(0, cut)), edgestack::error);
    BOOST_CHECK_EXCEPTION(import(good.substr(0, good.size() / 2)), format_error,
                          iotest::message_has("damaged.onnx"));
    // A weight whose data is shorter than its shape.
    onnx::ModelProto m;
    BOOST_REQUIRE(m.ParseFromString(good));
    auto* w = m.mutable_graph()->mutable_initializer(0);
    w->mutable_raw_data()->resize(w->raw_data().size() - 4);
    std::string b;
    BOOST_REQUIRE(m.SerializeToString(&b));
    BOOST_CHECK_EXCEPTION(import(b), format_error, iotest::message_has("bytes of data, its shape needs"));
    // A weight whose shape does not fit the input's channels.
    BOOST_REQUIRE(m.ParseFromString(good));
    for (auto& t : *m.mutable_graph()->mutable_initializer())
        if (t.name() == "stem.0.weight") {
            t.set_dims(1, 2);
            t.mutable_raw_data()->resize(t.raw_data().size() / 3 * 2);
        }
    BOOST_REQUIRE(m.SerializeToString(&b));
    BOOST_CHECK_EXCEPTION(import(b), format_error, iotest::message_has("(Conv): weight expects 2 input channels, the input has 3"));
}

BOOST_AUTO_TEST_CASE(small_files_cannot_claim_huge_tensors) {
    // One 64 x 64 weight read by 5,000 convolutions: each node would own a copy.
    Model shared(13, {64, 4, 4});
    shared.init("w", {64, 64, 1, 1});
    std::string x = "x";
    for (int i = 0; i < 5000; ++i) {
        const std::string y = std::string("c").append(std::to_string(i));
        shared.node("Conv", {x, "w"}, y);
        x = y;
    }
    shared.output(x);
    BOOST_CHECK_EXCEPTION(shared.import(), format_error, iotest::message_has("more tensor data than its file holds"));
    // A constant doubled by Concat 40 times.
    Model doubling(13, {4});
    std::string c = doubling.init_i64("c0", {1, 2, 3, 4});
    for (int i = 1; i <= 40; ++i) {
        const std::string d = std::string("c").append(std::to_string(i));
        one_int(doubling.node("Concat", {c, c}, d), "axis", 0);
        c = d;
    }
    doubling.node("Relu", {"x"}, "y");
    doubling.output("y");
    BOOST_CHECK_EXCEPTION(doubling.import(), format_error, iotest::message_has("(Concat): the model would need more"));
}

BOOST_AUTO_TEST_CASE(concat_and_constant_arithmetic, *utf::precondition(iotest::OrtPresent{})) {
    // Concat along the channels of two, then three tensors; Mul and Add by a constant per
    // channel standalone (an affine map) and after a Conv (folded into it); a flat Concat of
    // two Gemm outputs; a scalar Mul.
    Model m(13, {2, 6, 6});
    auto& c1 = m.node("Conv", {"x", m.init("w1", {3, 2, 3, 3}), m.init("b1", {3})}, "c1");
    ints(c1, "pads", {1, 1, 1, 1});
    auto& j = m.node("Concat", {"x", "c1"}, "j");
    one_int(j, "axis", 1);
    m.node("Relu", {"j"}, "r");
    m.node("Mul", {m.init("k", {1, 5, 1, 1}, -1.5f, 1.5f), "r"}, "m");
    m.node("Add", {"m", m.init("s", {5, 1, 1})}, "a");
    auto& c2 = m.node("Conv", {"a", m.init("w2", {4, 5, 1, 1})}, "c2");
    ints(c2, "strides", {1, 1});
    m.node("Mul", {"c2", m.init("k2", {4, 1, 1}, 0.5f, 2.0f)}, "m2");
    auto& j3 = m.node("Concat", {"m2", "a", "c1"}, "j3");
    one_int(j3, "axis", -3);
    m.node("GlobalAveragePool", {"j3"}, "gap");
    one_int(m.node("Flatten", {"gap"}, "f"), "axis", 1);
    one_int(m.node("Gemm", {"f", m.init("g1", {6, 12}), m.init("g1b", {6})}, "d1"), "transB", 1);
    one_int(m.node("Gemm", {"f", m.init("g2", {5, 12})}, "d2"), "transB", 1);
    auto& jf = m.node("Concat", {"d1", "d2"}, "jf");
    one_int(jf, "axis", 1);
    m.node("Mul", {"jf", m.init("half", {}, std::vector<float>{0.5f})}, "y");
    m.output("y");
    const auto g = m.import();
    std::size_t concats = 0;
    for (const auto& n : g.nodes) concats += n.op == compile::Op::concat;
    BOOST_TEST(concats == 4u); // the three-way Concat is two
    check_model(m, "concat", {2, 6, 6});
}

BOOST_AUTO_TEST_CASE(quantized_concat_matches_onnx_runtime, *utf::precondition(iotest::OrtPresent{})) {
    // Concat of branches with different ranges: each input is requantized onto the output's
    // grid. Calibrated by GraphPtq, exported as QDQ and run by ONNX Runtime.
    Model m(13, {3, 8, 8});
    auto& a = m.node("Conv", {"x", m.init("wa", {4, 3, 3, 3}), m.init("ba", {4})}, "ca");
    ints(a, "pads", {1, 1, 1, 1});
    m.node("Relu", {"ca"}, "ra");
    auto& b = m.node("Conv", {"x", m.init("wb", {2, 3, 1, 1}, -2.0f, 2.0f)}, "cb");
    ints(b, "strides", {1, 1});
    m.node("Mul", {"cb", m.init("kb", {2, 1, 1}, 0.5f, 3.0f)}, "mb");
    auto& j = m.node("Concat", {"ra", "mb"}, "j");
    one_int(j, "axis", 1);
    m.node("GlobalAveragePool", {"j"}, "gap");
    one_int(m.node("Flatten", {"gap"}, "f"), "axis", 1);
    one_int(m.node("Gemm", {"f", m.init("g1", {4, 6}), m.init("g1b", {4})}, "d1"), "transB", 1);
    one_int(m.node("Gemm", {"f", m.init("g2", {3, 6})}, "d2"), "transB", 1);
    auto& jf = m.node("Concat", {"d1", "d2"}, "y");
    one_int(jf, "axis", 1);
    m.output("y");
    iotest::TempDir dir;
    const auto g = io::import_onnx_graph(m.save(dir, "concat.onnx"));
    const auto q = quant::quantize_graph(g, iotest::random_floats(64 * g.input_size(), -1.0f, 1.0f, 3));
    std::size_t concats = 0;
    for (const auto& n : q.nodes) concats += n.op == compile::Op::concat;
    BOOST_TEST(concats == 2u);
    io::save_model(dir.file("q.esm"), q); // the deployment file keeps the op
    iotest::check_same_graph(io::load_model(dir.file("q.esm")).to_graph(), q);
    io::export_onnx(dir.file("q.onnx"), q);
    const auto x = iotest::random_floats(4 * g.input_size(), -1.0f, 1.0f, 8);
    const auto want = iotest::ort_run(dir.file("q.onnx"), x, 4, q.input_shape(), dir, "basic");
    const float step = q.value_quant.at(static_cast<std::size_t>(q.output)).scale.at(0);
    for (const auto& y : {run_on(backend::Reference{}, q, x), run_on(backend::Simd{}, q, x)}) {
        BOOST_REQUIRE_EQUAL(y.size(), want.size());
        float worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - want[i]));
        BOOST_TEST(worst <= step * 1.001f, "max difference " << worst / step << " steps");
        BOOST_TEST_MESSAGE("int8 concat vs ONNX Runtime: " << worst / step << " output steps");
    }
}

BOOST_AUTO_TEST_CASE(resnet_with_batch_norm_nodes, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"resnet", "resnet.onnx", {3, 16, 16}, true});
}

BOOST_AUTO_TEST_CASE(keyword_spotting_ds_cnn, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"ds_cnn", "ds_cnn.onnx", {1, 49, 10}, true});
}

BOOST_AUTO_TEST_CASE(mobilenet_at_camera_resolution, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"mobilenet", "mobilenet.onnx", {3, 96, 96}, true});
}

BOOST_AUTO_TEST_CASE(dense_autoencoder, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"autoencoder", "autoencoder.onnx", {64}, true});
}

#if defined(EDGESTACK_HAS_GZIP) // the fixture is gzip-compressed
BOOST_AUTO_TEST_CASE(reference_cnn_with_fixed_batch, *utf::precondition(iotest::OrtPresent{})) {
    check_network({"reference_cnn", "reference_cnn.onnx.gz", {1, 28, 28}, false});
}
#endif

BOOST_AUTO_TEST_CASE(pytorch_layout_becomes_nhwc) {
    // The stem's 10x4 stride-2 conv padded (5, 1): weights re-laid out, geometry kept.
    const std::string b = fixture_bytes("ds_cnn.onnx");
    const auto g = io::import_onnx_graph_bytes(std::as_bytes(std::span(b.data(), b.size())), "ds_cnn.onnx");
    BOOST_TEST(g.input_shape() == (compile::Dims{49, 10, 1}));
    const auto& stem = g.nodes.at(0);
    BOOST_TEST((stem.op == compile::Op::conv2d));
    BOOST_TEST((stem.kernel == std::array<std::size_t, 2>{10, 4}));
    BOOST_TEST((stem.stride == std::array<std::size_t, 2>{2, 2}));
    BOOST_TEST((stem.pad == std::array<std::size_t, 4>{5, 1, 5, 1}));
    BOOST_TEST(g.values.at(static_cast<std::size_t>(stem.output)) == (compile::Dims{25, 5, 32}));
    BOOST_TEST(g.output_shape() == (compile::Dims{12}));
    // The zero Pad PyTorch writes before the 24x5 pool vanishes; the one before the padded
    // 3x3 pool that counts its padding becomes a depthwise convolution of 1/9.
    std::size_t avg = 0, ones = 0;
    for (const auto& n : g.nodes) {
        avg += n.op == compile::Op::avg_pool2d;
        if (n.op == compile::Op::depthwise_conv2d && n.bias.empty() && !n.weights.empty() &&
            std::all_of(n.weights.begin(), n.weights.end(), [](float v) { return v == 1.0f / 9.0f; }))
            ++ones;
    }
    BOOST_TEST(avg == 1u);
    BOOST_TEST(ones == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// Export takes every graph the engine takes, canonicalized or not: a batch norm over a
// feature vector (BatchNormalization on N x C), over a T x F sequence (transposed so F is
// axis 1), a Dense reading an H x W x C value without a Flatten, layer norm and positional
// embedding (written with opset 13 operators).
BOOST_AUTO_TEST_SUITE(onnx_export_any_graph)

template <class Net>
void check_exported_model(const std::vector<std::size_t>& dims, const std::string& name) {
    Net m;
    Rng rng(9);
    m.init(rng);
    if constexpr (requires { m.state(); }) {
        auto st = m.state();
        for (std::size_t i = 0; i < st.size(); ++i) st[i] = 0.3f + 0.05f * static_cast<float>(i % 17);
    }
    const compile::Graph g = m.lower(); // not canonicalized: the batch norm stays a node
    std::size_t bn = 0;
    for (const auto& n : g.nodes) bn += n.op == compile::Op::batch_norm;
    iotest::TempDir dir;
    io::export_onnx(dir.file(name + ".onnx"), g);
    constexpr std::size_t N = 3;
    const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 31);
    const auto want = iotest::ort_run(dir.file(name + ".onnx"), x, N, dims, dir);
    std::vector<float> ours(want.size());
    m.predict(x.data(), ours.data(), N);
    const float d = check_within(want, ours, name + ": ONNX Runtime vs the model");
    BOOST_TEST_MESSAGE(name << ": " << bn << " batch norm nodes; max |ORT - model| / max(1, |model|): " << d);
}

using DenseBatchNorm = nn::Sequential<nn::Input<6, 5, 2>, nn::Flatten, nn::Dense<16>, nn::BatchNorm, nn::ReLU,
                                      nn::Dense<4>>;
using SequenceNorms = nn::Sequential<nn::Input<7, 6>, nn::PositionalEmbedding, nn::LayerNorm, nn::BatchNorm,
                                     nn::Flatten, nn::Dense<3>>;
using ConvNorms = nn::Sequential<nn::Input<6, 6, 3>, nn::Conv2D<4, 3>, nn::LayerNorm, nn::BatchNorm, nn::ReLU,
                                 nn::Flatten, nn::Dense<5>, nn::BatchNorm, nn::Softmax>;

BOOST_AUTO_TEST_CASE(batch_norm_after_dense, *utf::precondition(iotest::OrtPresent{})) {
    check_exported_model<DenseBatchNorm>({6, 5, 2}, "dense_batch_norm");
    // Canonicalized, the batch norm is folded into the Dense; both forms export.
    DenseBatchNorm m;
    Rng rng(2);
    m.init(rng);
    auto g = m.lower();
    compile::canonicalize(g);
    BOOST_CHECK_NO_THROW(io::to_onnx(g));
}

BOOST_AUTO_TEST_CASE(sequence_layers, *utf::precondition(iotest::OrtPresent{})) {
    check_exported_model<SequenceNorms>({7, 6}, "sequence_norms");
}

BOOST_AUTO_TEST_CASE(spatial_layer_norm_and_batch_norms, *utf::precondition(iotest::OrtPresent{})) {
    check_exported_model<ConvNorms>({6, 6, 3}, "conv_norms");
}

BOOST_AUTO_TEST_CASE(dense_reads_a_spatial_value_directly, *utf::precondition(iotest::OrtPresent{})) {
    // A graph whose dense reads H x W x C without a flatten (the engine accepts it).
    Rng rng(4);
    auto g = compile::Graph::with_input({5, 4, 3});
    const int v = backend::nets::conv2d(g, 0, 6, 3, rng);
    backend::nets::dense(g, v, 7, rng);
    iotest::TempDir dir;
    io::export_onnx(dir.file("d.onnx"), g);
    const auto x = backend::nets::random_inputs(g, 2);
    check_within(iotest::ort_run(dir.file("d.onnx"), x, 2, g.input_shape(), dir), run_on(backend::Reference{}, g, x),
                 "dense over a spatial value");
}

BOOST_AUTO_TEST_SUITE_END()

// Graph-level post-training quantization of the five PyTorch exports: residual adds,
// depthwise stages, padded pools and hard-swish included.
BOOST_AUTO_TEST_SUITE(quantized_pytorch_exports)

BOOST_AUTO_TEST_CASE(quantized_resnet, *utf::precondition(iotest::OrtPresent{})) {
    check_quantized_network({"resnet", "resnet.onnx", {3, 16, 16}, true});
}

BOOST_AUTO_TEST_CASE(quantized_ds_cnn, *utf::precondition(iotest::OrtPresent{})) {
    check_quantized_network({"ds_cnn", "ds_cnn.onnx", {1, 49, 10}, true}, quant::Percentile{});
}

BOOST_AUTO_TEST_CASE(quantized_mobilenet, *utf::precondition(iotest::OrtPresent{})) {
    check_quantized_network({"mobilenet", "mobilenet.onnx", {3, 96, 96}, true});
}

BOOST_AUTO_TEST_CASE(quantized_autoencoder, *utf::precondition(iotest::OrtPresent{})) {
    check_quantized_network({"autoencoder", "autoencoder.onnx", {64}, true}, quant::MseOptimal{});
}

#if defined(EDGESTACK_HAS_GZIP)
BOOST_AUTO_TEST_CASE(quantized_reference_cnn, *utf::precondition(iotest::OrtPresent{})) {
    check_quantized_network({"reference_cnn", "reference_cnn.onnx.gz", {1, 28, 28}, false},
                            quant::MovingAverageMinMax{});
}
#endif

BOOST_AUTO_TEST_SUITE_END()
