#include <boost/test/unit_test.hpp>

#include "data/fixtures.hpp"
#include "edgestack/edgestack.hpp"
#include "edgestack/data/augment.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/image_augment.hpp"
#include "edgestack/data/subset.hpp"

using namespace edgestack;

namespace {
using Net = nn::Sequential<nn::Input<28, 28, 1>, nn::Flatten, nn::Dense<64>, nn::ReLU, nn::Dense<10>>;
using Aug = data::Augment<data::Shift<1>, data::FlipX>;
using Pipe = Pipeline<data::Subset<data::IdxLoader>, Aug, Net, quant::NoQuant, backend::Reference>;
} // namespace

BOOST_AUTO_TEST_SUITE(pipeline_on_fashion_mnist)

// The data stage drops into a Pipeline: a stratified split of real data, augmented batches
// assembled in parallel and prefetched, and a model that learns from them.
BOOST_AUTO_TEST_CASE(split_augment_and_train) {
    const auto all = data::load_fashion_mnist(data::Split::train, fixtures::fashion_dir, 3000);
    const auto split = data::stratified_split(all, 0.2, 7);
    Pipe p(3);
    const double before = p.evaluate(split.validation).accuracy;
    train::Sgd sgd(0.01f, 0.9f);
    const auto report = p.fit(split.train, split.validation, sgd, {.epochs = 3, .batch_size = 32});
    BOOST_TEST(report.history.size() == 3u);
    BOOST_TEST(report.history.back().samples == split.train.size());
    BOOST_TEST(report.history.back().loss < report.history.front().loss);
    BOOST_TEST(report.history.back().val_accuracy > 0.65, report.history.back().val_accuracy);
    BOOST_TEST(before < 0.3);
}

BOOST_AUTO_TEST_SUITE_END()
