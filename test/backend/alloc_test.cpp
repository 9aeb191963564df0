// Counts every way the process can allocate: each form of the global operator new
// (plain, array, aligned, nothrow) and, outside AddressSanitizer, malloc, calloc, realloc,
// aligned_alloc, posix_memalign and memalign (interposed here, forwarding to glibc's own
// __libc_* entry points, so allocations made inside XNNPACK or oneTBB count too). A probe
// proves the counter sees each kind before any "allocates nothing" is trusted.
//
// Under AddressSanitizer the malloc family stays ASan's: defining it here would take those
// calls from ASan's interceptors and break its bookkeeping. The operator new part still
// runs there (it allocates through malloc, which ASan then checks).
#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <vector>

#include "common.hpp"
#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/core/aligned.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/attention.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/layer_norm.hpp"
#include "edgestack/nn/recurrent.hpp"
#include "edgestack/nn/residual.hpp"
#include "edgestack/nn/sequential.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define EDGESTACK_COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EDGESTACK_COUNT_MALLOC 0
#endif
#endif
#if !defined(EDGESTACK_COUNT_MALLOC) && defined(__GLIBC__)
#define EDGESTACK_COUNT_MALLOC 1
#elif !defined(EDGESTACK_COUNT_MALLOC)
#define EDGESTACK_COUNT_MALLOC 0
#endif

