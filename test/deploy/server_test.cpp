// The inference server over real HTTP on an ephemeral loopback port: KServe v2 routes,
// validation answers, auth, metrics, hot reload under load, graceful shutdown, TLS.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "deploy/http_client.hpp"
#include "deploy/scratch.hpp"
#include "deploy/server_fixtures.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/deploy/server.hpp"
#include "edgestack/monitor/latency.hpp"

using namespace edgestack;
using json = nlohmann::json;

namespace {

using test::expect_error;
using test::infer_body;
using test::scale_bytes;
using test::scale_factory;
using test::scale_model;
using test::test_options;

// Sleeps inside infer so a test can stop the server while a request is running.
class SlowModel final : public deploy::ServedModel {
public:
    SlowModel() : ServedModel("slow", 1, {4}, {4}, 4, "test") {}
    bool infer(std::span<const float> in, std::span<float> out) const noexcept override {
        entered = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        std::copy(in.begin(), in.end(), out.begin());
        return true;
    }
    mutable std::atomic<bool> entered{false};
};

} // namespace

BOOST_AUTO_TEST_SUITE(server)

BOOST_AUTO_TEST_CASE(health_metadata_and_inference) {
    deploy::Server srv(test_options());
    srv.add_model(scale_model("double", 3, 2.0f));
    srv.start();
    const auto port = srv.port();
    BOOST_TEST(port != 0);

    BOOST_TEST(test::call(port, "GET", "/v2/health/live").ok());
    BOOST_TEST(test::call(port, "GET", "/v2/health/ready").ok());
    const auto meta = json::parse(test::call(port, "GET", "/v2/models/double").body);
    BOOST_TEST(meta["name"] == "double");
    BOOST_TEST(meta["versions"] == json::array({"3"}));
    BOOST_TEST(meta["inputs"][0]["shape"] == json::array({-1, 4}));
    BOOST_TEST(test::call(port, "GET", "/v2/models/double/ready").ok());
    BOOST_TEST(json::parse(test::call(port, "GET", "/v2").body)["name"] == "edgestack");

    auto r = test::call(port, "POST", "/v2/models/double/infer",
                        infer_body({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}, "req-7"));
    BOOST_TEST_REQUIRE(r.ok(), r.body);
    auto j = json::parse(r.body);
    BOOST_TEST(j["model_name"] == "double");
    BOOST_TEST(j["model_version"] == "3");
    BOOST_TEST(j["id"] == "req-7");
    BOOST_TEST(j["outputs"][0]["shape"] == json::array({2, 4}));
    BOOST_TEST(j["outputs"][0]["data"] ==
               json::array({2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0}));

    // Nested data and a versioned route reach the same model.
    r = test::call(port, "POST", "/v2/models/double/versions/3/infer",
                   infer_body({{1, 1, 1, 1}}, {1, 4}));
    BOOST_TEST_REQUIRE(r.ok(), r.body);
    BOOST_TEST(json::parse(r.body)["outputs"][0]["data"] == json::array({2.0, 2.0, 2.0, 2.0}));
    BOOST_TEST(srv.stats("double").requests.load() == 2u);
    BOOST_TEST(srv.stats("double").samples.load() == 3u);
}

