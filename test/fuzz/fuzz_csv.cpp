// libFuzzer target: the CSV reader (data/csv.hpp), with a label column so that label
// parsing is reached too.
#include "edgestack/data/csv.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        edgestack::data::CsvOptions opt;
        opt.label_column = "label";
        (void)edgestack::data::read_csv(fuzz::as_file(data, size, ".csv"), opt);
    } catch (const edgestack::error&) {
    }
    try {
        (void)edgestack::data::read_csv(fuzz::as_file(data, size, ".csv"));
    } catch (const edgestack::error&) {
    }
    return 0;
}
