// ONNX export: structure (opset, names, QDQ pattern, checker), and numbers: the exported
// model run in ONNX Runtime against our evaluation of the same graph, fp32 and int8, on
// random inputs and on a Fashion-MNIST test slice.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <set>

#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/io/model_file.hpp" // first on purpose: both headers in one unit, either order
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/recurrent.hpp"
#include "edgestack/nn/sequential.hpp"
#include "eval.hpp"
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

namespace {

std::size_t count_op(const onnx::ModelProto& m, const std::string& op) {
    std::size_t k = 0;
    for (const auto& n : m.graph().node()) k += n.op_type() == op;
    return k;
}

/// Quantize `g` from its value ranges over `samples`.
void calibrate_and_quantize(compile::Graph& g, const std::vector<float>& samples, float qmax = 127.0f) {
    const std::size_t isz = g.input_size();
    std::vector<std::pair<float, float>> all(g.values.size(), {0.0f, 0.0f}), r;
    for (std::size_t s = 0; s < samples.size() / isz; ++s) {
        iotest::eval_f32(g, samples.data() + s * isz, &r);
        for (std::size_t v = 0; v < r.size(); ++v)
            all[v] = {std::min(all[v].first, r[v].first), std::max(all[v].second, r[v].second)};
    }
    iotest::quantize_in_place(g, all, qmax);
}

std::size_t argmax(const float* p, std::size_t n) {
    return static_cast<std::size_t>(std::max_element(p, p + n) - p);
}

/// Fashion-MNIST MLP trained for one short epoch by plain SGD (softmax cross-entropy), so
/// that top-1 agreement is measured on a model that has learnt something.
using Mlp = nn::Sequential<nn::Input<28, 28, 1>, nn::Flatten, nn::Dense<64>, nn::ReLU, nn::Dense<10>>;

Mlp trained_mlp(const data::IdxLoader& train) {
    Mlp m;
    Rng rng(42);
    m.init(rng);
    constexpr std::size_t B = 32;
    std::vector<float> x(B * 784), dy(B * 10);
    std::vector<std::int32_t> y(B);
    for (std::size_t start = 0; start + B <= train.size(); start += B) {
        for (std::size_t b = 0; b < B; ++b) y[b] = train.read(start + b, {x.data() + b * 784, 784});
        const float* out = m.forward(x.data(), B, nn::Mode::train, rng);
        for (std::size_t b = 0; b < B; ++b) {
            const float* o = out + b * 10;
            const float mx = *std::max_element(o, o + 10);
            float sum = 0;
            for (int k = 0; k < 10; ++k) sum += std::exp(o[k] - mx);
            for (int k = 0; k < 10; ++k)
                dy[b * 10 + k] = (std::exp(o[k] - mx) / sum - (k == y[b] ? 1.0f : 0.0f)) / B;
        }
        m.backward(dy.data());
        auto p = m.parameters();
        auto gr = m.gradients();
        for (std::size_t i = 0; i < p.size(); ++i) p[i] -= 0.1f * gr[i];
    }
    return m;
}

const std::string fmnist_dir = EDGESTACK_FASHION_MNIST_DIR;

struct FmnistPresent {
    boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
        boost::test_tools::assertion_result r(
            std::filesystem::exists(fmnist_dir + "/t10k-labels-idx1-ubyte.gz") ||
            std::filesystem::exists(fmnist_dir + "/t10k-labels-idx1-ubyte"));
        if (!r) r.message() << "Fashion-MNIST not found in " << fmnist_dir;
        return r;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(onnx_export)

BOOST_AUTO_TEST_CASE(fp32_graph_has_stable_names_and_passes_the_checker) {
    const auto g = iotest::small_cnn();
    const auto m = io::to_onnx(g); // runs onnx::checker::check_model
    BOOST_TEST(m.opset_import(0).version() == 13);
    BOOST_TEST(m.graph().input(0).name() == "input");
    BOOST_TEST(m.graph().output(0).name() == "output");
    std::set<std::string> names;
    for (const auto& n : m.graph().node()) names.insert(n.name());
    for (const char* want : {"input_to_nchw", "conv2d_0", "relu_0", "max_pool2d_0", "flatten_0_to_nhwc",
                             "flatten_0", "dense_0"})
        BOOST_TEST(names.count(want) == 1u, "missing node " << want);
    // Exporting twice gives the same bytes: names and order do not depend on anything else.
    std::string a, b;
    m.SerializeToString(&a);
    io::to_onnx(g).SerializeToString(&b);
    BOOST_TEST((a == b));
    BOOST_TEST(count_op(m, "QuantizeLinear") == 0u);
}

BOOST_AUTO_TEST_CASE(int8_graph_exports_as_qdq_with_per_channel_weights) {
    auto g = iotest::small_cnn();
    iotest::quantize_in_place(g, std::vector<std::pair<float, float>>(g.values.size(), {-1.0f, 3.0f}));
    const auto m = io::to_onnx(g);
    BOOST_TEST(count_op(m, "QuantizeLinear") == g.values.size());
    // One DQ per value, plus a weight and a bias DQ per conv/dense.
    BOOST_TEST(count_op(m, "DequantizeLinear") == g.values.size() + 4);
    bool saw_axis = false;
    for (const auto& n : m.graph().node()) {
        if (n.name() != "conv2d_0.weight_dequantize") continue;
        for (const auto& a : n.attribute()) saw_axis |= a.name() == "axis" && a.i() == 0;
    }
    BOOST_TEST(saw_axis);
    for (const auto& t : m.graph().initializer())
        if (t.name() == "dense_0.weight_quantized") {
            BOOST_TEST(t.data_type() == onnx::TensorProto::INT8);
            BOOST_TEST(t.dims(0) == 10);
        }
}

BOOST_AUTO_TEST_CASE(unsupported_layout_names_the_node) {
    auto g = compile::Graph::with_input({16});
    compile::Node pool;
    pool.op = compile::Op::global_avg_pool;
    pool.name = "gap_7";
    g.values.push_back({16});
    pool.inputs = {0};
    pool.output = 1;
    g.nodes.push_back(pool);
    g.output = 1;
    BOOST_CHECK_EXCEPTION(io::to_onnx(g), format_error, iotest::message_has("gap_7"));
}

BOOST_AUTO_TEST_CASE(fp32_matches_onnx_runtime, *utf::precondition(iotest::OrtPresent{})) {
    iotest::TempDir dir;
    const auto g = iotest::small_cnn(12, 10, 3, 6);
    io::export_onnx(dir.file("cnn.onnx"), g);
    constexpr std::size_t N = 16;
    const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 5);
    const auto y = iotest::ort_run(dir.file("cnn.onnx"), x, N, g.input_shape(), dir);
    BOOST_REQUIRE(y.size() == N * 10);
    for (std::size_t s = 0; s < N; ++s) {
        const auto ours = iotest::eval_f32(g, x.data() + s * g.input_size());
        float scale = 0;
        for (float v : ours) scale = std::max(scale, std::abs(v));
        for (std::size_t k = 0; k < 10; ++k)
            BOOST_TEST(std::abs(y[s * 10 + k] - ours[k]) <= 1e-4f * scale, "sample " << s << " class " << k
                       << ": onnxruntime " << y[s * 10 + k] << ", ours " << ours[k]);
    }
}

BOOST_AUTO_TEST_CASE(recurrent_layers_match_onnx_runtime, *utf::precondition(iotest::OrtPresent{})) {
    // LSTM and GRU as ONNX's own LSTM and GRU operators (gates reordered, time-major),
    // returning every step and the last one; checked against the model's forward pass.
    auto check = []<class M>(M model, const char* name) {
        Rng rng(3);
        model.init(rng);
        iotest::TempDir dir;
        const auto g = model.lower();
        io::export_onnx(dir.file("rnn.onnx"), g);
        constexpr std::size_t N = 3;
        const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 12);
        const auto want = iotest::ort_run(dir.file("rnn.onnx"), x, N, g.input_shape(), dir);
        std::vector<float> ours(N * g.output_size());
        model.predict(x.data(), ours.data(), N);
        BOOST_REQUIRE_EQUAL(want.size(), ours.size());
        float worst = 0;
        for (std::size_t i = 0; i < ours.size(); ++i) worst = std::max(worst, std::abs(ours[i] - want[i]));
        BOOST_TEST(worst <= 1e-5f, name << ": max |ours - ONNX Runtime| " << worst);
        BOOST_TEST_MESSAGE(name << ": max |ours - ONNX Runtime| = " << worst);
    };
    check(nn::Sequential<nn::Input<7, 5>, nn::LSTM<6, true>, nn::GRU<4, true>, nn::LSTM<5>>{}, "lstm, gru, lstm");
    check(nn::Sequential<nn::Input<6, 3>, nn::GRU<4>, nn::Dense<2>>{}, "gru last step");
}

