// The layer_norm and positional_embedding op units end to end (compile/ops/layer_norm.hpp,
// positional_embedding.hpp): declared models with LayerNorm (over a sequence's features and
// over a flat vector) and PositionalEmbedding lowered and exported to ONNX, run by ONNX
// Runtime and compared with the training layers' own forward pass (Sequential::predict);
// every backend compared with both; parameters that do not fit refused by name (int8:
// op_attention_int8_test.cpp).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/nn/nn.hpp"
#include "declared_checks.hpp"
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_exports.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

using iotest::check_model;
using iotest::init_with_biases;
using iotest::refused_everywhere;

BOOST_AUTO_TEST_SUITE(op_layer_norm)

BOOST_AUTO_TEST_CASE(layer_norm_matches_ort_and_predict, *utf::precondition(iotest::OrtPresent{})) {
    check_model<nn::Sequential<nn::Input<6, 8>, nn::LayerNorm>>("layer norm over features", 41);
    check_model<nn::Sequential<nn::Input<24>, nn::Dense<16>, nn::LayerNorm, nn::Dense<5>>>("layer norm of a vector", 42);
    check_model<nn::Sequential<nn::Input<49, 64>, nn::LayerNorm>>("layer norm 49 x 64", 43, 2);
}

BOOST_AUTO_TEST_CASE(positional_embedding_matches_ort_and_predict, *utf::precondition(iotest::OrtPresent{})) {
    check_model<nn::Sequential<nn::Input<5, 4>, nn::PositionalEmbedding>>("positional embedding", 51);
    check_model<nn::Sequential<nn::Input<10, 6>, nn::PositionalEmbedding, nn::LayerNorm, nn::GRU<4>>>(
        "embedding, layer norm, gru", 52);
}

BOOST_AUTO_TEST_CASE(parameters_that_do_not_fit_are_refused_naming_the_node) {
    compile::Graph g = nn::Sequential<nn::Input<4, 3>, nn::LayerNorm>{}.lower();
    g.nodes[0].extra.pop_back();
    refused_everywhere<shape_error>(g, "'" + g.nodes[0].name + "' (layer_norm)", "expected 2 x 3");
    compile::Graph p = nn::Sequential<nn::Input<4, 3>, nn::PositionalEmbedding>{}.lower();
    p.nodes[0].weights.push_back(0.0f);
    refused_everywhere<shape_error>(p, "'" + p.nodes[0].name + "' (positional_embedding)", "expected 12");
}

BOOST_AUTO_TEST_SUITE_END()
