// The C++ side of bench/compare/engine_compare.py: writes the reference networks as ONNX
// files (same seeded weights as backend::nets) plus a one-Add model that measures ONNX
// Runtime's per-call binding overhead, and times, alternating, our Simd engine (fp32,
// int8), our Xnnpack backend and XNNPACK called directly (a flat list of operators set up
// once, no engine around them) at batch 1 on one thread. Every XNNPACK call's status is
// checked (a failure aborts, naming the call), and before any timing every side's outputs
// are compared with the Reference backend's. The keyword-spotting sequence networks (49 x 10
// MFCC frames, GRU or LSTM of 64 units, dense 12, softmax) have no XNNPACK operator for
// their recurrent layer: they are timed on our Simd engine and Xnnpack backend (which runs
// the recurrent step on the Simd kernels), fp32 only. So is the transformer encoder
// (PyTorch's export of two nn.TransformerEncoderLayer, d = 64, 4 heads, over the same 49 x
// 10 input; test/fixtures/kws_transformer.onnx), imported with io::import_onnx_graph. The 1-D
// sensor network (128 steps x 6 channels: Conv1D 16 x 5, ReLU, MaxPool1D 2, DepthwiseConv1D
// 3, ReLU, AvgPool1D 2, global average, dense 5) runs on every engine, fp32 and int8, but not
// on the XNNPACK-direct side (its flat list has no average pool).
//
//   bench_engine_peers --write-onnx DIR
//   bench_engine_peers --measure cnn|ds_cnn|kws_gru|kws_lstm|kws_transformer|sensor1d [--rounds R] [--runs N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/backend/xnnpack.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_graph_import.hpp"
#include "edgestack/nn/nn.hpp"

using namespace edgestack;

namespace {

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "bench_engine_peers: %s\n", what.c_str());
    std::exit(1);
}

/// Aborts unless an XNNPACK call succeeded; names the call and the node.
void must(xnn_status st, const char* call, const std::string& node = {}) {
    if (st != xnn_status_success)
        fail(std::string(call) + (node.empty() ? "" : " (node '" + node + "')") + " failed with status " +
             std::to_string(int(st)));
}

bool sequence(const std::string& name) {
    return name == "kws_gru" || name == "kws_lstm" || name == "kws_transformer";
}

/// PyTorch's export of the two-layer transformer encoder.
const std::string transformer_onnx = std::string(EDGESTACK_SOURCE_DIR) + "/test/fixtures/kws_transformer.onnx";

/// A declared network with seeded weights, its zero-initialised biases drawn too.
template <class Net>
compile::Graph declared(unsigned seed) {
    Net net;
    Rng rng(seed);
    net.init(rng);
    auto p = net.parameters();
    for (float& v : p)
        if (v == 0.0f) v = rng.uniform(-0.2f, 0.2f);
    return net.lower();
}

compile::Graph network(const std::string& name, bool int8) {
    using Kws = nn::Input<49, 10>;
    if (name == "kws_gru") return declared<nn::Sequential<Kws, nn::GRU<64>, nn::Dense<12>, nn::Softmax>>(19);
    if (name == "kws_transformer") return io::import_onnx_graph(transformer_onnx);
    if (name == "kws_lstm") return declared<nn::Sequential<Kws, nn::LSTM<64>, nn::Dense<12>, nn::Softmax>>(20);
    using Sensor = nn::Sequential<nn::Input<128, 6>, nn::Conv1D<16, 5, 1, nn::Pad<2>>, nn::ReLU, nn::MaxPool1D<2>,
                                  nn::DepthwiseConv1D<3, 1, nn::Pad<1>>, nn::ReLU, nn::AvgPool1D<2>,
                                  nn::GlobalAvgPool, nn::Dense<5>>;
    auto g = name == "sensor1d" ? declared<Sensor>(23) : name == "cnn" ? backend::nets::cnn() : backend::nets::ds_cnn();
    if (int8) backend::nets::quantize_minmax(g, backend::nets::random_inputs(g, 32, 3));
    else compile::canonicalize(g);
    return g;
}

