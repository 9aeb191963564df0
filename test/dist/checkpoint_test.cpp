// Checkpoints of data-parallel training: train/checkpoint.hpp's file, written by rank 0 at
// every epoch end, refused with a clear error when it does not fit the run.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>

#include "common.hpp"
#include "edgestack/dist/data_parallel.hpp"
#include "edgestack/dist/local.hpp"
#include "edgestack/train/checkpoint.hpp"

using namespace edgestack;
using dist_test::Mlp;

namespace {

bool says(const std::exception& e, const std::string& what) {
    return std::string(e.what()).find(what) != std::string::npos;
}

struct Setup {
    data::InMemoryLoader d = dist_test::make_data(40);
    dist_test::TempDir dir{"ckpt"};
    dist::Local comm;
    dist::DataParallelOptions o;
    Mlp m = dist_test::make_model(1);
    train::Sgd sgd{0.1f, 0.9f};
    data::NoAugment none;
    Setup() {
        o.batch_size = 8;
        o.epochs = 2;
        o.checkpoint_path = dir.path / "run.ckpt";
    }
    train::FitReport fit(std::uint64_t seed = 2) {
        dist::DataParallel<dist::Local> dp(comm, o);
        return dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(seed));
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(checkpoint)

BOOST_AUTO_TEST_CASE(every_epoch_ends_with_a_train_checkpoint_of_model_optimizer_and_seed) {
    Setup s;
    s.fit();
    const auto c = train::read_checkpoint(s.o.checkpoint_path);
    BOOST_TEST(c.progress.epoch == 2u);
    BOOST_TEST(c.progress.seed == 2u);
    BOOST_TEST(c.fingerprint == Mlp::fingerprint());
    BOOST_TEST(dist_test::max_abs_diff(c.parameters, s.m.parameters()) == 0.0f);
    BOOST_REQUIRE(c.optimizer.has_value());
    BOOST_TEST(c.optimizer->name == s.sgd.state().name);
    BOOST_TEST(c.optimizer->steps == 10u); // 2 epochs x 5 steps
}

BOOST_AUTO_TEST_CASE(a_checkpoint_of_another_model_is_an_integrity_error) {
    Setup s;
    using Other = nn::Sequential<nn::Input<8>, nn::Dense<4>, nn::ReLU, nn::Dense<3>>;
    Other other;
    train::save_checkpoint(s.o.checkpoint_path, other, s.sgd, {1, 2});
    BOOST_CHECK_EXCEPTION(s.fit(), integrity_error, [](const integrity_error& e) {
        return says(e, "run.ckpt: byte 24: the checkpoint is of another architecture");
    });
}

BOOST_AUTO_TEST_CASE(a_checkpoint_of_another_seed_is_a_config_error) {
    Setup s;
    s.fit(2);
    s.o.epochs = 3;
    BOOST_CHECK_EXCEPTION(s.fit(5), config_error, [](const config_error& e) {
        return says(e, "run.ckpt: written by a run seeded 2, this one is seeded 5");
    });
}

BOOST_AUTO_TEST_CASE(a_corrupt_checkpoint_is_refused_before_training) {
    Setup s;
    s.fit();
    {
        std::fstream f(s.o.checkpoint_path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);
        f.put('\x7f');
    }
    const auto before = std::vector<float>(s.m.parameters().begin(), s.m.parameters().end());
    s.o.epochs = 3;
    BOOST_CHECK_EXCEPTION(s.fit(), integrity_error,
                          [](const integrity_error& e) { return says(e, "checksum mismatch"); });
    BOOST_TEST(dist_test::max_abs_diff(s.m.parameters(), before) == 0.0f);
    std::ofstream(s.o.checkpoint_path, std::ios::trunc) << "garbage";
    BOOST_CHECK_EXCEPTION(s.fit(), format_error,
                          [](const format_error& e) { return says(e, "run.ckpt"); });
}

BOOST_AUTO_TEST_CASE(an_unwritable_checkpoint_path_is_a_file_error) {
    Setup s;
    s.o.checkpoint_path = s.dir.path / "missing" / "x.ckpt";
    BOOST_CHECK_EXCEPTION(s.fit(), file_error,
                          [](const file_error& e) { return says(e, "x.ckpt"); });
}

BOOST_AUTO_TEST_CASE(resume_false_starts_afresh_and_overwrites) {
    Setup s;
    s.fit();
    s.o.resume = false;
    s.o.epochs = 1;
    dist::DataParallel<dist::Local> dp(s.comm, s.o);
    dp.fit(s.m, s.d, s.none, s.sgd, train::SoftmaxCrossEntropy{}, Rng(2));
    BOOST_TEST(!dp.resume_info().resumed);
    BOOST_TEST(train::read_checkpoint(s.o.checkpoint_path).progress.epoch == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
