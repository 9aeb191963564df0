// libFuzzer target: the checkpoint decoder (train/checkpoint.hpp). The CRC-32 at the end
// is recomputed for even-sized inputs, so that mutations reach the body parser.
#include <cstring>
#include <vector>

#include "edgestack/train/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace d = edgestack::train::detail;
    std::vector<unsigned char> b(data, data + size);
    if (size >= 36 && (size & 1) == 0) {
        const std::uint32_t crc = d::crc32(std::span<const unsigned char>(b).first(size - 4));
        std::memcpy(b.data() + size - 4, &crc, 4);
    }
    try {
        (void)d::decode_checkpoint(b, "fuzz.ckpt");
    } catch (const edgestack::error&) {
    }
    return 0;
}
