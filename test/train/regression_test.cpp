// Training beyond classification: regression (one and several outputs) and autoencoders
// through Pipeline::fit and train::fit, their evaluation (MAE, RMSE, R²), their history, and
// the anomaly scores (threshold, ROC-AUC). Known answers come from the data's generating
// rule; the metric figures from scikit-learn (sklearn_reference.py beside this file).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fixtures.hpp"
#include "edgestack/data/targets.hpp"
#include "edgestack/train/anomaly.hpp"

using namespace edgestack;
using train_test::message_of;
using train_test::TempPath;

namespace {

using Linear = nn::Sequential<nn::Input<2>, nn::Dense<1>>;
using LinearPipe = Pipeline<data::InMemoryTargetLoader, data::NoAugment, Linear, quant::NoQuant,
                            backend::Reference>;

// y = 2 x1 - 3 x2 + 1, without noise: a linear model can recover it exactly.
data::InMemoryTargetLoader plane(std::size_t n, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<float> x, y;
    for (std::size_t i = 0; i < n; ++i) {
        const float a = rng.uniform(-1.0f, 1.0f), b = rng.uniform(-1.0f, 1.0f);
        x.push_back(a);
        x.push_back(b);
        y.push_back(2.0f * a - 3.0f * b + 1.0f);
    }
    return data::InMemoryTargetLoader(std::move(x), std::move(y), 2, 1);
}

template <class M>
float predict(M& model, std::vector<float> x) {
    Rng rng(0);
    return model.forward(x.data(), 1, nn::Mode::eval, rng)[0];
}

std::vector<float> line_cells(const std::filesystem::path& p, std::size_t line) {
    std::ifstream in(p);
    std::string s;
    for (std::size_t i = 0; i <= line; ++i) std::getline(in, s);
    std::vector<float> out;
    std::stringstream ss(s);
    for (std::string c; std::getline(ss, c, ',');)
        out.push_back(c.empty() ? std::numeric_limits<float>::quiet_NaN() : std::stof(c));
    if (!s.empty() && s.back() == ',') out.push_back(std::numeric_limits<float>::quiet_NaN());
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(regression)

BOOST_AUTO_TEST_CASE(pipeline_recovers_a_plane) {
    LinearPipe p(7);
    static_assert(LinearPipe::target_kind == TargetKind::value);
    static_assert(std::is_same_v<LinearPipe::default_loss, train::MeanSquaredError>);
    train::Adam adam(5e-2f);
    const auto report = p.fit(plane(512, 1), adam, {.epochs = 60, .batch_size = 32});
    // The weights the rule says, read off the model as predictions at three points.
    const float c = predict(p.model(), {0, 0});
    BOOST_TEST(std::abs(c - 1.0f) < 1e-2f);
    BOOST_TEST(std::abs(predict(p.model(), {1, 0}) - c - 2.0f) < 1e-2f);
    BOOST_TEST(std::abs(predict(p.model(), {0, 1}) - c + 3.0f) < 1e-2f);
    // Regression epochs report MAE, not accuracy.
    BOOST_TEST(std::isnan(report.history.back().accuracy));
    BOOST_TEST(report.history.back().mae < report.history.front().mae);
    BOOST_TEST(report.history.back().mae < 1e-2);
    const train::RegressionReport ev = p.evaluate(plane(200, 2));
    BOOST_TEST(ev.r2 > 0.9999);
    BOOST_TEST(ev.mae < 1e-2);
    BOOST_TEST(ev.count == 200u);
    BOOST_TEST(ev.loss == ev.rmse * ev.rmse, boost::test_tools::tolerance(1e-3));
}

BOOST_AUTO_TEST_CASE(huber_and_validation_through_fit_with_loss) {
    LinearPipe p(8);
    train::Adam adam(5e-2f);
    const auto report = p.fit_with_loss(plane(512, 3), plane(128, 4), adam,
                                        train::Huber{0.5f}, {.epochs = 60, .batch_size = 32});
    const auto& last = report.history.back();
    BOOST_TEST(last.has_validation());
    BOOST_TEST(std::isnan(last.val_accuracy));
    BOOST_TEST(last.val_mae < 1e-2);
    BOOST_TEST(std::abs(predict(p.model(), {0, 0}) - 1.0f) < 1e-2f);
}

BOOST_AUTO_TEST_CASE(train_fit_learns_two_outputs_at_once) {
    // y1 = x1 + x2, y2 = x1 - 2 x2 + 0.5: multi-output regression with a Batcher directly.
    using Net = nn::Sequential<nn::Input<2>, nn::Dense<2>>;
    Rng rng(3);
    std::vector<float> x, y;
    for (int i = 0; i < 400; ++i) {
        const float a = rng.uniform(-1.0f, 1.0f), b = rng.uniform(-1.0f, 1.0f);
        x.insert(x.end(), {a, b});
        y.insert(y.end(), {a + b, a - 2.0f * b + 0.5f});
    }
    const data::InMemoryTargetLoader loader(x, y, 2, 2);
    Net net;
    Rng init(1);
    net.init(init);
    const data::NoAugment none;
    data::Batcher<data::InMemoryTargetLoader, data::NoAugment> batches(
        loader, none, layout_of<Net::input_shape>(), {32, true, false}, Rng(5));
    static_assert(decltype(batches)::target_kind == TargetKind::value);
    train::Adam adam(5e-2f);
    auto no_validation = [](Net&) {
        return std::pair{std::numeric_limits<double>::quiet_NaN(),
                         std::numeric_limits<double>::quiet_NaN()};
    };
    train::fit(net, batches, adam, train::MeanSquaredError{}, 80, Rng(2), no_validation,
               [](Net&) {});
    const auto ev = train::evaluate(net, loader);
    BOOST_TEST(ev.r2 > 0.9999);
    BOOST_TEST(ev.mae < 1e-2);
    // The same figures from the array form of evaluation.
    const auto same = train::evaluate_regression(net, std::span<const float>(x), y);
    BOOST_TEST(same.r2 == ev.r2, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(an_autoencoder_learns_the_identity) {
    // No targets: the model learns to give back its input.
    using Net = nn::Sequential<nn::Input<4>, nn::Dense<4>>;
    Rng rng(9);
    std::vector<float> x;
    std::vector<std::int32_t> y;
    for (int i = 0; i < 512; ++i) {
        for (int k = 0; k < 4; ++k) x.push_back(rng.normal(0.0f, 1.0f));
        y.push_back(0);
    }
    const data::InMemoryLoader labelled(x, y, 4, 1);
    const data::InputsOnly<data::InMemoryLoader> inputs(labelled);
    static_assert(InputLoader<data::InputsOnly<data::InMemoryLoader>>);
    using Pipe = Pipeline<data::InputsOnly<data::InMemoryLoader>, data::NoAugment, Net,
                          quant::NoQuant, backend::Reference>;
    Pipe p(11);
    train::Adam adam(2e-2f);
    const auto report = p.fit(inputs, inputs, adam, {.epochs = 60, .batch_size = 32});
    BOOST_TEST(report.history.back().val_mae < 1e-2);
    const auto ev = p.evaluate(inputs);
    BOOST_TEST(ev.r2 > 0.9999);
    const std::vector<float> probe{0.5f, -1.0f, 2.0f, 0.25f};
    Rng r(0);
    const float* out = p.model().forward(probe.data(), 1, nn::Mode::eval, r);
    for (std::size_t k = 0; k < 4; ++k) BOOST_TEST(std::abs(out[k] - probe[k]) < 2e-2f);
}

BOOST_AUTO_TEST_CASE(the_history_file_keeps_regression_figures) {
    TempPath file("regression_history");
    train::HistoryWriter writer(file.path, train::HistoryFormat::csv);
    LinearPipe p(7);
    train::Adam adam(5e-2f);
    const auto report =
        p.fit(plane(256, 1), plane(64, 2), adam, {.epochs = 3, .batch_size = 32}, writer);
    const auto c = line_cells(file.path, 3);
    BOOST_REQUIRE_EQUAL(c.size(), 11u);
    BOOST_TEST(std::isnan(c[3])); // accuracy: none
    BOOST_TEST(c[9] == report.history[2].mae, boost::test_tools::tolerance(1e-5));
    BOOST_TEST(c[10] == report.history[2].val_mae, boost::test_tools::tolerance(1e-5));
    const auto read = train::read_history(file.path);
    BOOST_REQUIRE_EQUAL(read.size(), 3u);
    BOOST_TEST(read[2].val_mae == report.history[2].val_mae, boost::test_tools::tolerance(1e-9));
    // Early stopping watches MAE; accuracy, which regression has not, is refused by name.
    train::EarlyStopping stop(train::Monitor::val_mae, 1);
    p.fit(plane(256, 1), plane(64, 2), adam, {.epochs = 2, .batch_size = 32}, stop);
    train::EarlyStopping wrong(train::Monitor::accuracy, 1);
    BOOST_TEST(message_of([&] {
                   p.fit(plane(256, 1), adam, {.epochs = 1, .batch_size = 32}, wrong);
               }).find("monitors accuracy, which this task does not have") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_targets_are_refused) {
    BOOST_CHECK_THROW(data::InMemoryTargetLoader({1, 2, 3, 4}, {1, 2, 3}, 2, 1), shape_error);
    BOOST_CHECK_THROW(data::InMemoryTargetLoader({1, 2}, {1}, 0, 1), shape_error);
    // Two targets per sample for a model with one output.
    LinearPipe p(1);
    train::Adam adam(1e-2f);
    const data::InMemoryTargetLoader two({1, 2, 3, 4}, {1, 2, 3, 4}, 2, 2);
    BOOST_TEST(message_of([&] { p.fit(two, adam, {.epochs = 1}); })
                   .find("the loader gives 2 targets per sample but the model outputs 1") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(columns_of_a_table_become_targets) {
    data::Table t;
    t.columns = {"a", "y", "b"};
    t.values = {1, 10, 2, 3, 30, 4};
    const auto y = data::take_columns(t, {"y"});
    BOOST_TEST(y == (std::vector<float>{10, 30}), boost::test_tools::per_element());
    BOOST_TEST(t.columns == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
    BOOST_TEST(t.values == (std::vector<float>{1, 2, 3, 4}), boost::test_tools::per_element());
    BOOST_CHECK_THROW(data::take_columns(t, {"zz"}), config_error);
    BOOST_CHECK_THROW(data::take_columns(t, {"a", "a"}), config_error);
    BOOST_CHECK_THROW(data::take_columns(t, {"a", "b"}), config_error); // nothing left
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(metrics_against_sklearn)

BOOST_AUTO_TEST_CASE(r2_matches_r2_score) {
    const std::vector<float> t{3.0f, -0.5f, -0.5f, 2.0f, 2.0f, 7.0f, 7.0f, 4.5f, 1.5f, 1.0f};
    const std::vector<float> p{2.5f, 0.0f, 0.0f, 2.0f, 2.0f, 8.0f, 8.0f, 4.0f, 1.0f, 1.5f};
    BOOST_TEST(train::regression_metrics(p, t, 2).r2 == 0.94671083592474,
               boost::test_tools::tolerance(1e-9));
    std::vector<float> t0, p0;
    for (std::size_t i = 0; i < t.size(); i += 2) {
        t0.push_back(t[i]);
        p0.push_back(p[i]);
    }
    const auto one = train::regression_metrics(p0, t0);
    BOOST_TEST(one.r2 == 0.9429967426710097, boost::test_tools::tolerance(1e-9));
    // Constant targets: 1 when predicted exactly, else 0 (as r2_score's force_finite).
    BOOST_TEST(train::regression_metrics(std::vector<float>{2, 2}, std::vector<float>{2, 2}).r2 == 1.0);
    BOOST_TEST(train::regression_metrics(std::vector<float>{1, 2}, std::vector<float>{2, 2}).r2 == 0.0);
    BOOST_CHECK_THROW(train::regression_metrics(p, t, 3), shape_error);
    BOOST_CHECK_THROW(train::RegressionMetrics(0), config_error);
}

BOOST_AUTO_TEST_CASE(roc_auc_matches_roc_auc_score_with_ties) {
    const std::vector<float> s{0.1f, 0.4f, 0.35f, 0.8f, 0.4f, 0.4f, 0.9f, 0.05f, 0.6f, 0.4f};
    const std::vector<std::int32_t> y{0, 0, 1, 1, 1, 0, 1, 0, 1, 0};
    BOOST_TEST(train::roc_auc(s, y) == 0.82, boost::test_tools::tolerance(1e-9));
    const std::vector<float> s2{3, 1, 2, 2, 5, 5, 0.5f, 7};
    const std::vector<std::int32_t> y2{0, 0, 1, 0, 1, 1, 0, 1};
    BOOST_TEST(train::roc_auc(s2, y2) == 0.90625, boost::test_tools::tolerance(1e-9));
    // Perfect and reversed separation.
    const std::vector<std::int32_t> half{0, 0, 1, 1};
    BOOST_TEST(train::roc_auc(std::vector<float>{1, 2, 3, 4}, half) == 1.0);
    BOOST_TEST(train::roc_auc(std::vector<float>{4, 3, 2, 1}, half) == 0.0);
    BOOST_CHECK_THROW(train::roc_auc(std::vector<float>{1, 2}, std::vector<std::int32_t>{1, 1}),
                      config_error);
    BOOST_CHECK_THROW(train::roc_auc(std::vector<float>{1}, half), config_error);
    BOOST_CHECK_THROW(train::roc_auc(std::vector<float>{1, NAN}, std::vector<std::int32_t>{0, 1}),
                      config_error);
}

BOOST_AUTO_TEST_CASE(threshold_is_a_quantile_of_normal_scores) {
    const std::vector<float> normal{5, 1, 4, 2, 3, 10, 7};
    BOOST_TEST(train::quantile(normal, 0.9) == 8.2, boost::test_tools::tolerance(1e-9)); // NumPy
    const auto th = train::AnomalyThreshold::calibrate(normal, 0.9);
    BOOST_TEST(th.is_anomaly(9.0));
    BOOST_TEST(!th.is_anomaly(8.0));
    BOOST_TEST(th.flagged(normal) == 1.0 / 7.0, boost::test_tools::tolerance(1e-12));
    BOOST_CHECK_THROW(train::quantile(std::vector<float>{}, 0.5), config_error);
    BOOST_CHECK_THROW(train::quantile(normal, 1.5), config_error);
    const std::vector<float> in{1, 2, 3, 4}, out{1, 2, 3, 6};
    const auto e = train::reconstruction_errors(in, out, 2);
    BOOST_TEST(e == (std::vector<float>{0.0f, 2.0f}), boost::test_tools::per_element());
    BOOST_CHECK_THROW(train::reconstruction_errors(in, out, 3), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
