// Checks of declared models with sequence layers, shared by the op-unit tests: a model with
// its biases drawn too, its lowered graph exported to ONNX and run by ONNX Runtime against
// Sequential::predict and on every backend, and refusals that name the node.
#pragma once

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
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_exports.hpp"

namespace iotest {


/// A model with every parameter that starts at zero (the biases) drawn at random, so that
/// the bias wiring is tested too.
template <class Net>
void init_with_biases(Net& net, unsigned seed) {
    edgestack::Rng rng(seed);
    net.init(rng);
    const auto r = random_floats(net.parameters().size(), -0.3f, 0.3f, seed + 1);
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
    const auto x = random_floats(batch * in, -1.5f, 1.5f, seed + 2);
    std::vector<float> mine(batch * out);
    net.predict(x.data(), mine.data(), batch);
    BOOST_TEST(*std::max_element(mine.begin(), mine.end()) - *std::min_element(mine.begin(), mine.end()) > 0.05f,
               what << ": outputs that all agree say nothing");

    TempDir dir;
    const edgestack::compile::Graph g = net.lower();
    edgestack::io::export_onnx(dir.file("model.onnx"), g);
    const auto ort = ort_run(dir.file("model.onnx"), x, batch, g.input_shape(), dir);
    check_within(ort, mine, what + ": ONNX Runtime vs Sequential::predict");

    auto both = [&](const std::vector<float>& got, const std::string& backend) {
        check_within(got, ort, what + " on " + backend + " vs ONNX Runtime");
        check_within(got, mine, what + " on " + backend + " vs Sequential::predict");
    };
    both(run_on(edgestack::backend::Reference{}, g, x), "reference");
    both(run_on(edgestack::backend::Simd{}, g, x), "simd");
#if defined(EDGESTACK_HAS_XNNPACK)
    both(run_on(edgestack::backend::Xnnpack{}, g, x), "xnnpack");
#endif
    both(run_on(edgestack::backend::Parallel<edgestack::backend::Simd>{{}, 2}, g, x), "parallel");
    // The last sample alone gives what it gave within the batch: the state starts at zero
    // for every sample.
    const std::vector<float> x1(x.end() - static_cast<long>(in), x.end());
    const std::vector<float> want1(mine.end() - static_cast<long>(out), mine.end());
    check_within(run_on(edgestack::backend::Simd{}, g, x1), want1, what + ": one sample on simd");
    check_within(run_on(edgestack::backend::Reference{}, g, x1), want1, what + ": one sample on reference");
}

/// Compiling `g` on every backend fails with a config_error or shape_error naming `node`
/// and holding `why`.
template <class Error>
void refused_everywhere(const edgestack::compile::Graph& g, const std::string& node, const std::string& why) {
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
    refused("reference", [&] { return edgestack::backend::Reference{}.compile(g); });
    refused("simd", [&] { return edgestack::backend::Simd{}.compile(g); });
#if defined(EDGESTACK_HAS_XNNPACK)
    refused("xnnpack", [&] { return edgestack::backend::Xnnpack{}.compile(g); });
#endif
}

} // namespace iotest
