// The deployment file: a compile::Graph (fp32 or int8) written once on the build machine and
// mapped read-only on the device. Stage 3 (compile) writes it, stage 4/5 (deploy, engine)
// load it. Needs edgestack::crypto (OpenSSL) for SHA-256 and AES-256-GCM.
//
// Layout (little-endian), version 1:
//   [0, 128)   header: magic "EDGEMDL\0", u32 version, u32 flags (1 = encrypted),
//              u64 architecture fingerprint, u64 payload size, u64 graph section size,
//              12-byte GCM IV, 16-byte GCM tag, zeros, and at 96 the SHA-256 of
//              header[0, 96) followed by the stored payload.
//   [128, end) payload: the graph section (shapes, nodes, quantization parameters, tensor
//              references), then every tensor at a 64-byte aligned offset.
// Version 2 adds, at the end of the graph section, the fitted scaling (io::Scaling): u32
// input count, that many (f64 mean, f64 sd), u32 output count, that many pairs. A file
// without scaling is still written as version 1, byte for byte as before.
// Version 3 adds after that the input cleaning: u32 count, that many f64 fill values, then
// u32 count, that many (f64 lower, f64 upper) clip bounds. Only a file whose scaling fills
// or clips is written as version 3.
// The digest covers the stored bytes (ciphertext when encrypted), so a tampered file is
// rejected before any of it is parsed, with or without the key.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/bytes.hpp"
#include "edgestack/io/detail/crypto.hpp"
#include "edgestack/io/detail/mapped_file.hpp"
#include "edgestack/io/detail/validate.hpp"
#include "edgestack/io/scaling.hpp"

namespace edgestack::io {

/// The newest version this code writes (3 with input cleaning, 2 with a Scaling, else 1).
/// Readers accept it and
/// every older one.
inline constexpr std::uint32_t model_file_version = 3;
/// Size of the fixed header at the start of a file.
inline constexpr std::size_t model_header_bytes = 128;
/// Every tensor starts at a multiple of this many bytes, so it can be used in place.
inline constexpr std::size_t model_tensor_alignment = 64;
/// The first 8 bytes of every model file.
inline constexpr std::array<char, 8> model_magic{'E', 'D', 'G', 'E', 'M', 'D', 'L', '\0'};

/// How save_model writes a file.
struct SaveOptions {
    /// Architecture fingerprint to record; 0 means graph_fingerprint(g). Pass
    /// `Model::fingerprint()` to tie the file to a Sequential type.
    std::uint64_t fingerprint = 0;
    /// When set, the payload is sealed with AES-256-GCM under the key in this file.
    std::string key_file;
    /// Standardization fitted on the training data, applied around the model when it is
    /// served (clients send raw features); empty: none, and the file stays version 1.
    Scaling scaling{};
};

/// What load_model checks and needs.
struct LoadOptions {
    /// When set, a file recorded with another fingerprint is refused (integrity_error).
    std::optional<std::uint64_t> expect_fingerprint;
    /// Needed for encrypted files; ignored for plain ones.
    std::string key_file;
};

/// The tensors of one node, as views into the mapped (or decrypted) payload.
struct NodeTensors {
    std::span<const float> weights;        ///< fp32 weights (layout per compile::Op)
    std::span<const float> bias;           ///< fp32 bias
    std::span<const float> extra;          ///< batch norm / layer norm parameters
    std::span<const std::int8_t> qweights; ///< int8 weights, when quantized
    std::span<const std::int32_t> qbias;   ///< int32 bias, when quantized
};

namespace detail {

inline void fnv_mix(std::uint64_t& h, const void* p, std::size_t n) noexcept {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
}

inline void put_quant(Writer& w, const compile::QuantParams& q) {
    w.put(static_cast<std::uint32_t>(q.scale.size()));
    for (float s : q.scale) w.put(s);
    w.put(static_cast<std::uint32_t>(q.zero_point.size()));
    for (auto z : q.zero_point) w.put(z);
    w.put(static_cast<std::int32_t>(q.axis));
}

inline compile::QuantParams get_quant(Reader& r) {
    compile::QuantParams q;
    const auto ns = r.count("scale count", 4, 1u << 20);
    q.scale.resize(ns);
    for (auto& s : q.scale) s = r.get<float>("scale");
    const auto nz = r.count("zero point count", 4, 1u << 20);
    q.zero_point.resize(nz);
    for (auto& z : q.zero_point) z = r.get<std::int32_t>("zero point");
    q.axis = r.get<std::int32_t>("quantization axis");
    return q;
}

struct AlignedFree {
    void operator()(std::byte* p) const noexcept {
        ::operator delete[](p, std::align_val_t{model_tensor_alignment});
    }
};
using AlignedBuffer = std::unique_ptr<std::byte[], AlignedFree>;

inline AlignedBuffer aligned_buffer(std::size_t n) {
    auto* p = static_cast<std::byte*>(
        ::operator new[](n == 0 ? 1 : n, std::align_val_t{model_tensor_alignment}));
    return AlignedBuffer(p);
}

// Header field offsets.
inline constexpr std::size_t h_version = 8, h_flags = 12, h_fingerprint = 16,
                             h_payload = 24, h_graph = 32, h_iv = 40, h_tag = 52,
                             h_digest = 96, h_aad_end = 40;
inline constexpr std::uint32_t flag_encrypted = 1;

} // namespace detail

/// A hash of the graph's structure (ops, shapes, attributes; not the weights): two graphs
/// with the same fingerprint can load each other's files.
inline std::uint64_t graph_fingerprint(const compile::Graph& g) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const auto& d : g.values) {
        const std::uint64_t r = d.size();
        detail::fnv_mix(h, &r, sizeof r);
        for (std::uint64_t x : d) detail::fnv_mix(h, &x, sizeof x);
    }
    for (const auto& n : g.nodes) {
        detail::fnv_mix(h, &n.op, 1);
        for (int v : n.inputs) detail::fnv_mix(h, &v, sizeof v);
        detail::fnv_mix(h, &n.output, sizeof n.output);
        for (std::uint64_t x : n.kernel) detail::fnv_mix(h, &x, sizeof x);
        for (std::uint64_t x : n.stride) detail::fnv_mix(h, &x, sizeof x);
        for (std::uint64_t x : n.dilation) detail::fnv_mix(h, &x, sizeof x);
        for (std::uint64_t x : n.pad) detail::fnv_mix(h, &x, sizeof x);
        detail::fnv_mix(h, &n.fused, 1);
    }
    detail::fnv_mix(h, &g.output, sizeof g.output);
    return h;
}

