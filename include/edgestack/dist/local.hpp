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

struct Local {
    int rank() const noexcept { return 0; }
    int size() const noexcept { return 1; }
    void broadcast(std::span<std::byte>, int) noexcept {}
    void allreduce_sum(std::span<float>) noexcept {}
    void allreduce_sum(std::span<double>) noexcept {}
    void allreduce_max(std::span<std::uint64_t>) noexcept {}
    void start_allreduce_sum(std::span<float>) noexcept {}
    void progress() noexcept {}
    void wait_all() noexcept {}
    [[noreturn]] void abort(int code, const char* message) noexcept {
        std::fprintf(stderr, "edgestack::dist: %s\n", message);
        std::fflush(stderr);
        std::exit(code);
    }
};

} // namespace edgestack::dist
