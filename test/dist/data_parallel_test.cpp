#include <boost/test/unit_test.hpp>

#include <string>

#include "common.hpp"
#include "edgestack/dist/data_parallel.hpp"
#include "edgestack/dist/local.hpp"

using namespace edgestack;
using dist_test::Mlp;

namespace {

/// Zeroes the gradient of one weight: proves hooks already on the model still run, and run
/// before the gradients are averaged.
struct FreezeFirstWeight : nn::TrainHooks {
    int calls = 0;
    void after_backward(const nn::LayerInfo& l, std::span<float> g) override {
        ++calls;
        if (l.index == 0) g[0] = 0.0f;
    }
};

/// Counts epochs and stops after `stop_after`.
struct StopAfter {
    std::size_t stop_after, seen = 0;
    bool on_epoch_end(const train::EpochStats&) { return ++seen >= stop_after; }
};

bool says(const std::exception& e, const std::string& what) {
    return std::string(e.what()).find(what) != std::string::npos;
}

std::vector<float> train_local(const data::InMemoryLoader& d, dist::DataParallelOptions o,
                               std::uint64_t init_seed = 1, std::uint64_t seed = 2) {
    dist::Local comm;
    dist::DataParallel<dist::Local> dp(comm, o);
    Mlp m = dist_test::make_model(init_seed);
    train::Sgd sgd(0.1f);
    const data::NoAugment none;
    dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(seed));
    const auto p = m.parameters();
    return {p.begin(), p.end()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(data_parallel)

BOOST_AUTO_TEST_CASE(one_rank_is_the_single_process_loop, *boost::unit_test::tolerance(0.0f)) {
    const auto d = dist_test::make_data(90);
    const auto ref = dist_test::reference_weights(d, 1, 2, 16, 3, 0.1f);
    for (bool overlap : {false, true}) {
        dist::DataParallelOptions o;
        o.epochs = 3;
        o.batch_size = 16;
        o.overlap = overlap;
        o.bucket_bytes = 64; // several buckets
        const auto got = train_local(d, o);
        BOOST_TEST(dist_test::max_abs_diff(got, ref) <= 1e-6f);
    }
}

BOOST_AUTO_TEST_CASE(bucket_plan_covers_the_gradient_block_once_in_backward_order) {
    for (std::size_t floats : {1u, 50u, 200u, 100000u}) {
        const auto plan = dist::detail::plan_buckets(Mlp::param_offsets, floats);
        BOOST_REQUIRE(!plan.empty());
        std::size_t hi = Mlp::param_count;
        for (const auto& b : plan) {
            BOOST_TEST(b.hi == hi); // contiguous, from the end of the block down
            BOOST_TEST(b.lo < b.hi);
            BOOST_TEST(b.lo == Mlp::param_offsets[b.trigger]);
            hi = b.lo;
        }
        BOOST_TEST(hi == 0u);
    }
    // Parameter-free layers (ReLU) never close a bucket of their own.
    BOOST_TEST(dist::detail::plan_buckets(Mlp::param_offsets, 1).size() == 3u);
    BOOST_TEST(dist::detail::plan_buckets(Mlp::param_offsets, 1u << 20).size() == 1u);
}

BOOST_AUTO_TEST_CASE(hooks_already_installed_run_first_and_are_given_back) {
    const auto d = dist_test::make_data(40);
    dist::Local comm;
    dist::DataParallelOptions o;
    o.batch_size = 8;
    dist::DataParallel<dist::Local> dp(comm, o);
    Mlp m = dist_test::make_model(1);
    const float w0 = m.parameters()[0];
    FreezeFirstWeight freeze;
    m.set_hooks(&freeze);
    train::Sgd sgd(0.1f);
    const data::NoAugment none;
    dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2));
    BOOST_TEST(freeze.calls == 5 * 5); // 5 steps x 5 layers
    BOOST_TEST(m.parameters()[0] == w0);
    BOOST_TEST(m.hooks() == &freeze);
}