/// Write `g` to `path` atomically (the old file, if any, stays intact until the new one is
/// complete on disk).
inline void save_model(const std::string& path, const compile::Graph& g,
                       const SaveOptions& opt = {}) {
    detail::validate_graph(g, path + " (graph being saved)");
    opt.scaling.check(g.input_size(), g.output_size(), path + " (scaling being saved)");
    detail::Writer w; // the payload
    w.put(static_cast<std::uint32_t>(g.values.size()));
    for (const auto& d : g.values) {
        w.put(static_cast<std::uint32_t>(d.size()));
        for (std::uint64_t x : d) w.put(x);
    }
    w.put(static_cast<std::uint32_t>(g.value_quant.size()));
    for (const auto& q : g.value_quant) detail::put_quant(w, q);
    w.put(static_cast<std::uint32_t>(g.nodes.size()));

    struct Pending {
        std::size_t at;                  // where the reference's offset goes
        std::span<const std::byte> data; // the tensor's bytes
    };
    std::vector<Pending> pending;
    auto tensor_ref = [&](auto const& vec) {
        pending.push_back({w.size(), std::as_bytes(std::span(vec))});
        w.put(std::uint64_t{0});
        w.put(static_cast<std::uint64_t>(vec.size()));
    };
    for (const auto& n : g.nodes) {
        w.put(static_cast<std::uint8_t>(n.op));
        w.put(static_cast<std::uint8_t>(n.fused));
        w.put(static_cast<std::uint32_t>(n.name.size()));
        w.put_bytes(std::as_bytes(std::span(n.name.data(), n.name.size())));
        w.put(static_cast<std::uint32_t>(n.inputs.size()));
        for (std::int32_t v : n.inputs) w.put(v);
        w.put(static_cast<std::int32_t>(n.output));
        for (std::uint64_t x : n.kernel) w.put(x);
        for (std::uint64_t x : n.stride) w.put(x);
        for (std::uint64_t x : n.dilation) w.put(x);
        for (std::uint64_t x : n.pad) w.put(x);
        w.put(n.alpha);
        detail::put_quant(w, n.weight_quant);
        tensor_ref(n.weights);
        tensor_ref(n.bias);
        tensor_ref(n.extra);
        tensor_ref(n.qweights);
        tensor_ref(n.qbias);
    }
    w.put(static_cast<std::int32_t>(g.output));
    const std::uint32_t version = opt.scaling.empty() ? 1 : opt.scaling.cleans() ? 3 : 2;
    if (version >= 2)
        for (const auto* side : {&opt.scaling.input_mean, &opt.scaling.output_mean}) {
            const auto& sd = side == &opt.scaling.input_mean ? opt.scaling.input_sd
                                                              : opt.scaling.output_sd;
            w.put(static_cast<std::uint32_t>(side->size()));
            for (std::size_t i = 0; i < side->size(); ++i) {
                w.put((*side)[i]);
                w.put(sd[i]);
            }
        }
    if (version >= 3) {
        w.put(static_cast<std::uint32_t>(opt.scaling.input_fill.size()));
        for (double v : opt.scaling.input_fill) w.put(v);
        w.put(static_cast<std::uint32_t>(opt.scaling.input_lo.size()));
        for (std::size_t i = 0; i < opt.scaling.input_lo.size(); ++i) {
            w.put(opt.scaling.input_lo[i]);
            w.put(opt.scaling.input_hi[i]);
        }
    }
    const std::uint64_t graph_size = w.size();
    for (auto& p : pending) {
        w.pad_to(model_tensor_alignment);
        const std::uint64_t off = p.data.empty() ? 0 : w.size();
        std::memcpy(w.bytes().data() + p.at, &off, sizeof off);
        w.put_bytes(p.data);
    }
    w.pad_to(model_tensor_alignment);
    auto& payload = w.bytes();

    std::array<std::byte, model_header_bytes> header{};
    auto put_at = [&](std::size_t at, const auto& v) { std::memcpy(header.data() + at, &v, sizeof v); };
    std::memcpy(header.data(), model_magic.data(), model_magic.size());
    put_at(detail::h_version, version);
    const std::uint32_t flags = opt.key_file.empty() ? 0 : detail::flag_encrypted;
    put_at(detail::h_flags, flags);
    put_at(detail::h_fingerprint, opt.fingerprint != 0 ? opt.fingerprint : graph_fingerprint(g));
    put_at(detail::h_payload, static_cast<std::uint64_t>(payload.size()));
    put_at(detail::h_graph, graph_size);
    if (flags & detail::flag_encrypted) {
        const auto key = detail::read_key_file(opt.key_file);
        std::array<std::uint8_t, detail::gcm_iv_bytes> iv{};
        std::array<std::uint8_t, detail::gcm_tag_bytes> tag{};
        detail::gcm_seal(key, std::span(header).first(detail::h_aad_end), payload, iv, tag);
        std::memcpy(header.data() + detail::h_iv, iv.data(), iv.size());
        std::memcpy(header.data() + detail::h_tag, tag.data(), tag.size());
    }
    const auto digest = detail::sha256({std::span(header).first(detail::h_digest), payload});
    std::memcpy(header.data() + detail::h_digest, digest.data(), digest.size());
    detail::write_atomically(path, {header, payload});
}

