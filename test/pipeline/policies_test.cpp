#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "edgestack/edgestack.hpp"

using namespace edgestack;

namespace {

using Net = nn::Sequential<nn::Input<8>, nn::Dense<32>, nn::ReLU, nn::Dense<4>>;

/// An augmentation with state: it must take room in the pipeline, unlike an empty one.
struct AddOffset {
    float offset = 0.1f;
    void operator()(std::span<float> x, const SampleLayout&, Rng&) const {
        for (auto& v : x) v += offset;
    }
};

struct LayoutOfPipeline { // what an empty-policy pipeline must not exceed
    Net model;
    Rng rng;
};

} // namespace

BOOST_AUTO_TEST_SUITE(policies)

BOOST_AUTO_TEST_CASE(default_policies_satisfy_their_concepts) {
    static_assert(Loader<data::InMemoryLoader>);
    static_assert(Augmentation<data::NoAugment>);
    static_assert(Augmentation<AddOffset>);
    static_assert(Model<Net>);
    static_assert(Quantizer<quant::NoQuant>);
    static_assert(Backend<backend::Reference>);
    static_assert(Engine<backend::ReferenceEngine>);
    static_assert(train::Optimizer<train::Sgd>);
    static_assert(train::ClassificationLoss<train::SoftmaxCrossEntropy>);
    static_assert(nn::Layer<nn::ExampleLayer>);
    BOOST_TEST(Net::param_count == 8u * 32u + 32u + 32u * 4u + 4u);
}

BOOST_AUTO_TEST_CASE(empty_policies_cost_nothing) {
    using Lean = Pipeline<data::InMemoryLoader, data::NoAugment, Net, quant::NoQuant,
                          backend::Reference>;
    using WithState = Pipeline<data::InMemoryLoader, AddOffset, Net, quant::NoQuant,
                               backend::Reference>;
    static_assert(std::is_empty_v<data::NoAugment>);
    static_assert(std::is_empty_v<quant::NoQuant>);
    static_assert(std::is_empty_v<backend::Reference>);
    BOOST_TEST(sizeof(Lean) == sizeof(LayoutOfPipeline));
    BOOST_TEST(sizeof(WithState) > sizeof(Lean));
}

BOOST_AUTO_TEST_CASE(in_memory_loader_refuses_inconsistent_data) {
    BOOST_CHECK_THROW(data::InMemoryLoader(std::vector<float>(7), std::vector<std::int32_t>(2), 4, 3),
                      shape_error);
    BOOST_CHECK_THROW(data::InMemoryLoader(std::vector<float>(8), std::vector<std::int32_t>{0, 3}, 4, 3),
                      format_error);
    BOOST_CHECK_THROW(data::InMemoryLoader(std::vector<float>(8), std::vector<std::int32_t>{0, -1}, 4, 3),
                      format_error);
    BOOST_CHECK_THROW(data::InMemoryLoader({}, {}, 0, 3), shape_error);
}

BOOST_AUTO_TEST_CASE(batches_cover_each_sample_once_per_epoch_and_reshuffle) {
    std::vector<float> x(10 * 2);
    std::vector<std::int32_t> y(10);
    for (int i = 0; i < 10; ++i) {
        x[static_cast<std::size_t>(2 * i)] = static_cast<float>(i);
        y[static_cast<std::size_t>(i)] = i % 2;
    }
    const data::InMemoryLoader loader(x, y, 2, 2);
    const data::NoAugment none;
    data::Batcher batcher(loader, none, SampleLayout{1, 2, 1}, {.batch_size = 4}, Rng(3));
    BOOST_TEST(batcher.batches_per_epoch() == 3u);
    auto epoch_order = [&](std::size_t epoch) {
        batcher.start_epoch(epoch);
        std::vector<int> order;
        data::Batch b;
        while (batcher.next(b))
            for (std::size_t i = 0; i < b.size(); ++i) {
                order.push_back(static_cast<int>(b.sample(i)[0]));
                BOOST_REQUIRE(b.y[i] == order.back() % 2);
            }
        return order;
    };
    const auto e0 = epoch_order(0), e1 = epoch_order(1), e0_again = epoch_order(0);
    BOOST_TEST(e0.size() == 10u);
    BOOST_TEST(std::set<int>(e0.begin(), e0.end()).size() == 10u);
    BOOST_TEST(e0 != e1);
    BOOST_TEST(e0 == e0_again);

    data::Batcher dropping(loader, none, SampleLayout{1, 2, 1},
                           {.batch_size = 4, .shuffle = false, .drop_last = true}, Rng(3));
    BOOST_TEST(dropping.batches_per_epoch() == 2u);
    data::Batch b;
    std::size_t n = 0;
    while (dropping.next(b)) n += b.size();
    BOOST_TEST(n == 8u);
    BOOST_CHECK_THROW(data::Batcher(loader, none, SampleLayout{1, 3, 1}, {}, Rng(1)), shape_error);
}

BOOST_AUTO_TEST_CASE(summary_names_layers_shapes_and_totals) {
    const std::string s = Net::summary();
    BOOST_TEST(s.find("Dense<32>") != std::string::npos);
    BOOST_TEST(s.find("Total params: 420") != std::string::npos, s);
    using Other = nn::Sequential<nn::Input<8>, nn::Dense<4>>;
    BOOST_TEST(Net::fingerprint() != Other::fingerprint());
}

BOOST_AUTO_TEST_SUITE_END()
