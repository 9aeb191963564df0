// int8 outputs carried from one machine to another: the host's Reference backend writes
// them (EDGESTACK_GOLDEN=write:FILE), the cross-built tests read them under QEMU
// (EDGESTACK_GOLDEN=check:FILE) and require the device's Reference and Simd (NEON) int8
// engines to give the same codes, bit for bit. Both sides build the quantized networks from
// the same seeds with floating-point contraction off, so they quantize alike; the file also
// holds each network's requantization data, so a difference there is named as such.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "backend/common.hpp"
#include "edgestack/backend/simd.hpp"

using namespace edgestack;

namespace {

/// What the golden file holds per network: its quantization grids, then its int8 outputs.
std::vector<float> record(const compile::Graph& q, const std::vector<float>& y) {
    std::vector<float> r;
    for (const auto& v : q.value_quant) {
        r.insert(r.end(), v.scale.begin(), v.scale.end());
        for (std::int32_t z : v.zero_point) r.push_back(static_cast<float>(z));
    }
    r.push_back(-1.0f); // separator: grids above, outputs below
    r.insert(r.end(), y.begin(), y.end());
    return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(golden)

BOOST_AUTO_TEST_CASE(int8_codes_match_the_hosts_reference) {
    const char* mode = std::getenv("EDGESTACK_GOLDEN");
    const std::string m = mode == nullptr ? "" : mode;
    BOOST_TEST_MESSAGE("EDGESTACK_GOLDEN=" << m);
    std::vector<float> mine, theirs;
    std::size_t net = 0;
    for (const auto& g : test::op_zoo()) {
        const auto q = test::quantized(g);
        const auto x = backend::nets::random_inputs(g, 3, 17);
        const auto ref = test::run_engine(backend::ReferenceEngine(q), x);
        BOOST_TEST_CONTEXT("network " << net) test::check_equal(test::run_engine(backend::SimdEngine(q), x), ref);
        const auto r = record(q, ref);
        mine.push_back(static_cast<float>(r.size()));
        mine.insert(mine.end(), r.begin(), r.end());
        ++net;
    }
    if (m.rfind("write:", 0) == 0) {
        std::ofstream f(m.substr(6), std::ios::binary);
        f.write(reinterpret_cast<const char*>(mine.data()), static_cast<std::streamsize>(mine.size() * sizeof(float)));
        BOOST_REQUIRE(f.good());
    } else if (m.rfind("check:", 0) == 0) {
        std::ifstream f(m.substr(6), std::ios::binary | std::ios::ate);
        BOOST_REQUIRE_MESSAGE(f.good(), "no golden file at " << m.substr(6));
        theirs.resize(static_cast<std::size_t>(f.tellg()) / sizeof(float));
        f.seekg(0);
        f.read(reinterpret_cast<char*>(theirs.data()), static_cast<std::streamsize>(theirs.size() * sizeof(float)));
        BOOST_REQUIRE_EQUAL(theirs.size(), mine.size());
        std::size_t at = 0;
        for (std::size_t n = 0; n < net; ++n) {
            const auto len = static_cast<std::size_t>(mine[at]);
            BOOST_REQUIRE_EQUAL(static_cast<std::size_t>(theirs[at]), len);
            bool grids = true;
            for (std::size_t i = 1; i <= len; ++i) {
                const float a = mine[at + i], b = theirs[at + i];
                if (grids && a == -1.0f && b == -1.0f) { grids = false; continue; }
                if (std::memcmp(&a, &b, sizeof a) != 0)
                    BOOST_FAIL("network " << n << (grids ? ", quantization grid " : ", output ") << i << ": " << a
                                          << " here, " << b << " on the host");
            }
            at += len + 1;
        }
    } else {
        // Without a file: the device's Simd int8 engine against its own Reference (above).
        BOOST_TEST(net > 0u);
    }
}

BOOST_AUTO_TEST_SUITE_END()
