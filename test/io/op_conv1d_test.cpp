// The 1-D layers end to end (nn/conv1d.hpp, io/detail/onnx_1d.hpp): PyTorch's exports of
// Conv1d (groups 1 and depthwise), MaxPool1d, AvgPool1d, AdaptiveAvgPool1d(1) and a mean over
// time (test/fixtures/make_conv1d_export.py) imported as a graph and into a declared type,
// run on every backend against ONNX Runtime and PyTorch, quantized (GraphPtq, quant::Ptq)
// and compared with ONNX Runtime running our QDQ export, exported and read back; dilation,
// group counts and weight ranks the engines do not run refused by name.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "edgestack/data/batch.hpp"
#include "edgestack/io/onnx_import.hpp"
#include "edgestack/nn/nn.hpp"
#include "edgestack/quant/ptq.hpp"
// after the library: they use edgestack::Rng and nn without including them
#include "declared_checks.hpp"
#include "pytorch_checks.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

namespace {

/// conv1d_sensor.onnx as a declared type.
using SensorNet = nn::Sequential<nn::Input<128, 6>, nn::Conv1D<16, 5, 1, nn::Pad<2>>, nn::ReLU, nn::MaxPool1D<2>,
                                 nn::DepthwiseConv1D<3, 1, nn::Pad<1>>, nn::ReLU, nn::AvgPool1D<2>, nn::GlobalAvgPool,
                                 nn::Dense<5>>;
/// conv1d_mean.onnx as a declared type.
using MeanNet = nn::Sequential<nn::Input<128, 6>, nn::Conv1D<8, 3, 2, nn::Pad<1>>, nn::ReLU, nn::Conv1D<12, 1>,
                               nn::ReLU, nn::MaxPool1D<3, 2, nn::Pad<1>>,
                               nn::AvgPool1D<3, 1, nn::Pad<1>, nn::CountPad>, nn::GlobalAvgPool, nn::Dense<4>>;

const iotest::Network sensor{"conv1d_sensor", "conv1d_sensor.onnx", {6, 128}, true, true};
const iotest::Network mean_net{"conv1d_mean", "conv1d_mean.onnx", {6, 128}, true, true};

/// `n` samples of C x T (PyTorch's layout) as T x C (ours).
std::vector<float> to_tc(const std::vector<float>& x, std::size_t n) { return iotest::nchw_to_nhwc(x, n, 6, 1, 128); }

/// The fixture script's input ((i * 7919) % 2001) / 1000 - 1, C x T.
std::vector<float> script_input() {
    std::vector<float> x(6 * 128);
    for (std::size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<float>(static_cast<double>((i * 7919) % 2001) / 1000.0 - 1.0);
    return x;
}
std::vector<float> torch_output(const std::string& name) {
    std::ifstream f(iotest::fixtures + name + ".expected.txt");
    return {std::istream_iterator<float>(f), std::istream_iterator<float>()};
}

/// Calibration batches for quant::Ptq: the samples of `x`, `batch` at a time.
struct Samples {
    std::vector<float> x;
    std::size_t per = 0, batch = 16, pos = 0;
    void start_epoch(std::size_t) { pos = 0; }
    bool next(data::Batch& b) {
        const std::size_t total = x.size() / per;
        if (pos >= total) return false;
        const std::size_t n = std::min(batch, total - pos);
        b.resize(n, per);
        std::copy_n(x.begin() + static_cast<long>(pos * per), n * per, b.x.data());
        pos += n;
        return true;
    }
};

/// The int8 graph `q` on every backend against ONNX Runtime running its QDQ export (within
/// one output step), and close to the fp32 graph `g`.
void check_int8(const std::string& what, const compile::Graph& g, const compile::Graph& q) {
    iotest::TempDir dir;
    io::export_onnx(dir.file("q.onnx"), q);
    constexpr std::size_t N = 4;
    const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 29);
    const auto want = iotest::ort_run(dir.file("q.onnx"), x, N, q.input_shape(), dir, "basic");
    const float step = q.value_quant.at(static_cast<std::size_t>(q.output)).scale.at(0);
    std::ostringstream report;
    report << what << " int8, max |ours - ONNX Runtime| in output steps:";
    auto one = [&](const char* name, const std::vector<float>& y) {
        BOOST_REQUIRE_EQUAL(y.size(), want.size());
        float worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - want[i]));
        BOOST_TEST(worst <= step * 1.001f, what << " on " << name << ": " << worst / step << " steps");
        report << " " << name << " " << worst / step;
    };
    const auto y8 = iotest::run_on(backend::Reference{}, q, x);
    one("reference", y8);
    one("simd", iotest::run_on(backend::Simd{}, q, x));
