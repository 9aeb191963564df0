// Structured channel pruning: copy a trained model into a narrower model *type* (same
// layer list, fewer units / filters in some Dense and Conv2D layers), keeping in each layer
// the output channels with the largest L1 weight norm and the matching inputs of the layer
// after it. The result is an ordinary dense model: smaller, faster, and fine-tunable.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/quant/detail/hooks.hpp"

namespace edgestack::compress {

namespace detail {

/// The channels of one output-channel-major weight tensor with the largest L1 norms,
/// in increasing index order.
inline std::vector<std::size_t> top_channels(const float* w, std::size_t channels,
                                             std::size_t per_channel, std::size_t keep) {
    std::vector<double> norm(channels, 0.0);
    for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t i = 0; i < per_channel; ++i) norm[c] += std::fabs(w[c * per_channel + i]);
    std::vector<std::size_t> order(channels);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return norm[a] > norm[b]; });
    order.resize(keep);
    std::sort(order.begin(), order.end());
    return order;
}

} // namespace detail

/// `Small` built from `big`: every Dense / Conv2D whose width differs keeps its strongest
/// channels. Both must be Sequential models with the same layer kinds in the same order;
/// the last layer's width (the classes) may not change. Throws shape_error / config_error
/// naming the layer that does not fit.
template <class Small, class Big>
Small prune_channels(const Big& big) {
    static_assert(Small::depth == Big::depth,
                  "prune_channels<Small>(big): Small must have the same layer list as Big, "
                  "with narrower Dense / Conv2D layers");
    Small small;
    const auto lb = quant::detail::map_layers(big);
    const auto ls = quant::detail::map_layers(small);
    const auto pb = big.parameters();
    auto ps = small.parameters();
    namespace ec = compile;

    std::vector<std::size_t> kept(lb.graph.values[0].back());
    std::iota(kept.begin(), kept.end(), std::size_t{0});
    std::size_t in_big = kept.size(); // channels (last dim) of the current value in Big
    int prev = 0;
    for (std::size_t i = 0; i < Big::depth; ++i) {
        const int vb = lb.layer_value[i], vs = ls.layer_value[i];
        const std::string who = "prune_channels: layer " + std::to_string(i) + " (" +
                                big.layer_info(i).name + " -> " + small.layer_info(i).name + ")";
        const ec::Node* nb = nullptr;
        const ec::Node* ns = nullptr;
        std::size_t count = 0;
        for (const auto& n : lb.graph.nodes)
            if (n.output > prev && n.output <= vb) {
                nb = &n;
                ++count;
            }
        for (const auto& n : ls.graph.nodes)
            if (n.output == vs) ns = &n;
        prev = vb;
        if (count == 0) continue; // identity layer
        if (count != 1 || ns == nullptr || ns->op != nb->op)
            throw config_error(who + ": layers must match one to one");
        const auto& db = lb.graph.values[static_cast<std::size_t>(vb)];
        const auto& ds = ls.graph.values[static_cast<std::size_t>(vs)];
        const float* wb = pb.data() + Big::param_offsets[i];
        float* ws = ps.data() + Small::param_offsets[i];
        switch (nb->op) {
        case ec::Op::dense:
        case ec::Op::conv2d: {
            const std::size_t ob = db.back(), os = ds.back();
            const bool last = vb == lb.graph.output;
            if (os > ob || (last && os != ob))
                throw shape_error(who + ": output width " + std::to_string(os) + " for " +
                                  std::to_string(ob) + (last ? " (the last layer keeps its width)"
                                                             : " (it can only shrink)"));
            const std::size_t taps = nb->op == ec::Op::dense ? 1 : nb->kernel[0] * nb->kernel[1];
            const std::size_t per_b = taps * in_big, per_s = taps * kept.size();
            if (nb->weights.size() != ob * per_b || ns->weights.size() != os * per_s)
                throw shape_error(who + ": input width does not match the kept channels (" +
                                  std::to_string(kept.size()) + ")");
            const auto out_kept = last ? [&] {
                std::vector<std::size_t> all(ob);
                std::iota(all.begin(), all.end(), std::size_t{0});
                return all;
            }() : detail::top_channels(wb, ob, per_b, os);
            for (std::size_t o = 0; o < os; ++o)
                for (std::size_t t = 0; t < taps; ++t)
                    for (std::size_t c = 0; c < kept.size(); ++c)
                        ws[o * per_s + t * kept.size() + c] =
                            wb[out_kept[o] * per_b + t * in_big + kept[c]];
            for (std::size_t o = 0; o < os; ++o) ws[os * per_s + o] = wb[ob * per_b + out_kept[o]];
            kept = out_kept;
            in_big = ob;
            break;
        }
        case ec::Op::depthwise_conv2d: {
            const std::size_t taps = nb->kernel[0] * nb->kernel[1], cs = kept.size();
            for (std::size_t t = 0; t < taps; ++t)
                for (std::size_t c = 0; c < cs; ++c) ws[t * cs + c] = wb[t * in_big + kept[c]];
            for (std::size_t c = 0; c < cs; ++c) ws[taps * cs + c] = wb[taps * in_big + kept[c]];
            break;
        }
        case ec::Op::flatten: {
            const std::size_t spatial = ec::volume(db) / in_big;
            std::vector<std::size_t> flat;
            flat.reserve(spatial * kept.size());
            for (std::size_t s = 0; s < spatial; ++s)
                for (std::size_t c : kept) flat.push_back(s * in_big + c);
            kept = std::move(flat);
            in_big = ec::volume(db);
            break;
        }
        case ec::Op::batch_norm:
        case ec::Op::add:
        case ec::Op::concat:
            throw config_error(who + ": " + std::string(ec::op_name(nb->op)) +
                               " layers are not supported by channel pruning yet");
        default:
            if (!nb->weights.empty() || !nb->extra.empty())
                throw config_error(who + ": a layer with parameters that channel pruning "
                                         "does not know");
            break; // point-wise and pooling layers keep the channels as they are
        }
        if (ds.back() != kept.size() || ec::volume(ds) / ds.back() != ec::volume(db) / db.back())
            throw shape_error(who + ": output " + ec::to_string(ds) + " does not match the " +
                              std::to_string(kept.size()) + " channels kept of " +
                              ec::to_string(db));
    }
    return small;
}

} // namespace edgestack::compress