void write_add_model(const std::string& path) {
    onnx::ModelProto m;
    m.set_ir_version(onnx::IR_VERSION);
    m.set_producer_name("edgestack-bench");
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("overhead");
    auto tensor_type = [](onnx::ValueInfoProto* v, const char* name) {
        v->set_name(name);
        auto* t = v->mutable_type()->mutable_tensor_type();
        t->set_elem_type(onnx::TensorProto::FLOAT);
        t->mutable_shape()->add_dim()->set_dim_value(1);
        t->mutable_shape()->add_dim()->set_dim_value(640);
    };
    tensor_type(g->add_input(), "x");
    tensor_type(g->add_output(), "y");
    auto* b = g->add_initializer();
    b->set_name("b");
    b->set_data_type(onnx::TensorProto::FLOAT);
    b->add_dims(1);
    b->add_dims(640);
    for (int i = 0; i < 640; ++i) b->add_float_data(0.001f * float(i));
    auto* n = g->add_node();
    n->set_op_type("Add");
    n->add_input("x");
    n->add_input("b");
    n->add_output("y");
    std::ofstream f(path, std::ios::binary);
    m.SerializeToOstream(&f);
}

/// XNNPACK called directly: one operator per conv/dense/pool of the canonical graph, set
/// up once on fixed buffers, then only xnn_run_operator per inference.
class XnnDirect {
public:
    explicit XnnDirect(const compile::Graph& g) : g_(g), int8_(!g.value_quant.empty()) {
        must(xnn_initialize(nullptr), "xnn_initialize");
        for (std::size_t v = 0; v < g.values.size(); ++v)
            buffers_.emplace_back(compile::volume(g.values[v]) * (int8_ ? 1 : 4) + 64);
        for (const auto& n : g.nodes) add(n);
    }
    ~XnnDirect() {
        for (auto op : ops_) xnn_delete_operator(op);
    }
    std::size_t input_size() const { return g_.input_size(); }
    void run(const float* x) {
        if (int8_) {
            const auto& q = g_.value_quant[0];
            auto* in = reinterpret_cast<std::int8_t*>(buffers_[0].data());
            for (std::size_t i = 0; i < g_.input_size(); ++i) in[i] = quant::quantize(x[i], q.scale[0], q.zero_point[0]);
        } else {
            std::memcpy(buffers_[0].data(), x, g_.input_size() * 4);
        }
        for (auto op : ops_) must(xnn_run_operator(op, nullptr), "xnn_run_operator");
    }
    /// The output of the last run, as floats (dequantized for int8).
    std::vector<float> output() {
        const void* y = source(g_.output);
        std::vector<float> r(g_.output_size());
        if (int8_) {
            const auto& q = g_.value_quant[std::size_t(g_.output)];
            for (std::size_t i = 0; i < r.size(); ++i)
                r[i] = quant::dequantize(static_cast<const std::int8_t*>(y)[i], q.scale[0], q.zero_point[0]);
        } else {
            std::memcpy(r.data(), y, r.size() * 4);
        }
        return r;
    }

private:
    void* buf(int v) { return buffers_[std::size_t(v)].data(); }
    void add(const compile::Node& n) {
        using compile::Op;
        if (n.op == Op::flatten) { // alias: point the output at the input's buffer
            buffers_[std::size_t(n.output)] = buffers_[std::size_t(n.inputs[0])];
            alias_.push_back({n.output, n.inputs[0]});
            return;
        }
        const auto in = g_.values[std::size_t(n.inputs[0])];
        const auto out = g_.values[std::size_t(n.output)];
        const std::size_t ic = in.back(), oc = out.back();
        const auto u = [](std::size_t v) { return static_cast<std::uint32_t>(v); };
        const bool dw = n.op == Op::depthwise_conv2d;
        xnn_operator_t op = nullptr;
        const float lo = n.fused == compile::Activation::none ? -std::numeric_limits<float>::infinity() : 0.0f;
        const float hi = std::numeric_limits<float>::infinity();
        // Flatten aliases: resolve to the buffer that really holds the data.
        const void* x = source(n.inputs[0]);
        void* y = buf(n.output);
        if (!int8_) {
            if (n.op == Op::conv2d || dw) {
                must(xnn_create_convolution2d_nhwc_f32(u(n.pad[0]), u(n.pad[3]), u(n.pad[2]), u(n.pad[1]), u(n.kernel[0]), u(n.kernel[1]),
                                                  u(n.stride[0]), u(n.stride[1]), 1, 1, dw ? u(ic) : 1, dw ? 1 : ic, dw ? 1 : oc,
                                                  ic, oc, n.weights.data(), n.bias.data(), lo, hi,
                                                  dw ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0, &op), "xnn_create_convolution2d_nhwc_f32", n.name);
                must(xnn_setup_convolution2d_nhwc_f32(op, 1, in[0], in[1], static_cast<const float*>(x), static_cast<float*>(y), nullptr), "xnn_setup_convolution2d_nhwc_f32", n.name);
            } else if (n.op == Op::dense) {
                const std::size_t k = compile::volume(in);
                must(xnn_create_fully_connected_nc_f32(k, oc, k, oc, n.weights.data(), n.bias.data(), lo, hi, 0, &op), "xnn_create_fully_connected_nc_f32", n.name);
                must(xnn_setup_fully_connected_nc_f32(op, 1, static_cast<const float*>(x), static_cast<float*>(y), nullptr), "xnn_setup_fully_connected_nc_f32", n.name);
            } else if (n.op == Op::max_pool2d) {
                must(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, u(n.kernel[0]), u(n.kernel[1]), u(n.stride[0]), u(n.stride[1]), 1, 1,
                                                  ic, ic, ic, -std::numeric_limits<float>::infinity(), hi, 0, &op), "xnn_create_max_pooling2d_nhwc_f32", n.name);
                must(xnn_setup_max_pooling2d_nhwc_f32(op, 1, in[0], in[1], static_cast<const float*>(x), static_cast<float*>(y), nullptr), "xnn_setup_max_pooling2d_nhwc_f32", n.name);
            } else if (n.op == Op::global_avg_pool) {
                must(xnn_create_global_average_pooling_nwc_f32(ic, ic, ic, -std::numeric_limits<float>::infinity(), hi, 0, &op), "xnn_create_global_average_pooling_nwc_f32", n.name);
                must(xnn_setup_global_average_pooling_nwc_f32(op, 1, in[0] * in[1], static_cast<const float*>(x), static_cast<float*>(y), nullptr), "xnn_setup_global_average_pooling_nwc_f32", n.name);
            }
        } else {
            const auto& qi = g_.value_quant[std::size_t(n.inputs[0])];
            const auto& qo = g_.value_quant[std::size_t(n.output)];
            const auto i8 = [](std::int32_t v) { return static_cast<std::int8_t>(v); };
            const std::int8_t qlo = n.fused == compile::Activation::none ? -128 : i8(std::max(-128, qo.zero_point[0]));
            if (n.op == Op::conv2d || dw) {
                must(xnn_create_convolution2d_nhwc_qc8(u(n.pad[0]), u(n.pad[3]), u(n.pad[2]), u(n.pad[1]), u(n.kernel[0]), u(n.kernel[1]),
                                                  u(n.stride[0]), u(n.stride[1]), 1, 1, dw ? u(ic) : 1, dw ? 1 : ic, dw ? 1 : oc,
                                                  ic, oc, i8(qi.zero_point[0]), qi.scale[0], n.weight_quant.scale.data(),
                                                  n.qweights.data(), n.qbias.data(), i8(qo.zero_point[0]), qo.scale[0], qlo, 127,
                                                  dw ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0, &op), "xnn_create_convolution2d_nhwc_qc8", n.name);
                must(xnn_setup_convolution2d_nhwc_qc8(op, 1, in[0], in[1], static_cast<const std::int8_t*>(x), static_cast<std::int8_t*>(y), nullptr), "xnn_setup_convolution2d_nhwc_qc8", n.name);
            } else if (n.op == Op::dense) {
                // qs8 fully connected takes one weight scale: requantize the weights to the
                // largest per-channel scale (what a per-tensor quantizer would have chosen).
                const std::size_t k = compile::volume(in);
                float ws = 0;
                for (float s : n.weight_quant.scale) ws = std::max(ws, s);
                auto& w = owned_.emplace_back(n.qweights.size());
                auto& b = owned_bias_.emplace_back(oc);
                for (std::size_t o = 0; o < oc; ++o) {
                    const float r = n.weight_quant.scale[o] / ws;
                    for (std::size_t i = 0; i < k; ++i) w[o * k + i] = i8(int(std::nearbyint(n.qweights[o * k + i] * r)));
                    b[o] = static_cast<std::int32_t>(std::nearbyint(n.qbias[o] * r));
                }
                must(xnn_create_fully_connected_nc_qs8(k, oc, k, oc, i8(qi.zero_point[0]), qi.scale[0], ws, w.data(), b.data(),
                                                  i8(qo.zero_point[0]), qo.scale[0], qlo, 127, 0, &op), "xnn_create_fully_connected_nc_qs8", n.name);
                must(xnn_setup_fully_connected_nc_qs8(op, 1, static_cast<const std::int8_t*>(x), static_cast<std::int8_t*>(y), nullptr), "xnn_setup_fully_connected_nc_qs8", n.name);
            } else if (n.op == Op::max_pool2d) {
                must(xnn_create_max_pooling2d_nhwc_s8(0, 0, 0, 0, u(n.kernel[0]), u(n.kernel[1]), u(n.stride[0]), u(n.stride[1]), 1, 1,
                                                 ic, ic, ic, -128, 127, 0, &op), "xnn_create_max_pooling2d_nhwc_s8", n.name);
                must(xnn_setup_max_pooling2d_nhwc_s8(op, 1, in[0], in[1], static_cast<const std::int8_t*>(x), static_cast<std::int8_t*>(y), nullptr), "xnn_setup_max_pooling2d_nhwc_s8", n.name);
            } else if (n.op == Op::global_avg_pool) {
                must(xnn_create_global_average_pooling_nwc_qs8(ic, ic, ic, i8(qi.zero_point[0]), qi.scale[0], i8(qo.zero_point[0]),
                                                          qo.scale[0], -128, 127, 0, &op), "xnn_create_global_average_pooling_nwc_qs8", n.name);
                must(xnn_setup_global_average_pooling_nwc_qs8(op, 1, in[0] * in[1], static_cast<const std::int8_t*>(x), static_cast<std::int8_t*>(y), nullptr), "xnn_setup_global_average_pooling_nwc_qs8", n.name);
            }
        }
        if (op == nullptr) fail("xnnpack direct: no operator for node '" + n.name + "'");
        ops_.push_back(op);
    }
    const void* source(int v) {
        for (const auto& a : alias_)
            if (a.first == v) return source(a.second);
        return buf(v);
    }

    const compile::Graph& g_;
    bool int8_;
    std::vector<std::vector<std::byte>> buffers_;
    std::vector<std::pair<int, int>> alias_;
    std::vector<std::vector<std::int8_t>> owned_;
    std::vector<std::vector<std::int32_t>> owned_bias_;
    std::vector<xnn_operator_t> ops_;
};

