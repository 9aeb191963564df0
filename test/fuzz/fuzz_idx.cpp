// libFuzzer target: the IDX reader (data/idx.hpp).
#include "edgestack/data/idx.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        (void)edgestack::data::read_idx(fuzz::as_file(data, size));
    } catch (const edgestack::error&) {
    }
    return 0;
}
