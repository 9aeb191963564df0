// The 1-D window operators of ONNX (Conv, MaxPool, AveragePool over N x C x T, as PyTorch
// writes Conv1d, MaxPool1d, AvgPool1d) in their 2-D form over N x C x 1 x T: both importers
// read a T x C sequence as the 1 x T x C map the graph runs it as, so a 1-D node becomes the
// 2-D node with a 1 x k window and the rest of the import is the 2-D one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/io/detail/onnx_model.hpp"

namespace edgestack::io::detail {

/// Whether a Conv, MaxPool or AveragePool node states a 1-D window: a kernel_shape of one
/// element, or (a Conv without kernel_shape) a weight of rank 3.
inline bool is_1d_window(const onnx::NodeProto& n, std::size_t weight_rank = 0) {
    if (const auto* k = find_attr(n, "kernel_shape")) return k->ints_size() == 1;
    return weight_rank == 3;
}

/// A copy of a 1-D window node in its 2-D form over N x C x 1 x T: kernel_shape [1, k],
/// strides [1, s], dilations [1, d], pads [0, b, 0, e]; the weight input renamed to
/// `weight` when given (the caller holds that name as the weight reshaped to [O][I][1][k]).
/// An attribute of the wrong length is left as it is, for the 2-D reader to refuse.
inline onnx::NodeProto window_as_2d(const onnx::NodeProto& n, const std::string& weight = {}) {
    onnx::NodeProto r = n;
    for (auto& a : *r.mutable_attribute()) {
        const std::string& name = a.name();
        std::vector<std::int64_t> v(a.ints().begin(), a.ints().end());
        if ((name == "kernel_shape" || name == "strides" || name == "dilations") && v.size() == 1)
            v.insert(v.begin(), 1);
        else if (name == "pads" && v.size() == 2)
            v = {0, v[0], 0, v[1]};
        else
            continue;
        a.clear_ints();
        for (auto x : v) a.add_ints(x);
    }
    if (!weight.empty() && r.input_size() > 1) r.set_input(1, weight);
    return r;
}

} // namespace edgestack::io::detail
