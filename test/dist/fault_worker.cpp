// Helper of the fault test (fault_test.cmake), started by mpirun: trains a small MLP with
// DataParallel<Mpi>, checkpointing every epoch; rank 1 can be made to fail on purpose.
//   dist_fault_worker <checkpoint> <epochs> [--die-at E | --throw-at E]
//                     [--save FILE | --compare FILE]
// --save writes the final weights; --compare prints the largest difference from them.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"
#include "edgestack/dist/data_parallel.hpp"
#include "edgestack/dist/mpi.hpp"

using namespace edgestack;

namespace {
struct Failure {
    int rank;
    std::string how;
    std::size_t epoch = 0, current = 0;
    void on_epoch_begin(std::size_t e, std::size_t) { current = e; }
    void on_batch_end(const train::BatchStats& s) {
        if (rank != 1 || how.empty() || current != epoch || s.batch != 5) return;
        if (how == "--die-at") std::abort();
        throw std::runtime_error("simulated failure");
    }
};
} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s <checkpoint> <epochs> [--die-at E | --throw-at E] "
                             "[--save FILE | --compare FILE]\n", argv[0]);
        return 2;
    }
    dist::MpiSession session(argc, argv);
    dist::Mpi comm;
    dist::DataParallelOptions o;
    o.epochs = std::stoul(argv[2]);
    o.batch_size = 8;
    o.bucket_bytes = 256;
    o.checkpoint_path = argv[1];
    Failure fail{comm.rank(), ""};
    std::string save, compare;
    for (int i = 3; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--die-at" || a == "--throw-at") {
            fail.how = a;
            fail.epoch = std::stoul(argv[i + 1]);
        } else if (a == "--save") {
            save = argv[i + 1];
        } else if (a == "--compare") {
            compare = argv[i + 1];
        }
    }
    dist::DataParallel<dist::Mpi> dp(comm, o);
    const auto d = dist_test::make_data(200);
    auto m = dist_test::make_model(1 + static_cast<std::uint64_t>(comm.rank()));
    train::Sgd sgd(0.05f, 0.9f);
    const data::NoAugment none;
    dp.fit(m, d, none, sgd, train::SoftmaxCrossEntropy{}, Rng(3), fail);
    if (comm.rank() != 0) return 0;
    const auto& r = dp.resume_info();
    if (r.resumed) std::printf("resumed from %s at epoch %zu\n", argv[1], r.epoch);
    const auto p = m.parameters();
    if (!save.empty())
        std::ofstream(save, std::ios::binary)
            .write(reinterpret_cast<const char*>(p.data()), static_cast<std::streamsize>(p.size_bytes()));
    if (!compare.empty()) {
        std::vector<float> ref(p.size());
        std::ifstream(compare, std::ios::binary)
            .read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(p.size_bytes()));
        const float diff = dist_test::max_abs_diff(p, ref);
        std::printf("max difference %g: %s\n", static_cast<double>(diff),
                    diff <= 1e-5f ? "same weights" : "DIFFERENT weights");
    }
    return 0;
}
