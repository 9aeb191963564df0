// PyTorch's exports of nn.GRU and nn.LSTM (test/fixtures/make_recurrent_exports.py: batch_first,
// the zero initial state built from the batch, the last step or every step, unidirectional and
// bidirectional, stacked, the keyword-spotting GRU) imported into a graph and into declared
// model types (io/detail/onnx_recurrent.hpp), run on every backend against ONNX Runtime and
// PyTorch; bidirectional graphs exported again and run by ONNX Runtime; what the engines do
// not run refused by name.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "edgestack/io/onnx_import.hpp"
#include "edgestack/nn/nn.hpp"
#include "pytorch_checks.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

namespace {

const std::vector<iotest::Network> exports = {
    {"rnn_gru_last", "rnn_gru_last.onnx", {7, 10}, true},
    {"rnn_gru_steps", "rnn_gru_steps.onnx", {6, 10}, true},
    {"rnn_lstm_last", "rnn_lstm_last.onnx", {5, 6}, true},
    {"rnn_bigru_last", "rnn_bigru_last.onnx", {7, 10}, true},
    {"rnn_bilstm_steps", "rnn_bilstm_steps.onnx", {5, 6}, true},
    {"rnn_gru_stack", "rnn_gru_stack.onnx", {8, 6}, true},
    {"rnn_kws_gru", "rnn_kws_gru.onnx", {49, 10}, true},
    {"rnn_gru_static", "rnn_gru_static.onnx", {5, 6}, false},
};

/// PyTorch's output for the script's input ((i * 7919) % 2001) / 1000 - 1.
std::vector<float> torch_expected(const std::string& name) {
    std::ifstream f(iotest::fixtures + name + ".expected.txt");
    return {std::istream_iterator<float>(f), std::istream_iterator<float>()};
}
std::vector<float> script_input(std::size_t n) {
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<double>((i * 7919) % 2001) / 1000.0 - 1.0);
    return x;
}

/// A fixture imported into the declared model `Net`: predict against PyTorch and ONNX
/// Runtime, its lowered graph on every backend against ONNX Runtime.
template <class Net>
void check_declared(const std::string& name, bool dynamic_batch = true) {
    iotest::TempDir dir;
    const std::string model = dir.file(name + ".onnx");
    iotest::write_text(model, iotest::fixture_bytes(name + ".onnx"));
    Net net;
    io::import_onnx(model, net);
    constexpr std::size_t in = Net::input_shape::size, out = Net::output_shape::size;
    std::vector<float> y(out);
    net.predict(script_input(in).data(), y.data(), 1);
    iotest::check_within(y, torch_expected(name), name + ": declared import vs PyTorch");

    constexpr std::size_t N = 3;
    const auto x = iotest::random_floats(N * in, -1.0f, 1.0f, 41);
    const compile::Graph g = net.lower();
    const auto want = iotest::ort_samples(model, x, N, g.input_shape(), dynamic_batch, dir);
    std::vector<float> mine(N * out);
    net.predict(x.data(), mine.data(), N);
    iotest::check_within(mine, want, name + ": declared import vs ONNX Runtime");
    iotest::check_backends(g, x, want, name + " (declared)");
}

/// The fixture `name` parsed, changed by `edit`, written to `dir`; its path.
std::string edited(const iotest::TempDir& dir, const std::string& name, const std::function<void(onnx::ModelProto&)>& edit) {
    const std::string bytes = iotest::fixture_bytes(name + ".onnx");
    onnx::ModelProto m;
    BOOST_REQUIRE(m.ParseFromString(bytes));
    edit(m);
    const std::string path = dir.file(name + "_edited.onnx");
    iotest::write_text(path, m.SerializeAsString());
    return path;
}
onnx::NodeProto& node_of(onnx::ModelProto& m, const std::string& type) {
    for (auto& n : *m.mutable_graph()->mutable_node())
        if (n.op_type() == type) return n;
    BOOST_ERROR("no " << type << " node");
    return *m.mutable_graph()->mutable_node(0);
}
void set_attr(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
    for (auto& a : *n.mutable_attribute())
        if (a.name() == name) return a.set_i(v);
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
}
void set_attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
}

/// Both importers refuse `path` with a message holding `why` (the graph importer) and
/// `declared_why` (import_onnx into `Net`).
template <class Net>
void refused(const std::string& path, const std::string& why, const std::string& declared_why) {
    try {
        (void)io::import_onnx_graph(path);
        BOOST_ERROR("import_onnx_graph read " << path);
    } catch (const format_error& e) {
        BOOST_TEST(std::string(e.what()).find(why) != std::string::npos, e.what());
    }
    try {
        Net net;
        io::import_onnx(path, net);
        BOOST_ERROR("import_onnx read " << path);
    } catch (const edgestack::error& e) {
        BOOST_TEST(std::string(e.what()).find(declared_why) != std::string::npos, e.what());
    }
}