/// Runs the int8 CNN through ORT at `level` and checks every output against our integer
/// evaluation: within one output quantization step.
void check_qdq_against_ort(float qmax, const std::string& level) {
    iotest::TempDir dir;
    auto g = iotest::small_cnn(12, 10, 3, 6, /*fuse=*/true);
    calibrate_and_quantize(g, iotest::random_floats(64 * g.input_size(), -1.0f, 1.0f, 9), qmax);
    io::export_onnx(dir.file("cnn8.onnx"), g);
    constexpr std::size_t N = 32;
    const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 11);
    const auto y = iotest::ort_run(dir.file("cnn8.onnx"), x, N, g.input_shape(), dir, level);
    BOOST_REQUIRE(y.size() == N * 10);
    const auto& qo = g.value_quant[static_cast<std::size_t>(g.output)];
    std::size_t exact = 0;
    for (std::size_t s = 0; s < N; ++s) {
        const auto q = iotest::eval_int8(g, x.data() + s * g.input_size());
        for (std::size_t k = 0; k < 10; ++k) {
            const float ours = quant::dequantize(q[k], qo.scale[0], qo.zero_point[0]);
            const float diff = std::abs(y[s * 10 + k] - ours);
            BOOST_TEST(diff <= qo.scale[0] * 1.001f, "sample " << s << " class " << k << ": onnxruntime "
                       << y[s * 10 + k] << ", ours " << ours << ", step " << qo.scale[0]);
            exact += diff < qo.scale[0] * 0.5f;
        }
    }
    BOOST_TEST_MESSAGE("qdq (weights to " << qmax << ", ORT level " << level << "): " << exact << " of "
                                          << N * 10 << " outputs identical to ours");
}