#if defined(EDGESTACK_HAS_XNNPACK)
    one("xnnpack", iotest::run_on(backend::Xnnpack{}, q, x));
#endif
    one("parallel", iotest::run_on(backend::Parallel<backend::Simd>{{}, 2}, q, x));
    const auto y32 = iotest::run_on(backend::Reference{}, g, x);
    const auto [lo, hi] = std::minmax_element(y32.begin(), y32.end());
    float err = 0;
    for (std::size_t i = 0; i < y32.size(); ++i) err = std::max(err, std::abs(y8[i] - y32[i]));
    BOOST_TEST(err <= 0.1f * (*hi - *lo), what << ": int8 strays " << err << " from fp32");
    BOOST_TEST_MESSAGE(report.str() << "; max |int8 - fp32| = " << err / (*hi - *lo) << " of the output range");
}

/// A declared model with the fixture's weights: Sequential::predict and every backend of its
/// lowered graph against ONNX Runtime on the file, and predict against PyTorch.
template <class Net>
Net check_declared(const iotest::Network& net) {
    iotest::TempDir dir;
    const std::string model = dir.file(net.name + ".onnx");
    iotest::write_text(model, iotest::fixture_bytes(net.file));
    Net m;
    Rng rng(4);
    m.init(rng);
    io::import_onnx(model, m);

    std::vector<float> y(Net::output_shape::size);
    m.predict(to_tc(script_input(), 1).data(), y.data(), 1);
    const float d = iotest::check_within(y, torch_output(net.name), net.name + ": declared vs PyTorch");
    BOOST_TEST_MESSAGE(net.name << ": declared model, max difference to PyTorch: " << d);

    constexpr std::size_t N = 4;
    const auto x = iotest::random_floats(N * Net::input_shape::size, -1.0f, 1.0f, 41); // C x T
    const auto want = iotest::ort_run(model, x, N, net.dims, dir);
    std::vector<float> mine(N * Net::output_shape::size);
    m.predict(to_tc(x, N).data(), mine.data(), N);
    iotest::check_within(mine, want, net.name + ": declared vs ONNX Runtime");
    iotest::check_backends(m.lower(), to_tc(x, N), want, net.name + " declared");
    return m;
}

onnx::ModelProto fixture_model(const std::string& file) {
    onnx::ModelProto m;
    BOOST_REQUIRE(m.ParseFromString(iotest::fixture_bytes(file)));
    return m;
}
/// The k-th node of type `op`.
onnx::NodeProto& nth(onnx::ModelProto& m, const std::string& op, int k = 0) {
    for (auto& n : *m.mutable_graph()->mutable_node())
        if (n.op_type() == op && k-- == 0) return n;
    throw std::runtime_error("no such node: " + op);
}
/// Sets (or adds) a list-of-integers attribute.
void set_ints(onnx::NodeProto& n, const std::string& name, std::vector<std::int64_t> v) {
    onnx::AttributeProto* a = nullptr;
    for (auto& x : *n.mutable_attribute())
        if (x.name() == name) a = &x;
    if (a == nullptr) {
        a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INTS);
    }
    a->clear_ints();
    for (auto x : v) a->add_ints(x);
}
onnx::TensorProto& initializer(onnx::ModelProto& m, const std::string& name) {
    for (auto& t : *m.mutable_graph()->mutable_initializer())
        if (t.name() == name) return t;
    throw std::runtime_error("no such initializer: " + name);
}
std::string bytes_of(const onnx::ModelProto& m) {
    std::string s;
    m.SerializeToString(&s);
    return s;
}
compile::Graph graph_of(const onnx::ModelProto& m) {
    const std::string b = bytes_of(m);
    return io::import_onnx_graph_bytes(std::as_bytes(std::span(b.data(), b.size())), "edited.onnx");
}

