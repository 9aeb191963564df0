// Image folders: root/<class name>/<image>.png|.jpg|.pgm|.ppm, the folder name being the label
// (as camera rigs and labelling tools lay them out). Pixels are kept once as uint8 and scaled
// to [0, 1] when read; every image must have the size and channel count of the first.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/file_io.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/image.hpp"
#include "edgestack/data/jpeg.hpp"
#include "edgestack/data/label_map.hpp"
#include "edgestack/data/png.hpp"

namespace edgestack::data {

namespace detail {

class PnmParser {
public:
    explicit PnmParser(const std::filesystem::path& p) : path_(p) {
        const auto b = read_regular_file(p);
        bytes_.assign(b.begin(), b.end());
    }
    /// Parses bytes already in memory; `name` stands for the file in messages.
    PnmParser(std::string bytes, std::filesystem::path name)
        : path_(std::move(name)), bytes_(std::move(bytes)) {}

    Image parse() {
        if (bytes_.size() < 2 || bytes_[0] != 'P' ||
            (bytes_[1] != '2' && bytes_[1] != '3' && bytes_[1] != '5' && bytes_[1] != '6'))
            throw format_error(where(0) + "not a PGM/PPM image (expected P2, P3, P5 or P6)");
        const char kind = bytes_[1];
        pos_ = 2;
        const std::size_t w = number("width"), h = number("height"), maxval = number("maxval");
        if (w == 0 || h == 0 || maxval == 0 || w > 65535 || h > 65535 || maxval > 65535)
            throw format_error(where(pos_) + "width " + std::to_string(w) + ", height " +
                               std::to_string(h) + " and maxval " + std::to_string(maxval) +
                               " must each be in 1..65535");
        const std::size_t C = (kind == '3' || kind == '6') ? 3 : 1;
        // The header's size is checked against the bytes that follow it before anything is
        // allocated: a 20-byte file must not claim gigabytes. At most 65535^2 * 3 * 2 bytes,
        // so the products cannot overflow.
        const std::size_t samples = w * h * C;
        const std::size_t left = bytes_.size() - std::min(bytes_.size(), pos_ + 1);
        const bool ascii = kind == '2' || kind == '3';
        // ASCII samples take at least a digit and a separator each (the last no separator).
        const std::size_t need = ascii ? 2 * samples - 1 : samples * (maxval > 255 ? 2 : 1);
        if (need > left)
            throw format_error(where(bytes_.size()) + "pixel data is short: a " +
                               std::to_string(w) + "x" + std::to_string(h) + "x" +
                               std::to_string(C) + " image needs " +
                               (ascii ? "at least " : "") + std::to_string(need) +
                               " bytes after the header (byte " + std::to_string(pos_ + 1) +
                               "), the file ends at byte " + std::to_string(bytes_.size()));
        Image img{{h, w, C}, std::vector<std::uint8_t>(samples)};
        auto scale = [&](std::size_t v, std::size_t at) -> std::uint8_t {
            if (v > maxval)
                throw format_error(where(at) + "sample value " + std::to_string(v) +
                                   " exceeds maxval " + std::to_string(maxval));
            return static_cast<std::uint8_t>((v * 255 + maxval / 2) / maxval);
        };
        if (kind == '2' || kind == '3') {
            for (auto& px : img.pixels) {
                const std::size_t at = pos_;
                px = scale(number("pixel value"), at);
            }
            return img;
        }
        ++pos_; // the single whitespace byte after maxval; the size was checked above
        const std::size_t bpv = maxval > 255 ? 2 : 1;
        for (std::size_t i = 0; i < img.pixels.size(); ++i) {
            const std::size_t at = pos_ + i * bpv;
            const std::size_t v = bpv == 1 ? static_cast<unsigned char>(bytes_[at])
                                           : (std::size_t{static_cast<unsigned char>(bytes_[at])} << 8) |
                                                 static_cast<unsigned char>(bytes_[at + 1]);
            img.pixels[i] = scale(v, at);
        }
        return img;
    }

private:
    std::string where(std::size_t at) const {
        return path_.string() + ": byte " + std::to_string(at) + ": ";
    }
    // An ASCII decimal after whitespace and # comments.
    std::size_t number(const char* what) {
        for (;;) {
            while (pos_ < bytes_.size() && std::isspace(static_cast<unsigned char>(bytes_[pos_]))) ++pos_;
            if (pos_ < bytes_.size() && bytes_[pos_] == '#') {
                while (pos_ < bytes_.size() && bytes_[pos_] != '\n') ++pos_;
                continue;
            }
            break;
        }
        const std::size_t start = pos_;
        std::size_t v = 0;
        while (pos_ < bytes_.size() && bytes_[pos_] >= '0' && bytes_[pos_] <= '9' && pos_ - start < 9)
            v = v * 10 + static_cast<std::size_t>(bytes_[pos_++] - '0');
        if (pos_ == start)
            throw format_error(where(start) + "expected the " + what + " (a decimal number)" +
                               (start >= bytes_.size() ? ", found the end of the file" : ""));
        return v;
    }