BOOST_AUTO_TEST_CASE(qdq_matches_onnx_runtime_within_one_step, *utf::precondition(iotest::OrtPresent{})) {
    // ONNX semantics: QuantizeLinear/DequantizeLinear run as operators.
    check_qdq_against_ort(127.0f, "basic");
}

BOOST_AUTO_TEST_CASE(qdq_with_7bit_weights_matches_fused_int8_kernels,
                     *utf::precondition(iotest::OrtPresent{})) {
    // ORT's fused int8 kernels on AVX2 without VNNI add u8 x s8 products pairwise in 16
    // bits; full-range 8-bit weights can saturate there (seen here: several steps off), 7-bit
    // weights cannot.
    check_qdq_against_ort(63.0f, "all");
}

BOOST_AUTO_TEST_CASE(fashion_mnist_top1_agreement,
                     *utf::precondition(iotest::OrtPresent{}) * utf::precondition(FmnistPresent{})) {
    iotest::TempDir dir;
    const auto train = data::load_fashion_mnist(data::Split::train, fmnist_dir, 6000);
    const auto test = data::load_fashion_mnist(data::Split::test, fmnist_dir, 1000);
    const auto model = trained_mlp(train);
    auto g = model.lower();
    std::vector<float> x(test.size() * 784);
    std::vector<std::int32_t> labels(test.size());
    for (std::size_t i = 0; i < test.size(); ++i) labels[i] = test.read(i, {x.data() + i * 784, 784});

    // fp32
    io::export_onnx(dir.file("mlp.onnx"), g);
    auto y = iotest::ort_run(dir.file("mlp.onnx"), x, test.size(), g.input_shape(), dir);
    std::size_t agree = 0, correct = 0;
    for (std::size_t i = 0; i < test.size(); ++i) {
        const auto ours = iotest::eval_f32(g, x.data() + i * 784);
        const auto a = argmax(ours.data(), 10);
        agree += a == argmax(y.data() + i * 10, 10);
        correct += a == static_cast<std::size_t>(labels[i]);
    }
    BOOST_TEST_MESSAGE("fp32: top-1 agreement " << agree << "/" << test.size() << ", accuracy "
                                                << correct << "/" << test.size());
    BOOST_TEST(agree * 1000 >= test.size() * 995);
    BOOST_TEST(correct * 10 >= test.size() * 7); // it learnt something

    // int8 (QDQ), calibrated on 500 training samples: 8-bit weights under ONNX semantics,
    // and 7-bit weights through ORT's fused int8 kernels.
    std::vector<float> calib(500 * 784);
    for (std::size_t i = 0; i < 500; ++i) train.read(i, {calib.data() + i * 784, 784});
    for (auto [qmax, level] : {std::pair{127.0f, "basic"}, std::pair{63.0f, "all"}}) {
        auto q8 = g;
        calibrate_and_quantize(q8, calib, qmax);
        io::export_onnx(dir.file("mlp8.onnx"), q8);
        y = iotest::ort_run(dir.file("mlp8.onnx"), x, test.size(), q8.input_shape(), dir, level);
        const auto& qo = q8.value_quant[static_cast<std::size_t>(q8.output)];
        agree = 0;
        for (std::size_t i = 0; i < test.size(); ++i) {
            const auto q = iotest::eval_int8(q8, x.data() + i * 784);
            std::vector<float> ours(10);
            for (int k = 0; k < 10; ++k) ours[k] = quant::dequantize(q[k], qo.scale[0], qo.zero_point[0]);
            agree += argmax(ours.data(), 10) == argmax(y.data() + i * 10, 10);
        }
        BOOST_TEST_MESSAGE("int8 (weights to " << qmax << ", ORT level " << level << "): top-1 agreement "
                                               << agree << "/" << test.size());
        BOOST_TEST(agree * 1000 >= test.size() * 995);
    }
}

BOOST_AUTO_TEST_SUITE_END()
