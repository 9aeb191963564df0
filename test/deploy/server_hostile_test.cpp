// Hostile requests and files against a real server on a loopback port: each gets a 4xx/5xx
// that names what is wrong, none crashes, hangs or floods the process, and the server keeps
// answering normal requests, also while clients load it. Limits: connections, slow clients,
// out of file descriptors; hooks replaced while requests run; a watch added after start().
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "deploy/http_client.hpp"
#include "deploy/scratch.hpp"
#include "deploy/server_fixtures.hpp"

using namespace edgestack;
using json = nlohmann::json;
using test::expect_error;
using test::infer_body;

namespace {

const std::string token = "s3cret";

std::string nested(std::size_t levels, const std::string& inner) {
    return std::string(levels, '[') + inner + std::string(levels, ']');
}

std::string tensor(const std::string& name, const std::string& shape, const std::string& dtype,
                   const std::string& data, const std::string& extra = {}) {
    return "{\"inputs\": [{\"name\": " + name + ", \"shape\": " + shape + ", \"datatype\": \"" +
           dtype + "\", \"data\": " + data + "}]" + extra + "}";
}

std::string post(const std::string& target, const std::string& body, bool auth = true) {
    return "POST " + target + " HTTP/1.1\r\nHost: x\r\n" +
           (auth ? "Authorization: Bearer " + token + "\r\n" : std::string()) +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string get(const std::string& target, const std::string& extra_headers = {}) {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n" +
           extra_headers + "\r\n";
}

struct Hostile {
    std::string what;
    std::string request;
    int status;
    std::string needle; // a part of the error message that names the problem
};

// Every hostile request a reviewer sent, against model "m" (4 -> 4) with a bearer token.
std::vector<Hostile> hostile_requests() {
    const std::string url = "/v2/models/m/infer";
    const std::string ok_data = "[1,2,3,4]";
    return {
        {"0xFF in the query of a health route, no token",
         "POST /v2/health/live?\xff HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405,
         "use GET"},
        {"a body of one byte 0xFF", post(url, "\xff"), 400, "not valid JSON"},
        {"0xFF in a model name", get("/v2/models/\xff"), 404, "model '\\\\xFF'"},
        {"0xFF in a version", post("/v2/models/m/versions/\xff/infer", "{}"), 400,
         "version '\\\\xFF'"},
        {"0xFF in a 404 path", get("/v3/\xff\xfe"), 404, "no route for GET /v3/\\\\xFF\\\\xFE"},
        {"0xFF in inputs[0].name", post(url, tensor("\"\xff\"", "[1,4]", "FP32", ok_data)), 400,
         "not valid JSON"},
        {"data nested 40000 levels", post(url, tensor("\"input\"", "[1,4]", "FP32", nested(40000, "1"))),
         400, "levels deep"},
        {"name nested 100000 levels", post(url, tensor(nested(100000, "1"), "[1,4]", "FP32", ok_data)),
         400, "levels deep"},
        {"a shape element nested 100000 levels",
         post(url, tensor("\"input\"", "[1," + nested(100000, "4") + "]", "FP32", ok_data)), 400,
         "levels deep"},
        {"an outputs element nested 100000 levels",
         post(url, tensor("\"input\"", "[1,4]", "FP32", ok_data,
                          ", \"outputs\": [" + nested(100000, "1") + "]")),
         400, "levels deep"},
        {"a shape whose product wraps 2^64",
         post(url, tensor("\"input\"", "[1,4,7,7905747460161236407]", "FP32", ok_data)), 400,
         "more than 2^64 values per sample"},
        {"1e999", post(url, tensor("\"input\"", "[1,4]", "FP32", "[1,2,3,1e999]")), 400,
         "number out of range"},
        {"1e39 as FP32", post(url, tensor("\"input\"", "[1,4]", "FP32", "[1,2,3,1e39]")), 400,
         "inputs[0].data[3] is 1e+39, outside the range of FP32"},
        {"1e300 as FP64", post(url, tensor("\"input\"", "[1,4]", "FP64", "[1e300,2,3,4]")), 400,
         "inputs[0].data[0] is 1e+300, outside the range of FP32"},
        {"INT8 holding a float", post(url, tensor("\"input\"", "[1,4]", "INT8", "[1,2.5,3,4]")), 400,
         "inputs[0].data[1] is 2.5; datatype INT8 takes integers only"},
        {"INT8 out of range", post(url, tensor("\"input\"", "[1,4]", "INT8", "[1,2,300,4]")), 400,
         "inputs[0].data[2] is 300, outside the range of INT8 (-128..127)"},
        {"UINT8 negative", post(url, tensor("\"input\"", "[1,4]", "UINT8", "[1,2,3,-1]")), 400,
         "outside the range of UINT8"},
        {"a 20 KB header", get("/v2", "X-Pad: " + std::string(20 * 1024, 'a') + "\r\n"), 431,
         "header limit is 16384 bytes"},
        {"a body above the limit",
         "POST " + url + " HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n{}", 413,
         "body limit is 1048576 bytes"},
    };
}

deploy::ServerOptions hostile_options() {
    auto o = test::test_options();
    o.bearer_token = token;
    o.body_limit = 1 << 20; // the deep bodies are 80-200 KB: they must reach the JSON checks
    return o;
}

bool normal_inference_works(std::uint16_t port) {
    const auto r = test::call(port, "POST", "/v2/models/m/infer", infer_body({1, 2, 3, 4}, {1, 4}),
                              token);
    return r.ok() && json::parse(r.body)["outputs"][0]["data"] == json::array({2.0, 4.0, 6.0, 8.0});
}

// A client socket by hand: one descriptor, no event loop.
int connect_raw(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Reads until the peer closes (true) or `ms` pass (false); what arrived goes to `got`.
bool read_until_closed(int fd, int ms, std::string& got) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return true;
        got.append(buf, static_cast<std::size_t>(n));
    }
}

// The metric value on the line that starts with `series`, or -1.
double metric(const std::string& text, const std::string& series) {
    const auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::atof(text.c_str() + at + series.size() + 2);
}

} // namespace

