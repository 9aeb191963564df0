// The attention op unit end to end (compile/ops/attention.hpp): declared models with
// MultiHeadSelfAttention (1, 2 and 4 heads; T = 49, D = 64 and small shapes) lowered and
// exported to ONNX, run by ONNX Runtime and compared with the training layers' own forward
// pass (Sequential::predict); every backend compared with both; an encoder block (layer
// norm, attention, residuals, a dense head) exported likewise; heads that do not divide the
// width refused by name (int8: op_attention_int8_test.cpp).
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

using iotest::init_with_biases;

namespace {

/// `batch` samples through Sequential::predict, the training layers' definition.
template <class Net>
std::vector<float> predict(Net& net, const std::vector<float>& x, std::size_t batch) {
    std::vector<float> y(batch * Net::output_shape::size);
    net.predict(x.data(), y.data(), batch);
    return y;
}

/// Checks `got` against both ONNX Runtime's output and predict's.
void check_both(const std::vector<float>& got, const std::vector<float>& ort, const std::vector<float>& mine,
                const std::string& what) {
    iotest::check_within(got, ort, what + " vs ONNX Runtime");
    iotest::check_within(got, mine, what + " vs Sequential::predict");
}

/// Input<T, D> -> MultiHeadSelfAttention<H>: ONNX Runtime on the export vs predict, and
/// every backend vs both.
template <std::size_t T, std::size_t D, std::size_t H>
void check_attention(unsigned seed) {
    using Net = nn::Sequential<nn::Input<T, D>, nn::MultiHeadSelfAttention<H>>;
    Net net;
    init_with_biases(net, seed);
    const std::string what = "attention T=" + std::to_string(T) + " D=" + std::to_string(D) + " heads=" +
                             std::to_string(H);
    constexpr std::size_t batch = 3;
    const auto x = iotest::random_floats(batch * T * D, -1.5f, 1.5f, seed + 2);
    const auto mine = predict(net, x, batch);
    BOOST_TEST(*std::max_element(mine.begin(), mine.end()) - *std::min_element(mine.begin(), mine.end()) > 0.1f,
               what << ": outputs that all agree say nothing");

    iotest::TempDir dir;
    const compile::Graph g = net.lower();
    io::export_onnx(dir.file("attention.onnx"), g);
    const auto ort = iotest::ort_run(dir.file("attention.onnx"), x, batch, g.input_shape(), dir);
    iotest::check_within(ort, mine, what + ": ONNX Runtime vs Sequential::predict");

    check_both(iotest::run_on(backend::Reference{}, g, x), ort, mine, what + " on reference");
    check_both(iotest::run_on(backend::Simd{}, g, x), ort, mine, what + " on simd");
#if defined(EDGESTACK_HAS_XNNPACK)
    check_both(iotest::run_on(backend::Xnnpack{}, g, x), ort, mine, what + " on xnnpack");
#endif
    check_both(iotest::run_on(backend::Parallel<backend::Simd>{{}, 2}, g, x), ort, mine, what + " on parallel");
    // One sample alone gives the same as within the batch.
    const std::vector<float> x1(x.begin() + T * D, x.begin() + 2 * T * D);
    const std::vector<float> want1(mine.begin() + T * D, mine.begin() + 2 * T * D);
    iotest::check_within(iotest::run_on(backend::Simd{}, g, x1), want1, what + ": one sample on simd");
}

} // namespace

BOOST_AUTO_TEST_SUITE(op_attention)

BOOST_AUTO_TEST_CASE(seq49_width64_matches_ort_and_predict_on_every_backend, *utf::precondition(iotest::OrtPresent{})) {
    check_attention<49, 64, 1>(11);
    check_attention<49, 64, 2>(12);
    check_attention<49, 64, 4>(13);
}

BOOST_AUTO_TEST_CASE(small_shapes_match_ort_and_predict_on_every_backend, *utf::precondition(iotest::OrtPresent{})) {
    check_attention<5, 8, 1>(21);
    check_attention<5, 8, 2>(22);
    check_attention<5, 8, 4>(23);
    check_attention<1, 4, 2>(24);  // one step: every weight is 1
    check_attention<7, 6, 3>(25);  // three heads of two
}

BOOST_AUTO_TEST_CASE(encoder_block_exports_and_matches_predict, *utf::precondition(iotest::OrtPresent{})) {
    // Two pre-norm attention blocks and a classifier head over the flattened sequence.
    using Net = nn::Sequential<nn::Input<10, 16>, nn::PositionalEmbedding,
                               nn::Residual<nn::LayerNorm, nn::MultiHeadSelfAttention<4>>,
                               nn::Residual<nn::LayerNorm, nn::MultiHeadSelfAttention<2>>, nn::LayerNorm,
                               nn::Flatten, nn::Dense<5>>;
    Net net;
    init_with_biases(net, 31);
    constexpr std::size_t batch = 2;
    const auto x = iotest::random_floats(batch * 10 * 16, -1.0f, 1.0f, 32);
    static_assert(Net::output_shape::size == 5);
    const auto mine = predict(net, x, batch);
    iotest::TempDir dir;
    const compile::Graph g = net.lower();
    io::export_onnx(dir.file("encoder.onnx"), g);
    const auto ort = iotest::ort_run(dir.file("encoder.onnx"), x, batch, g.input_shape(), dir);
    iotest::check_within(ort, mine, "encoder block: ONNX Runtime vs Sequential::predict");
}

BOOST_AUTO_TEST_CASE(heads_that_do_not_divide_the_width_are_refused_by_name) {
    compile::Graph g = compile::Graph::with_input({4, 8});
    compile::Node a;
    a.op = compile::Op::attention;
    a.name = "odd_heads";
    a.kernel = {3, 1};
    a.weights.assign(4 * 8 * 8, 0.1f);
    a.bias.assign(4 * 8, 0.0f);
    g.append(std::move(a), {0}, {4, 8});
    try {
        (void)backend::Reference{}.compile(g);
        BOOST_ERROR("3 heads over a width of 8 compiled");
    } catch (const std::exception& e) {
        const std::string m = e.what();
        BOOST_TEST(m.find("'odd_heads' (attention)") != std::string::npos, m);
        BOOST_TEST(m.find("3 heads do not divide the width 8") != std::string::npos, m);
    }
    iotest::TempDir dir;
    BOOST_CHECK_THROW(io::export_onnx(dir.file("odd.onnx"), g), edgestack::error);
}

BOOST_AUTO_TEST_SUITE_END()
