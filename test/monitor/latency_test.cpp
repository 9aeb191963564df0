// Latency histogram quantiles, the rate meter, delayed-label accuracy and the Prometheus text.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "edgestack/monitor/accuracy.hpp"
#include "edgestack/monitor/latency.hpp"
#include "edgestack/monitor/prometheus.hpp"

using namespace edgestack;

BOOST_AUTO_TEST_SUITE(latency)

BOOST_AUTO_TEST_CASE(quantiles_within_one_bucket) {
    monitor::LatencyHistogram h;
    BOOST_TEST(h.quantile(0.5) == 0.0);
    // 1..1000 microseconds, uniform: p50 ~ 500 us, p99 ~ 990 us.
    for (int i = 1; i <= 1000; ++i) h.record(i * 1e-6);
    BOOST_TEST(h.count() == 1000u);
    const double tol = 0.2; // buckets are 2^(1/4) = 1.19 wide
    BOOST_TEST(h.quantile(0.50) == 500e-6, boost::test_tools::tolerance(tol));
    BOOST_TEST(h.quantile(0.95) == 950e-6, boost::test_tools::tolerance(tol));
    BOOST_TEST(h.quantile(0.99) == 990e-6, boost::test_tools::tolerance(tol));
    BOOST_TEST(h.sum_seconds() == 0.5005, boost::test_tools::tolerance(0.01));
    BOOST_TEST(h.quantile(0.5) < h.quantile(0.99));
}

BOOST_AUTO_TEST_CASE(extremes_land_in_the_end_buckets) {
    monitor::LatencyHistogram h;
    h.record(0.0);
    h.record(1e9);
    BOOST_TEST(h.bucket_count(0) == 1u);
    BOOST_TEST(h.bucket_count(monitor::LatencyHistogram::buckets - 1) == 1u);
}

BOOST_AUTO_TEST_CASE(concurrent_records_are_all_counted) {
    monitor::LatencyHistogram h;
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) h.record(std::chrono::microseconds(i % 300 + 1));
        });
    for (auto& t : ts) t.join();
    BOOST_TEST(h.count() == 40000u);
}

BOOST_AUTO_TEST_CASE(rate_meter_counts_a_window) {
    monitor::RateMeter<10> r;
    const auto t0 = monitor::RateMeter<10>::clock::now();
    for (int s = 0; s < 20; ++s) r.add(5, t0 + std::chrono::seconds(s));
    // The last 10 one-second slots each hold 5 events.
    BOOST_TEST(r.per_second(t0 + std::chrono::milliseconds(19500)) == 5.0,
               boost::test_tools::tolerance(0.15));
    BOOST_TEST(r.per_second(t0 + std::chrono::seconds(100)) == 0.0);
}

BOOST_AUTO_TEST_CASE(prometheus_histogram_is_cumulative) {
    monitor::LatencyHistogram h;
    h.record(2e-6);
    h.record(3e-3);
    monitor::PrometheusWriter w;
    w.family("lat_seconds", "histogram", "test");
    w.histogram("lat_seconds", {{"model", "a\"b"}}, h);
    const auto& t = w.text();
    BOOST_TEST(t.find("# TYPE lat_seconds histogram") != std::string::npos);
    BOOST_TEST(t.find("lat_seconds_bucket{model=\"a\\\"b\",le=\"+Inf\"} 2") != std::string::npos, t);
    BOOST_TEST(t.find("lat_seconds_bucket{model=\"a\\\"b\",le=\"2e-06\"} 1") != std::string::npos);
    BOOST_TEST(t.find("lat_seconds_count{model=\"a\\\"b\"} 2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(delayed_labels) {
    monitor::DelayedAccuracy acc(4, 3);
    BOOST_TEST(!acc.accuracy().has_value());
    acc.predicted("a", 1);
    acc.predicted("b", 2);
    acc.predicted("c", 3);
    BOOST_TEST(acc.labelled("a", 1));
    BOOST_TEST(acc.labelled("b", 0));
    BOOST_TEST(!acc.labelled("b", 2)); // already labelled
    BOOST_TEST(!acc.labelled("zzz", 2));
    BOOST_TEST(*acc.accuracy() == 0.5);
    acc.predicted("d", 1);
    acc.predicted("e", 1);
    acc.predicted("f", 1); // pending: c d e f -> c is forgotten
    BOOST_TEST(acc.pending() == 3u);
    BOOST_TEST(acc.expired() == 1u);
    BOOST_TEST(!acc.labelled("c", 3));
    for (const char* id : {"d", "e", "f"}) BOOST_TEST(acc.labelled(id, 1));
    BOOST_TEST(*acc.accuracy() == 0.75); // window of 4: b wrong, d e f right
    BOOST_CHECK_THROW(monitor::DelayedAccuracy(0), config_error);
}

BOOST_AUTO_TEST_SUITE_END()
