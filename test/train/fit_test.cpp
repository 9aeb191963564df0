#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "fixtures.hpp"

using namespace edgestack;
using train_test::clusters;
using train_test::message_of;
using train_test::Pipe;
using train_test::TempPath;

namespace {

std::string read_all(std::FILE* f) {
    std::rewind(f);
    std::string s;
    char buf[512];
    while (const std::size_t n = std::fread(buf, 1, sizeof buf, f)) s.append(buf, n);
    return s;
}

template <class O>
double accuracy_after_training(O optimizer) {
    const auto train_set = clusters(1500, 1), test_set = clusters(400, 2);
    Pipe p(42);
    p.fit(train_set, optimizer, {.epochs = 4, .batch_size = 32});
    return p.evaluate(test_set).accuracy;
}

struct Snapshot {
    std::size_t at_epoch;
    std::vector<float> params;
    template <class M>
    void on_epoch_end(const train::EpochStats& s, M& m) {
        if (s.epoch == at_epoch) params.assign(m.parameters().begin(), m.parameters().end());
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(fit)

BOOST_AUTO_TEST_CASE(every_optimizer_learns_the_synthetic_task) {
    BOOST_TEST(accuracy_after_training(train::Sgd(0.05f, {0.9f, true}, 1e-4f)) > 0.95);
    BOOST_TEST(accuracy_after_training(train::Adam(1e-2f)) > 0.95);
    BOOST_TEST(accuracy_after_training(train::AdamW(1e-2f, {}, 0.01f)) > 0.95);
    auto scheduled =
        train::with_schedule(train::Adam(2e-2f), train::WarmUp<train::Cosine>{20, {170}});
    scheduled.set_clip_norm(5.0f);
    BOOST_TEST(accuracy_after_training(scheduled) > 0.95);
}

BOOST_AUTO_TEST_CASE(progress_plain_lines_when_not_a_terminal) {
    std::FILE* f = std::tmpfile();
    BOOST_REQUIRE(f != nullptr);
    train::ProgressBar bar(f, train::ProgressBar::Style::automatic, 10);
    BOOST_TEST(!bar.is_terminal()); // a regular file is not a terminal
    Pipe p(1);
    train::Adam adam(1e-2f);
    p.fit(clusters(640, 1), clusters(100, 2), adam, {.epochs = 2, .batch_size = 32}, bar);
    const std::string out = read_all(f);
    std::fclose(f);
    BOOST_TEST(out.find("epoch 1/2 batch 10/20: loss ") != std::string::npos, out);
    BOOST_TEST(out.find("epoch 2/2: loss ") != std::string::npos, out);
    BOOST_TEST(out.find("val_acc") != std::string::npos, out);
    BOOST_TEST(out.find("samples/s") != std::string::npos, out);
    BOOST_TEST(out.find('\r') == std::string::npos); // no redraws in a log
}

BOOST_AUTO_TEST_CASE(progress_bar_redraws_on_a_terminal) {
    std::FILE* f = std::tmpfile();
    BOOST_REQUIRE(f != nullptr);
    train::ProgressBar bar(f, train::ProgressBar::Style::terminal);
    Pipe p(1);
    train::Adam adam(1e-2f);
    p.fit(clusters(320, 1), adam, {.epochs = 1, .batch_size = 32}, bar);
    const std::string out = read_all(f);
    std::fclose(f);
    // The last batch is always drawn: full bar, count, loss, accuracy and ETA.
    BOOST_TEST(out.find("\r\x1b[2Kepoch 1/1 [========================] 10/10  loss ") !=
                   std::string::npos,
               out);
    BOOST_TEST(out.find("acc ") != std::string::npos);
    BOOST_TEST(out.find("ETA 0:00") != std::string::npos);
    BOOST_TEST(out.back() == '\n');
}

BOOST_AUTO_TEST_CASE(early_stopping_stops_and_restores_the_best_epoch) {
    Pipe p(3);
    train::Sgd sgd(1e-4f);
    Snapshot first{0, {}};
    // min_delta far above any change: epoch 0 stays the best, patience 1 allows one more.
    train::EarlyStopping stop(train::Monitor::val_loss, 1, 100.0, true);
    const auto report = p.fit(clusters(320, 1), clusters(100, 2), sgd,
                              {.epochs = 10, .batch_size = 32}, first, stop);
    BOOST_TEST(report.stopped_early);
    BOOST_TEST(report.history.size() == 3u);
    BOOST_TEST(stop.stopped());
    BOOST_TEST(stop.best_epoch() == 0u);
    BOOST_TEST(stop.restored());
    const auto now = p.model().parameters();
    BOOST_TEST(std::vector<float>(now.begin(), now.end()) == first.params,
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(early_stopping_needs_what_it_monitors) {
    Pipe p(3);
    train::Sgd sgd(1e-2f);
    train::EarlyStopping stop(train::Monitor::val_accuracy);
    const auto m = message_of([&] { p.fit(clusters(64, 1), sgd, {.epochs = 2}, stop); });
    BOOST_TEST(m.find("EarlyStopping: monitors val_accuracy but fit was given no validation") !=
                   std::string::npos,
               m);
    BOOST_CHECK_THROW(train::EarlyStopping(train::Monitor::loss, 2, -1.0), config_error);
}

BOOST_AUTO_TEST_CASE(keep_best_checkpoint_holds_the_best_model) {
    TempPath best("edgestack_keep_best.ckpt");
    const auto train_set = clusters(640, 1), val = clusters(200, 2);
    Pipe p(5);
    train::Adam adam(5e-3f);
    train::KeepBestCheckpoint keep(best.path, train::Monitor::val_accuracy);
    const auto report = p.fit(train_set, val, adam, {.epochs = 4, .batch_size = 32}, keep);
    BOOST_TEST(keep.saves() >= 1u);
    double top = 0;
    for (const auto& e : report.history) top = std::max(top, e.val_accuracy);
    BOOST_TEST(keep.best_value() == top);
    Pipe fresh(99);
    train::load_checkpoint(best.path, fresh.model());
    BOOST_TEST(fresh.evaluate(val).accuracy == top);
}

BOOST_AUTO_TEST_CASE(initial_epoch_past_the_end_is_refused) {
    Pipe p(3);
    train::Sgd sgd(1e-2f);
    const auto m = message_of([&] {
        p.fit(clusters(64, 1), sgd, {.epochs = 2, .initial_epoch = 3});
    });
    BOOST_TEST(m.find("initial_epoch (3) is past epochs (2)") != std::string::npos, m);
}

BOOST_AUTO_TEST_SUITE_END()
