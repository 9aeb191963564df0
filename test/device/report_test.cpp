#include <boost/test/unit_test.hpp>

#include <string>

#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/device/report.hpp"

using namespace edgestack;

BOOST_AUTO_TEST_SUITE(report)

BOOST_AUTO_TEST_CASE(report_counts_and_estimates) {
    auto g = backend::nets::cnn();
    const backend::SimdEngine f(g);
    backend::nets::quantize_minmax(g, backend::nets::random_inputs(g, 4));
    const backend::SimdEngine q(g);
    const auto rf = device::report(f, device::CortexM7::profile);
    const auto rq = device::report(q, device::CortexM7::profile);
    // Conv 28x28x32x9 + conv 14x14x64x288 + dense 3136x128 + dense 128x10.
    const std::size_t macs = 28 * 28 * 32 * 9 + 14 * 14 * 64 * 288 + 3136 * 128 + 1280;
    BOOST_TEST(rf.macs == macs);
    BOOST_TEST(rf.params == 320u + 18496 + 401536 + 1290);
    BOOST_TEST(rq.flash_bytes < rf.flash_bytes / 3); // int8 weights: a quarter, plus code
    BOOST_TEST(rf.fits_flash);                       // 1.7 MB of fp32 weights + code < 2 MiB
    BOOST_TEST(rq.fits_flash);
    BOOST_TEST(rq.latency_s < rf.latency_s);         // twice the MACs per cycle on the M7
    BOOST_TEST(rq.energy_j > 0.0);
    // Latency model: MACs / (clock x MACs per cycle x efficiency) when compute-bound.
    BOOST_TEST(rq.compute_bound);
    BOOST_TEST(rq.latency_s == double(macs) / (480e6 * 2.0 * 0.5), boost::test_tools::tolerance(1e-9));
    BOOST_TEST(rq.to_string().find("cortex-m7") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
