// Import of PyTorch's nn.TransformerEncoder exports (io/detail/onnx_attention.hpp): the
// keyword-spotting encoder (49 x 10 MFCC frames, a Linear to d = 64, encoder layers of 4
// heads with a ReLU feed-forward of 128, a mean over time, a Linear of 12) written by
// test/fixtures/make_transformer_export.py, post-norm with LayerNormalization (opset 17) and
// pre-norm with the decomposed layer norm (opset 13); the imported graph on every backend
// against ONNX Runtime and PyTorch; GELU, a mask input, heads that differ between q, k and
// v and a scale other than 1/sqrt(head size) refused by name. The same files imported into
// declared types (io/onnx_declared.hpp: Residual blocks of attention, layer norm and
// TimeDense) and run by the training layers and by the engine against PyTorch's outputs; a
// declared type that differs refused naming the node.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/io/onnx_declared.hpp"
#include "edgestack/io/onnx_graph_import.hpp"
#include "edgestack/nn/nn.hpp"
#include "io_util.hpp"
#include "pytorch_checks.hpp"
#include "pytorch_exports.hpp"

using namespace edgestack;

namespace {

std::size_t count(const compile::Graph& g, compile::Op op) {
    std::size_t k = 0;
    for (const auto& n : g.nodes) k += n.op == op;
    return k;
}

/// A fixture parsed, changed by `edit`, and imported from memory.
template <class Edit>
compile::Graph import_edited(const std::string& file, Edit edit) {
    const std::string bytes = iotest::fixture_bytes(file);
    onnx::ModelProto m = io::detail::parse_onnx(std::as_bytes(std::span(bytes.data(), bytes.size())), file);
    edit(m);
    const std::string out = m.SerializeAsString();
    return io::import_onnx_graph_bytes(std::as_bytes(std::span(out.data(), out.size())), file);
}

onnx::NodeProto& node_named(onnx::ModelProto& m, const std::string& name) {
    for (auto& n : *m.mutable_graph()->mutable_node())
        if (n.name() == name) return n;
    BOOST_FAIL("no node " << name << " in the fixture");
    throw;
}

// The keyword-spotting encoders of make_transformer_export.py as declared types.
using Ffn = nn::Residual<nn::TimeDense<128>, nn::ReLU, nn::TimeDense<64>>;
using PostNorm = nn::Sequential<nn::Input<49, 10>, nn::TimeDense<64>, nn::Residual<nn::MultiHeadSelfAttention<4>>,
                                nn::LayerNorm, Ffn, nn::LayerNorm, nn::Residual<nn::MultiHeadSelfAttention<4>>,
                                nn::LayerNorm, Ffn, nn::LayerNorm, nn::GlobalAvgPool, nn::Dense<12>>;
using PreNorm = nn::Sequential<nn::Input<49, 10>, nn::TimeDense<64>,
                               nn::Residual<nn::LayerNorm, nn::MultiHeadSelfAttention<4>>,
                               nn::Residual<nn::LayerNorm, nn::TimeDense<128>, nn::ReLU, nn::TimeDense<64>>,
                               nn::GlobalAvgPool, nn::Dense<12>>;

/// Imports `file` into a `Net` and checks its training layers' forward pass and its lowered
/// graph on the Reference engine against PyTorch's outputs for the script's fixed input.
template <class Net>
void check_declared(const std::string& name) {
    Net net;
    io::import_onnx_graph_into(iotest::fixtures + name + ".onnx", net);
    std::vector<float> x(49 * 10);
    for (std::size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<float>(static_cast<double>((i * 7919) % 2001) / 1000.0 - 1.0);
    std::ifstream f(iotest::fixtures + name + ".expected.txt");
    const std::vector<float> torch_y{std::istream_iterator<float>(f), std::istream_iterator<float>()};
    BOOST_REQUIRE_EQUAL(torch_y.size(), 12u);
    std::vector<float> y(12);
    net.predict(x.data(), y.data(), 1);
    const float d1 = iotest::check_within(y, torch_y, name + " declared, training layers vs PyTorch");
    const float d2 = iotest::check_within(iotest::run_on(backend::Reference{}, net.lower(), x), torch_y,
                                          name + " declared, lowered on Reference vs PyTorch");
    BOOST_TEST_MESSAGE(name << " into a declared type: max difference to PyTorch " << d1 << " (training layers), " << d2
                            << " (engine)");
}

} // namespace

BOOST_AUTO_TEST_SUITE(op_transformer_import)

BOOST_AUTO_TEST_CASE(post_norm_into_a_declared_type_matches_pytorch) { check_declared<PostNorm>("kws_transformer"); }

BOOST_AUTO_TEST_CASE(pre_norm_into_a_declared_type_matches_pytorch) { check_declared<PreNorm>("kws_transformer_pre"); }

BOOST_AUTO_TEST_CASE(a_declared_type_that_differs_is_refused_naming_the_node) {
    PreNorm pre;
    BOOST_CHECK_EXCEPTION(io::import_onnx_graph_into(iotest::fixtures + "kws_transformer.onnx", pre), shape_error,
                          iotest::message_has("is the first node that differs"));
    using Wide = nn::Sequential<nn::Input<49, 10>, nn::TimeDense<32>>;
    Wide wide;
    BOOST_CHECK_EXCEPTION(io::import_onnx_graph_into(iotest::fixtures + "kws_transformer.onnx", wide), shape_error,
                          iotest::message_has("gives 49x64"));
    using Heads = nn::Sequential<nn::Input<49, 10>, nn::TimeDense<64>, nn::Residual<nn::LayerNorm, nn::MultiHeadSelfAttention<2>>,
                                 nn::Residual<nn::LayerNorm, nn::TimeDense<128>, nn::ReLU, nn::TimeDense<64>>,
                                 nn::GlobalAvgPool, nn::Dense<12>>;
    Heads heads;
    const auto before = std::vector<float>(heads.parameters().begin(), heads.parameters().end());
    BOOST_CHECK_EXCEPTION(io::import_onnx_graph_into(iotest::fixtures + "kws_transformer_pre.onnx", heads), shape_error,
                          iotest::message_has("other attributes"));
    BOOST_TEST((std::vector<float>(heads.parameters().begin(), heads.parameters().end()) == before),
               "a refused import leaves the model as it was");
}

BOOST_AUTO_TEST_CASE(post_norm_two_layers_matches_onnx_runtime_and_pytorch) {
    iotest::check_network({"kws_transformer", "kws_transformer.onnx", {49, 10}, true});
    const auto g = io::import_onnx_graph(iotest::fixtures + "kws_transformer.onnx");
    BOOST_TEST(count(g, compile::Op::attention) == 2u);
    BOOST_TEST(count(g, compile::Op::layer_norm) == 4u);
    BOOST_TEST(count(g, compile::Op::add) == 4u);
    BOOST_TEST(count(g, compile::Op::dense) == 6u); // input projection, 2 x feed-forward, head
    BOOST_TEST(count(g, compile::Op::global_avg_pool) == 1u);
    for (const auto& n : g.nodes)
        if (n.op == compile::Op::attention) BOOST_TEST(n.kernel[0] == 4u);
}

BOOST_AUTO_TEST_CASE(pre_norm_decomposed_layer_norm_matches_onnx_runtime_and_pytorch) {
    iotest::check_network({"kws_transformer_pre", "kws_transformer_pre.onnx", {49, 10}, true});
    const auto g = io::import_onnx_graph(iotest::fixtures + "kws_transformer_pre.onnx");
    BOOST_TEST(count(g, compile::Op::attention) == 1u);
    BOOST_TEST(count(g, compile::Op::layer_norm) == 2u);
}

BOOST_AUTO_TEST_CASE(gelu_is_refused_by_name) {
    BOOST_CHECK_EXCEPTION(io::import_onnx_graph(iotest::fixtures + "kws_transformer_gelu.onnx"), format_error,
                          iotest::message_has("(Erf): operator Erf: GELU"));
}

BOOST_AUTO_TEST_CASE(a_mask_input_is_refused) {
    BOOST_CHECK_EXCEPTION(io::import_onnx_graph(iotest::fixtures + "kws_transformer_mask.onnx"), format_error,
                          iotest::message_has("a second input 'mask' besides 'input': attention masks"));
}

BOOST_AUTO_TEST_CASE(a_mask_added_to_the_scores_is_refused) {
    // A constant mask (as a causal mask is exported) added between the scores and the Softmax.
    auto edit = [](onnx::ModelProto& m) {
        auto& g = *m.mutable_graph();
        auto* mask = g.add_initializer();
        mask->set_name("causal");
        mask->set_data_type(onnx::TensorProto::FLOAT);
        mask->add_dims(49);
        mask->add_dims(49);
        for (int i = 0; i < 49 * 49; ++i) mask->add_float_data(i % 49 > i / 49 ? -1e9f : 0.0f);
        const auto nodes = g.node();
        g.clear_node();
        for (const auto& n : nodes) {
            if (n.name() == "/encoder/layers.0/self_attn/Softmax") {
                auto* add = g.add_node();
                add->set_name("mask_add");
                add->set_op_type("Add");
                add->add_input(n.input(0));
                add->add_input("causal");
                add->add_output("masked_scores");
                auto* sm = g.add_node();
                *sm = n;
                sm->set_input(0, "masked_scores");
            } else {
                *g.add_node() = n;
            }
        }
    };
    BOOST_CHECK_EXCEPTION(import_edited("kws_transformer_pre.onnx", edit), format_error,
                          iotest::message_has("'mask_add' (Add): adds to the attention scores (an attention mask)"));
}

BOOST_AUTO_TEST_CASE(heads_that_differ_between_q_and_v_are_refused) {
    // v reshaped to 8 heads of 8 while q and k have 4 heads of 16.
    auto edit = [](onnx::ModelProto& m) {
        auto* s = m.mutable_graph()->add_initializer();
        s->set_name("v_heads_8");
        s->set_data_type(onnx::TensorProto::INT64);
        s->add_dims(3);
        for (std::int64_t v : {49, -1, 8}) s->add_int64_data(v);
        node_named(m, "/encoder/layers.0/self_attn/Reshape_2").set_input(1, "v_heads_8");
    };
    BOOST_CHECK_EXCEPTION(import_edited("kws_transformer_pre.onnx", edit), format_error,
                          iotest::message_has("the attention weights have 4 heads, v 8"));
}

BOOST_AUTO_TEST_CASE(a_scale_other_than_one_over_sqrt_head_size_is_refused) {
    auto edit = [](onnx::ModelProto& m) {
        auto* s = m.mutable_graph()->add_initializer();
        s->set_name("scale_8");
        s->set_data_type(onnx::TensorProto::FLOAT);
        s->add_float_data(8.0f);
        node_named(m, "/encoder/layers.0/self_attn/Div_2").set_input(1, "scale_8");
    };
    BOOST_CHECK_EXCEPTION(import_edited("kws_transformer_pre.onnx", edit), format_error,
                          iotest::message_has("the scores are scaled by 0.125"));
}

BOOST_AUTO_TEST_CASE(damaged_files_give_format_errors) {
    // Truncated anywhere, or with a weight cut short: a format_error, never a crash.
    const std::string bytes = iotest::fixture_bytes("kws_transformer_pre.onnx");
    for (std::size_t n = 0; n < bytes.size(); n += 4999) {
        const std::string cut = bytes.substr(0, n);
        try {
            (void)io::import_onnx_graph_bytes(std::as_bytes(std::span(cut.data(), cut.size())), "cut");
        } catch (const format_error&) {
        }
    }
    auto edit = [](onnx::ModelProto& m) {
        for (auto& t : *m.mutable_graph()->mutable_initializer())
            if (t.dims_size() == 2 && t.dims(1) == 192) t.set_dims(1, 191); // in_proj: 64 x 191
    };
    BOOST_CHECK_THROW(import_edited("kws_transformer_pre.onnx", edit), format_error);
}

BOOST_AUTO_TEST_SUITE_END()
