// The server's /dashboard page and /dashboard/data JSON, the admin routes that promote and
// roll back, and dashboard history kept in the telemetry store across a restart.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "deploy/http_client.hpp"
#include "deploy/scratch.hpp"
#include "deploy/server_fixtures.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/deploy/server.hpp"
#include "edgestack/monitor/dashboard.hpp"
#include "edgestack/monitor/dashboard_page.hpp"
#include "edgestack/monitor/telemetry.hpp"

using namespace edgestack;
using json = nlohmann::json;

namespace {

using test::expect_error;
using test::infer_body;
using test::scale_bytes;
using test::scale_factory;
using test::scale_model;
using test::test_options;

// Waits for something the server does on its own thread; a bound, not a timing assertion.
bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 2000; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
}

json data(std::uint16_t port, const std::string& token) {
    const auto r = test::call(port, "GET", "/dashboard/data", {}, token);
    BOOST_TEST_REQUIRE(r.status == 200, "status " << r.status << " body " << r.body);
    return json::parse(r.body);
}

deploy::ServerOptions fast_options() {
    auto o = test_options();
    o.dashboard_interval = std::chrono::milliseconds(20);
    return o;
}

std::string get(const std::string& target, const std::string& token = {}) {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    return req + "\r\n";
}

std::string post(const std::string& target, const std::string& token = {}) {
    std::string req = "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    return req + "\r\n";
}

