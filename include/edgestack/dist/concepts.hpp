// The contract of a communicator: what data-parallel training needs from the transport
// between ranks (MPI, or a single process). dist::DataParallel is written against it only.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace edgestack::dist {

/// A group of `size()` ranks that run the same program on different shards of the data.
/// Every collective must be called by all ranks in the same order with the same sizes.
template <class C>
concept Communicator =
    requires(C& c, const C& cc, std::span<std::byte> bytes, std::span<float> f,
             std::span<double> d, std::span<std::uint64_t> u, int root) {
        { cc.rank() } -> std::convertible_to<int>;
        { cc.size() } -> std::convertible_to<int>;
        c.broadcast(bytes, root);  // root's bytes to every rank
        c.allreduce_sum(f);        // blocking, in place
        c.allreduce_sum(d);
        c.allreduce_max(u);
        c.start_allreduce_sum(f);  // non-blocking, in place; completed by wait_all()
        c.progress();              // lets started collectives advance (cheap, never blocks)
        c.wait_all();
        c.abort(int{}, "");        // stop every rank of the job with a message (noreturn)
    };

} // namespace edgestack::dist
