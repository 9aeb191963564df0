// The SQLite telemetry store: bounded, flushed in order, nothing lost across a restart or
// a kill -9 of the writing process.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "deploy/scratch.hpp"
#include "edgestack/monitor/telemetry.hpp"

using namespace edgestack;
using monitor::TelemetryRecord;
using monitor::TelemetryStore;

namespace {

struct CollectingSink {
    std::vector<TelemetryRecord> got;
    std::size_t accept_batches = SIZE_MAX; // unreachable after this many batches
    bool send(std::span<const TelemetryRecord> batch) {
        if (accept_batches == 0) return false;
        --accept_batches;
        got.insert(got.end(), batch.begin(), batch.end());
        return true;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(telemetry)

BOOST_AUTO_TEST_CASE(flushes_in_order_and_resumes_after_the_sink_fails) {
    test::Scratch dir("tel-flush");
    const auto db = dir.path() / "t.db";
    {
        TelemetryStore s(db, {1000, 100, false});
        for (int i = 0; i < 25; ++i) s.append("metrics", "{\"i\":" + std::to_string(i) + "}");
        CollectingSink sink;
        sink.accept_batches = 2;
        BOOST_TEST(s.flush(sink, 10) == 20u); // third batch refused: sink unreachable
        BOOST_TEST(s.pending() == 5u);
        BOOST_TEST(sink.got.front().payload == "{\"i\":0}");
    }
    TelemetryStore s(db); // a restart: what was not sent is still there
    BOOST_TEST(s.pending() == 5u);
    CollectingSink sink;
    BOOST_TEST(s.flush(sink, 2) == 5u);
    BOOST_TEST_REQUIRE(sink.got.size() == 5u);
    for (std::size_t i = 0; i < 5; ++i) {
        BOOST_TEST(sink.got[i].payload == "{\"i\":" + std::to_string(20 + i) + "}");
        BOOST_TEST(sink.got[i].kind == "metrics");
        if (i) BOOST_TEST(sink.got[i].seq > sink.got[i - 1].seq);
    }
    BOOST_TEST(s.pending() == 0u);
    BOOST_TEST(s.append("x", "y") == 26); // sequence numbers are never reused
}

BOOST_AUTO_TEST_CASE(bounded_queue_drops_oldest_and_counts) {
    test::Scratch dir("tel-bound");
    TelemetryStore s(dir.path() / "t.db", {10, 100, false});
    for (int i = 0; i < 15; ++i) s.append("m", std::to_string(i));
    BOOST_TEST(s.pending() == 10u);
    BOOST_TEST(s.dropped() == 5u);
    BOOST_TEST(s.peek(1).at(0).payload == "5");
    BOOST_CHECK_THROW(TelemetryStore(dir.path() / "u.db", {0, 1, false}), config_error);
}

BOOST_AUTO_TEST_CASE(samples_and_delayed_labels) {
    test::Scratch dir("tel-samples");
    TelemetryStore s(dir.path() / "t.db", {100, 3, false});
    const std::vector<float> f{0.5f, 1.5f, -2.0f};
    s.add_sample("a", f, 1);
    s.add_sample("b", f, 2);
    BOOST_TEST(s.attach_label("a", 7));
    BOOST_TEST(!s.attach_label("nope", 1));
    auto labelled = s.samples(true);
    BOOST_TEST_REQUIRE(labelled.size() == 1u);
    BOOST_TEST(labelled[0].id == "a");
    BOOST_TEST(labelled[0].features == f);
    BOOST_TEST(*labelled[0].label == 7);
    BOOST_TEST(labelled[0].prediction == 1);
    BOOST_TEST(s.samples(false).size() == 2u);
    s.add_sample("c", f, 0);
    s.add_sample("d", f, 0); // bound of 3: "a" (oldest) goes
    const auto all = s.samples(false);
    BOOST_TEST(all.size() == 3u);
    BOOST_TEST(all.front().id == "b");
    // The label went to the outbox too.
    const auto out = s.peek(10);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    BOOST_TEST(out[0].kind == "label");
    BOOST_TEST(out[0].payload == "{\"id\":\"a\",\"label\":7}");
}

BOOST_AUTO_TEST_CASE(unopenable_path_names_the_file) {
    try {
        TelemetryStore s("/nonexistent-dir/x/t.db");
        BOOST_FAIL("expected file_error");
    } catch (const file_error& e) {
        BOOST_TEST(std::string(e.what()).find("/nonexistent-dir/x/t.db") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(kill_dash_nine_loses_nothing_committed) {
    test::Scratch dir("tel-kill");
    const auto db = dir.path() / "t.db";
    std::int64_t expected_total = 0;
    for (int round = 0; round < 3; ++round) {
        int fds[2];
        BOOST_REQUIRE(::pipe(fds) == 0);
        const pid_t pid = ::fork();
        BOOST_REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            try {
                TelemetryStore s(db, {1000000, 10, true});
                for (std::int64_t i = 0;; ++i) {
                    s.append(std::string("r").append(std::to_string(round)), std::to_string(i));
                    if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(4);
                }
            } catch (...) {
                ::_exit(3);
            }
        }
        ::close(fds[1]);
        // Wait for 30 acknowledged appends, kill, then read every acknowledgement that made it.
        std::int64_t acked = -1, v = 0;
        while (acked < 30 && ::read(fds[0], &v, sizeof v) == sizeof v) acked = v;
        BOOST_REQUIRE(::kill(pid, SIGKILL) == 0);
        int status = 0;
        BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
        BOOST_TEST(WIFSIGNALED(status));
        while (::read(fds[0], &v, sizeof v) == sizeof v) acked = v;
        ::close(fds[0]);

        TelemetryStore s(db, {1000000, 10, true});
        const auto recs = s.peek(SIZE_MAX);
        std::int64_t in_round = 0;
        for (const auto& r : recs) {
            if (r.kind != std::string("r").append(std::to_string(round))) continue;
            BOOST_TEST(r.payload == std::to_string(in_round)); // in order, no gap
            ++in_round;
        }
        BOOST_TEST(in_round >= acked + 1); // every acknowledged append survived
        expected_total += in_round;
        BOOST_TEST(static_cast<std::int64_t>(recs.size()) == expected_total);
    }
}

BOOST_AUTO_TEST_SUITE_END()
