// libFuzzer target: Cleaner::load (data/clean.hpp), for the two policy lists of the seeds.
// The CRC-32 at the end is recomputed for even-sized inputs, so that mutations reach the
// policy states; a state that loads is then applied to a table and a serving row.
#include <cstring>
#include <limits>
#include <vector>

#include "edgestack/data/clean.hpp"
#include "fuzz_util.hpp"

namespace d = edgestack::data;
using Rows = d::Cleaner<d::ImputeMedian, d::IqrClip, d::ZScoreClip, d::DropOutliers,
                        d::DropBadLabels, d::DropNonFinite, d::DropDuplicates, d::MinMaxScale,
                        d::Standardize>;
using Series = d::Cleaner<d::ForwardFill, d::ImputeConstant, d::ImputeMean>;

template <class C>
static void try_load(const std::string& path, std::size_t width) {
    C c;
    try {
        c.load(path);
    } catch (const edgestack::error&) {
        return;
    }
    // A loaded state must clean any table of its width without reading out of bounds.
    d::Table t;
    t.columns.resize(width);
    t.values.assign(4 * width, 0.0f);
    for (std::size_t i = 0; i < t.values.size(); ++i)
        t.values[i] = i % 5 == 0 ? std::numeric_limits<float>::quiet_NaN() : float(i) - 3.0f;
    if (width > 0) t.labels = {0, 1, -1, 7};
    try {
        c.apply(t);
        std::vector<float> row(width, std::numeric_limits<float>::infinity());
        c.transform(row);
    } catch (const edgestack::error&) {
    }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<unsigned char> b(data, data + size);
    if (size >= 24 && (size & 1) == 0) {
        const std::uint32_t crc = d::detail::crc32(b.data(), size - 4);
        std::memcpy(b.data() + size - 4, &crc, 4);
    }
    const auto path = fuzz::as_file(b.data(), b.size(), ".bin");
    // The column count sits at byte 12; tables wider than 64 columns add nothing.
    std::uint32_t cols = 0;
    if (size >= 16) std::memcpy(&cols, b.data() + 12, 4);
    const std::size_t width = cols <= 64 ? cols : 64;
    try_load<Rows>(path, width);
    try_load<Series>(path, width);
    return 0;
}
