// Checkpoints of the training stage: a model's parameters and non-trainable state, the
// optimizer's state and the run's position (epoch, seed) in one versioned binary file with
// the architecture's fingerprint and a CRC-32, written atomically. Resuming from one
// repeats the uninterrupted run exactly (same seed, same thread count).
//
// Format, version 1 (all integers little-endian, floats IEEE-754 binary32 little-endian):
//   0  magic "EDGECKPT"           8  u32 version          12 u32 flags (0)
//   16 u64 body length (bytes from 32 to the checksum)    24 u64 architecture fingerprint
//   32 body: str architecture, u64 epoch, u64 seed, floats parameters, floats state,
//           str optimizer name ("" = none), u64 optimizer steps, u32 buffer count,
//           that many floats buffers
//   end u32 CRC-32 of bytes [0, 32 + body length)
//   (str = u32 length + bytes; floats = u64 count + values)
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/train/concepts.hpp"
#include "edgestack/train/detail/checkpoint_io.hpp"

namespace edgestack::train {

/// The checkpoint format this code writes; readers accept it and every older one.
inline constexpr std::uint32_t checkpoint_version = 1;

/// A model a checkpoint can hold: parameters plus an architecture description and its
/// fingerprint (nn::Sequential provides both).
template <class M>
concept CheckpointableModel = requires(M& m, const M& cm) {
    { m.parameters() } -> std::convertible_to<std::span<float>>;
    { M::architecture() } -> std::convertible_to<std::string>;
    { M::fingerprint() } -> std::convertible_to<std::uint64_t>;
};

/// Where a run stands: the next epoch to train and the pipeline's seed (with the epoch it
/// fixes every shuffle, augmentation and dropout stream still to come).
struct TrainingProgress {
    std::size_t epoch = 0;  ///< the next epoch to train (0-based)
    std::uint64_t seed = 0; ///< the pipeline's seed
};

/// What a checkpoint holds, without loading it into a model.
struct CheckpointInfo {
    std::uint32_t version = 0;               ///< format version of the file
    std::uint64_t fingerprint = 0;           ///< of the model type that wrote it
    std::string architecture;                ///< its layer list, readable
    TrainingProgress progress;               ///< where the run stood
    std::vector<float> parameters;           ///< every parameter, in the model's order
    std::vector<float> state;                ///< non-trained state (batch-norm statistics)
    std::optional<OptimizerState> optimizer; ///< when the optimizer's state was saved
};

namespace detail {

inline constexpr char checkpoint_magic[8] = {'E', 'D', 'G', 'E', 'C', 'K', 'P', 'T'};
inline constexpr std::size_t checkpoint_header = 32;

/// Non-trainable state (BatchNorm running statistics) of models that have it.
template <class M>
std::span<float> model_state(M& m) {
    if constexpr (requires { { m.state() } -> std::convertible_to<std::span<float>>; })
        return m.state();
    else if constexpr (requires { { m.buffers() } -> std::convertible_to<std::span<float>>; })
        return m.buffers();
    else
        return {};
}

inline std::vector<unsigned char> encode_checkpoint(const CheckpointInfo& c) {
    ByteWriter w;
    for (char ch : checkpoint_magic) w.put(static_cast<unsigned char>(ch));
    w.put(checkpoint_version);
    w.put(std::uint32_t{0});
    w.put(std::uint64_t{0}); // body length, patched below
    w.put(c.fingerprint);
    w.put_string(c.architecture);
    w.put(static_cast<std::uint64_t>(c.progress.epoch));
    w.put(c.progress.seed);
    w.put_floats(c.parameters);
    w.put_floats(c.state);
    w.put_string(c.optimizer ? c.optimizer->name : std::string());
    w.put(c.optimizer ? c.optimizer->steps : std::uint64_t{0});
    w.put(static_cast<std::uint32_t>(c.optimizer ? c.optimizer->slots.size() : 0));
    if (c.optimizer)
        for (const auto& s : c.optimizer->slots) w.put_floats(s);
    w.patch_u64(16, w.bytes().size() - checkpoint_header);
    w.put(crc32(w.bytes()));
    return std::move(w.bytes());
}

inline CheckpointInfo decode_checkpoint(std::span<const unsigned char> bytes,
                                        const std::string& file) {
    ByteReader r(bytes, file);
    for (char ch : checkpoint_magic)
        if (r.get<std::uint8_t>("magic") != static_cast<unsigned char>(ch))
            r.fail_at(0, "not an edgestack checkpoint (magic \"EDGECKPT\" missing)");
    CheckpointInfo c;
    c.version = r.get<std::uint32_t>("version");
    if (c.version == 0 || c.version > checkpoint_version)
        r.fail_at(8, "checkpoint version " + std::to_string(c.version) +
                         " is not supported (this build reads 1 to " +
                         std::to_string(checkpoint_version) + ")");
    if (const auto flags = r.get<std::uint32_t>("flags"); flags != 0)
        r.fail_at(12, "unknown flags " + std::to_string(flags));
    const auto body = r.get<std::uint64_t>("body length");
    const std::size_t expected = checkpoint_header + body + 4;
    if (body > bytes.size() || bytes.size() < expected)
        r.fail_at(bytes.size(), "truncated: the header declares " + std::to_string(expected) +
                                    " bytes but the file has " + std::to_string(bytes.size()));
    if (bytes.size() > expected)
        r.fail_at(expected, std::to_string(bytes.size() - expected) +
                                " unexpected bytes after the checksum");
    const std::uint32_t stored = std::uint32_t(bytes[expected - 4]) |
                                 std::uint32_t(bytes[expected - 3]) << 8 |
                                 std::uint32_t(bytes[expected - 2]) << 16 |
                                 std::uint32_t(bytes[expected - 1]) << 24;
    const std::uint32_t actual = crc32(bytes.first(expected - 4));
    if (stored != actual)
        throw integrity_error(file + ": byte " + std::to_string(expected - 4) +
                              ": checksum mismatch (stored " + std::to_string(stored) +
                              ", computed " + std::to_string(actual) +
                              ") - the file is corrupt or was modified");
    ByteReader body_reader(bytes.first(expected - 4), file);
    body_reader.get<std::uint64_t>("header");
    body_reader.get<std::uint64_t>("header");
    body_reader.get<std::uint64_t>("header");
    c.fingerprint = body_reader.get<std::uint64_t>("fingerprint");
    c.architecture = body_reader.get_string("architecture");
    c.progress.epoch = body_reader.get<std::uint64_t>("epoch");
    c.progress.seed = body_reader.get<std::uint64_t>("seed");
    c.parameters = body_reader.get_floats("parameters");
    c.state = body_reader.get_floats("state");
    OptimizerState o;
    o.name = body_reader.get_string("optimizer name");
    o.steps = body_reader.get<std::uint64_t>("optimizer steps");
    const auto slots = body_reader.get<std::uint32_t>("optimizer buffer count");
    for (std::uint32_t i = 0; i < slots; ++i)
        o.slots.push_back(body_reader.get_floats("optimizer buffer"));
    if (!o.name.empty()) c.optimizer = std::move(o);
    if (body_reader.offset() != expected - 4)
        body_reader.fail("the body ends before its declared length");
    return c;
}

} // namespace detail

/// Read a checkpoint without a model (inspection, tools). Throws file_error, format_error
/// (naming the byte offset) or integrity_error (checksum).
inline CheckpointInfo read_checkpoint(const std::filesystem::path& path) {
    const auto bytes = detail::read_file_bytes(path);
    return detail::decode_checkpoint(bytes, path.string());
}

/// Write `model` (and the run's progress) to `path`, atomically.
template <CheckpointableModel M>
void save_checkpoint(const std::filesystem::path& path, M& model, TrainingProgress progress = {}) {
    CheckpointInfo c;
    c.fingerprint = M::fingerprint();
    c.architecture = M::architecture();
    c.progress = progress;
    const auto p = model.parameters();
    c.parameters.assign(p.begin(), p.end());
    const auto s = detail::model_state(model);
    c.state.assign(s.begin(), s.end());
    detail::write_file_atomically(path, detail::encode_checkpoint(c));
}

/// As above, with the optimizer's state, so training can resume where it stopped.
template <CheckpointableModel M, StatefulOptimizer O>
void save_checkpoint(const std::filesystem::path& path, M& model, const O& optimizer,
                     TrainingProgress progress) {
    CheckpointInfo c;
    c.fingerprint = M::fingerprint();
    c.architecture = M::architecture();
    c.progress = progress;
    const auto p = model.parameters();
    c.parameters.assign(p.begin(), p.end());
    const auto s = detail::model_state(model);
    c.state.assign(s.begin(), s.end());
    c.optimizer = optimizer.state();
    detail::write_file_atomically(path, detail::encode_checkpoint(c));
}

namespace detail {
template <class M>
void apply_to_model(const CheckpointInfo& c, const std::string& file, M& model) {
    if (c.fingerprint != M::fingerprint() || c.architecture != M::architecture())
        throw integrity_error(file + ": byte 24: the checkpoint is of another architecture:\n"
                              "  file:  " + c.architecture + "\n  model: " + M::architecture());
    auto p = model.parameters();
    auto s = model_state(model);
    if (c.parameters.size() != p.size())
        throw format_error(file + ": " + std::to_string(c.parameters.size()) +
                           " parameters, the model has " + std::to_string(p.size()));
    if (c.state.size() != s.size())
        throw format_error(file + ": " + std::to_string(c.state.size()) +
                           " non-trainable state values, the model has " +
                           std::to_string(s.size()));
    std::copy(c.parameters.begin(), c.parameters.end(), p.begin());
    std::copy(c.state.begin(), c.state.end(), s.begin());
}
} // namespace detail

/// Load parameters and state into `model` (all or nothing); returns the run's progress.
/// Another architecture is an integrity_error naming both.
template <CheckpointableModel M>
TrainingProgress load_checkpoint(const std::filesystem::path& path, M& model) {
    const auto c = read_checkpoint(path);
    detail::apply_to_model(c, path.string(), model);
    return c.progress;
}

/// As above, restoring the optimizer's state too; the file must hold the same optimizer.
template <CheckpointableModel M, StatefulOptimizer O>
TrainingProgress load_checkpoint(const std::filesystem::path& path, M& model, O& optimizer) {
    const auto c = read_checkpoint(path);
    const std::string file = path.string();
    if (!c.optimizer)
        throw config_error(file + ": holds no optimizer state (saved without an optimizer) - "
                           "load it with load_checkpoint(path, model)");
    const std::string own = optimizer.state().name;
    if (c.optimizer->name != own)
        throw config_error(file + ": optimizer state of " + c.optimizer->name +
                           " cannot be loaded into " + own);
    for (const auto& slot : c.optimizer->slots)
        if (slot.size() != c.parameters.size())
            throw format_error(file + ": an optimizer buffer has " + std::to_string(slot.size()) +
                               " values for " + std::to_string(c.parameters.size()) +
                               " parameters");
    detail::apply_to_model(c, file, model);
    optimizer.load_state(*c.optimizer);
    return c.progress;
}

} // namespace edgestack::train
