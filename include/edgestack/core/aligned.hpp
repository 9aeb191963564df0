// Cache-line-aligned buffers. Vectorised reductions (Eigen's sums, our SIMD kernels) take a
// different path for a differently aligned start, and so add in a different order: keeping
// every model buffer 64-byte aligned makes results independent of where malloc put them,
// which is what lets a resumed run reproduce an uninterrupted one bit for bit.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace edgestack {

/// The alignment of every arena, scratch area and model buffer: one cache line, so AVX
/// loads stay aligned.
inline constexpr std::size_t arena_alignment = 64;

/// n rounded up to a multiple of a.
constexpr std::size_t align_up(std::size_t n, std::size_t a = arena_alignment) noexcept {
    return (n + a - 1) / a * a;
}

/// An allocator whose blocks start on an `Align`-byte boundary (64: a cache line, and what
/// AVX-512 loads want).
template <class T, std::size_t Align = 64>
struct AlignedAllocator {
    static_assert(Align >= alignof(T) && (Align & (Align - 1)) == 0,
                  "AlignedAllocator: Align must be a power of two no smaller than alignof(T)");
    using value_type = T; ///< what it allocates
    /// The same allocator for another type, as std::allocator_traits asks.
    template <class U>
    struct rebind {
        using other = AlignedAllocator<U, Align>; ///< that allocator
    };

    AlignedAllocator() noexcept = default;
    /// Converts from the allocator of another type (there is no state to copy).
    template <class U>
    AlignedAllocator(const AlignedAllocator<U, Align>&) noexcept {}

    /// Room for `n` objects; throws std::bad_alloc.
    T* allocate(std::size_t n) {
        return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{Align}));
    }
    /// Frees what allocate() returned.
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{Align}); }

    /// Always equal: any instance frees what another allocated.
    template <class U>
    friend bool operator==(const AlignedAllocator&, const AlignedAllocator<U, Align>&) noexcept {
        return true;
    }
};

/// A std::vector whose storage starts on a 64-byte boundary.
template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

} // namespace edgestack
