// PSI, Kolmogorov-Smirnov and the drift monitor against a saved reference sample.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "edgestack/core/rng.hpp"
#include "edgestack/monitor/drift.hpp"

using namespace edgestack;

namespace {

// n samples of `features` values in [0, 1) plus `shift`, and logits that favour class
// (first feature > 0.5).
void make(std::size_t n, std::size_t features, float shift, std::uint64_t seed,
          std::vector<float>& x, std::vector<float>& y) {
    Rng rng(seed);
    x.resize(n * features);
    y.resize(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t f = 0; f < features; ++f)
            x[i * features + f] = std::min(1.0f, rng.uniform() + shift);
        const bool hi = x[i * features] > 0.5f;
        y[i * 2] = hi ? 0.0f : 2.0f;
        y[i * 2 + 1] = hi ? 2.0f : 0.0f;
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(drift)

BOOST_AUTO_TEST_CASE(psi_known_values) {
    const std::vector<double> e{0.5, 0.5}, same{0.5, 0.5}, moved{0.9, 0.1};
    BOOST_TEST(monitor::psi(e, same) == 0.0);
    const double expected = 0.4 * std::log(0.9 / 0.5) + (-0.4) * std::log(0.1 / 0.5);
    BOOST_TEST(monitor::psi(e, moved) == expected, boost::test_tools::tolerance(1e-12));
    BOOST_CHECK_THROW(monitor::psi(e, std::vector<double>{1.0}), shape_error);
}

BOOST_AUTO_TEST_CASE(ks_statistic_and_p_value) {
    std::vector<float> a, b, c;
    for (int i = 0; i < 500; ++i) {
        a.push_back(static_cast<float>(i) / 500);
        b.push_back(static_cast<float>(i) / 500 + 0.001f);
        c.push_back(static_cast<float>(i) / 500 + 0.3f);
    }
    const auto same = monitor::ks_two_sample(a, b);
    BOOST_TEST(same.statistic < 0.01);
    BOOST_TEST(same.p_value > 0.5);
    const auto shifted = monitor::ks_two_sample(a, c);
    BOOST_TEST(shifted.statistic == 0.3, boost::test_tools::tolerance(0.01));
    BOOST_TEST(shifted.p_value < 1e-6);
}

BOOST_AUTO_TEST_CASE(no_drift_on_the_same_distribution_and_drift_on_a_shift) {
    std::vector<float> x, y;
    make(2000, 8, 0.0f, 1, x, y);
    const auto ref = monitor::ReferenceSample::build(x, y, 2000);
    BOOST_TEST(ref.features == 8u);
    BOOST_TEST(ref.classes == 2u);

    monitor::DriftMonitor same(ref);
    make(1000, 8, 0.0f, 2, x, y);
    same.observe(x, y, 1000);
    const auto r0 = same.report();
    BOOST_TEST(r0.enough_data);
    BOOST_TEST(!r0.any(), "max psi " << r0.max_feature_psi << " output psi " << r0.output_psi);

    monitor::DriftMonitor shifted(ref);
    make(1000, 8, 0.3f, 3, x, y); // brighter: every value up by 0.3
    shifted.observe(x, y, 1000);
    const auto r1 = shifted.report();
    BOOST_TEST(r1.input_drift);
    BOOST_TEST(r1.drifted_features == 8u);
    BOOST_TEST(r1.output_drift); // more samples now fall in class 1
    BOOST_TEST(r1.scalars.at(0).name == "input_mean");
    BOOST_TEST(r1.scalars.at(0).drifted);
    const std::string prom = shifted.prometheus("m");
    BOOST_TEST(prom.find("edgestack_drift_detected{model=\"m\"} 1") != std::string::npos, prom);

    shifted.reset();
    BOOST_TEST(shifted.report().window == 0u);
    shifted.observe(std::span(x).first(8 * 10), std::span(y).first(2 * 10), 10);
    BOOST_TEST(!shifted.report().enough_data); // 10 samples: no verdict yet
    BOOST_TEST(!shifted.report().any());
    BOOST_CHECK_THROW(shifted.observe(std::span(x).first(7), std::span(y).first(2), 1), shape_error);
}

BOOST_AUTO_TEST_CASE(reference_round_trips_and_bad_files_name_the_field) {
    std::vector<float> x, y;
    make(300, 3, 0.0f, 4, x, y);
    const auto ref = monitor::ReferenceSample::build(x, y, 300, 5);
    const auto back = monitor::ReferenceSample::from_json(ref.to_json(), "reference.json");
    BOOST_TEST(back.edges == ref.edges);
    BOOST_TEST(back.expected == ref.expected);
    BOOST_TEST(back.confidence == ref.confidence);

    auto expect = [](const std::string& text, const std::string& needle) {
        try {
            monitor::ReferenceSample::from_json(text, "reference.json");
            BOOST_FAIL("expected format_error for " + text);
        } catch (const format_error& e) {
            BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what());
        }
    };
    expect("{", "reference.json: byte");
    expect("{\"version\": 1}", "field 'features' is missing");
    expect("{\"version\": 7}", "field 'version' is 7");
    std::string wrong = ref.to_json();
    wrong.replace(wrong.find("\"features\":3"), 12, "\"features\":4");
    expect(wrong, "'edges'/'expected'");
    BOOST_CHECK_THROW(monitor::ReferenceSample::build(x, y, 7), shape_error);
}

BOOST_AUTO_TEST_CASE(hostile_references_are_refused_with_the_reason) {
    std::vector<float> x, y;
    make(50, 2, 0.0f, 5, x, y);
    const std::string good = monitor::ReferenceSample::build(x, y, 50, 4).to_json();
    auto expect = [](const std::string& text, const std::string& needle) {
        std::string msg = "<accepted>";
        try {
            (void)monitor::ReferenceSample::from_json(text, "reference.json");
        } catch (const format_error& e) {
            msg = e.what();
        }
        BOOST_TEST(msg.find(needle) != std::string::npos, msg);
    };
    auto with = [&](const std::string& key, const std::string& value) {
        std::string t = good;
        const auto at = t.find("\"" + key + "\":");
        BOOST_REQUIRE(at != std::string::npos);
        const auto from = at + key.size() + 3;
        auto to = from;
        int depth = 0;
        while (to < t.size() && (depth > 0 || (t[to] != ',' && t[to] != '}'))) {
            depth += t[to] == '[' ? 1 : t[to] == ']' ? -1 : 0;
            ++to;
        }
        return t.replace(from, to - from, value);
    };
    // 100,000 nested arrays: refused by depth, before building them.
    expect(std::string(100000, '[') + std::string(100000, ']'), "nested more than 32 levels");
    expect("{\"edges\": " + std::string(5000, '[') + std::string(5000, ']') + "}", "nested");
    // Counts that are not whole numbers (converting 1e300 to an integer is undefined).
    expect(with("version", "1e300"), "field 'version' must be a whole number");
    expect(with("features", "-2"), "field 'features' must be a whole number");
    expect(with("classes", "2.5"), "field 'classes' must be a whole number");
    // A number beyond double's range: nlohmann's out_of_range once escaped the reader
    // (found by fuzz_drift_reference).
    expect(with("class_mix", "[1E400,0.5]"), "reference.json: not valid JSON");
    // No classes: summarising a sample would read the first of zero logits.
    expect(with("classes", "0"), "field 'classes' is 0");
    // Edges out of order break the binary search that bins live values.
    expect(with("edges", "[[3,2,1],[0.1,0.2,0.3]]"), "'edges' entry 0 is not in ascending order");
    expect(with("confidence", "[0.9,0.1]"), "must be sorted");
    BOOST_TEST(monitor::ReferenceSample::from_json(good, "reference.json").classes == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
