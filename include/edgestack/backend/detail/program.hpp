// The compiled form every backend runs: one Step per graph node with its geometry, its
// fp32 or int8 parameters already in the shape kernels want (zero points folded into the
// bias, requantization multipliers precomputed), and its place in the memory plan.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/cpu.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/kernels/window.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::backend::detail {

using kernels::Hwc;
using kernels::pad_image;

inline Hwc hwc_of(const compile::Dims& d) {
    if (d.size() == 3) return {d[0], d[1], d[2]};
    if (d.size() == 2) return {1, d[0], d[1]};
    return {1, 1, compile::volume(d)};
}

namespace xnn {
struct Operator; // backend/detail/xnnpack_adapter.hpp
}

/// The Simd kernels' own per-step state: weights packed in their tile layout.
struct SimdPack {
    std::vector<float> packed;          // fp32: per 16-channel block, biases then weights
    std::vector<std::int8_t> qpacked;   // int8 weights in pairs per block
    std::vector<std::int32_t> qpack32;  // int32 data beside them (bias, multipliers)
    std::vector<std::int64_t> qpack64;  // shifts and rounding terms
    std::vector<std::int16_t> qpack16;  // int16 weights (depthwise pairs, Winograd-transformed)
    bool winograd = false;              // the conv runs as Winograd F(2x2, 3x3)
};

/// A backend's own state of one step: nothing, the Simd packing, or an XNNPACK operator.
using BackendState = std::variant<std::monostate, SimdPack, std::shared_ptr<xnn::Operator>>;

/// One step: where it reads and writes, its geometry (what the kernels read), the int8
/// grids of its inputs and output, its op's own parameters (typed by the op's unit,
/// `compile/ops/<name>.hpp`) and the backend's own state (typed by the backend).
struct Step : kernels::Window {
    compile::Op op{};
    std::string name;
    bool int8 = false;
    std::array<std::size_t, 2> in_off{0, 0}; // bytes per sample into the value area
    std::size_t out_off = 0;
    compile::Activation act = compile::Activation::none;
    float alpha = 0.0f;
    bool alias = false;            // output shares the input's storage: nothing to do
    Isa level = Isa::scalar;       // the instruction-set level of the kernel it runs
    std::string kernel;            // that kernel's name, <dtype>-<op>-<tile>-<isa> (empty: unnamed)
    std::size_t scratch_bytes = 0; // per step, not per sample
    std::size_t rows = 1;          // independent rows per sample: kernels run batch x rows
    std::int32_t zp_in = 0, zp_in2 = 0, zp_out = 0; // int8: zero points of inputs and output
    float s_in = 1.0f, s_in2 = 1.0f, s_out = 1.0f;  // int8: their scales
    compile::ops::State state;     // the op's parameters, as its unit prepared them
    BackendState backend;          // the backend's own

    /// The op's state as type St (the unit's State; the step's op decides which).
    template <class St>
    const St& get() const noexcept { return *std::get_if<St>(&state); }
    /// A weighted op's (dense, conv2d, depthwise_conv2d) parameters.
    const compile::ops::Weighted& weighted() const noexcept { return get<compile::ops::Weighted>(); }
    /// The Simd packing (an empty one when the step has none).
    const SimdPack& pack() const noexcept {
        static const SimdPack none;
        const auto* p = std::get_if<SimdPack>(&backend);
        return p != nullptr ? *p : none;
    }
    /// The Simd packing, made on first use.
    SimdPack& pack() {
        if (!std::holds_alternative<SimdPack>(backend)) backend.emplace<SimdPack>();
        return *std::get_if<SimdPack>(&backend);
    }
    /// The XNNPACK operator, or nullptr when XNNPACK does not run the step.
    xnn::Operator* xnn() const noexcept {
        const auto* p = std::get_if<std::shared_ptr<xnn::Operator>>(&backend);
        return p != nullptr ? p->get() : nullptr;
    }
};

struct Program {
    std::vector<Step> steps;
    bool int8 = false;
    std::size_t input_size = 0, output_size = 0;
    std::size_t input_off = 0, output_off = 0;
    float in_scale = 1.0f, out_scale = 1.0f;
    std::int32_t in_zp = 0, out_zp = 0;
    std::size_t value_bytes_per_sample = 0;
    std::size_t scratch_bytes = 0;
    std::size_t params = 0, macs = 0, weight_bytes = 0;
};

inline const compile::QuantParams& qp(const compile::Graph& g, int v, const compile::Node& n) {
    const auto& q = g.value_quant[static_cast<std::size_t>(v)];
    if (q.scale.size() != 1 || q.zero_point.size() != 1)
        throw config_error("int8 graph: value " + std::to_string(v) + " (read or written by node '" +
                           n.name + "') needs one scale and one zero point, has " +
                           std::to_string(q.scale.size()) + " and " +
                           std::to_string(q.zero_point.size()));
    if (!(q.scale[0] > 0.0f))
        throw config_error("int8 graph: value " + std::to_string(v) + " of node '" + n.name +
                           "' has a non-positive scale");
    return q;
}