BOOST_AUTO_TEST_CASE(resume_from_a_checkpoint_reaches_the_uninterrupted_weights) {
    const auto d = dist_test::make_data(70);
    dist_test::TempDir dir("resume");
    dist::DataParallelOptions o;
    o.epochs = 3;
    o.batch_size = 8;
    const data::NoAugment none;
    std::vector<float> whole;
    {
        dist::Local comm;
        dist::DataParallel<dist::Local> dp(comm, o);
        Mlp m = dist_test::make_model(1);
        train::Sgd sgd(0.1f, 0.9f);
        dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2));
        whole.assign(m.parameters().begin(), m.parameters().end());
    }

    // Interrupted in the middle of the second epoch...
    o.checkpoint_path = dir.path / "run.ckpt";
    {
        dist::Local comm;
        dist::DataParallel<dist::Local> dp(comm, o);
        Mlp m = dist_test::make_model(1);
        train::Sgd sgd(0.1f, 0.9f);
        struct Crash {
            std::size_t n = 0;
            void on_batch_end(const train::BatchStats&) {
                if (++n == 9 + 4) throw file_error("simulated crash");
            }
        } crash;
        BOOST_CHECK_THROW(dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2), crash),
                          file_error);
    }
    BOOST_TEST(train::read_checkpoint(o.checkpoint_path).progress.epoch == 1u);

    // ...then restarted with another initialisation and a fresh optimizer: the checkpoint
    // (weights and momentum) wins.
    dist::Local comm;
    dist::DataParallel<dist::Local> dp(comm, o);
    Mlp m = dist_test::make_model(99);
    train::Sgd sgd(0.1f, 0.9f);
    const auto report = dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2));
    BOOST_TEST(dp.resume_info().resumed);
    BOOST_TEST(dp.resume_info().epoch == 1u);
    BOOST_TEST(report.history.size() == 2u);
    // Not bitwise: Eigen's reductions round differently with differently aligned buffers.
    BOOST_TEST(dist_test::max_abs_diff(m.parameters(), whole) <= 1e-5f);
    BOOST_TEST(train::read_checkpoint(o.checkpoint_path).progress.epoch == 3u);
}

BOOST_AUTO_TEST_CASE(bad_options_and_data_are_reported) {
    dist::Local comm;
    dist::DataParallelOptions o;
    o.batch_size = 0;
    BOOST_CHECK_EXCEPTION(dist::DataParallel<dist::Local>(comm, o), config_error,
                          [](const config_error& e) { return says(e, "batch_size"); });
    o.batch_size = 4;
    o.bucket_bytes = 0;
    BOOST_CHECK_EXCEPTION(dist::DataParallel<dist::Local>(comm, o), config_error,
                          [](const config_error& e) { return says(e, "bucket_bytes"); });
    o.bucket_bytes = 1024;
    dist::DataParallel<dist::Local> dp(comm, o);
    data::InMemoryLoader wide(std::vector<float>(9 * 4, 0.0f), {0, 1, 2, 0}, 9, 3);
    Mlp m = dist_test::make_model(1);
    train::Sgd sgd(0.1f);
    const data::NoAugment none;
    BOOST_CHECK_EXCEPTION(dp.fit(m, wide, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2)),
                          shape_error, [](const shape_error& e) { return says(e, "9 values"); });
}

BOOST_AUTO_TEST_CASE(a_callback_stops_training_and_epoch_stats_count_every_sample) {
    const auto d = dist_test::make_data(30);
    dist::Local comm;
    dist::DataParallelOptions o;
    o.epochs = 5;
    o.batch_size = 8;
    dist::DataParallel<dist::Local> dp(comm, o);
    Mlp m = dist_test::make_model(1);
    train::Sgd sgd(0.1f);
    const data::NoAugment none;
    StopAfter stop{2};
    const auto r = dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2), stop);
    BOOST_TEST(r.history.size() == 2u);
    BOOST_TEST(r.stopped_early);
    BOOST_TEST(r.history[1].samples == 30u);
    BOOST_TEST(r.history[1].loss > 0.0);
}

BOOST_AUTO_TEST_SUITE_END()
