// Which values of a lowered fp32 graph get their own int8 parameters, and the rewrite of
// that graph into the canonical int8 form the engine runs (docs/engine.md: batch norm
// folded, dropout removed, relu/relu6 fused, every value quantized).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/quant/fixed_point.hpp"
#include "edgestack/quant/scheme.hpp"

namespace edgestack::quant::detail {

inline bool has_weights(compile::Op op) noexcept {
    return compile::ops::int8_role(op) == compile::ops::Int8Role::weights;
}

/// What a value of the fp32 graph becomes in the int8 graph.
enum class Role : unsigned char {
    observed, // own parameters, from an observed range
    inherit,  // the parameters of value `from` (max pool, flatten, unfused relu, dropout)
    absorbed, // disappears: a conv/dense output that feeds only a folded BN or fused relu
    fixed,    // softmax output: scale 1/256, zero point -128
};

struct ValuePlan {
    Role role = Role::observed;
    int from = -1;
};

struct Plan {
    std::vector<ValuePlan> values;
    std::vector<int> producer; // node index per value, -1 for the input
};

inline Plan make_plan(const compile::Graph& g) {
    Plan p;
    const std::size_t nv = g.values.size();
    p.values.assign(nv, {});
    p.producer.assign(nv, -1);
    std::vector<int> consumers(nv, 0);
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        p.producer[static_cast<std::size_t>(g.nodes[i].output)] = static_cast<int>(i);
        for (int v : g.nodes[i].inputs) ++consumers[static_cast<std::size_t>(v)];
    }
    // A value is a "weight chain" when it is a conv/dense output, possibly through a folded
    // batch norm, that nobody else reads: a following relu can then be fused into it.
    std::vector<char> chain(nv, 0);
    for (const auto& n : g.nodes) {
        const auto out = static_cast<std::size_t>(n.output);
        const auto in = n.inputs.empty() ? std::size_t{0} : static_cast<std::size_t>(n.inputs[0]);
        auto& vp = p.values[out];
        using compile::ops::Int8Role;
        switch (compile::ops::int8_role(n.op)) {
        case Int8Role::weights:
            vp.role = Role::observed;
            chain[out] = 1;
            break;
        case Int8Role::folds:
            if (!chain[in] || consumers[in] != 1)
                throw config_error("quant: " + std::string(compile::op_name(n.op)) + " '" + n.name +
                                   "' does not follow a conv/dense it can be folded into; the "
                                   "int8 engine has no " + std::string(compile::op_name(n.op)));
            p.values[in].role = Role::absorbed;
            vp.role = Role::observed;
            chain[out] = 1;
            break;
        case Int8Role::fuses:
            if (chain[in] && consumers[in] == 1) {
                p.values[in].role = Role::absorbed;
                vp.role = Role::observed;
            } else {
                vp = {Role::inherit, static_cast<int>(in)};
            }
            break;
        case Int8Role::inherit: vp = {Role::inherit, static_cast<int>(in)}; break;
        case Int8Role::fixed: vp.role = Role::fixed; break;
        case Int8Role::observed: vp.role = Role::observed; break;
        }
    }
    return p;
}

/// The range an add's output is quantized over: the observed one, widened upward when its
/// scale would be 4x finer than an input's or more, which the engines refuse (the int8
/// add's rescale could overflow, compile/ops/add.hpp). A relu or relu6 fused into the add
/// leaves it the post-activation range, which can be far narrower than the inputs' (a sum
/// mostly below 0, or clipped at 6); the widened range leaves codes above the activation's
/// top unused, and the fused clamp still stops there.
inline Range add_output_range(Range r, float widest_input_scale) noexcept {
    const float lo = std::min(r.lo, 0.0f);
    if ((std::max(r.hi, 0.0f) - lo) * 4.0f > 255.0f * widest_input_scale) return r; // fits as it is
    r.hi = lo + 255.0f * widest_input_scale / 3.9f; // below 4x, with room for rounding
    return r;
}