inline std::size_t padded_bytes(const Step& s, std::size_t elem) {
    return compile::align_up((s.in.h + s.pt + s.pb) * (s.in.w + s.pl + s.pr) * s.in.c * elem);
}

/// Validate and lower a canonical graph. `elem` is 4 for fp32 graphs, 1 for int8 ones.
inline Program build_program(const compile::Graph& g, const char* backend) {
    Program p;
    p.int8 = !g.value_quant.empty();
    if (p.int8 && g.value_quant.size() != g.values.size())
        throw config_error(std::string("backend::") + backend + ": value_quant has " +
                           std::to_string(g.value_quant.size()) + " entries for " +
                           std::to_string(g.values.size()) + " values");
    const std::size_t elem = p.int8 ? 1 : sizeof(float);
    auto is_alias = [](const compile::Node& n) { return compile::ops::alias(n.op); };
    const auto plan = compile::plan_memory(g, [&](int) { return elem; }, is_alias);
    p.value_bytes_per_sample = plan.bytes_per_sample;
    p.input_size = g.input_size();
    p.output_size = g.output_size();
    p.input_off = plan.offset[0];
    p.output_off = plan.offset[static_cast<std::size_t>(g.output)];
    if (p.int8) {
        compile::Node in_node;
        in_node.name = "<graph input or output>";
        const auto& qi = qp(g, 0, in_node);
        const auto& qo = qp(g, g.output, in_node);
        p.in_scale = qi.scale[0];
        p.in_zp = qi.zero_point[0];
        p.out_scale = qo.scale[0];
        p.out_zp = qo.zero_point[0];
    }
    for (const auto& n : g.nodes) {
        auto bad = [&](const std::string& why) {
            return config_error(std::string("backend::") + backend + ": node '" + n.name + "' (" +
                                std::string(compile::op_name(n.op)) + "): " + why);
        };
        Step s;
        s.op = n.op;
        s.name = n.name;
        s.int8 = p.int8;
        const std::size_t need_inputs = compile::ops::arity(n.op);
        if (n.inputs.size() != need_inputs)
            throw bad("expects " + std::to_string(need_inputs) + " input(s), has " +
                      std::to_string(n.inputs.size()));
        if (!compile::ops::runs(n.op)) throw bad("op not supported: it trains and exports, no engine runs it yet");
        for (std::size_t i = 0; i < need_inputs; ++i)
            s.in_off[i] = plan.offset[static_cast<std::size_t>(n.inputs[i])];
        s.out_off = plan.offset[static_cast<std::size_t>(n.output)];
        s.in = hwc_of(g.values[static_cast<std::size_t>(n.inputs[0])]);
        s.out = hwc_of(g.values[static_cast<std::size_t>(n.output)]);
        s.kh = n.kernel[0];
        s.kw = n.kernel[1];
        s.sh = n.stride[0];
        s.sw = n.stride[1];
        s.pt = n.pad[0];
        s.pl = n.pad[1];
        s.pb = n.pad[2];
        s.pr = n.pad[3];
        s.act = n.fused;
        s.alpha = n.alpha;
        s.alias = is_alias(n);
        if (n.dilation[0] != 1 || n.dilation[1] != 1) throw bad("dilation is not supported");
        if (const std::string why = compile::ops::check(g, n); !why.empty())
            throw shape_error(std::string("backend::") + backend + ": node '" + n.name + "' (" +
                              std::string(compile::op_name(n.op)) + "): " + why);
        if (p.int8) {
            const auto& qi = qp(g, n.inputs[0], n);
            const auto& qo = qp(g, n.output, n);
            s.s_in = qi.scale[0];
            s.zp_in = qi.zero_point[0];
            s.s_out = qo.scale[0];
            s.zp_out = qo.zero_point[0];
            if (need_inputs == 2) {
                const auto& q2 = qp(g, n.inputs[1], n);
                s.s_in2 = q2.scale[0];
                s.zp_in2 = q2.zero_point[0];
            }
        }
        const auto t = compile::ops::tensors(g, n);
        p.params += t.weights + t.bias;
        p.macs += compile::ops::macs(g, n);
        compile::ops::Prep prep{g, p.int8, elem,
                                std::string("backend::") + backend + ": node '" + n.name + "' (" +
                                    std::string(compile::op_name(n.op)) + ")"};
        compile::ops::visit(n.op, [&]<class U>() {
            auto& st = s.state.emplace<typename U::State>();
            if constexpr (requires { U::prepare(s, st, n, prep); }) U::prepare(s, st, n, prep);
        });
        p.weight_bytes += prep.weight_bytes;
        p.scratch_bytes = std::max(p.scratch_bytes, s.scratch_bytes);
        p.steps.push_back(std::move(s));
    }
    return p;
}

} // namespace edgestack::backend::detail
