// dist::Local: the communicator of a single process (one rank). DataParallel<Local> is the
// plain training loop with data-parallel bookkeeping; it needs no MPI and is what the
// single-process tests and the baseline of the scaling benchmark use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace edgestack::dist {

/// The Communicator of one process: every collective is a no-op on its own data.
struct Local {
    /// Always 0.
    int rank() const noexcept { return 0; }
    /// Always 1.
    int size() const noexcept { return 1; }
    /// Nothing to send: the root's bytes are already here.
    void broadcast(std::span<std::byte>, int) noexcept {}
    /// The sum over one rank is the value itself.
    void allreduce_sum(std::span<float>) noexcept {}
    /// The sum over one rank is the value itself.
    void allreduce_sum(std::span<double>) noexcept {}
    /// The maximum over one rank is the value itself.
    void allreduce_max(std::span<std::uint64_t>) noexcept {}
    /// Nothing to start.
    void start_allreduce_sum(std::span<float>) noexcept {}
    /// Nothing pending.
    void progress() noexcept {}
    /// Nothing pending.
    void wait_all() noexcept {}
    /// Prints `message` to stderr and exits the process with `code`.
    [[noreturn]] void abort(int code, const char* message) noexcept {
        std::fprintf(stderr, "edgestack::dist: %s\n", message);
        std::fflush(stderr);
        std::exit(code);
    }
};

} // namespace edgestack::dist
