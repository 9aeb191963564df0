// What dense, conv2d and depthwise_conv2d share: checking their weights and preparing
// their fp32 parameters or int8 form (zero point folded into the bias, one requantization
// multiplier per output channel, the fused activation as an int8 clamp) into its Weighted state.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/compile/ops/unit.hpp"

namespace edgestack::compile::ops {

/// Fills step `s` for a weighted node with `oc` output channels of `taps` weights each
/// (`channel_last`: depthwise layout [taps][oc]).
template <class S>
void prepare_weighted(const S& s, Weighted& st, const Node& n, Prep& p, std::size_t oc, std::size_t taps, bool channel_last) {
    if (!p.int8) {
        if (n.weights.size() != oc * taps)
            throw shape_error(p.where + ": has " + std::to_string(n.weights.size()) +
                              " weights, expected " + std::to_string(oc * taps));
        if (!n.bias.empty() && n.bias.size() != oc)
            throw shape_error(p.where + ": has " + std::to_string(n.bias.size()) + " biases, expected " +
                              std::to_string(oc));
        st.w = n.weights;
        st.b = n.bias.empty() ? std::vector<float>(oc, 0.0f) : n.bias;
        p.weight_bytes += (st.w.size() + st.b.size()) * sizeof(float);
        return;
    }
    if (n.qweights.size() != n.weights.size() && !n.weights.empty())
        throw shape_error(p.where + ": has " + std::to_string(n.qweights.size()) +
                          " int8 weights, its fp32 weights have " + std::to_string(n.weights.size()));
    if (n.qweights.size() != oc * taps)
        throw shape_error(p.where + ": has " + std::to_string(n.qweights.size()) +
                          " int8 weights, expected " + std::to_string(oc * taps));
    const auto& wq = n.weight_quant;
    if (wq.scale.size() != 1 && wq.scale.size() != oc)
        throw p.bad("weight_quant has " + std::to_string(wq.scale.size()) +
                    " scales; expected 1 or " + std::to_string(oc) + " (one per output channel)");
    for (auto z : wq.zero_point)
        if (z != 0) throw p.bad("weight zero points must be 0 (symmetric weights)");
    for (auto q : n.qweights)
        if (q == -128) throw p.bad("has a weight of -128; symmetric weights lie in [-127, 127]");
    if (!n.qbias.empty() && n.qbias.size() != oc)
        throw shape_error(p.where + ": has " + std::to_string(n.qbias.size()) +
                          " int32 biases, expected " + std::to_string(oc));
    st.qw = n.qweights;
    st.wscale = wq.scale;
    st.qb.assign(oc, 0);
    st.rq.resize(oc);
    for (std::size_t c = 0; c < oc; ++c) {
        std::int64_t sum = 0;
        for (std::size_t t = 0; t < taps; ++t)
            sum += channel_last ? n.qweights[t * oc + c] : n.qweights[c * taps + t];
        st.qb[c] = static_cast<std::int32_t>((n.qbias.empty() ? 0 : n.qbias[c]) - s.zp_in * sum);
        const double ws = wq.scale.size() == 1 ? wq.scale[0] : wq.scale[c];
        st.rq[c] = quant::quantize_multiplier(static_cast<double>(s.s_in) * ws / s.s_out);
    }
    const Clamp codes = activation_codes(s.act, s.s_out, s.zp_out);
    st.lo = codes.lo;
    st.hi = codes.hi;
    p.weight_bytes += st.qw.size() + st.qb.size() * sizeof(std::int32_t);
}

} // namespace edgestack::compile::ops
