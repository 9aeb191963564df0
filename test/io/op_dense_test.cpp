// The dense op unit over the rows of a sequence (TimeDense: T x F -> T x U, one weight
// matrix for every row): declared models lowered and exported to ONNX, run by ONNX Runtime
// and compared with the training layers' forward pass (Sequential::predict), every backend
// compared with both; quantized and compared with ONNX Runtime running the same QDQ model;
// and a sequence pooled over time after it (global_avg_pool of T x C, ONNX ReduceMean).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
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
#include "edgestack/quant/graph_ptq.hpp"
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_exports.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

namespace {

using Net = nn::Sequential<nn::Input<12, 8>, nn::TimeDense<6>, nn::ReLU, nn::TimeDense<5>, nn::Flatten, nn::Dense<4>>;

} // namespace

BOOST_AUTO_TEST_SUITE(op_dense)

BOOST_AUTO_TEST_CASE(dense_over_rows_matches_ort_and_predict, *utf::precondition(iotest::OrtPresent{})) {
    Net net;
    Rng rng(5);
    net.init(rng);
    constexpr std::size_t batch = 3;
    const auto x = iotest::random_floats(batch * 12 * 8, -1.5f, 1.5f, 6);
    std::vector<float> mine(batch * 4);
    net.predict(x.data(), mine.data(), batch);

    iotest::TempDir dir;
    const compile::Graph g = net.lower();
    io::export_onnx(dir.file("rows.onnx"), g);
    const auto ort = iotest::ort_run(dir.file("rows.onnx"), x, batch, g.input_shape(), dir);
    iotest::check_within(ort, mine, "ONNX Runtime vs Sequential::predict");
    auto both = [&](const std::vector<float>& got, const std::string& backend) {
        iotest::check_within(got, ort, backend + " vs ONNX Runtime");
        iotest::check_within(got, mine, backend + " vs Sequential::predict");
    };
    both(iotest::run_on(backend::Reference{}, g, x), "reference");
    both(iotest::run_on(backend::Simd{}, g, x), "simd");
#if defined(EDGESTACK_HAS_XNNPACK)
    both(iotest::run_on(backend::Xnnpack{}, g, x), "xnnpack");
#endif
    both(iotest::run_on(backend::Parallel<backend::Simd>{{}, 2}, g, x), "parallel");
}

BOOST_AUTO_TEST_CASE(dense_over_rows_in_int8_matches_ort, *utf::precondition(iotest::OrtPresent{})) {
    Net net;
    Rng rng(7);
    net.init(rng);
    const compile::Graph g = net.lower();
    const compile::Graph q = quant::quantize_graph(g, iotest::random_floats(32 * g.input_size(), -1.5f, 1.5f, 8));
    iotest::TempDir dir;
    io::export_onnx(dir.file("q.onnx"), q);
    constexpr std::size_t N = 4;
    const auto x = iotest::random_floats(N * g.input_size(), -1.5f, 1.5f, 9);
    const auto want = iotest::ort_run(dir.file("q.onnx"), x, N, q.input_shape(), dir, "basic");
    const float step = q.value_quant.at(static_cast<std::size_t>(q.output)).scale.at(0);
    auto within_a_step = [&](const std::vector<float>& y, const char* backend) {
        BOOST_REQUIRE_EQUAL(y.size(), want.size());
        float worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - want[i]));
        BOOST_TEST(worst <= step * 1.001f, backend << ": " << worst / step << " steps from ONNX Runtime");
    };
    within_a_step(iotest::run_on(backend::Reference{}, q, x), "reference");
    within_a_step(iotest::run_on(backend::Simd{}, q, x), "simd");
#if defined(EDGESTACK_HAS_XNNPACK)
    within_a_step(iotest::run_on(backend::Xnnpack{}, q, x), "xnnpack");
#endif
}

// A sequence pooled over time (GlobalAvgPool of T x C) after a dense over its rows.
BOOST_AUTO_TEST_CASE(pooled_over_time_matches_ort_and_predict, *utf::precondition(iotest::OrtPresent{})) {
    nn::Sequential<nn::Input<10, 6>, nn::TimeDense<4>, nn::ReLU, nn::GlobalAvgPool, nn::Dense<3>> net;
    Rng rng(11);
    net.init(rng);
    constexpr std::size_t batch = 3;
    const auto x = iotest::random_floats(batch * 60, -1.5f, 1.5f, 12);
    std::vector<float> mine(batch * 3);
    net.predict(x.data(), mine.data(), batch);
    iotest::TempDir dir;
    const compile::Graph g = net.lower();
    io::export_onnx(dir.file("pooled.onnx"), g);
    const auto ort = iotest::ort_run(dir.file("pooled.onnx"), x, batch, g.input_shape(), dir);
    iotest::check_within(ort, mine, "ONNX Runtime vs Sequential::predict");
    iotest::check_within(iotest::run_on(backend::Reference{}, g, x), ort, "reference vs ONNX Runtime");
    iotest::check_within(iotest::run_on(backend::Simd{}, g, x), ort, "simd vs ONNX Runtime");
}

BOOST_AUTO_TEST_SUITE_END()
