// The scratch memory an engine runs in: one aligned block holding every activation (placed
// by the static memory plan) and the kernels' scratch. One arena per thread; sized once,
// reused by every inference, so running allocates nothing. It may also wrap memory the
// caller owns (a static buffer on a microcontroller).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <span>

#include "edgestack/compile/memory_plan.hpp"

namespace edgestack::backend {

/// The working memory of one engine run: activations and kernel scratch for batches of up
/// to max_batch(). Owned or over caller storage; one per thread, reused for every run.
class Arena {
public:
    Arena() = default;

    /// Owned storage of `bytes` bytes, cache-line aligned and zeroed.
    Arena(std::size_t bytes, std::size_t max_batch) : max_batch_(max_batch), size_(bytes) {
        if (bytes != 0) {
            own_.reset(static_cast<std::byte*>(
                ::operator new[](bytes, std::align_val_t{compile::arena_alignment})));
            std::memset(own_.get(), 0, bytes);
        }
        data_ = own_.get();
    }

    /// Wrap caller-owned storage (must be aligned to compile::arena_alignment).
    static Arena over(std::span<std::byte> storage, std::size_t max_batch) noexcept {
        Arena a;
        a.data_ = storage.data();
        a.size_ = storage.size();
        a.max_batch_ = max_batch;
        return a;
    }

    std::byte* data() const noexcept { return data_; }            ///< start of the storage
    std::size_t size() const noexcept { return size_; }           ///< bytes
    std::size_t max_batch() const noexcept { return max_batch_; } ///< largest batch it holds

private:
    struct Free {
        void operator()(std::byte* p) const noexcept {
            ::operator delete[](p, std::align_val_t{compile::arena_alignment});
        }
    };
    std::unique_ptr<std::byte[], Free> own_;
    std::byte* data_ = nullptr;
    std::size_t max_batch_ = 0;
    std::size_t size_ = 0;
};

} // namespace edgestack::backend
