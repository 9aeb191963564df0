// libFuzzer target: the Netpbm reader behind ImageFolderLoader (data/image_folder.hpp).
#include "edgestack/data/image_folder.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto img = edgestack::data::read_pnm(fuzz::as_file(data, size, ".pgm"));
        if (img.pixels.size() != img.layout.size()) __builtin_trap();
    } catch (const edgestack::error&) {
    }
    return 0;
}
