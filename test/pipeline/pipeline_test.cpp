#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "edgestack/edgestack.hpp"

using namespace edgestack;

namespace {

using Net = nn::Sequential<nn::Input<8>, nn::Dense<32>, nn::ReLU, nn::Dense<4>>;
using Pipe =
    Pipeline<data::InMemoryLoader, data::NoAugment, Net, quant::NoQuant, backend::Reference>;

/// Four Gaussian clusters in 8 dimensions, one per class: learnable, not trivially so.
data::InMemoryLoader clusters(std::size_t n, std::uint64_t seed) {
    Rng rng(seed);
    Rng centres_rng(1234); // the same centres for every split
    std::vector<float> centres(4 * 8);
    for (auto& c : centres) c = centres_rng.uniform(-2.0f, 2.0f);
    std::vector<float> x;
    std::vector<std::int32_t> y;
    for (std::size_t i = 0; i < n; ++i) {
        const auto label = static_cast<std::int32_t>(rng.below(4));
        for (std::size_t d = 0; d < 8; ++d)
            x.push_back(centres[static_cast<std::size_t>(label) * 8 + d] + rng.normal(0, 0.8f));
        y.push_back(label);
    }
    return data::InMemoryLoader(std::move(x), std::move(y), 8, 4);
}

std::string message_of(auto&& f) {
    try {
        f();
    } catch (const error& e) {
        return e.what();
    }
    return "no exception";
}

} // namespace

BOOST_AUTO_TEST_SUITE(pipeline)

