// The layer_norm and positional_embedding op units end to end (compile/ops/layer_norm.hpp,
// positional_embedding.hpp): declared models with LayerNorm (over a sequence's features and
// over a flat vector) and PositionalEmbedding lowered and exported to ONNX, run by ONNX
// Runtime and compared with the training layers' own forward pass (Sequential::predict);
// every backend compared with both; int8 and parameters that do not fit refused by name.
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
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_exports.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

namespace {

/// A model with every parameter that starts at zero (the biases) drawn at random, so that
/// the bias wiring is tested too.
template <class Net>
void init_with_biases(Net& net, unsigned seed) {
    Rng rng(seed);
    net.init(rng);
    const auto r = iotest::random_floats(net.parameters().size(), -0.3f, 0.3f, seed + 1);
    auto p = net.parameters();
    for (std::size_t i = 0; i < p.size(); ++i)
        if (p[i] == 0.0f) p[i] = r[i];
}

/// Net on `batch` random samples: ONNX Runtime on its export against Sequential::predict,
/// then every backend against both.
template <class Net>
void check_model(const std::string& what, unsigned seed, std::size_t batch = 3) {
    Net net;
    init_with_biases(net, seed);
    constexpr std::size_t in = Net::input_shape::size, out = Net::output_shape::size;
    const auto x = iotest::random_floats(batch * in, -1.5f, 1.5f, seed + 2);
    std::vector<float> mine(batch * out);
    net.predict(x.data(), mine.data(), batch);
    BOOST_TEST(*std::max_element(mine.begin(), mine.end()) - *std::min_element(mine.begin(), mine.end()) > 0.05f,
               what << ": outputs that all agree say nothing");

    iotest::TempDir dir;
    const compile::Graph g = net.lower();
    io::export_onnx(dir.file("model.onnx"), g);
    const auto ort = iotest::ort_run(dir.file("model.onnx"), x, batch, g.input_shape(), dir);
    iotest::check_within(ort, mine, what + ": ONNX Runtime vs Sequential::predict");

    auto both = [&](const std::vector<float>& got, const std::string& backend) {
        iotest::check_within(got, ort, what + " on " + backend + " vs ONNX Runtime");
        iotest::check_within(got, mine, what + " on " + backend + " vs Sequential::predict");
    };
    both(iotest::run_on(backend::Reference{}, g, x), "reference");
    both(iotest::run_on(backend::Simd{}, g, x), "simd");
#if defined(EDGESTACK_HAS_XNNPACK)
    both(iotest::run_on(backend::Xnnpack{}, g, x), "xnnpack");
#endif
    both(iotest::run_on(backend::Parallel<backend::Simd>{{}, 2}, g, x), "parallel");
    // The last sample alone gives what it gave within the batch: the state starts at zero
    // for every sample.
    const std::vector<float> x1(x.end() - static_cast<long>(in), x.end());
    const std::vector<float> want1(mine.end() - static_cast<long>(out), mine.end());
    iotest::check_within(iotest::run_on(backend::Simd{}, g, x1), want1, what + ": one sample on simd");
    iotest::check_within(iotest::run_on(backend::Reference{}, g, x1), want1, what + ": one sample on reference");
}

/// Compiling `g` on every backend fails with a config_error or shape_error naming `node`
/// and holding `why`.
template <class Error>
void refused_everywhere(const compile::Graph& g, const std::string& node, const std::string& why) {
    auto refused = [&](const char* backend, auto&& compile) {
        try {
            (void)compile();
            BOOST_ERROR(backend << ": compiled");
        } catch (const Error& e) {
            const std::string m = e.what();
            BOOST_TEST(m.find(node) != std::string::npos, m);
            BOOST_TEST(m.find(why) != std::string::npos, m);
        }
    };
    refused("reference", [&] { return backend::Reference{}.compile(g); });
    refused("simd", [&] { return backend::Simd{}.compile(g); });
#if defined(EDGESTACK_HAS_XNNPACK)
    refused("xnnpack", [&] { return backend::Xnnpack{}.compile(g); });
#endif
}

} // namespace

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

BOOST_AUTO_TEST_CASE(int8_is_refused_naming_the_node) {
    compile::Graph g = nn::Sequential<nn::Input<4, 3>, nn::PositionalEmbedding, nn::LayerNorm>{}.lower();
    g.value_quant.assign(g.values.size(), {{0.05f}, {0}, -1});
    refused_everywhere<config_error>(g, "'" + g.nodes[0].name + "' (positional_embedding)",
                                     "int8 positional embedding is not supported");
    compile::Graph l = nn::Sequential<nn::Input<4, 3>, nn::LayerNorm>{}.lower();
    l.value_quant.assign(l.values.size(), {{0.05f}, {0}, -1});
    refused_everywhere<config_error>(l, "'" + l.nodes[0].name + "' (layer_norm)", "int8 layer norm is not supported");
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
