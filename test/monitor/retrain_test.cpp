// The retraining trigger policy and the train -> register -> compare -> promote step.
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "deploy/scratch.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/monitor/retrain.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/train/sgd.hpp"

using namespace edgestack;

namespace {

using Net = nn::Sequential<nn::Input<4>, nn::Dense<8>, nn::ReLU, nn::Dense<2>>;
using Pipe = Pipeline<data::InMemoryLoader, data::NoAugment, Net, quant::NoQuant, backend::Reference>;

// Class 1 when x0 + x1 > x2 + x3 (or the reverse when `flipped`), features in [0, 1).
data::InMemoryLoader make(std::size_t n, std::uint64_t seed, bool flipped = false) {
    Rng rng(seed);
    std::vector<float> x(n * 4);
    std::vector<std::int32_t> y(n);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t f = 0; f < 4; ++f) x[i * 4 + f] = rng.uniform();
        const bool one = x[i * 4] + x[i * 4 + 1] > x[i * 4 + 2] + x[i * 4 + 3];
        y[i] = (one != flipped) ? 1 : 0;
    }
    return {std::move(x), std::move(y), 4, 2};
}

std::vector<std::byte> weights_of(const Pipe& p) {
    const auto w = const_cast<Pipe&>(p).model().parameters();
    const auto b = std::as_bytes(w);
    return {b.begin(), b.end()};
}

double accuracy_of_bytes(const deploy::LoadedModel& lm, const data::InMemoryLoader& holdout) {
    Pipe p;
    auto w = p.model().parameters();
    BOOST_REQUIRE(lm.bytes.size() == w.size_bytes());
    std::memcpy(w.data(), lm.bytes.data(), lm.bytes.size());
    return monitor::engine_accuracy(p.deploy(), holdout);
}

} // namespace

BOOST_AUTO_TEST_SUITE(retrain)

BOOST_AUTO_TEST_CASE(trigger_policy) {
    monitor::RetrainPolicy p;
    p.min_accuracy = 0.8;
    p.min_labelled = 50;
    monitor::DriftReport calm;
    calm.enough_data = true;
    BOOST_TEST(!monitor::should_retrain(p, calm, 0.9, 100).retrain);
    const auto low = monitor::should_retrain(p, calm, 0.7, 100);
    BOOST_TEST(low.retrain);
    BOOST_TEST(low.reason.find("accuracy") != std::string::npos);
    BOOST_TEST(!monitor::should_retrain(p, calm, 0.7, 10).retrain); // too few labels to judge

    monitor::DriftReport drifted = calm;
    drifted.input_drift = true;
    drifted.drifted_features = 12;
    const auto d = monitor::should_retrain(p, drifted, std::nullopt, 100);
    BOOST_TEST(d.retrain);
    BOOST_TEST(d.reason.find("input drift (12 features") != std::string::npos, d.reason);
    const auto few = monitor::should_retrain(p, drifted, std::nullopt, 5);
    BOOST_TEST(!few.retrain);
    BOOST_TEST(few.reason.find("only 5 labelled") != std::string::npos, few.reason);
    drifted.enough_data = false;
    BOOST_TEST(!monitor::should_retrain(p, drifted, std::nullopt, 100).retrain);
}

BOOST_AUTO_TEST_CASE(candidate_is_promoted_only_when_it_beats_serving) {
    test::Scratch dir("retrain");
    deploy::Registry reg(dir.path());
    const auto train_a = make(1500, 1), holdout_a = make(500, 2);
    const auto noise = [] {
        // Labels unrelated to the features: nothing to learn.
        Rng rng(9);
        std::vector<float> x(1500 * 4);
        std::vector<std::int32_t> y(1500);
        for (auto& v : x) v = rng.uniform();
        for (auto& v : y) v = static_cast<std::int32_t>(rng.below(2));
        return data::InMemoryLoader(std::move(x), std::move(y), 4, 2);
    }();

    // v1: an untrained model is serving.
    Pipe untrained(1);
    reg.promote("m", reg.add("m", weights_of(untrained), {}));
    const train::FitOptions fit{20, 32, true, false};
    monitor::RetrainPolicy policy;
    policy.min_gain = 0.02;

    Pipe cand(2);
    train::Sgd sgd(0.1f, 0.9f);
    const auto good = monitor::retrain_and_register(cand, train_a, holdout_a, sgd, fit, reg, "m",
                                                    weights_of, accuracy_of_bytes, policy);
    BOOST_TEST(good.promoted, good.reason);
    BOOST_TEST(good.candidate_version == 2u);
    BOOST_TEST(good.serving_version == 1u);
    BOOST_TEST(good.candidate_accuracy > 0.9);
    BOOST_TEST(*reg.serving("m") == 2u);
    const auto m2 = reg.manifest("m", 2);
    BOOST_TEST(m2.parent == 1u);
    BOOST_TEST(m2.metrics.at("holdout_accuracy") == good.candidate_accuracy);

    // A candidate trained on noise is registered for the record but not promoted.
    Pipe bad(3);
    train::Sgd sgd2(0.1f, 0.9f);
    const auto worse = monitor::retrain_and_register(bad, noise, holdout_a, sgd2, fit, reg, "m",
                                                     weights_of, accuracy_of_bytes, policy);
    BOOST_TEST(!worse.promoted, worse.reason);
    BOOST_TEST(worse.candidate_version == 3u);
    BOOST_TEST(worse.serving_accuracy == good.candidate_accuracy, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(*reg.serving("m") == 2u);
    BOOST_TEST(worse.reason.find("not promoted") != std::string::npos);

    // After the world changes (labels flip), retraining from the serving weights wins.
    const auto train_b = make(1500, 5, true), holdout_b = make(500, 6, true);
    Pipe next(4);
    std::memcpy(next.model().parameters().data(), reg.load("m", 2).bytes.data(),
                next.model().parameters().size_bytes());
    BOOST_TEST(monitor::engine_accuracy(next.deploy(), holdout_b) < 0.2);
    train::Sgd sgd3(0.1f, 0.9f);
    const auto adapted = monitor::retrain_and_register(next, train_b, holdout_b, sgd3, fit, reg, "m",
                                                       weights_of, accuracy_of_bytes, policy);
    BOOST_TEST(adapted.promoted, adapted.reason);
    BOOST_TEST(*reg.serving("m") == 4u);
    BOOST_TEST(reg.manifest("m", 4).parent == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