    std::filesystem::path path_;
    std::string bytes_;
    std::size_t pos_ = 0;
};

} // namespace detail

/// Decode one PGM (P2/P5) or PPM (P3/P6) file; 16-bit images are scaled to 8 bits.
inline Image read_pnm(const std::filesystem::path& path) { return detail::PnmParser(path).parse(); }

/// Decodes an image held in memory, choosing the format by its first bytes, not by the file's
/// name: PNG (decode_png), JPEG (decode_jpeg) or Netpbm (PGM/PPM). `name` stands for the file
/// in messages.
inline Image decode_image(std::span<const unsigned char> bytes, const std::filesystem::path& name,
                          const ImageLimits& limits = {}) {
    if (detail::has_png_signature(bytes)) return decode_png(bytes, name, limits);
    if (detail::has_jpeg_signature(bytes)) return decode_jpeg(bytes, name, limits);
    if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7')
        return detail::PnmParser(std::string(bytes.begin(), bytes.end()), name).parse();
    std::string first;
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 8); ++i) {
        first += i ? " " : "";
        first += hex[bytes[i] >> 4];
        first += hex[bytes[i] & 15];
    }
    throw format_error(name.string() + ": byte 0: not a PNG, JPEG, PGM or PPM image (" +
                       (bytes.empty() ? std::string("the file is empty")
                                      : "it starts with " + first) +
                       ")");
}

/// Reads one image file of any format decode_image knows.
inline Image read_image(const std::filesystem::path& path, const ImageLimits& limits = {}) {
    const auto bytes = read_regular_file(path);
    return decode_image(bytes, path, limits);
}

/// A Loader over `root/<class>/<image>`. Classes are the sub-folder names in sorted order
/// (or the order of `classes`, when given); files in each folder are read in sorted order.
class ImageFolderLoader {
public:
    ImageFolderLoader() = default;
    /// Reads every image under `root` now. Throws file_error for a folder that cannot be
    /// read, format_error for an image that does not decode, shape_error for one whose size
    /// differs from the first.
    explicit ImageFolderLoader(const std::filesystem::path& root, LabelMap classes = {},
                               const ImageLimits& limits = {}) {
        // A folder that cannot be listed (permissions, a name too long) is a file_error like
        // every other failure of a loader.
        try {
            load(root, std::move(classes), limits);
        } catch (const std::filesystem::filesystem_error& e) {
            throw file_error(root.string() + ": " + e.what());
        }
    }

    std::size_t size() const noexcept { return s_ ? s_->labels.size() : 0; } ///< images held
    /// Floats per image.
    std::size_t sample_size() const noexcept { return s_ ? s_->layout.size() : 0; }
    /// Class folders.
    std::size_t num_classes() const noexcept { return s_ ? s_->classes.size() : 0; }
    /// Height x width x channels of every image.
    SampleLayout layout() const noexcept { return s_ ? s_->layout : SampleLayout{}; }
    /// Image `i` as floats in [0, 1]; returns its label.
    std::int32_t read(std::size_t i, std::span<float> out) const {
        const std::size_t n = s_->layout.size();
        const std::uint8_t* p = s_->pixels.data() + i * n;
        for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<float>(p[k]) * (1.0f / 255.0f);
        return s_->labels[i];
    }
    /// Class of image `i`.
    std::int32_t label(std::size_t i) const noexcept { return s_->labels[i]; }
    const LabelMap& classes() const noexcept { return s_->classes; } ///< class names by index
    /// The file image `i` came from.
    const std::filesystem::path& file(std::size_t i) const { return s_->files.at(i); }

private:
    // Image files by name, in any case (cameras write .JPG); their bytes decide the format.
    static bool is_image_name(const std::filesystem::path& p) {
        std::string ext = p.extension().string();
        for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".pgm" || ext == ".ppm" ||
               ext == ".pnm";
    }
    void load(const std::filesystem::path& root, LabelMap classes, const ImageLimits& limits) {
        namespace fs = std::filesystem;
        if (!fs::is_directory(root)) throw file_error(root.string() + ": not a folder");
        auto s = std::make_shared<Storage>();
        if (classes.empty()) {
            std::vector<std::string> dirs;
            for (const auto& e : fs::directory_iterator(root))
                if (e.is_directory()) dirs.push_back(e.path().filename().string());
            std::sort(dirs.begin(), dirs.end());
            classes = LabelMap(dirs);
        }
        if (classes.empty()) throw format_error(root.string() + ": no class sub-folders");
        bool first = true;
        for (std::size_t k = 0; k < classes.size(); ++k) {
            const fs::path dir = root / classes.name_of(static_cast<std::int32_t>(k));
            if (!fs::is_directory(dir)) throw file_error(dir.string() + ": class folder not found");
            std::vector<fs::path> files;
            // Not only regular files: a FIFO or folder named like an image is refused by
            // read_image with a message naming it, not skipped without a word.
            for (const auto& e : fs::directory_iterator(dir))
                if (is_image_name(e.path())) files.push_back(e.path());
            std::sort(files.begin(), files.end());
            for (const auto& f : files) {
                Image img = read_image(f, limits);
                if (first) {
                    s->layout = img.layout;
                    first = false;
                } else if (!(img.layout == s->layout)) {
                    throw shape_error(f.string() + ": image is " + dims(img.layout) + " but " +
                                      s->files.front().string() + " is " + dims(s->layout) +
                                      " - every image of a folder loader must have the same size");
                }
                s->pixels.insert(s->pixels.end(), img.pixels.begin(), img.pixels.end());
                s->labels.push_back(static_cast<std::int32_t>(k));
                s->files.push_back(f);
            }
        }
        s->classes = std::move(classes);
        s_ = std::move(s);
    }
    static std::string dims(const SampleLayout& l) {
        return std::to_string(l.width) + "x" + std::to_string(l.height) + "x" + std::to_string(l.channels);
    }
    struct Storage {
        std::vector<std::uint8_t> pixels;
        std::vector<std::int32_t> labels;
        std::vector<std::filesystem::path> files;
        SampleLayout layout;
        LabelMap classes;
    };
    std::shared_ptr<const Storage> s_;
};

} // namespace edgestack::data
