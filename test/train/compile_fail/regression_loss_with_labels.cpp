// A regression loss given a loader of int32 labels, through train::fit directly.
#include "edgestack/data/targets.hpp"
#include "edgestack/edgestack.hpp"
#include "edgestack/train/optimizer.hpp"
using namespace edgestack;
using Net = nn::Sequential<nn::Input<2>, nn::Dense<3>>;
void train_it(const data::InMemoryLoader& loader) {
    Net net;
    const data::NoAugment none;
    data::Batcher<data::InMemoryLoader, data::NoAugment> batches(loader, none, {1, 2, 1}, {}, Rng(1));
    train::Adam adam(1e-2f);
    auto validate = [](Net&) { return std::pair{0.0, 0.0}; };
    train::fit(net, batches, adam, train::MeanSquaredError{}, 1, Rng(2), validate, [](Net&) {});
}
