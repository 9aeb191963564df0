// IDX files (MNIST, Fashion-MNIST): an image file and a label file become one Loader. Pixels
// are kept once, as uint8, and scaled to [0, 1] floats only when a sample is read; copies of
// an IdxLoader share that storage.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/detail/byte_reader.hpp"

namespace edgestack::data {

/// An IDX array of unsigned bytes (type code 0x08): its dimensions and its body.
struct IdxArray {
    std::vector<std::size_t> dims;  ///< dims[0] is the item count
    std::vector<std::uint8_t> data; ///< row-major, dims[0] items (or fewer with a limit)

    /// Bytes per item: the product of every dimension after the first.
    std::size_t item_size() const noexcept {
        std::size_t n = 1;
        for (std::size_t i = 1; i < dims.size(); ++i) n *= dims[i];
        return n;
    }
    /// Items read (dims[0]).
    std::size_t items() const noexcept { return dims.empty() ? 0 : dims[0]; }
};

/// Read an IDX file of uint8 values (raw, or .gz with edgestack::gzip). `max_items` > 0
/// reads only the first items. `expect_rank` > 0 requires that many dimensions. Every error
/// names the file and the byte offset.
inline IdxArray read_idx(const std::filesystem::path& path, std::size_t expect_rank = 0,
                         std::size_t max_items = 0) {
    detail::ByteReader in(path);
    unsigned char magic[4];
    in.read_exact(magic, 4, "the IDX magic number");
    const std::uint32_t m = (std::uint32_t{magic[0]} << 24) | (std::uint32_t{magic[1]} << 16) |
                            (std::uint32_t{magic[2]} << 8) | magic[3];
    auto hex = [](std::uint32_t v) {
        static const char* d = "0123456789abcdef";
        std::string s = "0x";
        for (int i = 7; i >= 0; --i) s += d[(v >> (4 * i)) & 0xf];
        return s;
    };
    if (magic[0] != 0 || magic[1] != 0)
        throw format_error(in.where(0) + "bad IDX magic number " + hex(m) +
                           " (an IDX file starts with two zero bytes, e.g. 0x00000803)");
    if (magic[2] != 0x08)
        throw format_error(in.where(2) + "IDX type code " + hex(magic[2]).substr(8) +
                           " is not supported (only 0x08, unsigned bytes; magic " + hex(m) + ")");
    const std::size_t rank = magic[3];
    if (rank == 0 || (expect_rank != 0 && rank != expect_rank))
        throw format_error(in.where(3) + "IDX file has " + std::to_string(rank) +
                           " dimensions, expected " + std::to_string(expect_rank) + " (magic " +
                           hex(m) + ")");
    IdxArray a;
    a.dims.resize(rank);
    for (std::size_t i = 0; i < rank; ++i) {
        const std::size_t at = in.offset();
        a.dims[i] = in.read_be32("an IDX dimension");
        if (a.dims[i] == 0 && i > 0)
            throw format_error(in.where(at) + "IDX dimension " + std::to_string(i) + " is zero");
    }
    const std::size_t items = max_items ? std::min(max_items, a.dims[0]) : a.dims[0];
    const std::size_t item = a.item_size();
    if (item != 0 && items > (std::size_t{1} << 40) / item)
        throw format_error(in.where(4) + "IDX dimensions are implausibly large");
    // Grow the buffer as bytes actually arrive: a 20-byte file whose header claims 4 GiB
    // must fail on its short body, not on a 4 GiB allocation.
    const std::size_t want = items * item;
    constexpr std::size_t chunk = std::size_t{1} << 20;
    a.data.reserve(std::min(want, std::size_t{64} << 20));
    const std::size_t body = in.offset();
    std::size_t got = 0;
    while (got < want) {
        const std::size_t n = std::min(chunk, want - got);
        a.data.resize(got + n);
        const std::size_t read = in.read_some(a.data.data() + got, n);
        got += read;
        if (read < n) break;
    }
    a.data.resize(got);
    if (got != want)
        throw format_error(in.where(body + got) + "short IDX body: the header promises " +
                           std::to_string(want) + " bytes from byte " +
                           std::to_string(body) + " (" + std::to_string(items) + " items of " +
                           std::to_string(item) + "), the file ends at byte " +
                           std::to_string(body + got));
    a.dims[0] = items;
    return a;
}

/// A Loader over an IDX image file and its IDX label file.
class IdxLoader {
public:
    IdxLoader() = default;

