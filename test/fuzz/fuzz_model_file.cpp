// libFuzzer target: the deployment file parser. The SHA-256 is recomputed over the fuzzed
// bytes first, so that mutations reach the parser and the graph validator rather than
// stopping at the checksum.
#include <cstring>

#include "edgestack/io/model_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace edgestack;
    auto buf = io::detail::aligned_buffer(size);
    if (size != 0) std::memcpy(buf.get(), data, size);
    if (size >= io::model_header_bytes && (size & 1) == 0) { // odd sizes keep the stored digest
        const auto d = io::detail::sha256({{buf.get(), 96}, {buf.get() + 128, size - 128}});
        std::memcpy(buf.get() + 96, d.data(), d.size());
    }
    try {
        const auto m = io::ModelFile::parse({buf.get(), size}, "fuzz.esm", {});
        (void)m.to_graph();
    } catch (const edgestack::error&) {
    }
    return 0;
}
