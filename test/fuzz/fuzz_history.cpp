// libFuzzer target: the training-history reader (train/history.hpp) that `edgestack plot`
// runs on files from anywhere: JSON Lines and CSV, its own and other tools'.
#include "edgestack/train/history.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        (void)edgestack::train::read_history(fuzz::as_file(data, size, ".jsonl"));
    } catch (const edgestack::error&) {
    }
    return 0;
}
