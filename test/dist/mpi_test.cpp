// Runs under `mpirun -np 2` (ctest test dist.mpi2) and as a single process (ctest test
// dist). Every rank computes the single-process reference itself, so checks are local and
// a failed check on one rank cannot leave the other waiting in a collective.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <memory>
#include <string>

#include "common.hpp"
#include "edgestack/dist/data_parallel.hpp"
#include "edgestack/dist/mpi.hpp"

using namespace edgestack;
using dist_test::Mlp;

namespace {

struct MpiFixture {
    std::unique_ptr<dist::MpiSession> session;
    void setup() { session = std::make_unique<dist::MpiSession>(); }
    void teardown() { session.reset(); }
};

struct Run {
    std::vector<float> weights;
    train::FitReport report;
};

// Every rank starts from its own initialisation (seed + rank): only rank 0's may survive.
Run train_mpi(const data::InMemoryLoader& d, const dist::DataParallelOptions& o, float lr,
              float momentum = 0.0f) {
    dist::Mpi comm;
    dist::DataParallel<dist::Mpi> dp(comm, o);
    Mlp m = dist_test::make_model(1 + static_cast<std::uint64_t>(comm.rank()) * 1000);
    train::Sgd sgd(lr, momentum);
    const data::NoAugment none;
    Run r;
    r.report = dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2));
    const auto p = m.parameters();
    r.weights.assign(p.begin(), p.end());
    return r;
}

int world() {
    dist::Mpi comm;
    return comm.size();
}

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(MpiFixture);

BOOST_AUTO_TEST_SUITE(mpi)

// dist.mpi2 sets EDGESTACK_EXPECT_RANKS=2: a launcher that started lone single-rank
// processes (a mismatched mpirun) would otherwise pass every check below on one rank.
BOOST_AUTO_TEST_CASE(every_expected_rank_takes_part) {
    dist::Mpi comm;
    const char* expect = std::getenv("EDGESTACK_EXPECT_RANKS");
    const int n = expect != nullptr ? std::stoi(expect) : comm.size();
    BOOST_TEST_MESSAGE("rank " << comm.rank() << " of " << comm.size() << ", expected " << n);
    BOOST_REQUIRE_EQUAL(comm.size(), n);
    // Each rank contributes its id and a one: the sums prove that all of them ran.
    std::vector<double> v{static_cast<double>(comm.rank()), 1.0};
    comm.allreduce_sum(std::span<double>(v));
    BOOST_TEST(v[0] == n * (n - 1) / 2.0);
    BOOST_TEST(v[1] == static_cast<double>(n));
}

BOOST_AUTO_TEST_CASE(ranks_reach_the_weights_of_one_process_with_the_whole_batch) {
    const int ranks = world();
    BOOST_TEST_MESSAGE("ranks: " << ranks);
    // 100 samples, 8 per rank: the last global batch is short (with 2 ranks: 4 samples,
    // all on rank 0), which checks the weighting of unequal shards.
    const auto d = dist_test::make_data(100);
    const std::size_t per_rank = 8;
    const auto ref = dist_test::reference_weights(d, 1, 2, per_rank * ranks, 4, 0.05f, 0.9f);
    for (const bool overlap : {true, false}) {
        dist::DataParallelOptions o;
        o.epochs = 4;
        o.batch_size = per_rank;
        o.overlap = overlap;
        o.bucket_bytes = 256; // several buckets in flight at once
        const Run r = train_mpi(d, o, 0.05f, 0.9f);
        const float diff = dist_test::max_abs_diff(r.weights, ref);
        BOOST_TEST_MESSAGE("overlap " << overlap << ": max |w - w_ref| = " << diff);
        BOOST_TEST(diff <= 1e-5f);
        BOOST_TEST(r.report.history.back().samples == 100u);
    }
}

BOOST_AUTO_TEST_CASE(every_rank_ends_with_the_same_weights) {
    const auto d = dist_test::make_data(64);
    dist::DataParallelOptions o;
    o.epochs = 2;
    o.batch_size = 4;
    const Run r = train_mpi(d, o, 0.1f);
    dist::Mpi comm;
    std::vector<float> mine = r.weights, sum = r.weights;
    comm.allreduce_sum(std::span<float>(sum));
    float spread = 0.0f;
    for (std::size_t i = 0; i < mine.size(); ++i)
        spread = std::max(spread, std::fabs(sum[i] / static_cast<float>(comm.size()) - mine[i]));
    BOOST_TEST(spread <= 1e-6f);
}

BOOST_AUTO_TEST_CASE(step_streams_differ_between_ranks_and_repeat_between_runs) {
    dist::Mpi comm;
    const Rng train(9);
    Rng a = dist::DataParallel<dist::Mpi>::step_stream(train, 1, 5, comm.rank());
    Rng again = dist::DataParallel<dist::Mpi>::step_stream(train, 1, 5, comm.rank());
    std::array<std::uint64_t, 2> draws{a(), 0};
    BOOST_TEST(draws[0] == again());
    // Every rank's first draw, gathered by a sum of one-hot slots.
    std::vector<double> all(static_cast<std::size_t>(comm.size()), 0.0);
    all[static_cast<std::size_t>(comm.rank())] = static_cast<double>(draws[0] >> 12);
    comm.allreduce_sum(std::span<double>(all));
    for (std::size_t i = 1; i < all.size(); ++i) BOOST_TEST(all[i] != all[0]);
}

BOOST_AUTO_TEST_CASE(ranks_with_different_data_are_told_before_any_step) {
    dist::Mpi comm;
    // Each rank a different loader size (only differs with several ranks).
    const auto d = dist_test::make_data(30 + static_cast<std::size_t>(comm.rank()));
    dist::DataParallelOptions o;
    o.batch_size = 4;
    dist::DataParallel<dist::Mpi> dp(comm, o);
    Mlp m = dist_test::make_model(1);
    train::Sgd sgd(0.1f);
    const data::NoAugment none;
    if (comm.size() > 1)
        BOOST_CHECK_EXCEPTION(dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2)),
                              config_error, [](const config_error& e) {
                                  return std::string(e.what()).find("disagree on the loader "
                                                                    "size (from 30 to") !=
                                         std::string::npos;
                              });
    else
        BOOST_CHECK_NO_THROW(dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(2)));
}

BOOST_AUTO_TEST_SUITE_END()