    /// `max_samples` > 0 loads only the first samples (small slices for tests and smoke
    /// runs). `num_classes` 0 infers max(label) + 1.
    IdxLoader(const std::filesystem::path& images, const std::filesystem::path& labels,
              std::size_t max_samples = 0, std::size_t num_classes = 0) {
        auto s = std::make_shared<Storage>();
        IdxArray x = read_idx(images, 0, max_samples);
        if (x.dims.size() < 2)
            throw format_error(images.string() + ": byte 3: an IDX image file needs at least 2 "
                               "dimensions (count, then the sample's shape)");
        IdxArray y = read_idx(labels, 1, max_samples);
        if (x.items() != y.items())
            throw format_error(labels.string() + ": byte 4: " + std::to_string(y.items()) +
                               " labels but " + images.string() + " has " +
                               std::to_string(x.items()) + " images");
        std::uint8_t top = 0;
        for (std::uint8_t v : y.data) top = std::max(top, v);
        s->classes = num_classes ? num_classes : std::size_t{top} + 1;
        for (std::size_t i = 0; i < y.data.size(); ++i)
            if (y.data[i] >= s->classes)
                throw format_error(labels.string() + ": byte " + std::to_string(8 + i) +
                                   ": label " + std::to_string(y.data[i]) + " of sample " +
                                   std::to_string(i) + " is outside [0, " +
                                   std::to_string(s->classes) + ")");
        // Rank 3 is H x W (one channel); rank 4 is H x W x C.
        const auto& d = x.dims;
        if (d.size() == 2) s->layout = {1, d[1], 1};
        else if (d.size() == 3) s->layout = {d[1], d[2], 1};
        else s->layout = {d[1], x.item_size() / (d[1] * d.back()), d.back()};
        s->pixels = std::move(x.data);
        s->labels = std::move(y.data);
        s->images_path = images;
        s->labels_path = labels;
        s_ = std::move(s);
    }

    /// Samples held.
    std::size_t size() const noexcept { return s_ ? s_->labels.size() : 0; }
    /// Floats per sample.
    std::size_t sample_size() const noexcept { return s_ ? s_->layout.size() : 0; }
    /// Labels lie in [0, num_classes()).
    std::size_t num_classes() const noexcept { return s_ ? s_->classes : 0; }
    /// Per-sample layout: rank-2 IDX items are 1 x W x 1, rank 3 H x W x 1, rank 4 H x W x C.
    SampleLayout layout() const noexcept { return s_ ? s_->layout : SampleLayout{}; }

    /// Sample i as floats in [0, 1]; returns its label.
    std::int32_t read(std::size_t i, std::span<float> out) const {
        const std::size_t n = s_->layout.size();
        const std::uint8_t* p = s_->pixels.data() + i * n;
        constexpr float scale = 1.0f / 255.0f;
        for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<float>(p[k]) * scale;
        return s_->labels[i];
    }

    /// Label of sample i, without touching its pixels.
    std::int32_t label(std::size_t i) const noexcept { return s_->labels[i]; }
    /// The raw bytes of sample i.
    std::span<const std::uint8_t> pixels(std::size_t i) const noexcept {
        const std::size_t n = s_->layout.size();
        return {s_->pixels.data() + i * n, n};
    }
    /// The images file it was read from.
    const std::filesystem::path& images_path() const noexcept { return s_->images_path; }
    /// The labels file it was read from.
    const std::filesystem::path& labels_path() const noexcept { return s_->labels_path; }

private:
    struct Storage {
        std::vector<std::uint8_t> pixels;
        std::vector<std::uint8_t> labels;
        SampleLayout layout;
        std::size_t classes = 0;
        std::filesystem::path images_path, labels_path;
    };
    std::shared_ptr<const Storage> s_;
};

} // namespace edgestack::data