/// Per-value int8 parameters from per-value observed ranges (indexed like g.values).
inline std::vector<compile::QuantParams> value_params(const compile::Graph& g, const Plan& p,
                                                      const std::vector<Range>& ranges) {
    std::vector<compile::QuantParams> q(g.values.size());
    for (std::size_t v = 0; v < g.values.size(); ++v) {
        const auto& vp = p.values[v];
        switch (vp.role) {
        case Role::observed: {
            if (v >= ranges.size() || !ranges[v].valid) {
                const int pn = p.producer[v];
                throw config_error(
                    "quant: value " + std::to_string(v) + " (" +
                    (pn < 0 ? std::string("the graph input")
                            : "output of '" + g.nodes[static_cast<std::size_t>(pn)].name + "'") +
                    ") has no observed range - calibrate (Ptq) or train with Qat before "
                    "deploying");
            }
            Range r = ranges[v];
            if (const int pn = p.producer[v]; pn >= 0 && g.nodes[static_cast<std::size_t>(pn)].op == compile::Op::add) {
                float widest = 0.0f;
                for (int in : g.nodes[static_cast<std::size_t>(pn)].inputs)
                    if (const auto& qi = q[static_cast<std::size_t>(in)]; !qi.scale.empty())
                        widest = std::max(widest, qi.scale[0]);
                r = add_output_range(r, widest);
            }
            const AffineParams a = r.params();
            q[v].scale = {a.scale};
            q[v].zero_point = {a.zero_point};
            break;
        }
        case Role::inherit: q[v] = q[static_cast<std::size_t>(vp.from)]; break;
        case Role::fixed:
            q[v].scale = {1.0f / 256.0f};
            q[v].zero_point = {-128};
            break;
        case Role::absorbed: break;
        }
    }
    return q;
}

/// Rewrite fp32 graph `g` into its canonical int8 form, with per-value ranges `ranges`
/// (indexed like g.values; only observed values are read).
inline compile::Graph lower_int8(const compile::Graph& g, const std::vector<Range>& ranges,
                                 bool per_channel) {
    const Plan p = make_plan(g);
    const auto q = value_params(g, p, ranges);
    // New value ids: the input, then each surviving node's output.
    std::vector<int> remap(g.values.size(), -1);
    compile::Graph out = compile::Graph::with_input(g.values[0]);
    out.value_quant.push_back(q[0]);
    remap[0] = 0;
    std::vector<char> done(g.nodes.size(), 0);
    // The node reading value v, when there is exactly one.
    auto sole_reader = [&](int v) -> int {
        int r = -1;
        for (std::size_t i = 0; i < g.nodes.size(); ++i)
            for (int x : g.nodes[i].inputs)
                if (x == v) {
                    if (r >= 0) return -1;
                    r = static_cast<int>(i);
                }
        return r;
    };
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        if (done[i]) continue;
        compile::Node n = g.nodes[i];
        int final_value = n.output;
        if (n.op == compile::Op::dropout) {
            remap[static_cast<std::size_t>(n.output)] = remap[static_cast<std::size_t>(n.inputs[0])];
            continue;
        }
        if (has_weights(n.op)) {
            while (p.values[static_cast<std::size_t>(final_value)].role == Role::absorbed) {
                const int r = sole_reader(final_value);
                const auto& next = g.nodes[static_cast<std::size_t>(r)];
                if (next.op == compile::Op::batch_norm) {
                    compile::detail::fold_into(n, next, g.values[static_cast<std::size_t>(n.output)].back());
                } else if (next.op == compile::Op::relu) {
                    n.fused = compile::Activation::relu;
                } else {
                    n.fused = compile::Activation::relu6;
                }
                done[static_cast<std::size_t>(r)] = 1;
                final_value = next.output;
            }
        }
        std::vector<int> inputs;
        for (int v : n.inputs) {
            const int nv = remap[static_cast<std::size_t>(v)];
            if (nv < 0)
                throw config_error("quant: node '" + n.name + "' reads value " +
                                   std::to_string(v) + " that was folded away");
            inputs.push_back(nv);
        }
        if (has_weights(n.op)) {
            const float s_in = out.value_quant[static_cast<std::size_t>(inputs[0])].scale[0];
            quantize_weight_node(n, g.values[static_cast<std::size_t>(final_value)], s_in,
                                 per_channel);
        }
        const auto fv = static_cast<std::size_t>(final_value);
        const int id = out.append(std::move(n), std::move(inputs), g.values[fv]);
        out.value_quant[static_cast<std::size_t>(id)] = q[fv];
        remap[fv] = id;
    }
    out.output = remap[static_cast<std::size_t>(g.output)];
    return out;
}

} // namespace edgestack::quant::detail