using GruLast = nn::Sequential<nn::Input<7, 10>, nn::GRU<8>, nn::Dense<5>>;

} // namespace

BOOST_AUTO_TEST_SUITE(op_recurrent_import)

BOOST_AUTO_TEST_CASE(pytorch_exports_import_into_graphs_matching_ort_and_pytorch,
                     *utf::precondition(iotest::OrtPresent{})) {
    for (const auto& net : exports) iotest::check_network(net);
}

BOOST_AUTO_TEST_CASE(graphs_hold_one_node_per_recurrent_layer) {
    const compile::Graph kws = io::import_onnx_graph(iotest::fixtures + "rnn_kws_gru.onnx");
    BOOST_REQUIRE_EQUAL(kws.nodes.size(), 3u);
    BOOST_TEST((kws.nodes[0].op == compile::Op::gru));
    BOOST_TEST((kws.values[1] == compile::Dims{64}));
    const compile::Graph bi = io::import_onnx_graph(iotest::fixtures + "rnn_bilstm_steps.onnx");
    BOOST_REQUIRE_EQUAL(bi.nodes.size(), 1u);
    BOOST_TEST((bi.values[1] == compile::Dims{5, 10}));
    BOOST_TEST(bi.nodes[0].weights.size() == 2u * 4 * 5 * (6 + 5), "two directions' weights");
}

BOOST_AUTO_TEST_CASE(pytorch_exports_import_into_declared_models, *utf::precondition(iotest::OrtPresent{})) {
    check_declared<nn::Sequential<nn::Input<49, 10>, nn::GRU<64>, nn::Dense<12>, nn::Softmax>>("rnn_kws_gru");
    check_declared<GruLast>("rnn_gru_last");
    check_declared<nn::Sequential<nn::Input<6, 10>, nn::GRU<8, true>>>("rnn_gru_steps");
    check_declared<nn::Sequential<nn::Input<5, 6>, nn::LSTM<7>, nn::Tanh>>("rnn_lstm_last");
    check_declared<nn::Sequential<nn::Input<8, 6>, nn::GRU<9, true>, nn::GRU<4>>>("rnn_gru_stack");
    check_declared<nn::Sequential<nn::Input<7, 10>, nn::Bidirectional<nn::GRU<8>>>>("rnn_bigru_last");
    check_declared<nn::Sequential<nn::Input<5, 6>, nn::Bidirectional<nn::LSTM<5, true>>>>("rnn_bilstm_steps");
    check_declared<nn::Sequential<nn::Input<5, 6>, nn::GRU<7>>>("rnn_gru_static", false);
}

BOOST_AUTO_TEST_CASE(bidirectional_graphs_export_and_run_in_ort, *utf::precondition(iotest::OrtPresent{})) {
    for (const char* name : {"rnn_bigru_last", "rnn_bilstm_steps"}) {
        iotest::TempDir dir;
        const compile::Graph g = io::import_onnx_graph(iotest::fixtures + name + ".onnx");
        io::export_onnx(dir.file("again.onnx"), g);
        constexpr std::size_t N = 3;
        const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 43);
        const auto want = iotest::ort_run(dir.file("again.onnx"), x, N, g.input_shape(), dir);
        const auto original = iotest::ort_run(iotest::fixtures + name + ".onnx", x, N, g.input_shape(), dir);
        iotest::check_within(want, original, std::string(name) + ": our export vs PyTorch's, both in ONNX Runtime");
        iotest::check_backends(g, x, want, std::string(name) + " exported again");
    }
}

