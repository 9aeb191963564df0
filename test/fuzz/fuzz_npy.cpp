// libFuzzer target: the NPY reader (data/npy.hpp).
#include "edgestack/data/npy.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        (void)edgestack::data::read_npy(fuzz::as_file(data, size));
    } catch (const edgestack::error&) {
    }
    return 0;
}