BOOST_AUTO_TEST_CASE(bad_requests_get_answers_that_say_what_is_wrong) {
    deploy::Server srv(test_options());
    srv.add_model(scale_model("m", 1, 1.0f));
    srv.start();
    const auto port = srv.port();
    const std::string url = "/v2/models/m/infer";
    const json d4 = {1, 2, 3, 4};

    expect_error(test::call(port, "POST", url, "{\"inputs\": [1,"), 400, "not valid JSON: byte");
    expect_error(test::call(port, "POST", url, "[]"), 400, "JSON object");
    expect_error(test::call(port, "POST", url, "{}"), 400, "'inputs' is missing");
    expect_error(test::call(port, "POST", url, R"({"inputs": []})"), 400, "exactly one");
    expect_error(test::call(port, "POST", url,
                            R"({"inputs": [{"name": "x", "shape": [1,4], "datatype": "FP32", "data": [1,2,3,4]}]})"),
                 400, "inputs[0].name");
    expect_error(test::call(port, "POST", url,
                            R"({"inputs": [{"name": "input", "shape": [1,4], "datatype": "BYTES", "data": [1,2,3,4]}]})"),
                 400, "datatype 'BYTES'");
    expect_error(test::call(port, "POST", url,
                            R"({"inputs": [{"name": "input", "shape": [1,4], "datatype": "FP32"}]})"),
                 400, "inputs[0].data is missing");
    expect_error(test::call(port, "POST", url, infer_body(d4, {1, 5})), 400,
                 "gives 5 values per sample");
    expect_error(test::call(port, "POST", url, infer_body(d4, {1, 0, 4})), 400,
                 "inputs[0].shape[1]");
    expect_error(test::call(port, "POST", url, infer_body(d4, {2, 4})), 400,
                 "has 4 values; shape [2,4] needs 8");
    expect_error(test::call(port, "POST", url, infer_body({1, 2, "x", 4}, {1, 4})), 400,
                 "inputs[0].data[2] is a string");
    expect_error(test::call(port, "POST", url, infer_body(json::array(), {17, 4})), 400,
                 "at most 16 samples");
    expect_error(test::call(port, "POST", "/v2/models/nope/infer", infer_body(d4, {1, 4})), 404,
                 "model 'nope'");
    expect_error(test::call(port, "POST", "/v2/models/m/versions/9/infer", infer_body(d4, {1, 4})),
                 404, "no version 9");
    expect_error(test::call(port, "POST", "/v2/models/m/versions/x1/infer", infer_body(d4, {1, 4})),
                 400, "version 'x1'");
    expect_error(test::call(port, "GET", url), 405, "use POST");
    expect_error(test::call(port, "GET", "/v3/anything"), 404, "no route");
    expect_error(test::call(port, "POST", url, std::string(70 * 1024, ' ')), 413, "body limit");

    const std::string garbage = test::raw_exchange(port, "NOT HTTP AT ALL\r\n\r\n");
    BOOST_TEST(garbage.find("400 Bad Request") != std::string::npos, garbage);
    const std::string bad_length = test::raw_exchange(
        port, "POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n");
    BOOST_TEST(bad_length.find("400 Bad Request") != std::string::npos, bad_length);

    // The server is still fine afterwards, and counted the failures against the model.
    BOOST_TEST(test::call(port, "POST", url, infer_body(d4, {1, 4})).ok());
    BOOST_TEST(srv.stats("m").client_errors.load() >= 10u);
}

BOOST_AUTO_TEST_CASE(bearer_token_guards_everything_but_health) {
    auto o = test_options();
    o.bearer_token = "s3cret";
    deploy::Server srv(o);
    srv.add_model(scale_model("m", 1, 1.0f));
    srv.start();
    const auto port = srv.port();
    BOOST_TEST(test::call(port, "GET", "/v2/health/ready").ok());
    const auto denied = test::call(port, "GET", "/v2/models/m");
    expect_error(denied, 401, "missing 'Authorization");
    BOOST_TEST(denied.headers.at("www-authenticate") == "Bearer");
    expect_error(test::call(port, "GET", "/metrics", {}, "wrong"), 401, "wrong bearer token");
    BOOST_TEST(test::call(port, "GET", "/v2/models/m", {}, "s3cret").ok());
    BOOST_TEST(test::call(port, "POST", "/v2/models/m/infer", infer_body({1, 2, 3, 4}, {1, 4}),
                          "s3cret").ok());
}

