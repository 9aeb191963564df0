// Training history files: what HistoryWriter writes during fit (checked with an independent
// JSON parser and against the schedule's own arithmetic), that a crash keeps the finished
// epochs, that the reader takes files other tools write (Python's json, Keras' CSVLogger),
// and that bad files get errors naming the line.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.hpp"

#include "edgestack/train/history.hpp"

#if EDGESTACK_TEST_HAS_JSON
#include <nlohmann/json.hpp>
#endif

using namespace edgestack;
using train_test::clusters;
using train_test::message_of;
using train_test::Pipe;

namespace {

// A temporary file whose name keeps its extension (the writer picks its format from it).
struct TempPath {
    std::filesystem::path path;
    explicit TempPath(const std::string& name)
        : path(std::filesystem::temp_directory_path() /
               (std::to_string(::getpid()) + "-" + name)) {
        std::filesystem::remove(path);
    }
    ~TempPath() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
};

std::vector<std::string> lines_of(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

void write_text(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

std::vector<std::string> cells(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) out.push_back(c);
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
}

std::string parse_error(const std::string& text) {
    return message_of([&] { train::parse_history(text, "h.jsonl"); });
}

// Stops training by throwing, as a crash would, once epoch `at` has ended.
struct CrashAt {
    std::size_t at;
    void on_epoch_end(const train::EpochStats& s) {
        if (s.epoch == at) throw std::runtime_error("crash");
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(history)

#if EDGESTACK_TEST_HAS_JSON
BOOST_AUTO_TEST_CASE(json_lines_hold_each_epoch_and_the_scheduled_rate) {
    TempPath file("history.jsonl");
    const auto train_set = clusters(640, 1);
    const std::size_t batches = 640 / 32;
    // x0.5 at every epoch boundary: the last step of epoch e runs at 0.02 * 0.5^e.
    auto opt = train::with_schedule(train::Adam(0.02f), train::StepDecay{batches, 0.5f});
    train::HistoryWriter writer(file.path);
    Pipe p(3);
    const auto report =
        p.fit(train_set, clusters(100, 2), opt, {.epochs = 3, .batch_size = 32}, writer);

    const auto lines = lines_of(file.path);
    BOOST_REQUIRE_EQUAL(lines.size(), 3u);
    for (std::size_t e = 0; e < 3; ++e) {
        const auto j = nlohmann::json::parse(lines[e]);
        BOOST_TEST(j.at("epoch").get<std::size_t>() == e);
        BOOST_TEST(j.at("epochs").get<std::size_t>() == 3u);
        BOOST_TEST(j.at("samples").get<std::size_t>() == 640u);
        // Shortest round-trip text: the file holds the very doubles fit reported.
        BOOST_TEST(j.at("loss").get<double>() == report.history[e].loss);
        BOOST_TEST(j.at("accuracy").get<double>() == report.history[e].accuracy);
        BOOST_TEST(j.at("val_loss").get<double>() == report.history[e].val_loss);
        BOOST_TEST(j.at("val_accuracy").get<double>() == report.history[e].val_accuracy);
        BOOST_TEST(j.at("learning_rate").get<double>() ==
                       0.02 * std::pow(0.5, static_cast<double>(e)),
                   boost::test_tools::tolerance(1e-6));
        BOOST_TEST(j.at("seconds").get<double>() > 0.0);
    }
    // The loss went down, as it does on this task: the lines are in epoch order.
    BOOST_TEST(nlohmann::json::parse(lines[2]).at("loss").get<double>() <
               nlohmann::json::parse(lines[0]).at("loss").get<double>());
}
#endif

BOOST_AUTO_TEST_CASE(csv_has_a_header_and_empty_cells_for_missing_figures) {
    TempPath file("history.csv");
    train::HistoryWriter writer(file.path);
    train::Adam adam(1e-2f);
    Pipe p(4);
    const auto report = p.fit(clusters(320, 1), adam, {.epochs = 2, .batch_size = 32}, writer);
    const auto lines = lines_of(file.path);
    BOOST_REQUIRE_EQUAL(lines.size(), 3u);
    BOOST_TEST(lines[0] ==
               "epoch,epochs,loss,accuracy,val_loss,val_accuracy,learning_rate,samples,seconds,"
               "mae,val_mae");
    for (std::size_t e = 0; e < 2; ++e) {
        const auto c = cells(lines[e + 1]);
        BOOST_REQUIRE_EQUAL(c.size(), 11u);
        BOOST_TEST(c[9].empty()); // a classifier has no MAE
        BOOST_TEST(c[10].empty());
        BOOST_TEST(c[0] == std::to_string(e));
        BOOST_TEST(std::stod(c[2]) == report.history[e].loss);
        BOOST_TEST(c[4].empty()); // no validation data
        BOOST_TEST(c[5].empty());
        BOOST_TEST(std::stod(c[6]) == 1e-2, boost::test_tools::tolerance(1e-6));
        BOOST_TEST(c[7] == "320");
    }
}

BOOST_AUTO_TEST_CASE(a_crash_keeps_every_finished_epoch) {
    TempPath file("crash.jsonl");
    train::HistoryWriter writer(file.path);
    CrashAt crash{1};
    train::Adam adam(1e-2f);
    Pipe p(5);
    BOOST_CHECK_THROW(p.fit(clusters(320, 1), adam, {.epochs = 5, .batch_size = 32}, writer, crash),
                      std::runtime_error);
    const auto h = train::read_history(file.path);
    BOOST_REQUIRE_EQUAL(h.size(), 2u);
    BOOST_TEST(h[0].epoch == 0u);
    BOOST_TEST(h[1].epoch == 1u);
}

BOOST_AUTO_TEST_CASE(append_continues_a_resumed_run_with_one_header) {
    TempPath file("resumed.csv");
    train::Adam adam(1e-2f);
    Pipe p(6);
    {
        train::HistoryWriter writer(file.path);
        p.fit(clusters(320, 1), adam, {.epochs = 2, .batch_size = 32}, writer);
    }
    {
        train::HistoryWriter writer(file.path, /*append=*/true);
        p.fit(clusters(320, 1), adam, {.epochs = 4, .batch_size = 32, .initial_epoch = 2}, writer);
    }
    const auto lines = lines_of(file.path);
    BOOST_TEST(lines.size() == 5u);
    const auto h = train::read_history(file.path);
    BOOST_REQUIRE_EQUAL(h.size(), 4u);
    for (std::size_t e = 0; e < 4; ++e) BOOST_TEST(h[e].epoch == e);
    // Without append, a new run replaces the file.
    {
        train::HistoryWriter writer(file.path);
        p.fit(clusters(320, 1), adam, {.epochs = 1, .batch_size = 32}, writer);
    }
    BOOST_TEST(train::read_history(file.path).size() == 1u);
}

BOOST_AUTO_TEST_CASE(reads_what_the_writer_wrote) {
    train::Adam adam(1e-2f);
    Pipe p(7);
    const auto report =
        p.fit(clusters(320, 1), clusters(64, 2), adam, {.epochs = 2, .batch_size = 32});
    for (const char* name : {"whole.jsonl", "whole.csv"}) {
        TempPath file(name);
        train::write_history(file.path, report.history);
        const auto h = train::read_history(file.path);
        BOOST_REQUIRE_EQUAL(h.size(), 2u);
        for (std::size_t e = 0; e < 2; ++e) {
            BOOST_TEST(h[e].loss == report.history[e].loss);
            BOOST_TEST(h[e].val_accuracy == report.history[e].val_accuracy);
            BOOST_TEST(h[e].samples == report.history[e].samples);
        }
    }
}

BOOST_AUTO_TEST_CASE(reads_python_json_and_keras_csv_logger_files) {
    // As Python's json.dumps writes a dict per epoch: NaN for a missing figure, extra keys.
    const auto j = train::parse_history(
        "{\"epoch\": 0, \"loss\": 0.75, \"accuracy\": 0.5, \"val_loss\": NaN, \"lr\": 0.001, "
        "\"note\": \"warm-up\", \"best\": true}\n"
        "\n"
        "{\"epoch\": 1, \"loss\": 6.25e-1, \"accuracy\": 0.625, \"val_loss\": null, \"lr\": 0.0005}\n",
        "py.jsonl");
    BOOST_REQUIRE_EQUAL(j.size(), 2u);
    BOOST_TEST(j[1].loss == 0.625);
    BOOST_TEST(j[0].learning_rate == 0.001);
    BOOST_TEST(std::isnan(j[0].val_loss));
    BOOST_TEST(std::isnan(j[1].val_accuracy));
    // Keras' CSVLogger: its own column order, `lr`, CRLF line ends.
    const auto k = train::parse_history("epoch,accuracy,loss,lr,val_accuracy,val_loss\r\n"
                                        "0,0.8125,0.5,0.001,0.84375,0.4375\r\n"
                                        "1,0.875,0.375,0.001,0.90625,0.3125\r\n",
                                        "keras.csv");
    BOOST_REQUIRE_EQUAL(k.size(), 2u);
    BOOST_TEST(k[1].epoch == 1u);
    BOOST_TEST(k[1].loss == 0.375);
    BOOST_TEST(k[0].val_accuracy == 0.84375);
    BOOST_TEST(k[0].learning_rate == 0.001);
}

BOOST_AUTO_TEST_CASE(bad_files_get_errors_naming_the_line) {
    BOOST_TEST(parse_error("").find("holds no epochs") != std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": 0, \"loss\": 1}\n{\"epoch\": 1").find("line 2") !=
               std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": 0}").find("\"epoch\" and \"loss\"") != std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": \"0\", \"loss\": 1}").find("epoch must be a number") !=
               std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": -1, \"loss\": 1}").find("whole number") != std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": 1.5, \"loss\": 1}").find("whole number") != std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": 1, \"loss\": 1e999}").find("out of range") != std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": 1, \"loss\": {\"a\": 1}}").find("not an object") !=
               std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": 1, \"loss\": 0x10}").find("not a number") != std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": 1, \"loss\": 1} trailing").find("after the object") !=
               std::string::npos);
    BOOST_TEST(parse_error(std::string(100000, '{')).find("line 1") != std::string::npos);
    BOOST_TEST(parse_error("{\"epoch\": 1, \"loss\": 1, \"x\": \"unterminated").find("unterminated") !=
               std::string::npos);
    BOOST_TEST(parse_error("step,value\n1,2\n").find("epoch and loss") != std::string::npos);
    BOOST_TEST(parse_error("epoch,loss\n0,1,2\n").find("more cells") != std::string::npos);
    BOOST_TEST(parse_error("epoch,loss,accuracy\n0,1\n").find("2 cells") != std::string::npos);
    BOOST_TEST(parse_error("epoch,loss\n0,abc\n").find("line 2: loss is not a number: 'abc'") !=
               std::string::npos);
    // Control bytes of a hostile file are not echoed.
    BOOST_TEST(parse_error("epoch,loss\n0,\x01\x1b[2J\n").find('\x1b') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(files_that_are_not_histories_are_refused_unread) {
    TempPath dir("history-dir.jsonl");
    std::filesystem::create_directory(dir.path);
    BOOST_TEST(message_of([&] { train::read_history(dir.path); }).find("not a regular file") !=
               std::string::npos);
    std::filesystem::remove(dir.path);
    TempPath fifo("history-fifo.jsonl");
    BOOST_REQUIRE(::mkfifo(fifo.path.c_str(), 0600) == 0);
    BOOST_TEST(message_of([&] { train::read_history(fifo.path); }).find("not a regular file") !=
               std::string::npos);
    TempPath big("history-big.jsonl");
    write_text(big.path, std::string(2048, ' '));
    BOOST_TEST(message_of([&] { train::read_history(big.path, 1024); }).find("more than the 1024") !=
               std::string::npos);
    BOOST_TEST(message_of([] { train::HistoryWriter w("history.txt"); }).find(".jsonl") !=
               std::string::npos);
    // An empty path is off: fit runs and nothing is written.
    train::HistoryWriter off{std::filesystem::path{}};
    train::Adam adam(1e-2f);
    Pipe p(8);
    p.fit(clusters(64, 1), adam, {.epochs = 1, .batch_size = 32}, off);
    BOOST_TEST(off.path().empty());
    train::HistoryWriter unwritable("/nonexistent-folder/h.jsonl");
    BOOST_TEST(message_of([&] { unwritable.on_train_begin(); }).find("cannot write training history") !=
               std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
