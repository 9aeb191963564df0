#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "edgestack/train/evaluate.hpp"
#include "edgestack/train/metrics.hpp"
#include "fixtures.hpp"

using namespace edgestack;
using train_test::message_of;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(confusion_precision_recall_f1_top_k) {
    // Three classes; scores chosen so argmax and the rank of the true class are known.
    const std::vector<float> scores = {
        0.9f, 0.05f, 0.05f, // true 0, predicted 0
        0.6f, 0.3f,  0.1f,  // true 1, predicted 0, true class 2nd
        0.1f, 0.8f,  0.1f,  // true 1, predicted 1
        0.5f, 0.2f,  0.3f,  // true 2, predicted 0, true class 2nd
        0.2f, 0.2f,  0.6f,  // true 2, predicted 2
        0.7f, 0.2f,  0.1f,  // true 2, predicted 0, true class 3rd
    };
    const std::vector<std::int32_t> labels = {0, 1, 1, 2, 2, 2};
    train::ClassificationMetrics m(3, 2);
    m.add(scores.data(), labels.data(), 3, 0.5);
    m.add(scores.data() + 9, labels.data() + 3, 3, 1.0);
    const auto ev = m.result();
    BOOST_TEST(ev.count == 6u);
    BOOST_TEST(ev.accuracy == 3.0 / 6, tt::tolerance(1e-12));
    BOOST_TEST(ev.top_k == 2u);
    BOOST_TEST(ev.top_k_accuracy == 5.0 / 6, tt::tolerance(1e-12));
    BOOST_TEST(ev.loss == 0.75, tt::tolerance(1e-12));
    BOOST_TEST(ev.confusion_at(2, 0) == 2u);
    BOOST_TEST(ev.confusion_at(1, 1) == 1u);
    const auto c0 = ev.class_metrics(0); // predicted 4 times, right once; 1 sample
    BOOST_TEST(c0.precision == 0.25, tt::tolerance(1e-12));
    BOOST_TEST(c0.recall == 1.0, tt::tolerance(1e-12));
    BOOST_TEST(c0.f1 == 0.4, tt::tolerance(1e-12));
    const auto c2 = ev.class_metrics(2);
    BOOST_TEST(c2.support == 3u);
    BOOST_TEST(c2.precision == 1.0, tt::tolerance(1e-12));
    BOOST_TEST(c2.recall == 1.0 / 3, tt::tolerance(1e-12));
    BOOST_TEST(ev.macro_f1() == (0.4 + 2.0 / 3 + 0.5) / 3, tt::tolerance(1e-12));

    const std::array<std::string_view, 3> names = {"cat", "dog", "bird"};
    const auto table = ev.table(names);
    BOOST_TEST(table.find("precision") != std::string::npos);
    BOOST_TEST(table.find("bird") != std::string::npos);
    BOOST_TEST(table.find("top-2 0.8333") != std::string::npos, table);
    BOOST_TEST(ev.table().find("\n2 ") != std::string::npos); // numbered rows without names
    BOOST_CHECK_THROW(ev.class_metrics(3), config_error);
}

BOOST_AUTO_TEST_CASE(ties_do_not_count_as_top_k_hits) {
    const std::vector<float> scores = {1.0f, 1.0f, 1.0f};
    const std::int32_t label = 2;
    train::ClassificationMetrics m(3, 2);
    m.add(scores.data(), &label, 1);
    BOOST_TEST(m.result().top_k_accuracy == 0.0);
}

BOOST_AUTO_TEST_CASE(bad_label_names_the_sample) {
    train::ClassificationMetrics m(3);
    const std::vector<float> scores(6, 0.0f);
    const std::vector<std::int32_t> labels = {0, 7};
    const auto msg = message_of([&] { m.add(scores.data(), labels.data(), 2); });
    BOOST_TEST(msg.find("label 7 of sample 1") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(regression_errors) {
    const std::vector<float> pred = {1.0f, 2.0f, 3.0f, 4.0f};
    const std::vector<float> target = {1.5f, 2.0f, 1.0f, 4.0f};
    const auto r = train::regression_metrics(pred, target);
    BOOST_TEST(r.count == 4u);
    BOOST_TEST(r.mae == 2.5 / 4, tt::tolerance(1e-12));
    BOOST_TEST(r.rmse == std::sqrt(4.25 / 4), tt::tolerance(1e-12));
    BOOST_TEST(r.max_error == 2.0, tt::tolerance(1e-12));
    BOOST_TEST(r.table().find("RMSE") != std::string::npos);
    BOOST_CHECK_THROW(train::regression_metrics(pred, std::vector<float>(3)), shape_error);
}

BOOST_AUTO_TEST_CASE(evaluate_a_model_over_a_loader_and_arrays) {
    train_test::Pipe p(7);
    const auto data = train_test::clusters(300, 3);
    const auto ev = train::evaluate(p.model(), data, 64, 2);
    BOOST_TEST(ev.count == 300u);
    BOOST_TEST(ev.classes == 4u);
    std::size_t total = 0;
    for (auto c : ev.confusion) total += c;
    BOOST_TEST(total == 300u);
    BOOST_TEST(ev.top_k_accuracy >= ev.accuracy);

    // A regressor: its own outputs as targets give zero error, shifted targets a known one.
    using Reg = nn::Sequential<nn::Input<3>, nn::Dense<2>>;
    Reg reg;
    Rng rng(1);
    reg.init(rng);
    std::vector<float> x(3 * 10);
    for (auto& v : x) v = rng.uniform(-1, 1);
    std::vector<float> y(2 * 10);
    reg.predict(x.data(), y.data(), 10);
    BOOST_TEST(train::evaluate_regression(reg, x, y, 4).rmse == 0.0);
    for (auto& v : y) v += 0.5f;
    const auto r = train::evaluate_regression(reg, x, y, 3);
    BOOST_TEST(r.mae == 0.5, tt::tolerance(1e-5));
    BOOST_CHECK_THROW(train::evaluate_regression(reg, x, std::vector<float>(5)), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