/// A loaded deployment file. The graph's structure (shapes, nodes, quantization
/// parameters) is parsed into graph(); the node tensors are *not* copied: tensors(i) views
/// them where they lie in the read-only mapping (64-byte aligned), and they stay valid as
/// long as this object lives. An encrypted file is decrypted once into an owned aligned
/// buffer instead. to_graph() makes the one explicit copy, for engines that take a Graph.
class ModelFile {
public:
    /// The graph's structure; its nodes' tensors are left empty (see tensors()).
    const compile::Graph& graph() const noexcept { return graph_; }
    /// The tensors of node `node`, viewed in place; throws std::out_of_range past the last.
    const NodeTensors& tensors(std::size_t node) const { return tensors_.at(node); }
    /// Format version of the file (model_file_version or older).
    std::uint32_t version() const noexcept { return version_; }
    /// The standardization saved with the model (empty for version 1 files).
    const Scaling& scaling() const noexcept { return scaling_; }
    /// Architecture fingerprint recorded in the file.
    std::uint64_t fingerprint() const noexcept { return fingerprint_; }
    /// Whether the payload was encrypted (and so decrypted into an owned buffer).
    bool encrypted() const noexcept { return owned_ != nullptr; }
    /// The bytes the tensors live in (the mapping, or the decrypted buffer).
    std::span<const std::byte> storage() const noexcept { return storage_; }

