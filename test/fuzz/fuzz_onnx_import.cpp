// libFuzzer target: ONNX import, into a declared type and into a graph. The model is a minimal stand-in with the fixture's
// structure (conv, relu, max pool, batch norm, depthwise conv, relu, flatten, dense): the
// importer needs only parameters(), state() and lower(), and clang 14 cannot compile the
// float template parameters of nn::BatchNorm.
#include <span>
#include <vector>

#include "edgestack/io/onnx_graph_import.hpp"
#include "edgestack/io/onnx_import.hpp"

namespace {

using namespace edgestack;

struct FixtureShaped {
    std::vector<float> p = std::vector<float>(738), s = std::vector<float>(8);
    std::span<float> parameters() { return p; }
    std::span<float> state() { return s; }

    compile::Graph lower() const {
        auto g = compile::Graph::with_input({8, 8, 1});
        auto slice = [](const std::vector<float>& v, std::size_t a, std::size_t b) {
            return std::vector<float>(v.begin() + static_cast<long>(a), v.begin() + static_cast<long>(b));
        };
        compile::Node conv;
        conv.op = compile::Op::conv2d;
        conv.name = "conv2d_0";
        conv.kernel = {3, 3};
        conv.pad = {1, 1, 1, 1};
        conv.weights = slice(p, 0, 36);
        conv.bias = slice(p, 36, 40);
        int v = g.append(conv, {0}, {8, 8, 4});
        compile::Node relu;
        relu.op = compile::Op::relu;
        relu.name = "relu_0";
        v = g.append(relu, {v}, {8, 8, 4});
        compile::Node pool;
        pool.op = compile::Op::max_pool2d;
        pool.name = "max_pool2d_0";
        pool.kernel = pool.stride = {2, 2};
        v = g.append(pool, {v}, {4, 4, 4});
        compile::Node bn;
        bn.op = compile::Op::batch_norm;
        bn.name = "batch_norm_0";
        bn.alpha = 1e-5f;
        bn.extra = slice(p, 40, 48);
        bn.extra.insert(bn.extra.end(), s.begin(), s.end());
        v = g.append(bn, {v}, {4, 4, 4});
        compile::Node dw;
        dw.op = compile::Op::depthwise_conv2d;
        dw.name = "depthwise_conv2d_0";
        dw.kernel = {3, 3};
        dw.pad = {1, 1, 1, 1};
        dw.weights = slice(p, 48, 84);
        dw.bias = slice(p, 84, 88);
        v = g.append(dw, {v}, {4, 4, 4});
        relu.name = "relu_1";
        v = g.append(relu, {v}, {4, 4, 4});
        compile::Node flat;
        flat.op = compile::Op::flatten;
        flat.name = "flatten_0";
        v = g.append(flat, {v}, {64});
        compile::Node dense;
        dense.op = compile::Op::dense;
        dense.name = "dense_0";
        dense.weights = slice(p, 88, 728);
        dense.bias = slice(p, 728, 738);
        g.append(dense, {v}, {10});
        return g;
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static FixtureShaped model;
    const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(data), size};
    try {
        io::import_onnx_bytes(bytes, "fuzz.onnx", model);
    } catch (const edgestack::error&) {
    }
    // The same bytes through the graph importer: no declared type, every op it knows.
    try {
        (void)io::import_onnx_graph_bytes(bytes, "fuzz.onnx");
    } catch (const edgestack::error&) {
    }
    return 0;
}
