// libFuzzer target: read_image behind ImageFolderLoader (data/image_folder.hpp), which picks
// the PNG (libpng), JPEG (libjpeg-turbo) or Netpbm decoder by the first bytes. The limits are
// lowered so that a header within them cannot make one input take seconds; the checks that
// refuse larger claims are the same code.
#include "edgestack/data/image_folder.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto img = edgestack::data::read_image(fuzz::as_file(data, size, ".png"),
                                                     {.max_side = 4096, .max_bytes = 16u << 20});
        if (img.pixels.size() != img.layout.size()) __builtin_trap();
        if (img.layout.channels != 1 && img.layout.channels != 3) __builtin_trap();
    } catch (const edgestack::error&) {
    }
    return 0;
}
