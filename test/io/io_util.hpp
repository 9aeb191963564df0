// Shared helpers of the io tests: a scratch folder, whole-file byte I/O, message checks,
// graph comparison, and re-sealing a deliberately altered model file so that the parser
// (not the checksum) is what rejects it.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/detail/crypto.hpp"

namespace iotest {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() /
               ("edgestack-io-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

inline std::vector<char> read_bytes(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
inline void write_bytes(const std::string& p, const std::vector<char>& b) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
}
inline void write_text(const std::string& p, const std::string& s) {
    write_bytes(p, std::vector<char>(s.begin(), s.end()));
}

/// A predicate for BOOST_CHECK_EXCEPTION: the message contains `part` (printed otherwise).
inline auto message_has(std::string part) {
    return [part](const edgestack::error& e) {
        const bool ok = std::string(e.what()).find(part) != std::string::npos;
        if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what() << " (wanted: " << part << ")");
        return ok;
    };
}

/// Recompute the SHA-256 of a model file image after an edit.
inline std::vector<char> reseal(std::vector<char> b) {
    if (b.size() < 128) return b;
    auto* p = reinterpret_cast<const std::byte*>(b.data());
    const auto d = edgestack::io::detail::sha256({{p, 96}, {p + 128, b.size() - 128}});
    std::memcpy(b.data() + 96, d.data(), d.size());
    return b;
}

inline void check_same_graph(const edgestack::compile::Graph& a, const edgestack::compile::Graph& b) {
    BOOST_TEST(a.values == b.values);
    BOOST_TEST(a.output == b.output);
    BOOST_REQUIRE(a.value_quant.size() == b.value_quant.size());
    for (std::size_t v = 0; v < a.value_quant.size(); ++v) {
        BOOST_TEST(a.value_quant[v].scale == b.value_quant[v].scale);
        BOOST_TEST(a.value_quant[v].zero_point == b.value_quant[v].zero_point);
        BOOST_TEST(a.value_quant[v].axis == b.value_quant[v].axis);
    }
    BOOST_REQUIRE(a.nodes.size() == b.nodes.size());
    for (std::size_t i = 0; i < a.nodes.size(); ++i) {
        const auto &x = a.nodes[i], &y = b.nodes[i];
        BOOST_TEST_CONTEXT("node " << i) {
            BOOST_TEST((x.op == y.op));
            BOOST_TEST(x.name == y.name);
            BOOST_TEST(x.inputs == y.inputs);
            BOOST_TEST(x.output == y.output);
            BOOST_TEST((x.kernel == y.kernel && x.stride == y.stride && x.dilation == y.dilation &&
                        x.pad == y.pad));
            BOOST_TEST(x.alpha == y.alpha);
            BOOST_TEST((x.fused == y.fused));
            BOOST_TEST(x.weights == y.weights);
            BOOST_TEST(x.bias == y.bias);
            BOOST_TEST(x.extra == y.extra);
            BOOST_TEST(x.qweights == y.qweights);
            BOOST_TEST(x.qbias == y.qbias);
            BOOST_TEST(x.weight_quant.scale == y.weight_quant.scale);
            BOOST_TEST(x.weight_quant.zero_point == y.weight_quant.zero_point);
            BOOST_TEST(x.weight_quant.axis == y.weight_quant.axis);
        }
    }
}

} // namespace iotest
