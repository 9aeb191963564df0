// A minimal deployment: the int8 reference CNN on the Simd backend, weights compiled in as
// read-only data (cnn_int8_data.hpp), one static arena, one image (784 bytes, 0..255) read
// from stdin; prints the predicted class. Built static and stripped; its size is recorded
// in docs/benchmarks.md.
#include <cstdint>
#include <cstdio>
#include <span>

#include "cnn_int8_data.hpp"
#include "edgestack/backend/simd.hpp"

using namespace edgestack;

namespace {

compile::Graph cnn_int8() {
    using compile::Op;
    compile::Graph g = compile::Graph::with_input({28, 28, 1});
    auto node = [&](Op op, int in, compile::Dims out, std::size_t k, std::size_t s, std::size_t pad) {
        compile::Node n;
        n.op = op;
        n.name = g.fresh_name(op);
        n.kernel = {k, k};
        n.stride = {s, s};
        n.pad = {pad, pad, pad, pad};
        n.fused = op == Op::conv2d || op == Op::dense ? compile::Activation::relu : compile::Activation::none;
        return g.append(std::move(n), {in}, std::move(out));
    };
    int v = node(Op::conv2d, 0, {28, 28, 32}, 3, 1, 1);
    v = node(Op::max_pool2d, v, {14, 14, 32}, 2, 2, 0);
    v = node(Op::conv2d, v, {14, 14, 64}, 3, 1, 1);
    v = node(Op::max_pool2d, v, {7, 7, 64}, 2, 2, 0);
    v = node(Op::flatten, v, {3136}, 1, 1, 0);
    v = node(Op::dense, v, {128}, 1, 1, 0);
    node(Op::dense, v, {10}, 1, 1, 0);
    g.nodes.back().fused = compile::Activation::none;
    auto set = [](compile::Node& n, std::span<const std::int8_t> w, std::span<const std::int32_t> b,
                  std::span<const float> s) {
        n.qweights.assign(w.begin(), w.end());
        n.qbias.assign(b.begin(), b.end());
        n.weight_quant.scale.assign(s.begin(), s.end());
        n.weight_quant.zero_point.assign(s.size(), 0);
        n.weight_quant.axis = 0;
    };
    set(g.nodes[0], w0, b0, s0);
    set(g.nodes[2], w2, b2, s2);
    set(g.nodes[5], w5, b5, s5);
    set(g.nodes[6], w6, b6, s6);
    g.value_quant.resize(g.values.size());
    for (std::size_t v2 = 0; v2 < g.values.size(); ++v2) g.value_quant[v2] = {{value_scale[v2]}, {value_zero_point[v2]}, -1};
    return g;
}

alignas(64) std::byte arena_storage[128 * 1024];

} // namespace

int main() {
    const backend::SimdEngine engine(cnn_int8());
    auto arena = backend::Arena::over(arena_storage, 1);
    if (engine.arena_bytes(1) > sizeof arena_storage) return 3;
    float image[784], logits[10];
    for (float& p : image) {
        const int c = std::getchar();
        p = c == EOF ? 0.0f : static_cast<float>(c) / 255.0f;
    }
    if (!engine.run(image, logits, arena)) return 2;
    int best = 0;
    for (int i = 1; i < 10; ++i)
        if (logits[i] > logits[best]) best = i;
    std::printf("%d\n", best);
    return 0;
}