double median_us(const std::function<void(std::size_t)>& f, std::size_t runs) {
    std::vector<double> t(runs);
    for (std::size_t i = 0; i < runs; ++i) {
        const auto a = std::chrono::steady_clock::now();
        f(i);
        t[i] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count();
    }
    std::nth_element(t.begin(), t.begin() + long(runs / 2), t.end());
    return t[runs / 2];
}

/// The sequence networks: Simd and Xnnpack fp32, checked against Reference first.
int measure_sequence(const std::string& net, std::size_t rounds, std::size_t runs) {
    const auto g = network(net, false);
    const backend::SimdEngine sf(g);
    const auto xf = backend::Xnnpack{1}.compile(g);
    const backend::ReferenceEngine rf(g);
    const auto x = backend::nets::random_inputs(g, 16, 5);
    std::vector<float> y(g.output_size()), want(g.output_size());
    auto a1 = sf.make_arena(1), a2 = xf.make_arena(1), ra = rf.make_arena(1);
    auto in = [&](std::size_t i) { return std::span<const float>(x.data() + (i % 16) * g.input_size(), g.input_size()); };
    for (std::size_t i = 0; i < 16; ++i) {
        if (!rf.run(in(i), want, ra)) fail("reference run failed");
        for (int side = 0; side < 2; ++side) {
            if (!(side == 0 ? sf.run(in(i), y, a1) : xf.run(in(i), y, a2))) fail("run failed");
            for (std::size_t k = 0; k < y.size(); ++k)
                if (std::abs(y[k] - want[k]) > 1e-4f * std::max(1.0f, std::abs(want[k])))
                    fail(std::string(side == 0 ? "simd" : "xnnpack") + ": input " + std::to_string(i) + ", output " +
                         std::to_string(k) + " is " + std::to_string(y[k]) + ", reference " + std::to_string(want[k]));
        }
    }
    std::printf("# every side agrees with the reference backend on 16 inputs\n");
    const std::function<void(std::size_t)> simd = [&](std::size_t i) { sf.run(in(i), y, a1); };
    const std::function<void(std::size_t)> xnn = [&](std::size_t i) { xf.run(in(i), y, a2); };
    median_us(simd, 50);
    median_us(xnn, 50);
    for (std::size_t r = 0; r < rounds; ++r) {
        std::printf("%s\tedgestack simd fp32\t%zu\t%.2f\n", net.c_str(), r, median_us(simd, runs));
        std::printf("%s\tedgestack xnnpack fp32\t%zu\t%.2f\n", net.c_str(), r, median_us(xnn, runs));
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc >= 3 && std::string(argv[1]) == "--write-onnx") {
        const std::string dir = argv[2];
        io::export_onnx(dir + "/cnn.onnx", network("cnn", false));
        io::export_onnx(dir + "/ds_cnn.onnx", network("ds_cnn", false));
        io::export_onnx(dir + "/kws_gru.onnx", network("kws_gru", false));
        io::export_onnx(dir + "/kws_lstm.onnx", network("kws_lstm", false));
        {
            std::ifstream from(transformer_onnx, std::ios::binary);
            if (!from) fail("cannot read " + transformer_onnx);
            std::ofstream(dir + "/kws_transformer.onnx", std::ios::binary) << from.rdbuf();
        }
        io::export_onnx(dir + "/sensor1d.onnx", network("sensor1d", false));
        write_add_model(dir + "/overhead_add.onnx");
        std::printf("wrote %s/{cnn,ds_cnn,kws_gru,kws_lstm,kws_transformer,sensor1d,overhead_add}.onnx\n", dir.c_str());
        return 0;
    }
    if (argc < 3 || std::string(argv[1]) != "--measure") {
        std::fprintf(stderr, "usage: bench_engine_peers --write-onnx DIR | --measure cnn|ds_cnn|kws_gru|kws_lstm|kws_transformer|sensor1d [--rounds R] [--runs N]\n");
        return 2;
    }
    const std::string net = argv[2];
    std::size_t rounds = 5, runs = 400;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (std::string(argv[i]) == "--rounds") rounds = std::stoul(argv[i + 1]);
        if (std::string(argv[i]) == "--runs") runs = std::stoul(argv[i + 1]);
    }
    if (sequence(net)) return measure_sequence(net, rounds, runs);
    const auto gf = network(net, false), gq = network(net, true);
    const backend::SimdEngine sf(gf), sq(gq);
    const auto xf = backend::Xnnpack{1}.compile(gf), xq = backend::Xnnpack{1}.compile(gq);
    const bool direct = net != "sensor1d"; // XnnDirect has every op of the CNNs only
    std::optional<XnnDirect> df, dq;
    if (direct) {
        df.emplace(gf);
        dq.emplace(gq);
    }
    const auto x = backend::nets::random_inputs(gf, 16, 5);
    std::vector<float> y(10 * 16);
    auto a1 = sf.make_arena(1), a2 = sq.make_arena(1), a3 = xf.make_arena(1), a4 = xq.make_arena(1);
    auto in = [&](std::size_t i) { return std::span<const float>(x.data() + (i % 16) * gf.input_size(), gf.input_size()); };
    auto out = std::span<float>(y.data(), gf.output_size());
    struct Side {
        const char* name;
        std::function<void(std::size_t)> f;
    };
    std::vector<Side> sides{
        {"edgestack simd fp32", [&](std::size_t i) { sf.run(in(i), out, a1); }},
        {"edgestack simd int8", [&](std::size_t i) { sq.run(in(i), out, a2); }},
        {"edgestack xnnpack fp32", [&](std::size_t i) { xf.run(in(i), out, a3); }},
        {"edgestack xnnpack int8", [&](std::size_t i) { xq.run(in(i), out, a4); }},
        {"xnnpack direct fp32", [&](std::size_t i) { df->run(in(i).data()); }},
        {"xnnpack direct int8", [&](std::size_t i) { dq->run(in(i).data()); }},
    };
    if (!direct) sides.resize(4);
    // Correctness before speed: every side against the Reference backend on 16 inputs.
    // fp32 within 1e-4 (relative, floor 1). int8: the engines within one output step (XNNPACK
    // rounds ties to even); XNNPACK direct within 4, its dense layers having per-tensor
    // weights requantized from our per-channel ones.
    const backend::ReferenceEngine rf(gf), rq(gq);
    auto ra = rf.make_arena(1), rqa = rq.make_arena(1);
    const auto& qo = gq.value_quant[std::size_t(gq.output)];
    const double step = qo.scale[0];
    for (std::size_t i = 0; i < 16; ++i) {
        std::vector<float> want(gf.output_size()), want8(gq.output_size()), got(gf.output_size());
        if (!rf.run(in(i), want, ra) || !rq.run(in(i), want8, rqa)) fail("reference run failed");
        const auto check = [&](const char* side, const std::vector<float>& w, double tol_abs, bool rel) {
            for (std::size_t k = 0; k < w.size(); ++k) {
                const double tol = rel ? tol_abs * std::max(1.0, double(std::abs(w[k]))) : tol_abs;
                if (std::abs(double(got[k]) - double(w[k])) > tol)
                    fail(std::string(side) + ": input " + std::to_string(i) + ", output " + std::to_string(k) +
                         " is " + std::to_string(got[k]) + ", reference " + std::to_string(w[k]));
            }
        };
        if (!xf.run(in(i), got, a3)) fail("edgestack xnnpack fp32: run failed");
        check("edgestack xnnpack fp32", want, 1e-4, true);
        if (!xq.run(in(i), got, a4)) fail("edgestack xnnpack int8: run failed");
        check("edgestack xnnpack int8", want8, 1.01 * step, false);
        if (!sf.run(in(i), got, a1)) fail("edgestack simd fp32: run failed");
        check("edgestack simd fp32", want, 1e-4, true);
        if (!sq.run(in(i), got, a2)) fail("edgestack simd int8: run failed");
        check("edgestack simd int8", want8, 0.0, false);
        if (!direct) continue;
        df->run(in(i).data());
        got = df->output();
        check("xnnpack direct fp32", want, 1e-4, true);
        dq->run(in(i).data());
        got = dq->output();
        check("xnnpack direct int8", want8, 4.01 * step, false);
    }
    std::printf("# every side agrees with the reference backend on 16 inputs\n");
    for (auto& s : sides) median_us(s.f, 50); // warm-up
    // Rounds alternate the sides (A B C ... A B C ...); each round gives one median each.
    for (std::size_t r = 0; r < rounds; ++r)
        for (auto& s : sides) std::printf("%s\t%s\t%zu\t%.2f\n", net.c_str(), s.name, r, median_us(s.f, runs));
    return 0;
}
