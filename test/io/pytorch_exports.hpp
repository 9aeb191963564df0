// Shared by the ONNX import tests: the PyTorch exports of test/fixtures, the NCHW to NHWC
// conversion of their inputs, the 1e-4 comparison with ONNX Runtime and PyTorch, one graph
// run on one backend, and ONNX Runtime's outputs for a file with a dynamic or fixed batch.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/data/detail/byte_reader.hpp"
#include "io_util.hpp"
#include "ort.hpp"

namespace iotest {

/// Where the fixtures and their NAME.expected.txt files are.
inline const std::string fixtures = std::string(EDGESTACK_SOURCE_DIR) + "/test/fixtures/";

/// A fixture's bytes (gzip-compressed ones inflated).
inline std::string fixture_bytes(const std::string& file) {
    edgestack::data::detail::ByteReader r(fixtures + file);
    std::string s, chunk(1 << 16, '\0');
    while (const std::size_t got = r.read_some(chunk.data(), chunk.size())) s.append(chunk.data(), got);
    return s;
}

/// `batch` samples of C x H x W (PyTorch's layout) as H x W x C (ours).
inline std::vector<float> nchw_to_nhwc(const std::vector<float>& x, std::size_t batch, std::size_t C,
                                       std::size_t H, std::size_t W) {
    std::vector<float> y(x.size());
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t h = 0; h < H; ++h)
                for (std::size_t w = 0; w < W; ++w)
                    y[((b * H + h) * W + w) * C + c] = x[((b * C + c) * H + h) * W + w];
    return y;
}

/// The tolerance of every comparison with ONNX Runtime and PyTorch: 1e-4 absolute for
/// values up to 1 in magnitude, 1e-4 relative above.
constexpr float tolerance = 1e-4f;

/// Largest |got - want| / max(1, |want|); fails the test past `tolerance`.
inline float check_within(const std::vector<float>& got, const std::vector<float>& want,
                          const std::string& what) {
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    float worst = 0.0f;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const float d = std::abs(got[i] - want[i]) / std::max(1.0f, std::abs(want[i]));
        if (!(d <= tolerance)) BOOST_ERROR(what << ": element " << i << ": " << got[i] << " vs " << want[i]);
        worst = std::max(worst, d);
    }
    return worst;
}

/// `g` compiled by `b` and run on the whole samples `x`.
template <class Backend>
std::vector<float> run_on(const Backend& b, const edgestack::compile::Graph& g, const std::vector<float>& x) {
    const auto e = b.compile(g);
    const std::size_t batch = x.size() / e.input_size();
    std::vector<float> y(batch * e.output_size());
    auto arena = e.make_arena(batch);
    BOOST_REQUIRE(e.run(x, y, arena));
    return y;
}

/// ONNX Runtime's outputs for `n` samples of `per_sample` floats in `x`: in one run, or
/// one sample at a time for a file whose batch is fixed.
inline std::vector<float> ort_samples(const std::string& model, const std::vector<float>& x, std::size_t n,
                                      const std::vector<std::size_t>& dims, bool dynamic_batch,
                                      const TempDir& dir) {
    if (dynamic_batch) return ort_run(model, x, n, dims, dir);
    const std::size_t per = x.size() / n;
    std::vector<float> want;
    for (std::size_t b = 0; b < n; ++b) {
        const std::vector<float> xb(x.begin() + static_cast<long>(b * per), x.begin() + static_cast<long>((b + 1) * per));
        const auto yb = ort_run(model, xb, 1, dims, dir);
        want.insert(want.end(), yb.begin(), yb.end());
    }
    return want;
}

} // namespace iotest
