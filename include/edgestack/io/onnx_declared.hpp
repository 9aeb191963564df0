// ONNX import into a declared type through the graph importer, for models the node-for-node
// reader (onnx_import.hpp) cannot follow because one of our layers is many ONNX nodes whose
// order depends on the exporter: multi-head self-attention, layer norm in its opset-13 form,
// PyTorch's nn.TransformerEncoder. The file is read by import_onnx_graph into our ops, with
// weights in our layout; the model is lowered with every parameter replaced by its own
// index; then the two graphs are walked together, node for node: the same op, the same
// shapes and attributes, inputs wired alike (a residual block's add reads what the file's
// add reads, in either order), and each weight is copied to the parameter it came from.
// Link edgestack::onnx.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/onnx_model.hpp"
#include "edgestack/io/detail/param_markers.hpp"
#include "edgestack/io/onnx_graph_import.hpp"

namespace edgestack::io {

/// Loads the weights of `bytes` (an ONNX model; `name` is used in messages) into `model` by
/// way of import_onnx_graph. Throws format_error for a file the graph importer refuses, and
/// shape_error naming the first node where the file's graph and the model's lowered graph
/// differ; `model` is unchanged when it throws.
template <class Model>
void import_onnx_graph_into_bytes(std::span<const std::byte> bytes, const std::string& name, Model& model) {
    const compile::Graph file = import_onnx_graph_bytes(bytes, name);

    // Our lowered graph with each parameter's index in its place, and with NaN parameters
    // (what stays finite there is a constant of the lowering, no parameter).
    const compile::Graph ours = detail::lower_with_markers(model, name);
    const compile::Graph nans = detail::lower_with_nans(model);
    detail::ParamSink<Model> sink(model);

    if (file.input_shape() != ours.input_shape())
        throw shape_error(name + ": the file's input is " + compile::to_string(file.input_shape()) +
                          " per sample, the model's " + compile::to_string(ours.input_shape()));
    std::map<int, int> value; // our value id -> the file's
    value[0] = 0;
    // Our nodes that only pass their input on are no node of the file.
    auto passes_on = [&](const compile::Node& n) { return n.op == compile::Op::dropout; };
    std::size_t k = 0;
    for (std::size_t ni = 0; ni < ours.nodes.size(); ++ni) {
        const compile::Node& o = ours.nodes[ni];
        const std::string our_name = "layer node " + std::to_string(ni) + " '" + o.name + "' (" +
                                     std::string(compile::op_name(o.op)) + ")";
        if (passes_on(o)) {
            value[o.output] = value.at(o.inputs.at(0));
            continue;
        }
        if (k >= file.nodes.size())
            throw shape_error(name + ": the file's graph ends after " + std::to_string(file.nodes.size()) +
                              " nodes, the model still expects " + our_name);
        const compile::Node& f = file.nodes[k++];
        const std::string theirs = name + ": the file's node " + std::to_string(k - 1) + " '" + f.name + "' (" +
                                   std::string(compile::op_name(f.op)) + ")";
        if (f.op != o.op) throw shape_error(theirs + " is the first node that differs: the model expects " + our_name);
        const auto& fo = file.values.at(static_cast<std::size_t>(f.output));
        const auto& oo = ours.values.at(static_cast<std::size_t>(o.output));
        if (fo != oo)
            throw shape_error(theirs + " gives " + compile::to_string(fo) + ", " + our_name + " gives " +
                              compile::to_string(oo));
        if (f.inputs.size() != o.inputs.size())
            throw shape_error(theirs + " reads " + std::to_string(f.inputs.size()) + " values, " + our_name +
                              " reads " + std::to_string(o.inputs.size()));
        auto wired = [&](std::size_t i, std::size_t j) {
            const auto at = value.find(o.inputs[i]);
            return at != value.end() && at->second == f.inputs[j];
        };
        // add and mul read their two inputs in either order.
        const bool swapped = (o.op == compile::Op::add || o.op == compile::Op::mul) && o.inputs.size() == 2 &&
                             wired(0, 1) && wired(1, 0);
        for (std::size_t i = 0; i < o.inputs.size() && !swapped; ++i)
            if (!wired(i, i))
                throw shape_error(theirs + ": its input " + std::to_string(i) + " is not what " + our_name +
                                  " reads (the blocks are wired differently)");
        if (f.kernel != o.kernel || f.stride != o.stride || f.dilation != o.dilation || f.pad != o.pad ||
            f.alpha != o.alpha)
            throw shape_error(theirs + " has other attributes (window, heads, epsilon or slope) than " + our_name);
        value[o.output] = f.output;
        auto copy = [&](const std::vector<float>& markers, const std::vector<float>& constants,
                        const std::vector<float>& values, const char* what) {
            if (markers.size() != values.size())
                throw shape_error(theirs + ": its " + what + " has " + std::to_string(values.size()) + " elements, " +
                                  our_name + " needs " + std::to_string(markers.size()));
            sink.assign(markers, values, &constants);
        };
        const compile::Node& c = nans.nodes.at(ni);
        copy(o.weights, c.weights, f.weights, "weights");
        copy(o.bias, c.bias, f.bias, "bias");
        copy(o.extra, c.extra, f.extra, "extra parameters");
    }
    if (k != file.nodes.size())
        throw shape_error(name + ": the file's graph has " + std::to_string(file.nodes.size() - k) +
                          " more nodes after the model's last layer, the first '" + file.nodes[k].name + "' (" +
                          std::string(compile::op_name(file.nodes[k].op)) + ")");
    if (value.at(ours.output) != file.output)
        throw shape_error(name + ": the file's output is not the value the model's last layer computes");

    sink.commit(model);
}

/// As import_onnx_graph_into_bytes, from the file at `path`.
template <class Model>
void import_onnx_graph_into(const std::string& path, Model& model) {
    const std::string bytes = detail::read_onnx_file(path);
    import_onnx_graph_into_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), path, model);
}

} // namespace edgestack::io
