// A classification loss given a loader of float targets: one line names both sides.
#include "edgestack/data/targets.hpp"
#include "edgestack/edgestack.hpp"
#include "edgestack/train/optimizer.hpp"
using namespace edgestack;
using Net = nn::Sequential<nn::Input<2>, nn::Dense<1>>;
void train_it(const data::InMemoryTargetLoader& loader) {
    Pipeline<data::InMemoryTargetLoader, data::NoAugment, Net, quant::NoQuant, backend::Reference> p;
    train::Adam adam(1e-2f);
    p.fit_with_loss(loader, adam, train::SoftmaxCrossEntropy{}, {});
}