BOOST_AUTO_TEST_CASE(gru_with_linear_before_reset_0_matches_ort_on_every_backend, *utf::precondition(iotest::OrtPresent{})) {
    // PyTorch's exports with the GRU switched to ONNX's default form, which ONNX Runtime runs.
    for (const char* name : {"rnn_gru_last", "rnn_bigru_last"}) {
        iotest::TempDir dir;
        const std::string path =
            edited(dir, name, [](auto& m) { set_attr(node_of(m, "GRU"), "linear_before_reset", 0); });
        const compile::Graph g = io::import_onnx_graph(path);
        BOOST_TEST(g.nodes[0].alpha == 1.0f);
        constexpr std::size_t N = 3;
        const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 47);
        const auto want = iotest::ort_run(path, x, N, g.input_shape(), dir);
        iotest::check_backends(g, x, want, std::string(name) + " with linear_before_reset = 0");
        // The form matters: PyTorch's own file gives other outputs.
        const auto lbr1 = iotest::ort_run(iotest::fixtures + name + ".onnx", x, N, g.input_shape(), dir);
        float diff = 0;
        for (std::size_t i = 0; i < want.size(); ++i) diff = std::max(diff, std::abs(want[i] - lbr1[i]));
        BOOST_TEST(diff > 1e-3f);
        // Exported again, ONNX Runtime gives the same.
        io::export_onnx(dir.file("again.onnx"), g);
        iotest::check_within(iotest::ort_run(dir.file("again.onnx"), x, N, g.input_shape(), dir), want,
                             std::string(name) + ": linear_before_reset = 0 exported again");
    }
    iotest::TempDir dir;
    const std::string path =
        edited(dir, "rnn_gru_last", [](auto& m) { set_attr(node_of(m, "GRU"), "linear_before_reset", 0); });
    try {
        GruLast net;
        io::import_onnx(path, net);
        BOOST_ERROR("the GRU layer took linear_before_reset = 0");
    } catch (const shape_error& e) {
        BOOST_TEST(std::string(e.what()).find("linear_before_reset = 0") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(declared_layers_that_differ_are_refused_naming_both) {
    const std::string path = iotest::fixtures + "rnn_gru_last.onnx";
    auto refuse = [&](auto net, const std::string& why) {
        try {
            io::import_onnx(path, net);
            BOOST_ERROR("imported");
        } catch (const shape_error& e) {
            BOOST_TEST(std::string(e.what()).find(why) != std::string::npos, e.what());
        }
    };
    refuse(nn::Sequential<nn::Input<7, 10>, nn::GRU<16>, nn::Dense<5>>{}, "1 direction(s) of 8 units and gives the last step");
    refuse(nn::Sequential<nn::Input<7, 10>, nn::GRU<8, true>, nn::Flatten, nn::Dense<5>>{}, "gives every step");
    refuse(nn::Sequential<nn::Input<7, 10>, nn::LSTM<8>, nn::Dense<5>>{}, "the model expects layer node 0");
}

BOOST_AUTO_TEST_CASE(what_the_engines_do_not_run_is_refused_naming_the_node) {
    iotest::TempDir dir;
    const std::string gru = "(GRU): ";
    refused<GruLast>(edited(dir, "rnn_gru_last", [](auto& m) {
                         auto* a = node_of(m, "GRU").add_attribute();
                         a->set_name("clip");
                         a->set_type(onnx::AttributeProto::FLOAT);
                         a->set_f(3.0f);
                     }),
                     gru + "clip", "clip");
    refused<GruLast>(edited(dir, "rnn_gru_last", [](auto& m) { set_attr(node_of(m, "GRU"), "direction", "reverse"); }),
                     "direction 'reverse' is not run", "direction 'reverse'");
    refused<GruLast>(edited(dir, "rnn_gru_last", [](auto& m) {
                         auto* a = node_of(m, "GRU").add_attribute();
                         a->set_name("activations");
                         a->set_type(onnx::AttributeProto::STRINGS);
                         a->add_strings("HardSigmoid");
                         a->add_strings("Tanh");
                     }),
                     "activations other than the defaults", "activations other than the defaults");
    refused<GruLast>(edited(dir, "rnn_gru_last", [](auto& m) {
                         auto& c = node_of(m, "ConstantOfShape");
                         for (auto& a : *c.mutable_attribute())
                             if (a.name() == "value") {
                                 a.mutable_t()->clear_float_data();
                                 a.mutable_t()->set_raw_data(std::string("\0\0\x80\x3f", 4)); // 1.0f
                             }
                     }),
                     "is not a zero state", "is not a zero state");
    // h0 passed by the user as a second graph input.
    refused<GruLast>(edited(dir, "rnn_gru_last", [](auto& m) {
                         auto* h0 = m.mutable_graph()->add_input();
                         h0->CopyFrom(m.graph().input(0));
                         h0->set_name("h0");
                         node_of(m, "GRU").set_input(5, "h0");
                     }),
                     "is the initial state of GRU node", "is not a zero state");
    refused<nn::Sequential<nn::Input<5, 6>, nn::LSTM<7>, nn::Tanh>>(
        edited(dir, "rnn_lstm_last", [](auto& m) {
            auto& n = node_of(m, "LSTM");
            auto* p = m.mutable_graph()->add_initializer();
            p->set_name("peepholes");
            p->set_data_type(onnx::TensorProto::FLOAT);
            p->add_dims(1);
            p->add_dims(21);
            for (int k = 0; k < 21; ++k) p->add_float_data(0.5f);
            while (n.input_size() < 8) n.add_input("");
            n.set_input(7, "peepholes");
        }),
        "peepholes (input P) are not run", "peepholes");
    // A Y_h read some other way than PyTorch writes it.
    refused<GruLast>(edited(dir, "rnn_gru_last", [](auto& m) {
                         const std::string h_n = node_of(m, "GRU").output(1);
                         for (auto& n : *m.mutable_graph()->mutable_node())
                             if (n.op_type() == "Gather" && n.input(0) == h_n) set_attr(n, "axis", 1);
                     }),
                     "in a form that is not read", "in a form that is not read");
}

BOOST_AUTO_TEST_SUITE_END()
