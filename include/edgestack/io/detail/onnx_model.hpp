// The ONNX reading shared by both importers (io/onnx_import.hpp into a declared model,
// io/onnx_graph_import.hpp into a compile::Graph): parsing with a size limit, initializers
// as numbers with their sizes checked before anything is allocated, node attributes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "edgestack/core/error.hpp"

namespace edgestack::io::detail {

struct FloatTensor {
    std::vector<std::int64_t> dims;
    std::vector<float> data;
};

inline std::size_t checked_volume(const std::vector<std::int64_t>& dims, const std::string& where) {
    std::size_t n = 1;
    for (auto d : dims) {
        if (d < 0 || (d > 0 && n > (std::size_t{1} << 32) / static_cast<std::size_t>(d)))
            throw format_error(where + ": tensor dimension " + std::to_string(d) + " is out of range");
        n *= static_cast<std::size_t>(d);
    }
    return n;
}

/// Any numeric initializer as floats (int8/uint8/int32 as their integer values).
inline std::vector<double> tensor_values(const onnx::TensorProto& t, const std::string& where) {
    const std::size_t n = checked_volume({t.dims().begin(), t.dims().end()}, where);
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
        throw format_error(where + ": initializer '" + t.name() + "' uses external data, which is not supported");
    // Sizes are checked against the data present before anything is allocated, so a
    // small file cannot claim a huge tensor.
    std::vector<double> v;
    const std::string& raw = t.raw_data();
    auto from_raw = [&](auto tag) {
        using T = decltype(tag);
        if (raw.size() != n * sizeof(T))
            throw format_error(where + ": initializer '" + t.name() + "' has " + std::to_string(raw.size()) +
                               " bytes of data, its shape needs " + std::to_string(n * sizeof(T)));
        v.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            T x;
            std::memcpy(&x, raw.data() + i * sizeof(T), sizeof(T));
            v[i] = static_cast<double>(x);
        }
    };
    auto from_field = [&](const auto& field) {
        if (static_cast<std::size_t>(field.size()) != n)
            throw format_error(where + ": initializer '" + t.name() + "' has " + std::to_string(field.size()) +
                               " values, its shape needs " + std::to_string(n));
        v.resize(n);
        for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(field.Get(static_cast<int>(i)));
    };
    switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
        if (t.has_raw_data()) from_raw(float{}); else from_field(t.float_data());
        break;
    case onnx::TensorProto::INT8:
        if (t.has_raw_data()) from_raw(std::int8_t{}); else from_field(t.int32_data());
        break;
    case onnx::TensorProto::UINT8:
        if (t.has_raw_data()) from_raw(std::uint8_t{}); else from_field(t.int32_data());
        break;
    case onnx::TensorProto::INT32:
        if (t.has_raw_data()) from_raw(std::int32_t{}); else from_field(t.int32_data());
        break;
    case onnx::TensorProto::INT64:
        if (t.has_raw_data()) from_raw(std::int64_t{}); else from_field(t.int64_data());
        break;
    default:
        throw format_error(where + ": initializer '" + t.name() + "' has element type " +
                           std::to_string(t.data_type()) + ", which is not read");
    }
    return v;
}

/// A value of a constant tensor read as an integer (a shape, axis or index): one no int64
/// holds exactly (NaN, infinite, beyond 2^53) is refused as `what` at `where`, not converted
/// (that conversion is undefined).
inline std::int64_t constant_integer(double x, const std::string& where, const std::string& what) {
    if (!(x >= -9.0e15 && x <= 9.0e15)) throw format_error(where + ": " + what + " is not an integer");
    return static_cast<std::int64_t>(x);
}

inline std::string describe(const onnx::NodeProto& n, int index) {
    return "node " + std::to_string(index) + " '" + n.name() + "' (" + n.op_type() + ")";
}

inline const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
    for (const auto& a : n.attribute())
        if (a.name() == name) return &a;
    return nullptr;
}
inline std::int64_t attr_i(const onnx::NodeProto& n, const std::string& name, std::int64_t def) {
    const auto* a = find_attr(n, name);
    return a ? a->i() : def;
}
inline float attr_f(const onnx::NodeProto& n, const std::string& name, float def) {
    const auto* a = find_attr(n, name);
    return a ? a->f() : def;
}
inline std::vector<std::int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name,
                                           std::vector<std::int64_t> def) {
    const auto* a = find_attr(n, name);
    return a ? std::vector<std::int64_t>(a->ints().begin(), a->ints().end()) : def;
}

/// Parses an ONNX model; anything protobuf cannot read, or a model without a graph, is a
/// format_error naming `name`.
inline onnx::ModelProto parse_onnx(std::span<const std::byte> bytes, const std::string& name) {
    onnx::ModelProto m;
    if (bytes.size() > (std::size_t{1} << 31) - 1 ||
        !m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        throw format_error(name + ": not a readable ONNX model (protobuf parsing failed)");
    if (!m.has_graph()) throw format_error(name + ": ONNX model without a graph");
    return m;
}

inline std::string read_onnx_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw file_error(path + ": cannot open");
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

} // namespace edgestack::io::detail
