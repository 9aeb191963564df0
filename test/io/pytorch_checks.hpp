// The checks every PyTorch export goes through in the ONNX import tests: imported with
// import_onnx_graph, run on every backend against ONNX Runtime and PyTorch (fp32), and
// quantized with GraphPtq and compared with ONNX Runtime running the same QDQ model (int8).
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_graph_import.hpp"
#include "edgestack/quant/graph_ptq.hpp"
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_exports.hpp"

namespace iotest {

/// Runs `g` on every backend and checks each against `want`; prints the largest differences.
inline void check_backends(const edgestack::compile::Graph& g, const std::vector<float>& x_nhwc, const std::vector<float>& want,
                    const std::string& what) {
    std::ostringstream report;
    report << what << ": max |ours - ONNX Runtime| / max(1, |ORT|):";
    auto one = [&](const char* name, const std::vector<float>& y) {
        report << " " << name << " " << check_within(y, want, what + " on " + name);
    };
    one("reference", run_on(edgestack::backend::Reference{}, g, x_nhwc));
    one("simd", run_on(edgestack::backend::Simd{}, g, x_nhwc));
#if defined(EDGESTACK_HAS_XNNPACK)
    one("xnnpack", run_on(edgestack::backend::Xnnpack{}, g, x_nhwc));
#endif
    one("parallel", run_on(edgestack::backend::Parallel<edgestack::backend::Simd>{{}, 2}, g, x_nhwc));
    BOOST_TEST_MESSAGE(report.str());
}

struct Network {
    std::string name, file;
    std::vector<std::size_t> dims; // per sample, as ONNX has it (C x H x W or features)
    bool dynamic_batch;
    bool channels_first = false;   // dims are C x T (1-D convolutions), ours T x C
};

/// Imports a fixture, runs it on every backend against ONNX Runtime on random inputs, and
/// against PyTorch's output on the script's fixed input.
inline void check_network(const Network& net) {
    iotest::TempDir dir;
    const std::string bytes = fixture_bytes(net.file);
    const std::string model = dir.file(net.name + ".onnx");
    iotest::write_text(model, bytes);
    const edgestack::compile::Graph g = edgestack::io::import_onnx_graph(model);

    const bool spatial = net.dims.size() == 3;
    auto to_ours = [&](const std::vector<float>& x, std::size_t batch) {
        if (net.channels_first) return nchw_to_nhwc(x, batch, net.dims[0], 1, net.dims[1]);
        return spatial ? nchw_to_nhwc(x, batch, net.dims[0], net.dims[1], net.dims[2]) : x;
    };
    BOOST_REQUIRE_EQUAL(g.input_size(), edgestack::compile::volume(net.dims));

    // ONNX Runtime on four random samples (one at a time for a file with a fixed batch).
    constexpr std::size_t N = 4;
    const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 17);
    const auto want = iotest::ort_samples(model, x, N, net.dims, net.dynamic_batch, dir);
    BOOST_TEST(*std::max_element(want.begin(), want.end()) - *std::min_element(want.begin(), want.end()) > 1e-2f,
               "outputs that all agree say nothing");
    check_backends(g, to_ours(x, N), want, net.name);

    // PyTorch's output for the script's input ((i * 7919) % 2001) / 1000 - 1.
    std::vector<float> x0(g.input_size());
    for (std::size_t i = 0; i < x0.size(); ++i)
        x0[i] = static_cast<float>(static_cast<double>((i * 7919) % 2001) / 1000.0 - 1.0);
    std::ifstream f(fixtures + net.name + ".expected.txt");
    const std::vector<float> torch_y{std::istream_iterator<float>(f), std::istream_iterator<float>()};
    const float d = check_within(run_on(edgestack::backend::Reference{}, g, to_ours(x0, 1)), torch_y, net.name + " vs PyTorch");
    BOOST_TEST_MESSAGE(net.name << ": max difference to PyTorch (reference backend): " << d);
}

/// Imports a fixture, quantizes the graph after its own calibration on random inputs, and
/// compares the int8 engines with ONNX Runtime running the same int8 model as a QDQ file
/// (operators as defined, level "basic"): within one output step. The int8 result must
/// also stay close to the fp32 one, or the quantization would be self-consistent but wrong.
template <edgestack::quant::Observer Obs = edgestack::quant::MinMax>
void check_quantized_network(const Network& net, Obs observer = {}) {
    iotest::TempDir dir;
    const std::string model = dir.file(net.name + ".onnx");
    iotest::write_text(model, fixture_bytes(net.file));
    const edgestack::compile::Graph g = edgestack::io::import_onnx_graph(model);

    edgestack::quant::GraphPtq<Obs> ptq(g, observer);
    ptq.observe(iotest::random_floats(48 * g.input_size(), -1.0f, 1.0f, 5), 16);
    const edgestack::compile::Graph q = ptq.lower();
    BOOST_REQUIRE_EQUAL(q.value_quant.size(), q.values.size());
    edgestack::io::export_onnx(dir.file("q.onnx"), q);

    constexpr std::size_t N = 4;
    const auto x = iotest::random_floats(N * g.input_size(), -1.0f, 1.0f, 29); // ours: NHWC
    const auto want = iotest::ort_run(dir.file("q.onnx"), x, N, q.input_shape(), dir, "basic");
    const float step = q.value_quant.at(static_cast<std::size_t>(q.output)).scale.at(0);
    std::ostringstream report;
    report << net.name << " int8 (" << Obs::name << "), max |ours - ONNX Runtime| in output steps:";
    auto one = [&](const char* name, const std::vector<float>& y) {
        BOOST_REQUIRE_EQUAL(y.size(), want.size());
        float worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - want[i]));
        BOOST_TEST(worst <= step * 1.001f, net.name << " on " << name << ": " << worst / step << " steps");
        report << " " << name << " " << worst / step;
    };
    const auto y8 = run_on(edgestack::backend::Reference{}, q, x);
    one("reference", y8);
    one("simd", run_on(edgestack::backend::Simd{}, q, x));
#if defined(EDGESTACK_HAS_XNNPACK)
    one("xnnpack", run_on(edgestack::backend::Xnnpack{}, q, x));
#endif
    one("parallel", run_on(edgestack::backend::Parallel<edgestack::backend::Simd>{{}, 2}, q, x));

    const auto y32 = run_on(edgestack::backend::Reference{}, g, x);
    const auto [lo, hi] = std::minmax_element(y32.begin(), y32.end());
    float err = 0;
    for (std::size_t i = 0; i < y32.size(); ++i) err = std::max(err, std::abs(y8[i] - y32[i]));
    report << "; max |int8 - fp32| = " << err / (*hi - *lo) << " of the fp32 output range";
    BOOST_TEST(err <= 0.1f * (*hi - *lo), net.name << ": int8 strays " << err << " from fp32");
    BOOST_TEST_MESSAGE(report.str());
}

} // namespace iotest