std::vector<std::string> actions(const json& d) {
    std::vector<std::string> out;
    for (const auto& e : d["events"]) out.push_back(e["action"].get<std::string>());
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(dashboard)

BOOST_AUTO_TEST_CASE(the_page_is_self_contained_and_needs_no_token) {
    auto o = test_options();
    o.bearer_token = "view";
    deploy::Server srv(o);
    const auto r = test::parse_raw(srv.handle(get("/dashboard")));
    BOOST_TEST_REQUIRE(r.status == 200);
    BOOST_TEST(r.headers.at("content-type") == "text/html; charset=utf-8");
    // The browser itself refuses anything from another origin.
    BOOST_TEST(r.headers.at("content-security-policy").find("default-src 'none'") !=
               std::string::npos);
    BOOST_TEST(r.headers.at("content-security-policy").find("connect-src 'self'") !=
               std::string::npos);
    for (const char* external : {"<script src", "<link", "@import", "src=\"http", "href=\"http"})
        BOOST_TEST(r.body.find(external) == std::string::npos, external);
    BOOST_TEST(r.body.find("dashboard/data") != std::string::npos);
#ifdef EDGESTACK_REQUIRE_COMPLETE
    BOOST_TEST(monitor::dashboard_has_charts); // a complete build embeds uPlot
#endif
    if (monitor::dashboard_has_charts) BOOST_TEST(r.body.find("uPlot") != std::string::npos);
    expect_error(test::parse_raw(srv.handle(post("/dashboard"))), 405, "use GET");
    // The data is not public.
    expect_error(test::parse_raw(srv.handle(get("/dashboard/data"))), 401, "Authorization");
    BOOST_TEST(test::parse_raw(srv.handle(get("/dashboard/data", "view"))).status == 200);

    o.dashboard = false;
    deploy::Server off(o);
    BOOST_TEST(test::parse_raw(off.handle(get("/dashboard"))).status == 401);
    expect_error(test::parse_raw(off.handle(get("/dashboard/data", "view"))), 404, "no route");
}

BOOST_AUTO_TEST_CASE(data_has_latency_rate_errors_drift_and_accuracy_over_time) {
    auto o = fast_options();
    o.bearer_token = "view";
    deploy::Server srv(o);
    srv.add_model(scale_model("m", 1, 2.0f));
    deploy::DashboardSources src;
    src.feature_psi = [] { return std::vector<double>{0.1, 0.6, std::nan("")}; };
    src.psi_threshold = 0.3;
    src.accuracy = [] { return std::optional<double>(0.75); };
    src.accuracy_source = "test";
    srv.set_dashboard_sources(src);
    srv.start();
    const auto port = srv.port();
    for (int i = 0; i < 20; ++i)
        BOOST_TEST(test::call(port, "POST", "/v2/models/m/infer", infer_body({1, 2, 3, 4}, {1, 4}),
                              "view")
                       .ok());
    expect_error(test::call(port, "POST", "/v2/models/m/infer", "{", "view"), 400, "not valid JSON");
    expect_error(test::call(port, "GET", "/v2/models/nope", {}, "view"), 404, "not served");
    expect_error(test::call(port, "GET", "/dashboard/data"), 401, "Authorization");

    // Points are per interval, so the requests above land in one (or a few) of them.
    json d;
    BOOST_TEST(eventually([&] {
        d = data(port, "view");
        double requests = 0;
        std::uint64_t e400 = 0, e404 = 0, e401 = 0;
        for (const auto& p : d["points"]) {
            requests += p["rps"].get<double>() * 0.02;
            e400 += p["errors"].value("400", std::uint64_t{0});
            e404 += p["errors"].value("404", std::uint64_t{0});
            e401 += p["errors"].value("401", std::uint64_t{0});
        }
        return requests > 0 && e400 == 1 && e404 == 1 && e401 == 1;
    }));
    bool latency = false;
    for (const auto& p : d["points"]) {
        latency = latency || p["p99"].get<double>() > 0;
        BOOST_TEST(p["p50"].get<double>() <= p["p99"].get<double>());
        BOOST_TEST(p["psi"] == json({0.1, 0.6})); // not finite: dropped
        BOOST_TEST(p["accuracy"].get<double>() == 0.75);
    }
    BOOST_TEST(latency);
    BOOST_TEST(d["psi_threshold"].get<double>() == 0.3);
    BOOST_TEST(d["accuracy_source"] == "test");
    BOOST_TEST(d["persisted"] == false);
    BOOST_TEST(d["models"].size() == 1u);
    BOOST_TEST(d["models"][0]["serving"] == 1);
    BOOST_TEST(d["models"][0]["watched"] == false);
}

BOOST_AUTO_TEST_CASE(the_first_point_counts_what_came_before_it) {
    // Requests answered before the sampling thread took its first point (it may start late
    // on a busy machine) belong to that point; they are not a baseline to subtract.
    deploy::Server srv(fast_options());
    srv.add_model(scale_model("m", 1, 1.0f));
    const std::string body = infer_body({1, 2, 3, 4}, {1, 4});
    for (int i = 0; i < 3; ++i)
        BOOST_TEST(test::parse_raw(srv.handle("POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\n"
                                              "Content-Length: " + std::to_string(body.size()) +
                                              "\r\n\r\n" + body)).status == 200);
    BOOST_TEST(test::parse_raw(srv.handle(get("/v2/models/nope"))).status == 404);
    srv.start();
    json d;
    BOOST_TEST_REQUIRE(eventually([&] {
        d = data(srv.port(), {});
        return !d["points"].empty();
    }));
    const auto& first = d["points"][0];
    BOOST_TEST(first["rps"].get<double>() > 0);
    BOOST_TEST(first["p50"].get<double>() > 0);
    BOOST_TEST(first["errors"] == json({{"404", 1}}));
}

BOOST_AUTO_TEST_CASE(failing_sources_are_counted_and_sampling_goes_on) {
    deploy::Server srv(fast_options());
    srv.add_model(scale_model("m", 1, 1.0f));
    deploy::DashboardSources src;
    src.feature_psi = []() -> std::vector<double> { throw std::runtime_error("no monitor"); };
    src.accuracy = []() -> std::optional<double> { throw std::runtime_error("no labels"); };
    src.save = [](const std::string&, const std::string&) { throw std::runtime_error("disk full"); };
    src.load = [](const std::string&, std::size_t) -> std::vector<std::string> {
        return {"{not json", "[1,2]", R"({"t":1,"p50":"x"})", R"({"t":5,"p50":0,"p90":0,"p99":0,"rps":2,"errors":{"x":1,"999":2,"503":3},"psi":[1,"a"],"accuracy":null})"};
    };
    srv.set_dashboard_sources(src);
    // Only the one well-formed stored point came back, with its bad parts dropped.
    auto d = json::parse(test::parse_raw(srv.handle(get("/dashboard/data"))).body);
    BOOST_TEST_REQUIRE(d["points"].size() == 1u);
    BOOST_TEST(d["points"][0]["errors"] == json({{"503", 3}}));
    BOOST_TEST(d["points"][0]["psi"] == json({1.0}));
    srv.start();
    const auto port = srv.port();
    BOOST_TEST(eventually([&] { return data(port, {})["points"].size() >= 4; }));
    const auto metrics = test::call(port, "GET", "/metrics").body;
    BOOST_TEST(metrics.find("edgestack_dashboard_failures_total 0") == std::string::npos);
    BOOST_TEST(metrics.find("edgestack_dashboard_failures_total") != std::string::npos);
    BOOST_TEST(test::call(port, "POST", "/v2/models/m/infer", infer_body({1, 2, 3, 4}, {1, 4})).ok());
}

BOOST_AUTO_TEST_CASE(admin_routes_need_the_admin_token_and_switch_the_serving_version) {
    test::Scratch dir("dash-admin");
    deploy::Registry reg(dir.path());
    reg.add("m", scale_bytes(1.0f), {});
    reg.add("m", scale_bytes(2.0f), {});
    reg.promote("m", 1);
    auto o = test_options();
    o.bearer_token = "view";
    o.admin_token = "admin";
    deploy::Server srv(o);
    srv.watch(reg, "m", scale_factory());
    srv.add_model(scale_model("fixed", 1, 1.0f));
    const auto promote2 = "/v2/models/m/versions/2/promote";

    expect_error(test::parse_raw(srv.handle(post(promote2))), 401, "missing 'Authorization");
    expect_error(test::parse_raw(srv.handle(post(promote2, "view"))), 401, "wrong bearer token");
    BOOST_TEST(*srv.serving_version("m") == 1u);
    BOOST_TEST(*reg.serving("m") == 1u);
    expect_error(test::parse_raw(srv.handle(get(promote2, "admin"))), 405, "use POST");
    expect_error(test::parse_raw(srv.handle(post("/v2/models/m/versions/9/promote", "admin"))), 404,
                 "has no version 9");
    expect_error(test::parse_raw(srv.handle(post("/v2/models/m/versions/x/promote", "admin"))), 400,
                 "not a positive integer");
    expect_error(test::parse_raw(srv.handle(post("/v2/models/nope/rollback", "admin"))), 404,
                 "not served here");
    expect_error(test::parse_raw(srv.handle(post("/v2/models/fixed/rollback", "admin"))), 409,
                 "fixed model");

    auto r = test::parse_raw(srv.handle(post(promote2, "admin")));
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    BOOST_TEST(json::parse(r.body)["serving"] == 2);
    BOOST_TEST(*srv.serving_version("m") == 2u);
    BOOST_TEST(*reg.serving("m") == 2u);
    r = test::parse_raw(srv.handle(post("/v2/models/m/rollback", "admin")));
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    BOOST_TEST(*srv.serving_version("m") == 1u);
    expect_error(test::parse_raw(srv.handle(post("/v2/models/m/rollback", "admin"))), 409,
                 "rollback refused");
    BOOST_TEST(*srv.serving_version("m") == 1u);

    const auto d = json::parse(test::parse_raw(srv.handle(get("/dashboard/data", "view"))).body);
    BOOST_TEST(actions(d) == (std::vector<std::string>{"load", "promote", "rollback"}),
               boost::test_tools::per_element());
    BOOST_TEST(d["events"][1]["from"] == 1);
    BOOST_TEST(d["events"][1]["to"] == 2);
    BOOST_TEST_REQUIRE(d["models"].size() == 2u); // by name: "fixed", "m"
    BOOST_TEST(d["models"][0]["watched"] == false);
    const auto& m = d["models"][1];
    BOOST_TEST(m["name"] == "m");
    BOOST_TEST(m["watched"] == true);
    BOOST_TEST(m["versions"].size() == 2u);
    BOOST_TEST(m["versions"][0]["created"].get<std::string>().size() == 20u);
}

BOOST_AUTO_TEST_CASE(admin_routes_are_off_without_any_token) {
    test::Scratch dir("dash-noadmin");
    deploy::Registry reg(dir.path());
    reg.add("m", scale_bytes(1.0f), {});
    reg.add("m", scale_bytes(2.0f), {});
    reg.promote("m", 1);
    deploy::Server srv(test_options()); // no bearer token: every other route is open
    srv.watch(reg, "m", scale_factory());
    expect_error(test::parse_raw(srv.handle(post("/v2/models/m/versions/2/promote"))), 403,
                 "admin routes are off");
    expect_error(test::parse_raw(srv.handle(post("/v2/models/m/rollback", "anything"))), 403,
                 "admin routes are off");
    BOOST_TEST(*reg.serving("m") == 1u);

    // Without admin_token the bearer token is the admin token.
    auto o = test_options();
    o.bearer_token = "one";
    deploy::Server shared(o);
    shared.watch(reg, "m", scale_factory());
    BOOST_TEST(test::parse_raw(shared.handle(post("/v2/models/m/versions/2/promote", "one"))).status ==
               200);
    BOOST_TEST(*reg.serving("m") == 2u);
}

BOOST_AUTO_TEST_CASE(history_in_the_telemetry_store_survives_a_restart) {
    test::Scratch dir("dash-history");
    deploy::Registry reg(dir.path() / "registry");
    reg.add("m", scale_bytes(1.0f), {});
    reg.add("m", scale_bytes(2.0f), {});
    reg.promote("m", 1);
    monitor::TelemetryStore store(dir.path() / "telemetry.db", {.synchronous_full = false});
    deploy::DashboardSources src;
    src.save = [&](const std::string& k, const std::string& p) { store.append_history(k, p); };
    src.load = [&](const std::string& k, std::size_t n) { return store.history(k, n); };
    auto o = fast_options();
    o.bearer_token = "t";
    std::size_t before = 0;
    {
        deploy::Server srv(o);
        srv.set_dashboard_sources(src);
        srv.watch(reg, "m", scale_factory());
        srv.start();
        BOOST_TEST(test::call(srv.port(), "POST", "/v2/models/m/versions/2/promote", {}, "t").ok());
        BOOST_TEST(eventually([&] { return data(srv.port(), "t")["points"].size() >= 3; }));
        srv.stop();
        before = json::parse(test::parse_raw(srv.handle(get("/dashboard/data", "t"))).body)["points"].size();
    }
    BOOST_TEST(store.history("dashboard", 100000).size() == before);
    deploy::Server again(o);
    again.set_dashboard_sources(src);
    again.watch(reg, "m", scale_factory());
    const auto d = json::parse(test::parse_raw(again.handle(get("/dashboard/data", "t"))).body);
    BOOST_TEST(d["points"].size() == before);
    BOOST_TEST(d["persisted"] == true);
    // The restored events, then this server's own first load.
    BOOST_TEST(actions(d) == (std::vector<std::string>{"load", "promote", "load"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(telemetry_history_is_bounded_per_store_and_read_per_kind) {
    test::Scratch dir("dash-store");
    monitor::TelemetryStore store(dir.path() / "t.db", {.synchronous_full = false, .max_history = 3});
    for (int i = 0; i < 5; ++i) store.append_history("dashboard", std::to_string(i));
    BOOST_TEST(store.history("dashboard", 10) == (std::vector<std::string>{"2", "3", "4"}),
               boost::test_tools::per_element());
    BOOST_TEST(store.history("dashboard", 2) == (std::vector<std::string>{"3", "4"}),
               boost::test_tools::per_element());
    store.append_history("event", "e");
    BOOST_TEST(store.history("event", 10) == std::vector<std::string>{"e"}, boost::test_tools::per_element());
    BOOST_TEST(store.history("dashboard", 10).size() == 2u); // the oldest row overall went
    BOOST_TEST(store.pending() == 0u); // history is not telemetry to send

    BOOST_TEST(!store.labelled_accuracy().has_value());
    const std::vector<float> x{1, 2};
    for (const char* id : {"s0", "s1", "s2", "s3"}) store.add_sample(id, x, 1);
    store.attach_label("s0", 0); // wrong, and the oldest
    store.attach_label("s1", 1);
    store.attach_label("s2", 1);
    BOOST_TEST(*store.labelled_accuracy() == 2.0 / 3.0, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(*store.labelled_accuracy(2) == 1.0);
    BOOST_CHECK_THROW(monitor::TelemetryStore(dir.path() / "u.db", {.max_history = 0}), config_error);
}

BOOST_AUTO_TEST_SUITE_END()
