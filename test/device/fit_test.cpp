#include <boost/test/unit_test.hpp>

#include "edgestack/backend/reference.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/device/fit.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/attention.hpp"
#include "edgestack/nn/batch_norm.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/dropout.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/layer_norm.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/nn/recurrent.hpp"
#include "edgestack/nn/residual.hpp"
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

namespace bound_models {
using namespace nn;
// Chains: one value per layer, read only by the next.
using DenseChain = Sequential<Input<8, 8, 1>, Flatten, Dense<32>, Sigmoid, Dense<4>, Softmax>;
using ConvChain = Sequential<Input<8, 8, 2>, Conv2D<4, 3>, Tanh, MaxPool<2>, DepthwiseConv2D<3>,
                             HardSwish, AvgPool<2>, Conv2D<8, 1>, LeakyReLU<>, GlobalAvgPool, Dense<3>>;
// Chains the deploy passes shorten: fused activations, folded batch norm, dropped dropout.
using Fused = Sequential<Input<8, 8, 2>, Conv2D<4, 3>, BatchNorm, ReLU, Dropout<0.25f>,
                         DepthwiseConv2D<3>, ReLU6, Flatten, Dense<16>, ReLU, Dense<3>>;
// conv -> conv -> add: the input stays alive until the add (3 values of 1,024 B at once).
using Res = Sequential<Input<8, 8, 4>, Residual<Conv2D<4, 3>, Conv2D<4, 3>>>;
using ResNet = Sequential<Input<8, 8, 3>, Conv2D<4, 3>, Residual<Conv2D<4, 3>, BatchNorm, ReLU, Conv2D<4, 3>>,
                          ReLU, Residual<Projection<Conv2D<8, 1, 2>>, Conv2D<8, 3, 2>, ReLU, Conv2D<8, 3>>,
                          GlobalAvgPool, Dense<3>>;
// Layers the engines do not run yet: planned by the engine's planner on the lowered graph.
using Encoder = Sequential<Input<6, 8>, TimeDense<8>, PositionalEmbedding,
                           Residual<LayerNorm, MultiHeadSelfAttention<2>>,
                           Residual<LayerNorm, TimeDense<16>, ReLU, TimeDense<8>>, Flatten, Dense<3>>;
using Recurrent = Sequential<Input<6, 4>, LSTM<8, true>, GRU<5>, Dense<3>>;
} // namespace bound_models

template <class Net>
compile::Graph lowered() {
    Net net;
    Rng rng(1);
    net.init(rng);
    return net.lower();
}

/// Activation bytes per sample the engine's arena holds for Net (fp32).
template <class Net>
std::size_t engine_bytes() {
    return backend::ReferenceEngine(lowered<Net>()).activation_bytes_per_sample();
}

/// What the engine's planner gives the deploy-ready graph with `elem` bytes per value.
template <class Net>
std::size_t planned_bytes(std::size_t elem) {
    auto g = lowered<Net>();
    compile::canonicalize(g);
    const auto alias = [](const compile::Node& n) {
        return n.op == compile::Op::flatten || n.op == compile::Op::dropout;
    };
    return compile::plan_memory(g, [&](int) { return elem; }, alias).bytes_per_sample;
}

template <class Net>
void check_bound(const char* name, bool chain) {
    constexpr std::size_t fp32 = compile::static_arena_bytes<Net>();
    constexpr std::size_t int8 = compile::static_arena_bytes<Net, 1>();
    const std::size_t need = planned_bytes<Net>(4), need8 = planned_bytes<Net>(1);
    BOOST_TEST_MESSAGE(name << ": static " << fp32 << " B, planned " << need << " B; int8 " << int8
                            << " B, planned " << need8 << " B");
    BOOST_TEST(fp32 >= need, name);
    BOOST_TEST(int8 >= need8, name);
    if (chain) {
        BOOST_TEST(fp32 == need, name);
        BOOST_TEST(int8 == need8, name);
    }
}

// static_arena_bytes must bound what the engine's arena really holds, for every layer kind.
BOOST_AUTO_TEST_CASE(static_arena_bound_holds_for_every_layer_kind) {
    using namespace bound_models;
    check_bound<DenseChain>("DenseChain", true);
    check_bound<ConvChain>("ConvChain", true);
    check_bound<Fused>("Fused", false);
    check_bound<Res>("Res", false);
    check_bound<ResNet>("ResNet", false);
    check_bound<Encoder>("Encoder", false);
    check_bound<Recurrent>("Recurrent", true);
    // The engines run these: their arena is the planned one.
    BOOST_TEST(engine_bytes<DenseChain>() == planned_bytes<DenseChain>(4));
    BOOST_TEST(compile::static_arena_bytes<DenseChain>() == engine_bytes<DenseChain>());
    BOOST_TEST(compile::static_arena_bytes<ConvChain>() == engine_bytes<ConvChain>());
    BOOST_TEST(compile::static_arena_bytes<Fused>() >= engine_bytes<Fused>());
    BOOST_TEST(compile::static_arena_bytes<ResNet>() >= engine_bytes<ResNet>());
    BOOST_TEST(engine_bytes<Res>() == 3 * 1024u);
    BOOST_TEST(compile::static_arena_bytes<Res>() >= engine_bytes<Res>());
    BOOST_TEST(compile::static_arena_bytes<Res>() == 3 * 1024u); // tight here too
    static_assert(device::Footprint<Res>::arena_bytes == 3 * 1024u);
}

BOOST_AUTO_TEST_SUITE_END()
