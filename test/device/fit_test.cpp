#include <boost/test/unit_test.hpp>

#include "edgestack/device/fit.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/sequential.hpp"

using namespace edgestack;

namespace {
using Small = nn::Sequential<nn::Input<28, 28, 1>, nn::Flatten, nn::Dense<128>, nn::ReLU, nn::Dense<10>>;
// ~ 4.9 M parameters: 19.6 MB in fp32, 4.9 MB in int8: too big for a 2 MiB flash either way.
using Big = nn::Sequential<nn::Input<28, 28, 1>, nn::Flatten, nn::Dense<6144>, nn::ReLU, nn::Dense<10>>;
} // namespace

BOOST_AUTO_TEST_SUITE(fit)

BOOST_AUTO_TEST_CASE(fit_checks_are_compile_time_constants) {
    static_assert(device::fits_on<device::Footprint<Small, device::Precision::int8>, device::CortexM7>,
                  "Small (int8) must fit a Cortex-M7");
    static_assert(device::fits_on<device::Footprint<Small>, device::CortexM7>);
    static_assert(!device::fits_on<device::Footprint<Big>, device::CortexM7>);
    static_assert(!device::fits_on<device::Footprint<Big, device::Precision::int8>, device::CortexM7>);
    static_assert(device::fits_on<device::Footprint<Big>, device::RaspberryPi4>);
    using F = device::Footprint<Small, device::Precision::int8>;
    BOOST_TEST(F::params == 784u * 128 + 128 + 128 * 10 + 10);
    BOOST_TEST(F::weight_bytes == F::params);
    BOOST_TEST(device::Footprint<Small>::weight_bytes == 4 * F::params);
    // Arena: input and the 128-wide hidden layer are the widest pair alive at once.
    BOOST_TEST(device::Footprint<Small>::arena_bytes >= (784u + 128) * 4);
    BOOST_TEST(device::Footprint<Small>::arena_bytes < (784u + 784 + 128 + 128 + 10) * 4);
}

BOOST_AUTO_TEST_SUITE_END()