/// `f` throws E whose message holds every one of `parts`.
template <class E, class F>
void refused(F&& f, std::vector<std::string> parts) {
    try {
        f();
        BOOST_ERROR("not refused: " << parts.back());
    } catch (const E& e) {
        const std::string m = e.what();
        for (const auto& p : parts) BOOST_TEST(m.find(p) != std::string::npos, m << " lacks: " << p);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(op_conv1d)

BOOST_AUTO_TEST_CASE(graph_import_matches_ort_and_pytorch, *utf::precondition(iotest::OrtPresent{})) {
    iotest::TempDir dir;
    iotest::write_text(dir.file("s.onnx"), iotest::fixture_bytes(sensor.file));
    const compile::Graph g = io::import_onnx_graph(dir.file("s.onnx"));
    // 1-D windows are 1 x k windows on T x C values.
    BOOST_TEST((g.values[0] == compile::Dims{128, 6}));
    const auto& conv = g.nodes.at(0);
    BOOST_TEST((conv.op == compile::Op::conv2d));
    BOOST_TEST((conv.kernel == std::array<std::size_t, 2>{1, 5}));
    BOOST_TEST((conv.pad == std::array<std::size_t, 4>{0, 2, 0, 2}));
    BOOST_TEST((g.values[static_cast<std::size_t>(conv.output)] == compile::Dims{128, 16}));
    const auto dw = std::count_if(g.nodes.begin(), g.nodes.end(),
                                  [](const compile::Node& n) { return n.op == compile::Op::depthwise_conv2d; });
    BOOST_TEST(dw == 1);
    iotest::check_network(sensor);
    iotest::check_network(mean_net);
}

BOOST_AUTO_TEST_CASE(graph_import_quantized_matches_ort, *utf::precondition(iotest::OrtPresent{})) {
    iotest::check_quantized_network(sensor);
    iotest::check_quantized_network(mean_net);
}

BOOST_AUTO_TEST_CASE(declared_import_matches_ort_and_pytorch, *utf::precondition(iotest::OrtPresent{})) {
    check_declared<SensorNet>(sensor);
    check_declared<MeanNet>(mean_net);
}

BOOST_AUTO_TEST_CASE(declared_ptq_matches_ort_on_the_qdq_export, *utf::precondition(iotest::OrtPresent{})) {
    SensorNet m = check_declared<SensorNet>(sensor);
    quant::Ptq<> ptq;
    Samples cal{iotest::random_floats(64 * SensorNet::input_shape::size, -1.0f, 1.0f, 5), SensorNet::input_shape::size};
    ptq.calibrate(m, cal, 4);
    const compile::Graph g = m.lower();
    compile::Graph q = g;
    ptq.lower(q);
    BOOST_REQUIRE_EQUAL(q.value_quant.size(), q.values.size());
    check_int8("conv1d_sensor declared", g, q);
}

BOOST_AUTO_TEST_CASE(declared_models_export_and_run_in_ort, *utf::precondition(iotest::OrtPresent{})) {
    iotest::check_model<SensorNet>("sensor network", 11);
    iotest::check_model<MeanNet>("mean network", 12);
    using Padded = nn::Sequential<nn::Input<20, 3>, nn::Conv1D<4, 3, 2, nn::Pad1D<2, 1>>, nn::ReLU,
                                   nn::AvgPool1D<3, 1, nn::Pad<1>>, nn::MaxPool1D<2, 1>, nn::Flatten, nn::Dense<3>>;
    iotest::check_model<Padded>("strided, padded at one end, flattened", 13);
}

BOOST_AUTO_TEST_CASE(our_export_reads_back, *utf::precondition(iotest::OrtPresent{})) {
    SensorNet m;
    iotest::init_with_biases(m, 21);
    iotest::TempDir dir;
    io::export_onnx(dir.file("ours.onnx"), m.lower());
    const auto x = iotest::random_floats(3 * SensorNet::input_shape::size, -1.0f, 1.0f, 22);
    std::vector<float> want(3 * SensorNet::output_shape::size);
    m.predict(x.data(), want.data(), 3);
    const compile::Graph back = io::import_onnx_graph(dir.file("ours.onnx"));
    iotest::check_within(iotest::run_on(backend::Simd{}, back, x), want, "our export read back as a graph");
    SensorNet m2;
    io::import_onnx(dir.file("ours.onnx"), m2);
    std::vector<float> got(want.size());
    m2.predict(x.data(), got.data(), 3);
    iotest::check_within(got, want, "our export read back into the declared type");
}

BOOST_AUTO_TEST_CASE(what_is_not_run_is_refused_by_name) {
    SensorNet declared;
    auto into_declared = [&](const onnx::ModelProto& m) {
        const std::string b = bytes_of(m);
        io::import_onnx_bytes(std::as_bytes(std::span(b.data(), b.size())), "edited.onnx", declared);
    };
    { // a grouped convolution that is neither groups 1 nor depthwise
        auto m = fixture_model(sensor.file);
        for (auto& a : *nth(m, "Conv", 1).mutable_attribute())
            if (a.name() == "group") a.set_i(8);
        refused<format_error>([&] { (void)graph_of(m); }, {"(Conv)", "group 8 is neither 1 nor depthwise"});
        refused<format_error>([&] { into_declared(m); }, {"(Conv)", "group 8 is neither 1 nor depthwise"});
    }
    { // dilation: imported, refused by every engine; the declared type has none
        auto m = fixture_model(sensor.file);
        set_ints(nth(m, "Conv"), "dilations", {2});
        const compile::Graph g = graph_of(m);
        BOOST_TEST((g.nodes.at(0).dilation == std::array<std::size_t, 2>{1, 2}));
        iotest::refused_everywhere<config_error>(g, "conv2d_0", "dilation is not supported");
        refused<shape_error>([&] { into_declared(m); }, {"(Conv)", "dilation 1x2"});
    }
    { // a 4-d weight under a 1-D kernel_shape; a 2-d weight
        auto m = fixture_model(sensor.file);
        auto& w = initializer(m, nth(m, "Conv").input(1));
        w.clear_dims();
        for (auto d : {16, 6, 1, 5}) w.add_dims(d);
        refused<format_error>([&] { (void)graph_of(m); }, {"(Conv)", "needs a rank-3 weight"});
        refused<format_error>([&] { into_declared(m); }, {"(Conv)", "weight has rank 4", "needs rank 3"});
        w.clear_dims();
        for (auto d : {16, 30}) w.add_dims(d);
        refused<format_error>([&] { (void)graph_of(m); }, {"(Conv)", "weight has rank 2"});
    }
    { // a mean over the channels, not over time
        auto m = fixture_model(mean_net.file);
        set_ints(nth(m, "ReduceMean"), "axes", {1});
        refused<format_error>([&] { (void)graph_of(m); }, {"(ReduceMean)", "only a mean over the time axis (2)"});
    }
    { // a 2-D kernel on an N x C x T tensor
        auto m = fixture_model(sensor.file);
        set_ints(nth(m, "MaxPool"), "kernel_shape", {2, 2});
        refused<format_error>([&] { (void)graph_of(m); }, {"(MaxPool)", "needs a kernel_shape of one size"});
    }
    { // a 1-D Conv of a flat input
        auto m = fixture_model(sensor.file);
        auto* shape = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
        shape->mutable_dim()->RemoveLast();
        shape->mutable_dim(1)->set_dim_value(768);
        refused<format_error>([&] { (void)graph_of(m); }, {"(Conv)", "weight has rank 3 (a 1-D Conv), which needs an N x C x T"});
    }
}

BOOST_AUTO_TEST_SUITE_END()