BOOST_AUTO_TEST_SUITE(server_hostile)

BOOST_AUTO_TEST_CASE(each_hostile_request_gets_an_answer_naming_the_problem) {
    deploy::Server srv(hostile_options());
    srv.add_model(test::scale_model("m", 1, 2.0f));
    srv.start();
    const auto port = srv.port();
    for (const auto& h : hostile_requests()) {
        BOOST_TEST_CONTEXT(h.what) {
            const auto r = test::parse_raw(test::raw_exchange(port, h.request));
            expect_error(r, h.status, h.needle);
            BOOST_TEST(json::accept(r.body), r.body.substr(0, 200));
        }
        BOOST_TEST_REQUIRE(normal_inference_works(port), "after: " << h.what);
    }
    // The same through handle(), the socket-free path the fuzzer drives.
    for (const auto& h : hostile_requests()) {
        BOOST_TEST_CONTEXT("handle(): " << h.what) {
            expect_error(test::parse_raw(srv.handle(h.request)), h.status, h.needle);
        }
    }
    const auto ok = test::parse_raw(srv.handle(post("/v2/models/m/infer",
                                                    infer_body({1, 2, 3, 4}, {1, 4}))));
    BOOST_TEST(ok.status == 200, ok.body);
}

BOOST_AUTO_TEST_CASE(hostile_requests_under_load_fail_no_normal_request) {
    deploy::Server srv(hostile_options());
    srv.add_model(test::scale_model("m", 1, 2.0f));
    srv.start();
    const auto port = srv.port();
    std::atomic<bool> done{false};
    std::atomic<int> failures{0}, answered{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 3; ++c)
        clients.emplace_back([&] {
            for (int i = 0; i < 2000 && !done; ++i) {
                try {
                    if (normal_inference_works(port)) ++answered;
                    else ++failures;
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    const auto all = hostile_requests();
    for (int round = 0; round < 3; ++round)
        for (const auto& h : all) {
            const auto r = test::parse_raw(test::raw_exchange(port, h.request));
            BOOST_TEST(r.status == h.status, h.what);
        }
    done = true;
    for (auto& t : clients) t.join();
    BOOST_TEST(failures.load() == 0);
    BOOST_TEST(answered.load() > 0);
    BOOST_TEST(normal_inference_works(port));
}

BOOST_AUTO_TEST_CASE(bearer_scheme_is_case_insensitive) {
    deploy::Server srv(hostile_options());
    srv.add_model(test::scale_model("m", 1, 2.0f));
    srv.start();
    for (const std::string scheme : {"bearer", "BEARER", "Bearer", "bEaReR"}) {
        const auto r = test::parse_raw(test::raw_exchange(
            srv.port(), "GET /v2 HTTP/1.1\r\nHost: x\r\nAuthorization: " + scheme + " " + token +
                            "\r\n\r\n"));
        BOOST_TEST(r.status == 200, scheme << ": " << r.body);
    }
    const auto wrong = test::parse_raw(test::raw_exchange(
        srv.port(), "GET /v2 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + token + "\r\n\r\n"));
    expect_error(wrong, 401, "wrong bearer token");
}

// A registry version whose files are hostile: the request for it gets a 500 naming the file,
// at once; health and the serving version keep answering; /metrics names the failure.
BOOST_AUTO_TEST_CASE(hostile_registry_files_are_refused_unread) {
    test::Scratch dir("srv-hostile-files");
    deploy::Registry reg(dir.path());
    reg.promote("m", reg.add("m", test::scale_bytes(2.0f), {}));
    for (int i = 0; i < 4; ++i) reg.add("m", test::scale_bytes(2.0f), {}); // v2..v5
    const auto v = [&](int n) { return dir.path() / "m" / std::to_string(n); };
    // v2: the model file replaced by a FIFO; v3: a symlink to /dev/zero.
    std::filesystem::remove(v(2) / "model.bin");
    BOOST_TEST_REQUIRE(::mkfifo((v(2) / "model.bin").c_str(), 0644) == 0);
    std::filesystem::remove(v(3) / "model.bin");
    std::filesystem::create_symlink("/dev/zero", v(3) / "model.bin");
    // v4: a manifest holding invalid UTF-8; v5: a factory error quoting invalid UTF-8.
    {
        std::ifstream in(v(4) / "manifest.json");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        text.replace(text.find("\"format\": \""), 11, "\"format\": \"\xff\xfe");
        std::ofstream(v(4) / "manifest.json", std::ios::trunc) << text;
    }
    auto factory = [inner = test::scale_factory()](const deploy::LoadedModel& lm) {
        if (lm.manifest.version == 5) throw format_error("node name 'dense\xff' is not valid");
        return inner(lm);
    };

    auto o = hostile_options();
    deploy::Server srv(o);
    srv.watch(reg, "m", factory);
    srv.start();
    const auto port = srv.port();
    const std::string body = infer_body({1, 1, 1, 1}, {1, 4});
    const auto at = [&](int n) {
        return test::call(port, "POST", "/v2/models/m/versions/" + std::to_string(n) + "/infer",
                          body, token);
    };
    for (int round = 0; round < 2; ++round) {
        expect_error(at(2), 500, "not a regular file");
        expect_error(at(3), 500, "not a regular file");
        expect_error(at(4), 500, "version 4 failed to load");
        expect_error(at(5), 500, "node name 'dense\\\\xFF'");
        BOOST_TEST(test::call(port, "GET", "/v2/health/live").ok());
        BOOST_TEST(normal_inference_works(port));
    }
    // The serving pointer moved to the FIFO: the reload fails fast, v1 keeps serving.
    {
        std::string ptr = "{\"version\": 2, \"history\": [1]}\n";
        std::ofstream(dir.path() / "m/serving.json", std::ios::trunc) << ptr;
    }
    BOOST_TEST(!srv.reload());
    BOOST_TEST(*srv.serving_version("m") == 1u);
    const auto errors = srv.reload_errors();
    BOOST_TEST_REQUIRE(errors.size() == 1u);
    BOOST_TEST(errors[0].find("not a regular file") != std::string::npos, errors[0]);

    const auto metrics = test::call(port, "GET", "/metrics", {}, token);
    BOOST_TEST_REQUIRE(metrics.ok());
    const auto& t = metrics.body;
    BOOST_TEST(t.find("edgestack_reload_error{model=\"m\",error=\"m v2: ") != std::string::npos, t);
    // 8 on-demand failures and one reload: reload failures, not the model's server errors.
    BOOST_TEST(metric(t, "edgestack_reload_failures_total") == 9.0);
    BOOST_TEST(t.find("edgestack_model_errors_total{model=\"m\",kind=\"server\"} 0") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(connections_past_the_cap_get_503_with_retry_after) {
    auto o = test::test_options();
    o.max_connections = 2;
    deploy::Server srv(o);
    srv.add_model(test::scale_model("m", 1, 2.0f));
    srv.start();
    const auto port = srv.port();
    auto a = std::make_unique<test::Connection>(port);
    test::Connection b(port);
    BOOST_TEST(a->request("GET", "/v2/health/live").ok());
    BOOST_TEST(b.request("GET", "/v2/health/live").ok());
    const auto refused = test::call(port, "GET", "/v2/health/live");
    expect_error(refused, 503, "max_connections");
    BOOST_TEST(refused.headers.count("retry-after") == 1u);
    // A slot frees when a connection closes.
    a.reset();
    bool served = false;
    for (int i = 0; i < 500 && !served; ++i) {
        served = test::call(port, "GET", "/v2/health/live").ok();
        if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    BOOST_TEST(served);
    BOOST_TEST(b.request("GET", "/v2/health/live").ok());
    // On b, which holds its slot: a new connection could still find the slot of the last
    // probe taken (the server frees it when it sees the close) and be refused.
    const auto m = b.request("GET", "/metrics");
    BOOST_TEST_REQUIRE(m.ok());
    BOOST_TEST(metric(m.body, "edgestack_connections_refused_total") >= 1.0);
}

BOOST_AUTO_TEST_CASE(a_slow_client_is_closed_after_the_idle_timeout) {
    auto o = test::test_options();
    o.idle_timeout = std::chrono::seconds(1);
    deploy::Server srv(o);
    srv.add_model(test::scale_model("m", 1, 2.0f));
    srv.start();
    // Half a request line, then silence (the connection stays open for writing): the server
    // closes it, long before the client's own bound.
    const int fd = connect_raw(srv.port());
    BOOST_TEST_REQUIRE(fd >= 0);
    BOOST_TEST_REQUIRE(::send(fd, "GET /v2/hea", 11, MSG_NOSIGNAL) == 11);
    std::string got;
    BOOST_TEST(read_until_closed(fd, 60000, got));
    BOOST_TEST(got.empty());
    ::close(fd);
    BOOST_TEST(test::call(srv.port(), "GET", "/v2/health/live").ok());
}

// Out of file descriptors, the acceptor backs off instead of failing accept() in a loop.
BOOST_AUTO_TEST_CASE(out_of_file_descriptors_backs_off_then_recovers) {
    deploy::Server srv(test::test_options());
    srv.add_model(test::scale_model("m", 1, 2.0f));
    srv.start();
    const auto port = srv.port();
    BOOST_TEST_REQUIRE(test::call(port, "GET", "/v2/health/live").ok());
    rlimit old{};
    BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    std::vector<int> fds;
    // Lower the limit to a little above what is open, and take every descriptor left.
    int highest = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
        highest = std::max(highest, std::atoi(e.path().filename().c_str()));
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(highest + 16);
    BOOST_TEST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (;;) {
        const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        fds.push_back(fd);
    }
    // One descriptor for a client: the connection waits in the backlog, accept() gets EMFILE.
    BOOST_TEST_REQUIRE(!fds.empty());
    ::close(fds.back());
    fds.pop_back();
    const int client = connect_raw(port);
    const std::string req = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const bool sent = client >= 0 && ::send(client, req.data(), req.size(), MSG_NOSIGNAL) ==
                                         static_cast<ssize_t>(req.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (int fd : fds) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &old);
    BOOST_TEST_REQUIRE(sent);
    // Descriptors are back: the waiting connection is accepted and answered.
    std::string got;
    BOOST_TEST(read_until_closed(client, 20000, got));
    ::close(client);
    BOOST_TEST(test::parse_raw(got).status == 200, got);
    const auto m = test::call(port, "GET", "/metrics");
    BOOST_TEST_REQUIRE(m.ok());
    const double errors = metric(m.body, "edgestack_accept_errors_total");
    // A spinning acceptor fails thousands of times in 0.5 s; one that waits 100 ms, a few.
    BOOST_TEST(errors >= 1.0, m.body);
    BOOST_TEST(errors < 100.0);
}

// Hooks replaced while workers call them: every call sees a whole hook.
BOOST_AUTO_TEST_CASE(hooks_can_be_replaced_while_requests_run) {
    deploy::Server srv(test::test_options());
    srv.add_model(test::scale_model("m", 1, 2.0f));
    srv.start();
    const auto port = srv.port();
    std::atomic<bool> done{false};
    std::atomic<int> torn{0}, calls{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 2; ++c)
        clients.emplace_back([&] {
            test::Connection conn(port);
            for (int i = 0; i < 2000 && !done; ++i) {
                (void)conn.request("POST", "/v2/models/m/infer", infer_body({1, 2, 3, 4}, {1, 4}));
                (void)conn.request("GET", "/metrics");
            }
        });
    // Replace the hooks until the workers have called them a few hundred times (bounded).
    for (int i = 0; i < 1000000 && (i < 3000 || calls.load() < 300); ++i) {
        // Each hook owns a buffer of one repeated value; a hook freed or half-replaced while
        // it runs sums to something else.
        std::vector<int> mine(256, i % 7 + 1);
        const int want = 256 * (i % 7 + 1);
        srv.set_observer([mine, want, &torn, &calls](const deploy::InferenceRecord&) {
            ++calls;
            if (std::accumulate(mine.begin(), mine.end(), 0) != want) ++torn;
        });
        srv.set_metrics_extra([mine, want, &torn] {
            if (std::accumulate(mine.begin(), mine.end(), 0) != want) ++torn;
            return std::string();
        });
    }
    done = true;
    for (auto& t : clients) t.join();
    BOOST_TEST(torn.load() == 0);
    BOOST_TEST(calls.load() > 0);
    srv.set_observer({});
    srv.set_metrics_extra({});
    BOOST_TEST(test::call(port, "POST", "/v2/models/m/infer", infer_body({1, 2, 3, 4}, {1, 4})).ok());
    BOOST_TEST(test::call(port, "GET", "/metrics").ok());
}

BOOST_AUTO_TEST_CASE(a_watch_after_start_is_polled) {
    test::Scratch dir("srv-late-watch");
    deploy::Registry reg(dir.path());
    reg.promote("m", reg.add("m", test::scale_bytes(1.0f), {}));
    auto o = test::test_options();
    o.reload_interval = std::chrono::milliseconds(20);
    deploy::Server srv(o);
    srv.start();
    srv.watch(reg, "m", test::scale_factory());
    BOOST_TEST(*srv.serving_version("m") == 1u);
    reg.promote("m", reg.add("m", test::scale_bytes(2.0f), {}));
    // No reload() here: only the periodic poll can switch the version.
    for (int i = 0; i < 1000 && srv.serving_version("m") != 2u; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    BOOST_TEST(*srv.serving_version("m") == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
