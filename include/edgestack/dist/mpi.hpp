// dist::Mpi: the communicator over MPI (component target edgestack::mpi, Debian
// libopenmpi-dev). dist::MpiSession starts and ends MPI for a program; DataParallel<Mpi>
// averages gradients across the ranks mpirun (or srun) started.
#pragma once

#if !defined(EDGESTACK_HAS_MPI)
#error "edgestack/dist/mpi.hpp needs MPI: link the edgestack::mpi target (Debian libopenmpi-dev)"
#endif

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include <mpi.h>

#include "edgestack/core/error.hpp"

namespace edgestack::dist {

/// Initialises MPI for the life of the object (once per program, before any Mpi is used)
/// and finalises it at the end, unless someone else had initialised it already.
class MpiSession {
public:
    /// Initialises MPI with the program's arguments (MPI_THREAD_FUNNELED); throws config_error
    /// when MPI cannot start.
    MpiSession(int& argc, char**& argv) { start(&argc, &argv); }
    MpiSession() { start(nullptr, nullptr); }
    MpiSession(const MpiSession&) = delete;
    MpiSession& operator=(const MpiSession&) = delete;
    ~MpiSession() {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (owner_ && !finalized) MPI_Finalize();
    }

private:
    void start(int* argc, char*** argv) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (initialized) return;
        // Only the training thread calls MPI; loader threads never do.
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            throw config_error("MpiSession: MPI_Init_thread failed - is the program started "
                               "by mpirun or srun with a working MPI installation?");
        owner_ = true;
    }
    bool owner_ = false;
};

/// A communicator over an MPI communicator (MPI_COMM_WORLD by default). MPI errors keep
/// MPI's default handler: they stop the whole job with MPI's message, which is what a
/// data-parallel job needs (no rank can go on alone).
class Mpi {
public:
    /// Throws config_error when no MpiSession (or other code) has initialised MPI.
    explicit Mpi(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized)
            throw config_error("dist::Mpi: MPI is not initialised - create a dist::MpiSession "
                               "at the start of main");
        MPI_Comm_rank(comm_, &rank_);
        MPI_Comm_size(comm_, &size_);
    }
    Mpi(const Mpi&) = delete;
    Mpi& operator=(const Mpi&) = delete;
    /// Takes over `o`'s pending requests.
    Mpi(Mpi&& o) noexcept : comm_(o.comm_), rank_(o.rank_), size_(o.size_) {
        pending_.swap(o.pending_);
    }
    ~Mpi() { wait_all(); }

    /// This process's rank in the communicator.
    int rank() const noexcept { return rank_; }
    /// Ranks in the communicator.
    int size() const noexcept { return size_; }
    /// The MPI communicator, for calls of one's own.
    MPI_Comm comm() const noexcept { return comm_; }

    /// Copies root's bytes into `b` on every other rank.
    void broadcast(std::span<std::byte> b, int root) {
        for_chunks(b.size(), [&](std::size_t at, int n) {
            MPI_Bcast(b.data() + at, n, MPI_BYTE, root, comm_);
        });
    }
    /// Sums `x` in place across ranks.
    void allreduce_sum(std::span<float> x) { reduce(x.data(), x.size(), MPI_FLOAT, MPI_SUM); }
    /// Sums `x` in place across ranks.
    void allreduce_sum(std::span<double> x) { reduce(x.data(), x.size(), MPI_DOUBLE, MPI_SUM); }
    /// Takes the element-wise maximum of `x` in place across ranks.
    void allreduce_max(std::span<std::uint64_t> x) {
        reduce(x.data(), x.size(), MPI_UINT64_T, MPI_MAX);
    }

    /// Starts summing `x` in place across ranks; `x` must stay untouched until wait_all().
    void start_allreduce_sum(std::span<float> x) {
        for_chunks(x.size(), [&](std::size_t at, int n) {
            pending_.emplace_back();
            MPI_Iallreduce(MPI_IN_PLACE, x.data() + at, n, MPI_FLOAT, MPI_SUM, comm_,
                           &pending_.back());
        });
    }
    /// Open MPI advances non-blocking collectives only inside MPI calls: a test of the
    /// pending requests between layers is what lets them overlap the rest of backward.
    void progress() {
        if (pending_.empty()) return;
        int done = 0;
        MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done,
                    MPI_STATUSES_IGNORE);
        if (done) pending_.clear();
    }
    /// Waits for every request start_allreduce_sum() started.
    void wait_all() noexcept {
        if (pending_.empty()) return;
        MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
        pending_.clear();
    }

    /// Prints `message` with this rank and stops every rank of the job (MPI_Abort).
    [[noreturn]] void abort(int code, const char* message) noexcept {
        std::fprintf(stderr, "edgestack::dist: rank %d of %d: %s\n", rank_, size_, message);
        std::fflush(stderr);
        MPI_Abort(comm_, code);
        std::abort(); // MPI_Abort does not return; this keeps [[noreturn]] honest
    }

private:
    // MPI counts are int: split larger buffers so models above 2^31 values still work.
    template <class F>
    static void for_chunks(std::size_t count, F&& f) {
        constexpr std::size_t max_chunk = INT_MAX / 8;
        for (std::size_t at = 0; at < count; at += max_chunk)
            f(at, static_cast<int>(std::min(max_chunk, count - at)));
    }
    template <class T>
    void reduce(T* x, std::size_t count, MPI_Datatype type, MPI_Op op) {
        for_chunks(count, [&](std::size_t at, int n) {
            MPI_Allreduce(MPI_IN_PLACE, x + at, n, type, op, comm_);
        });
    }

    MPI_Comm comm_;
    int rank_ = 0, size_ = 1;
    std::vector<MPI_Request> pending_;
};

} // namespace edgestack::dist