BOOST_AUTO_TEST_CASE(metrics_in_prometheus_text) {
    deploy::Server srv(test_options());
    srv.add_model(scale_model("m", 5, 1.0f));
    srv.set_metrics_extra([] { return std::string("edgestack_extra_gauge 42\n"); });
    std::atomic<int> observed{0};
    srv.set_observer([&](const deploy::InferenceRecord& r) {
        BOOST_TEST(r.batch == 1u);
        if (observed++ == 0) throw std::runtime_error("monitoring broke");
    });
    srv.start();
    const auto port = srv.port();
    for (int i = 0; i < 3; ++i)
        BOOST_TEST(test::call(port, "POST", "/v2/models/m/infer", infer_body({1, 2, 3, 4}, {1, 4})).ok());
    (void)test::call(port, "POST", "/v2/models/m/infer", "{");
    const auto r = test::call(port, "GET", "/metrics");
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(r.headers.at("content-type").find("text/plain") == 0u);
    const auto& t = r.body;
    BOOST_TEST(t.find("# TYPE edgestack_model_latency_seconds histogram") != std::string::npos);
    BOOST_TEST(t.find("edgestack_model_requests_total{model=\"m\"} 3") != std::string::npos, t);
    BOOST_TEST(t.find("edgestack_model_errors_total{model=\"m\",kind=\"client\"} 1") != std::string::npos);
    BOOST_TEST(t.find("edgestack_model_latency_seconds_count{model=\"m\"} 3") != std::string::npos);
    BOOST_TEST(t.find("edgestack_model_latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 3") != std::string::npos);
    BOOST_TEST(t.find("edgestack_model_serving_version{model=\"m\"} 5") != std::string::npos);
    BOOST_TEST(t.find("edgestack_model_latency_quantile_seconds{model=\"m\",quantile=\"0.99\"}") != std::string::npos);
    BOOST_TEST(t.find("edgestack_extra_gauge 42") != std::string::npos);
    // The observer threw once: the request was still answered, and the failure counted.
    BOOST_TEST(observed.load() == 3);
    BOOST_TEST(t.find("edgestack_observer_failures_total 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(hot_reload_under_load_fails_no_request) {
    test::Scratch dir("srv-reload");
    deploy::Registry reg(dir.path());
    reg.promote("m", reg.add("m", scale_bytes(1.0f), {}));
    reg.add("m", scale_bytes(9.0f), {});
    // A tampered version must never replace a good one.
    std::ofstream(dir.path() / "m/2/model.bin", std::ios::trunc) << "9.5";

    deploy::Server srv(test_options());
    srv.watch(reg, "m", scale_factory());
    BOOST_TEST(*srv.serving_version("m") == 1u);
    srv.start();
    const auto port = srv.port();

    std::atomic<bool> done{false};
    std::atomic<int> failures{0}, answered{0};
    std::atomic<int> max_version_seen{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 3; ++c)
        clients.emplace_back([&] {
            test::Connection conn(port);
            while (!done) {
                const auto r = conn.request("POST", "/v2/models/m/infer",
                                            infer_body({1, 1, 1, 1}, {1, 4}));
                if (!r.ok()) {
                    ++failures;
                    continue;
                }
                const auto j = json::parse(r.body);
                const int v = std::stoi(j["model_version"].get<std::string>());
                const float y = j["outputs"][0]["data"][0].get<float>();
                // Each answer comes whole from one version: version v multiplies by v.
                if (y != static_cast<float>(v)) ++failures;
                ++answered;
                int seen = max_version_seen;
                while (v > seen && !max_version_seen.compare_exchange_weak(seen, v)) {}
            }
        });
    auto wait_for_answers = [&](int n) {
        const int target = answered + n;
        while (answered < target && failures == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    wait_for_answers(20);
    srv.reload();                                   // nothing new yet
    reg.promote("m", 1);                            // still 1
    BOOST_CHECK_THROW(reg.promote("m", 2), integrity_error);
    for (std::uint64_t v = 3; v <= 5; ++v) {
        BOOST_TEST(reg.add("m", scale_bytes(static_cast<float>(v)), {}) == v);
        reg.promote("m", v);
        BOOST_TEST(srv.reload());
        BOOST_TEST(*srv.serving_version("m") == v);
        wait_for_answers(20);
    }
    // A rollback is a reload too.
    BOOST_TEST(reg.rollback("m") == 4u);
    BOOST_TEST(srv.reload());
    BOOST_TEST(*srv.serving_version("m") == 4u);
    done = true;
    for (auto& t : clients) t.join();
    BOOST_TEST(failures.load() == 0);
    BOOST_TEST(max_version_seen.load() == 5);
    BOOST_TEST(answered.load() > 80);

    // Older versions stay reachable by URL, loaded on demand and verified.
    auto r = test::call(port, "POST", "/v2/models/m/versions/3/infer", infer_body({1, 1, 1, 1}, {1, 4}));
    BOOST_TEST_REQUIRE(r.ok(), r.body);
    BOOST_TEST(json::parse(r.body)["outputs"][0]["data"][0] == 3.0);
    expect_error(test::call(port, "POST", "/v2/models/m/versions/2/infer", infer_body({1, 1, 1, 1}, {1, 4})),
                 500, "version 2 failed to load");
}

BOOST_AUTO_TEST_CASE(watching_before_any_promotion_is_not_ready) {
    test::Scratch dir("srv-notready");
    deploy::Registry reg(dir.path());
    reg.add("m", scale_bytes(2.0f), {});
    deploy::Server srv(test_options());
    srv.watch(reg, "m", scale_factory());
    srv.start();
    const auto port = srv.port();
    expect_error(test::call(port, "GET", "/v2/health/ready"), 503, "false");
    expect_error(test::call(port, "POST", "/v2/models/m/infer", infer_body({1, 1, 1, 1}, {1, 4})),
                 503, "no version loaded");
    reg.promote("m", 1);
    BOOST_TEST(srv.reload());
    BOOST_TEST(test::call(port, "GET", "/v2/health/ready").ok());
}

BOOST_AUTO_TEST_CASE(stop_finishes_requests_in_flight) {
    deploy::Server srv(test_options());
    auto slow = std::make_shared<SlowModel>();
    srv.add_model(slow);
    srv.start();
    const auto port = srv.port();
    test::Reply reply;
    std::thread client([&] {
        reply = test::call(port, "POST", "/v2/models/slow/infer", infer_body({1, 2, 3, 4}, {1, 4}));
    });
    while (!slow->entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    srv.stop();
    client.join();
    BOOST_TEST(reply.status == 200, reply.body);
    BOOST_CHECK_THROW(test::call(port, "GET", "/v2/health/live"), std::exception);
}

BOOST_AUTO_TEST_CASE(bad_options_are_refused) {
    auto o = test_options();
    o.address = "not-an-address";
    deploy::Server a(o);
    try {
        a.start();
        BOOST_FAIL("expected config_error");
    } catch (const config_error& e) {
        BOOST_TEST(std::string(e.what()).find("not-an-address") != std::string::npos);
    }
    auto t = test_options();
    t.tls = deploy::TlsOptions{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
    try {
        deploy::Server b(t);
        BOOST_FAIL("expected config_error");
    } catch (const config_error& e) {
        BOOST_TEST(std::string(e.what()).find("cert.pem") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(tls) {
    test::Scratch dir("srv-tls");
    const auto cert = dir.path() / "cert.pem", key = dir.path() / "key.pem";
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
                            " -keyout " + key.string() + " -out " + cert.string() +
                            " > /dev/null 2>&1";
    // CI installs openssl: a missing command is a failure, not a reason to skip.
    BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0,
                       "tls: 'openssl req' failed or is not installed; it makes the test certificate");
    auto o = test_options();
    o.tls = deploy::TlsOptions{cert, key};
    deploy::Server srv(o);
    srv.add_model(scale_model("m", 1, 3.0f));
    srv.start();
    const auto r = test::call(srv.port(), "POST", "/v2/models/m/infer",
                              infer_body({1, 1, 1, 1}, {1, 4}), {}, true);
    BOOST_TEST_REQUIRE(r.ok(), r.body);
    BOOST_TEST(json::parse(r.body)["outputs"][0]["data"][0] == 3.0);
    // TLS 1.2 offers forward-secret AEAD suites only: static RSA key exchange is refused.
    BOOST_TEST(test::tls12_handshake(srv.port(), "ECDHE-RSA-AES128-GCM-SHA256"));
    BOOST_TEST(!test::tls12_handshake(srv.port(), "AES128-SHA"));
    BOOST_TEST(!test::tls12_handshake(srv.port(), "AES256-SHA256"));
    BOOST_TEST(!test::tls12_handshake(srv.port(), "ECDHE-RSA-AES128-SHA"));
    // Plain HTTP on the TLS port gets no answer.
    BOOST_TEST(test::raw_exchange(srv.port(), "GET /v2/health/live HTTP/1.1\r\n\r\n").find("200") ==
               std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
