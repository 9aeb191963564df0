// What the int8 op tests share: a declared model's fp32 graph with its int8 form, random
// int8 codes, a run of an int8 engine on codes, and the largest difference of two code
// vectors in output steps.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "declared_checks.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/quant/graph_ptq.hpp"
#include "io_util.hpp"

namespace iotest {

/// A model's fp32 graph (weights and biases drawn) and its int8 form, calibrated by
/// GraphPtq on `samples` random inputs in [-range, range].
template <class Net>
std::pair<edgestack::compile::Graph, edgestack::compile::Graph> int8_graphs(unsigned seed, std::size_t samples,
                                                                           float range) {
    Net net;
    init_with_biases(net, seed);
    edgestack::compile::Graph g = net.lower();
    edgestack::compile::Graph q =
        edgestack::quant::quantize_graph(g, random_floats(samples * g.input_size(), -range, range, seed + 1));
    return {g, q};
}

/// `n` random int8 codes.
inline std::vector<std::int8_t> random_codes(std::size_t n, unsigned seed) {
    const auto f = random_floats(n, -128.0f, 127.99f, seed);
    std::vector<std::int8_t> c(n);
    for (std::size_t i = 0; i < n; ++i) c[i] = static_cast<std::int8_t>(std::floor(f[i]));
    return c;
}

/// The int8 engine of `b` for `q`, run on the codes `x` (a whole number of samples).
template <class Backend>
std::vector<std::int8_t> run_codes(Backend b, const edgestack::compile::Graph& q, const std::vector<std::int8_t>& x) {
    const auto e = b.compile(q);
    const std::size_t batch = x.size() / e.input_size();
    auto arena = e.make_arena(batch);
    std::vector<std::int8_t> y(batch * e.output_size());
    BOOST_REQUIRE(e.run_int8(x, y, arena));
    return y;
}

/// The largest |a - b| over two code vectors of one size, in output steps.
inline int worst_step(const std::vector<std::int8_t>& a, const std::vector<std::int8_t>& b) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    int w = 0;
    for (std::size_t i = 0; i < a.size(); ++i) w = std::max(w, std::abs(int{a[i]} - int{b[i]}));
    return w;
}

} // namespace iotest