BOOST_AUTO_TEST_CASE(trains_then_generalises_to_held_out_data) {
    const auto train_set = clusters(2000, 1), test_set = clusters(500, 2);
    Pipe p(42);
    const double before = p.evaluate(test_set).accuracy;
    train::Sgd sgd(0.05f, 0.9f);
    const auto report = p.fit(train_set, sgd, {.epochs = 5, .batch_size = 32});
    BOOST_TEST(report.history.size() == 5u);
    BOOST_TEST(report.history.back().loss < report.history.front().loss);
    const auto ev = p.evaluate(test_set);
    BOOST_TEST(ev.count == 500u);
    BOOST_TEST(ev.accuracy > 0.95);
    BOOST_TEST(before < 0.6);
    std::size_t diagonal = 0, total = 0;
    for (std::size_t t = 0; t < 4; ++t)
        for (std::size_t q = 0; q < 4; ++q) {
            total += ev.confusion_at(t, q);
            if (t == q) diagonal += ev.confusion_at(t, q);
        }
    BOOST_TEST(total == 500u);
    BOOST_TEST(static_cast<double>(diagonal) / total == ev.accuracy, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(deployed_engine_computes_what_the_model_computes) {
    const auto train_set = clusters(512, 3), test_set = clusters(64, 4);
    std::optional<Pipe::engine_type> engine;
    std::vector<float> x(64 * 8), expected(64 * 4);
    {
        Pipe p(5);
        train::Sgd sgd(0.05f);
        p.fit(train_set, sgd, {.epochs = 2, .batch_size = 64});
        for (std::size_t i = 0; i < 64; ++i)
            test_set.read(i, std::span<float>(x).subspan(i * 8, 8));
        p.model().predict(x.data(), expected.data(), 64);
        engine.emplace(p.deploy());
    } // the engine outlives its pipeline
    BOOST_TEST(engine->input_size() == 8u);
    BOOST_TEST(engine->output_size() == 4u);
    auto arena = engine->make_arena(64);
    std::vector<float> got(64 * 4);
    BOOST_TEST(engine->run(x, got, arena));
    for (std::size_t i = 0; i < got.size(); ++i)
        BOOST_REQUIRE_SMALL(got[i] - expected[i], 1e-4f * (1.0f + std::abs(expected[i])));
}

BOOST_AUTO_TEST_CASE(engine_refuses_sizes_that_do_not_fit_without_throwing) {
    Pipe p(1);
    const auto engine = p.deploy();
    auto arena = engine.make_arena(2);
    std::vector<float> in(3 * 8, 0.5f), out(3 * 4, -1.0f);
    static_assert(noexcept(engine.run(in, out, arena)));
    BOOST_TEST(!engine.run(in, out, arena)); // 3 samples, arena holds 2
    BOOST_TEST(out[0] == -1.0f);             // nothing written
    std::vector<float> ragged(8 + 3), out1(4);
    BOOST_TEST(!engine.run(ragged, out1, arena));
    std::vector<float> one(8), short_out(3);
    BOOST_TEST(!engine.run(one, short_out, arena));
    BOOST_TEST(engine.run(one, out1, arena));
}

BOOST_AUTO_TEST_CASE(same_seed_same_weights_other_seed_other_weights) {
    const auto train_set = clusters(300, 5);
    auto train_with = [&](std::uint64_t seed) {
        Pipe p(seed);
        train::Sgd sgd(0.05f, 0.9f);
        p.fit(train_set, sgd, {.epochs = 2, .batch_size = 16});
        auto w = p.model().parameters();
        return std::vector<float>(w.begin(), w.end());
    };
    const auto a = train_with(77), b = train_with(77), c = train_with(78);
    BOOST_TEST(a == b);
    BOOST_TEST(a != c);
}

BOOST_AUTO_TEST_CASE(a_loader_of_the_wrong_shape_is_named_in_the_error) {
    Pipe p(1);
    const data::InMemoryLoader wrong(std::vector<float>(10 * 6, 0.0f),
                                     std::vector<std::int32_t>(10, 0), 6, 4);
    train::Sgd sgd(0.1f);
    const auto msg = message_of([&] { p.fit(wrong, sgd, {}); });
    BOOST_TEST(msg.find("6 values") != std::string::npos, msg);
    BOOST_TEST(msg.find("needs 8") != std::string::npos, msg);
    BOOST_CHECK_THROW(p.evaluate(wrong), shape_error);

    const data::InMemoryLoader too_many_classes(std::vector<float>(8, 0.0f),
                                                std::vector<std::int32_t>{6}, 8, 7);
    BOOST_CHECK_THROW(p.fit(too_many_classes, sgd, {}), shape_error);
    const auto ok = clusters(10, 1);
    BOOST_CHECK_THROW(p.fit(ok, sgd, {.epochs = 1, .batch_size = 0}), config_error);
}

BOOST_AUTO_TEST_CASE(callbacks_see_every_hook_and_can_stop_training) {
    struct Recorder {
        int train_begin = 0, epochs_begun = 0, batches = 0, epochs_ended = 0, train_end = 0;
        std::size_t stop_after = 2;
        void on_train_begin() { ++train_begin; }
        void on_epoch_begin(std::size_t, std::size_t) { ++epochs_begun; }
        void on_batch_end(const train::BatchStats& s) {
            ++batches;
            BOOST_REQUIRE(s.size > 0u);
        }
        bool on_epoch_end(const train::EpochStats& s) {
            ++epochs_ended;
            BOOST_REQUIRE(s.has_validation());
            return s.epoch + 1 >= stop_after;
        }
        void on_train_end(const train::FitReport&) { ++train_end; }
    };
    struct OnlyEpochs { // a callback with one hook: the others are simply not called
        int n = 0;
        void on_epoch_end(const train::EpochStats&) { ++n; }
    };
    const auto train_set = clusters(100, 6), val = clusters(50, 7);
    Pipe p(3);
    train::Sgd sgd(0.05f);
    Recorder rec;
    OnlyEpochs only;
    const auto report = p.fit(train_set, val, sgd, {.epochs = 10, .batch_size = 25}, rec, only);
    BOOST_TEST(report.stopped_early);
    BOOST_TEST(report.history.size() == 2u);
    BOOST_TEST(rec.train_begin == 1);
    BOOST_TEST(rec.epochs_begun == 2);
    BOOST_TEST(rec.batches == 8);
    BOOST_TEST(rec.epochs_ended == 2);
    BOOST_TEST(rec.train_end == 1);
    BOOST_TEST(only.n == 2);
    BOOST_TEST(report.history[1].val_accuracy >= 0.0);
}

BOOST_AUTO_TEST_SUITE_END()