namespace {

enum Kind : std::size_t {
    k_new, k_new_array, k_new_aligned, k_new_array_aligned, k_new_nothrow,
    k_new_array_nothrow, k_new_aligned_nothrow, k_new_array_aligned_nothrow,
    k_malloc, k_calloc, k_realloc, k_aligned_alloc, k_posix_memalign, k_memalign, k_kinds
};
std::array<std::atomic<long>, k_kinds> g_count{};

void note(Kind k) noexcept { g_count[k].fetch_add(1, std::memory_order_relaxed); }

long allocations() noexcept {
    long n = 0;
    for (const auto& c : g_count) n += c.load(std::memory_order_relaxed);
    return n;
}

void* plain(std::size_t n) noexcept { return std::malloc(n == 0 ? 1 : n); }
void* aligned(std::size_t n, std::align_val_t a) noexcept {
    const auto al = static_cast<std::size_t>(a);
    void* p = nullptr;
    return ::posix_memalign(&p, al < sizeof(void*) ? sizeof(void*) : al, n == 0 ? 1 : n) == 0 ? p : nullptr;
}
template <class P>
P throw_if_null(P p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

} // namespace

void* operator new(std::size_t n) { note(k_new); return throw_if_null(plain(n)); }
void* operator new[](std::size_t n) { note(k_new_array); return throw_if_null(plain(n)); }
void* operator new(std::size_t n, std::align_val_t a) { note(k_new_aligned); return throw_if_null(aligned(n, a)); }
void* operator new[](std::size_t n, std::align_val_t a) { note(k_new_array_aligned); return throw_if_null(aligned(n, a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { note(k_new_nothrow); return plain(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { note(k_new_array_nothrow); return plain(n); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    note(k_new_aligned_nothrow);
    return aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    note(k_new_array_aligned_nothrow);
    return aligned(n, a);
}
// These deletes free what the operator new above took from malloc. GCC 12 sees only that a
// pointer reaching free() came from some operator new and warns (-Wmismatched-new-delete)
// wherever a standard container is inlined into this file: silenced for these lines only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

#if EDGESTACK_COUNT_MALLOC
#include <malloc.h>

// glibc's allocator under its internal names: free() stays glibc's and releases all of them.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n) noexcept { note(k_malloc); return __libc_malloc(n); }
void* calloc(std::size_t n, std::size_t m) noexcept { note(k_calloc); return __libc_calloc(n, m); }
void* realloc(void* p, std::size_t n) noexcept { note(k_realloc); return __libc_realloc(p, n); }
void* aligned_alloc(std::size_t a, std::size_t n) noexcept { note(k_aligned_alloc); return __libc_memalign(a, n); }
void* memalign(std::size_t a, std::size_t n) noexcept { note(k_memalign); return __libc_memalign(a, n); }
int posix_memalign(void** out, std::size_t a, std::size_t n) noexcept {
    note(k_posix_memalign);
    if (a < sizeof(void*) || (a & (a - 1)) != 0) return EINVAL;
    void* p = __libc_memalign(a, n);
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
}
}
#endif

using namespace edgestack;

namespace {

/// Keeps the optimizer from removing an allocation whose result is never read.
template <class T>
T* escape(T* p) {
    asm volatile("" : : "g"(p) : "memory");
    return p;
}

struct alignas(128) Wide {
    float v[32];
};

} // namespace

BOOST_AUTO_TEST_SUITE(allocation)

// A zero from the counter means something only if it sees every kind of allocation.
BOOST_AUTO_TEST_CASE(the_counter_sees_every_kind_of_allocation) {
    std::array<long, k_kinds> before{};
    for (std::size_t k = 0; k < k_kinds; ++k) before[k] = g_count[k].load();
    const auto rose = [&](Kind k) { return g_count[k].load() > before[k]; };
    delete escape(new int(1));
    delete[] escape(new int[3]);
    delete escape(new Wide);
    delete[] escape(new Wide[2]);
    delete escape(new (std::nothrow) int(1));
    delete[] escape(new (std::nothrow) int[3]);
    delete escape(new (std::nothrow) Wide);
    delete[] escape(new (std::nothrow) Wide[2]);
    BOOST_TEST(rose(k_new));
    BOOST_TEST(rose(k_new_array));
    BOOST_TEST(rose(k_new_aligned));
    BOOST_TEST(rose(k_new_array_aligned));
    BOOST_TEST(rose(k_new_nothrow));
    BOOST_TEST(rose(k_new_array_nothrow));
    BOOST_TEST(rose(k_new_aligned_nothrow));
    BOOST_TEST(rose(k_new_array_aligned_nothrow));
    const long mid = allocations();
    { AlignedVector<float> v(100); escape(v.data()); } // the library's own buffers
    BOOST_TEST(allocations() > mid);
#if EDGESTACK_COUNT_MALLOC
    std::free(escape(std::malloc(24)));
    std::free(escape(std::calloc(3, 8)));
    std::free(escape(std::realloc(escape(static_cast<char*>(std::malloc(8))), 4096)));
    std::free(escape(std::aligned_alloc(64, 128)));
    void* p = nullptr;
    BOOST_REQUIRE(::posix_memalign(&p, 64, 100) == 0);
    std::free(escape(p));
    std::free(escape(::memalign(64, 100)));
    BOOST_TEST(rose(k_malloc));
    BOOST_TEST(rose(k_calloc));
    BOOST_TEST(rose(k_realloc));
    BOOST_TEST(rose(k_aligned_alloc));
    BOOST_TEST(rose(k_posix_memalign));
    BOOST_TEST(rose(k_memalign));
#else
    BOOST_TEST_MESSAGE("AddressSanitizer build: malloc family not counted, operator new is");
#endif
}

template <class Engine>
long allocations_during_runs(const Engine& e, std::size_t batch, int runs) {
    const auto x = backend::nets::random_inputs(e.graph(), batch);
    std::vector<float> y(batch * e.output_size());
    auto arena = e.make_arena(batch);
    BOOST_REQUIRE(e.run(x, y, arena)); // warm
    const long before = allocations();
    for (int i = 0; i < runs; ++i) e.run(x, y, arena);
    return allocations() - before;
}

BOOST_AUTO_TEST_CASE(inference_allocates_nothing_on_any_backend) {
    const backend::Parallel<backend::Simd> par{{}, 2};
    for (const auto& g : test::op_zoo()) {
        const auto q = test::quantized(g);
        const long before = allocations();
        const backend::SimdEngine probe(g);
        BOOST_TEST(allocations() > before); // the counter sees the deploy's allocations
        BOOST_TEST(allocations_during_runs(probe, 3, 200) == 0);
        BOOST_TEST(allocations_during_runs(backend::SimdEngine(q), 3, 200) == 0);
        BOOST_TEST(allocations_during_runs(backend::ReferenceEngine(g), 2, 20) == 0);
        BOOST_TEST(allocations_during_runs(backend::ReferenceEngine(q), 2, 20) == 0);
        BOOST_TEST(allocations_during_runs(par.compile(g), 5, 50) == 0);
        BOOST_TEST(allocations_during_runs(par.compile(q), 5, 50) == 0);
#if defined(EDGESTACK_HAS_XNNPACK)
        for (const std::size_t threads : {1, 2}) {
            BOOST_TEST(allocations_during_runs(backend::Xnnpack{threads}.compile(g), 3, 50) == 0);
            BOOST_TEST(allocations_during_runs(backend::Xnnpack{threads}.compile(q), 3, 50) == 0);
        }
#endif
    }
}

BOOST_AUTO_TEST_CASE(recurrent_and_normalisation_layers_allocate_nothing) {
    // Hidden and cell state live in the arena's scratch: a run allocates nothing, on a
    // batch of several samples too.
    using Gru = nn::Sequential<nn::Input<12, 10>, nn::PositionalEmbedding, nn::LayerNorm, nn::GRU<16, true>,
                               nn::GRU<32>, nn::Dense<12>, nn::Softmax>;
    using Lstm = nn::Sequential<nn::Input<12, 10>, nn::LSTM<16, true>, nn::LSTM<8>, nn::Dense<4>>;
    Rng rng(5);
    Gru gru;
    gru.init(rng);
    Lstm lstm;
    lstm.init(rng);
    const backend::Parallel<backend::Simd> par{{}, 2};
    for (const auto& g : {gru.lower(), lstm.lower()}) {
        BOOST_TEST(allocations_during_runs(backend::SimdEngine(g), 3, 50) == 0);
        BOOST_TEST(allocations_during_runs(backend::ReferenceEngine(g), 3, 20) == 0);
        BOOST_TEST(allocations_during_runs(par.compile(g), 4, 20) == 0);
#if defined(EDGESTACK_HAS_XNNPACK)
        BOOST_TEST(allocations_during_runs(backend::Xnnpack{1}.compile(g), 3, 20) == 0);
#endif
    }
}

BOOST_AUTO_TEST_CASE(attention_allocates_nothing) {
    // Q, K, V, scores and context live in the arena's scratch, on a batch of several
    // samples too.
    using Net = nn::Sequential<nn::Input<49, 64>, nn::PositionalEmbedding,
                               nn::Residual<nn::LayerNorm, nn::MultiHeadSelfAttention<4>>, nn::LayerNorm>;
    Rng rng(6);
    Net net;
    net.init(rng);
    const auto g = net.lower();
    const backend::Parallel<backend::Simd> par{{}, 2};
    BOOST_TEST(allocations_during_runs(backend::SimdEngine(g), 3, 20) == 0);
    BOOST_TEST(allocations_during_runs(backend::ReferenceEngine(g), 3, 10) == 0);
    BOOST_TEST(allocations_during_runs(par.compile(g), 4, 10) == 0);
#if defined(EDGESTACK_HAS_XNNPACK)
    BOOST_TEST(allocations_during_runs(backend::Xnnpack{1}.compile(g), 3, 10) == 0);
#endif
}

BOOST_AUTO_TEST_CASE(caller_owned_static_arena) {
    // A microcontroller-style deployment: the arena is a static buffer sized by constants.
    using Net = nn::Sequential<nn::Input<8, 8, 1>, nn::Flatten, nn::Dense<32>, nn::ReLU, nn::Dense<4>>;
    constexpr std::size_t bound = compile::static_arena_bytes<Net>();
    static_assert(bound > 0 && bound < 1024, "Net: arena bound must be a small compile-time constant");
    Net net;
    Rng rng(1);
    net.init(rng);
    const backend::SimdEngine e(net.lower());
    BOOST_TEST(e.activation_bytes_per_sample() <= bound);
    alignas(compile::arena_alignment) static std::byte storage[bound + 4096];
    auto arena = backend::Arena::over(storage, 1);
    std::vector<float> x(64, 0.5f), y(4);
    const long before = allocations();
    BOOST_TEST(e.run(x, y, arena));
    BOOST_TEST(allocations() == before);
    BOOST_TEST(e.arena_bytes(1) <= sizeof storage);
}

BOOST_AUTO_TEST_SUITE_END()