    /// A self-contained Graph with every tensor copied in.
    compile::Graph to_graph() const {
        compile::Graph g = graph_;
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            auto& n = g.nodes[i];
            const auto& t = tensors_[i];
            n.weights.assign(t.weights.begin(), t.weights.end());
            n.bias.assign(t.bias.begin(), t.bias.end());
            n.extra.assign(t.extra.begin(), t.extra.end());
            n.qweights.assign(t.qweights.begin(), t.qweights.end());
            n.qbias.assign(t.qbias.begin(), t.qbias.end());
        }
        return g;
    }

    /// Parse a file image. `name` is used in messages. Used by load_model; public so
    /// that in-memory images (tests, fuzzing) take the same path.
    static ModelFile parse(std::span<const std::byte> file, const std::string& name,
                           const LoadOptions& opt, detail::MappedFile map = {});

private:
    compile::Graph graph_;
    std::vector<NodeTensors> tensors_;
    std::uint32_t version_ = 0;
    std::uint64_t fingerprint_ = 0;
    Scaling scaling_;
    detail::MappedFile map_;
    detail::AlignedBuffer owned_;
    std::span<const std::byte> storage_;
};

inline ModelFile ModelFile::parse(std::span<const std::byte> file, const std::string& name,
                                  const LoadOptions& opt, detail::MappedFile map) {
    ModelFile m;
    m.map_ = std::move(map);
    detail::Reader hr(file, name);
    hr.need(model_header_bytes, "the header");
    if (std::memcmp(file.data(), model_magic.data(), model_magic.size()) != 0)
        hr.fail("not an edgestack model file (bad magic)");
    auto get_at = [&](std::size_t at, auto v) {
        std::memcpy(&v, file.data() + at, sizeof v);
        return v;
    };
    m.version_ = get_at(detail::h_version, std::uint32_t{});
    if (m.version_ == 0 || m.version_ > model_file_version)
        hr.fail_at(detail::h_version, "format version " + std::to_string(m.version_) +
                                          " is not supported (this reader knows 1 to " +
                                          std::to_string(model_file_version) + ")");
    const auto flags = get_at(detail::h_flags, std::uint32_t{});
    if ((flags & ~detail::flag_encrypted) != 0)
        hr.fail_at(detail::h_flags, "unknown flags " + std::to_string(flags));
    m.fingerprint_ = get_at(detail::h_fingerprint, std::uint64_t{});
    const auto payload_size = get_at(detail::h_payload, std::uint64_t{});
    const auto graph_size = get_at(detail::h_graph, std::uint64_t{});
    const std::size_t have = file.size() - model_header_bytes;
    if (payload_size > have)
        hr.fail_at(detail::h_payload, "truncated: header announces " +
                                          std::to_string(payload_size) + " payload bytes, file has " +
                                          std::to_string(have));
    if (payload_size < have)
        hr.fail_at(model_header_bytes + payload_size,
                   std::to_string(have - payload_size) + " unexpected bytes after the payload");
    if (graph_size > payload_size)
        hr.fail_at(detail::h_graph, "graph section size " + std::to_string(graph_size) +
                                        " exceeds the payload");
    const auto payload = file.subspan(model_header_bytes);

    const auto digest = detail::sha256({file.first(detail::h_digest), payload});
    if (std::memcmp(digest.data(), file.data() + detail::h_digest, digest.size()) != 0) {
        std::array<std::uint8_t, 32> stored{};
        std::memcpy(stored.data(), file.data() + detail::h_digest, stored.size());
        throw integrity_error(name + ": SHA-256 mismatch: the file records " + detail::hex(stored) +
                              ", its contents hash to " + detail::hex(digest) +
                              " (corrupted or tampered)");
    }
    if (opt.expect_fingerprint && *opt.expect_fingerprint != m.fingerprint_)
        throw integrity_error(name + ": byte 16: architecture fingerprint " +
                              std::to_string(m.fingerprint_) + " does not match the expected " +
                              std::to_string(*opt.expect_fingerprint) +
                              " (the file was written for another model)");

    if (flags & detail::flag_encrypted) {
        if (opt.key_file.empty())
            throw config_error(name + ": the payload is encrypted; pass LoadOptions::key_file");
        const auto key = detail::read_key_file(opt.key_file);
        m.owned_ = detail::aligned_buffer(payload.size());
        std::array<std::uint8_t, detail::gcm_iv_bytes> iv{};
        std::array<std::uint8_t, detail::gcm_tag_bytes> tag{};
        std::memcpy(iv.data(), file.data() + detail::h_iv, iv.size());
        std::memcpy(tag.data(), file.data() + detail::h_tag, tag.size());
        detail::gcm_open(key, file.first(detail::h_aad_end), payload,
                         {m.owned_.get(), payload.size()}, iv, tag, name);
        m.storage_ = {m.owned_.get(), payload.size()};
    } else {
        m.storage_ = payload;
    }
    // Tensor offsets are relative to the payload, whose first byte is 64-byte aligned in a
    // mapping (the header is 128 bytes) and in the decrypted buffer.
    const bool base_aligned =
        reinterpret_cast<std::uintptr_t>(m.storage_.data()) % model_tensor_alignment == 0;

    detail::Reader r(m.storage_.first(graph_size), name, model_header_bytes);
    auto& g = m.graph_;
    const auto nv = r.count("value count", 4, 1u << 24);
    g.values.resize(nv);
    for (auto& d : g.values) {
        const auto rank = r.count("rank", 8, 4);
        d.resize(rank);
        for (auto& x : d) {
            const auto at = r.file_offset();
            const auto v = r.get<std::uint64_t>("dimension");
            if (v == 0 || v > detail::max_value_elements)
                r.fail_at(at, "dimension " + std::to_string(v) + " is out of range");
            x = static_cast<std::size_t>(v);
        }
    }
    const auto nq = r.count("value quantization count", 12, nv);
    if (nq != 0 && nq != nv) r.fail("value quantization count " + std::to_string(nq) +
                                    " must be 0 or the value count " + std::to_string(nv));
    g.value_quant.resize(nq);
    for (auto& q : g.value_quant) q = detail::get_quant(r);
    const auto nn = r.count("node count", 16, 1u << 24);
    g.nodes.resize(nn);
    m.tensors_.resize(nn);
    auto tensor = [&](auto* tag, const char* what) {
        using T = std::remove_pointer_t<decltype(tag)>;
        const auto at = r.file_offset();
        const auto off = r.get<std::uint64_t>(what);
        const auto count = r.get<std::uint64_t>(what);
        if (count == 0) return std::span<const T>{};
        if (off % model_tensor_alignment != 0 || off < graph_size || off > m.storage_.size() ||
            count > (m.storage_.size() - off) / sizeof(T))
            r.fail_at(at, std::string(what) + " at payload offset " + std::to_string(off) + ", " +
                              std::to_string(count) + " elements: outside the payload or misaligned");
        if (!base_aligned) r.fail_at(at, "tensor storage is not 64-byte aligned");
        return std::span<const T>(reinterpret_cast<const T*>(m.storage_.data() + off),
                                  static_cast<std::size_t>(count));
    };
    for (std::size_t i = 0; i < nn; ++i) {
        auto& n = g.nodes[i];
        const auto op_at = r.file_offset();
        const auto op = r.get<std::uint8_t>("op");
        n.op = static_cast<compile::Op>(op);
        if (compile::op_name(n.op) == "unknown")
            r.fail_at(op_at, "node " + std::to_string(i) + ": unknown op code " + std::to_string(op));
        const auto fused = r.get<std::uint8_t>("fused activation");
        if (fused > static_cast<std::uint8_t>(compile::Activation::relu6))
            r.fail("node " + std::to_string(i) + ": unknown fused activation " + std::to_string(fused));
        n.fused = static_cast<compile::Activation>(fused);
        const auto len = r.count("name length", 1, 4096);
        auto nb = r.take(len, "name");
        n.name.assign(reinterpret_cast<const char*>(nb.data()), nb.size());
        const auto ni = r.count("input count", 4, 2);
        n.inputs.resize(ni);
        for (auto& v : n.inputs) v = r.get<std::int32_t>("input value");
        n.output = r.get<std::int32_t>("output value");
        for (auto* arr : {n.kernel.data(), n.stride.data(), n.dilation.data()})
            for (int k = 0; k < 2; ++k) arr[k] = static_cast<std::size_t>(std::min<std::uint64_t>(r.get<std::uint64_t>("attribute"), 1u << 20));
        for (auto& p : n.pad) p = static_cast<std::size_t>(std::min<std::uint64_t>(r.get<std::uint64_t>("padding"), 1u << 20));
        n.alpha = r.get<float>("alpha");
        n.weight_quant = detail::get_quant(r);
        auto& t = m.tensors_[i];
        t.weights = tensor(static_cast<float*>(nullptr), "weights");
        t.bias = tensor(static_cast<float*>(nullptr), "bias");
        t.extra = tensor(static_cast<float*>(nullptr), "extra");
        t.qweights = tensor(static_cast<std::int8_t*>(nullptr), "qweights");
        t.qbias = tensor(static_cast<std::int32_t*>(nullptr), "qbias");
    }
    g.output = r.get<std::int32_t>("graph output");
    if (m.version_ >= 2) {
        for (auto* side : {&m.scaling_.input_mean, &m.scaling_.output_mean}) {
            auto& sd = side == &m.scaling_.input_mean ? m.scaling_.input_sd : m.scaling_.output_sd;
            const auto n = r.count("scaling count", 16, 1u << 24);
            side->resize(n);
            sd.resize(n);
            for (std::size_t i = 0; i < n; ++i) {
                (*side)[i] = r.get<double>("scaling mean");
                sd[i] = r.get<double>("scaling sd");
            }
        }
    }
    if (m.version_ >= 3) {
        auto& s = m.scaling_;
        s.input_fill.resize(r.count("input filling count", 8, 1u << 24));
        for (auto& v : s.input_fill) v = r.get<double>("input filling value");
        const auto n = r.count("input clipping count", 16, 1u << 24);
        s.input_lo.resize(n);
        s.input_hi.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            s.input_lo[i] = r.get<double>("input clipping lower bound");
            s.input_hi[i] = r.get<double>("input clipping upper bound");
        }
    }
    if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unread bytes in the graph section");
    detail::validate_graph(g, name, [&](std::size_t i) {
        const auto& t = m.tensors_[i];
        return detail::TensorCounts{t.weights.size(), t.bias.size(), t.extra.size(),
                                    t.qweights.size(), t.qbias.size()};
    });
    try {
        m.scaling_.check(g.input_size(), g.output_size(), name);
    } catch (const config_error& e) {
        throw format_error(e.what());
    }
    return m;
}

/// Map `path` and parse it; throws format_error / integrity_error / file_error naming the
/// file and the offending byte.
inline ModelFile load_model(const std::string& path, const LoadOptions& opt = {}) {
    detail::MappedFile map(path);
    const auto bytes = map.bytes();
    return ModelFile::parse(bytes, path, opt, std::move(map));
}

/// Save a model type (anything with lower() and fingerprint(), e.g. nn::Sequential) with its
/// type's fingerprint, so that load_model_for<Model> refuses files of other architectures.
template <class Model>
    requires requires(const Model& m) {
        { m.lower() } -> std::same_as<compile::Graph>;
        { Model::fingerprint() } -> std::convertible_to<std::uint64_t>;
    }
void save_model(const std::string& path, const Model& model, SaveOptions opt = {}) {
    opt.fingerprint = Model::fingerprint();
    save_model(path, model.lower(), opt);
}

/// load_model() that refuses (integrity_error) a file written for another model type.
template <class Model>
ModelFile load_model_for(const std::string& path, LoadOptions opt = {}) {
    opt.expect_fingerprint = Model::fingerprint();
    return load_model(path, opt);
}

} // namespace edgestack::io
