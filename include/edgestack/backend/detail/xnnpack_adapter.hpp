// The one place edgestack calls XNNPACK (the 2022 operator API: create -> setup -> run).
// That API binds an operator to one input and output pointer at setup, and this snapshot
// has no weights cache to share packed weights between operators. So each arena (each
// set of buffers and batch) gets operators of its own, set up once on its first run and
// found again without a lock: threads running in separate arenas never wait for each
// other. The cost: every arena after the first packs the weights again (one more copy of
// the step's weights per arena). Beyond max_bound arenas per step, the rest share one
// operator under a mutex and set it up again whenever the buffers change.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "edgestack/core/detail/intrinsics.hpp"
#include <pthreadpool.h>
#include <xnnpack.h>

#include "edgestack/backend/detail/program.hpp"
#include "edgestack/core/error.hpp"

namespace edgestack::backend::detail::xnn {

inline void initialize() {
    static const xnn_status status = xnn_initialize(nullptr);
    if (status != xnn_status_success)
        throw config_error("backend::Xnnpack: xnn_initialize failed (status " + std::to_string(int(status)) + ")");
}

/// A pthreadpool of `threads` threads (none for 1: XNNPACK then runs in the caller).
inline std::shared_ptr<pthreadpool> make_pool(std::size_t threads) {
    if (threads <= 1) return {};
    return {pthreadpool_create(threads), [](pthreadpool_t p) { pthreadpool_destroy(p); }};
}

/// An operator set up for one arena's buffers and batch.
struct Bound {
    xnn_operator_t op = nullptr;
    const void* in = nullptr;
    void* out = nullptr;
    std::size_t batch = 0;
};

struct Operator {
    static constexpr std::size_t max_bound = 16;
    std::shared_ptr<pthreadpool> pool;
    xnn_operator_t spare = nullptr; // created at compile; the first arena takes it
    // Filled in order under `grow`, never emptied while the engine lives: read lock-free.
    std::array<std::atomic<Bound*>, max_bound> bound{};
    std::mutex grow;
    // Arenas beyond max_bound: one operator, rebound under `shared_mutex` when needed.
    Bound shared;
    std::mutex shared_mutex;
    std::atomic<std::size_t> setups{0}; // every successful setup, for tests

    Operator() = default;
    Operator(const Operator&) = delete;
    Operator& operator=(const Operator&) = delete;
    ~Operator() {
        if (spare != nullptr) xnn_delete_operator(spare);
        if (shared.op != nullptr) xnn_delete_operator(shared.op);
        for (auto& b : bound)
            if (Bound* p = b.load()) {
                xnn_delete_operator(p->op);
                delete p;
            }
    }
};

inline void check(xnn_status st, const Step& s, const char* what) {
    if (st != xnn_status_success)
        throw config_error("backend::Xnnpack: node '" + s.name + "': " + what + " failed (status " +
                           std::to_string(int(st)) + ")");
}

inline float act_lo(const Step& s) {
    return s.act == compile::Activation::none ? -std::numeric_limits<float>::infinity() : 0.0f;
}
inline float act_hi(const Step& s) {
    return s.act == compile::Activation::relu6 ? 6.0f : std::numeric_limits<float>::infinity();
}

/// Whether XNNPACK has an operator for `s`.
inline bool supported(const Step& s) noexcept {
    using compile::Op;
    if (s.op == Op::conv2d || s.op == Op::depthwise_conv2d || s.op == Op::max_pool2d) return true;
    return s.op == Op::dense && (!s.int8 || s.weighted().wscale.size() == 1); // XNNPACK has no qc8 FC here
}

/// XNNPACK's operator for a supported step `s`, with its weights packed.
inline xnn_status make_operator(const Step& s, xnn_operator_t* out) {
    using compile::Op;
    const auto u = [](std::size_t v) { return static_cast<std::uint32_t>(v); };
    xnn_status st = xnn_status_unsupported_parameter;
    const bool conv = s.op == Op::conv2d, dw = s.op == Op::depthwise_conv2d;
    if (!s.int8) {
        if (conv || dw) {
            st = xnn_create_convolution2d_nhwc_f32(
                u(s.pt), u(s.pr), u(s.pb), u(s.pl), u(s.kh), u(s.kw), u(s.sh), u(s.sw), 1, 1,
                dw ? u(s.in.c) : 1, dw ? 1 : s.in.c, dw ? 1 : s.out.c, s.in.c, s.out.c, s.weighted().w.data(),
                s.weighted().b.data(), act_lo(s), act_hi(s), dw ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0, out);
        } else if (s.op == Op::dense) {
            st = xnn_create_fully_connected_nc_f32(s.in.c, s.out.c, s.in.c, s.out.c, s.weighted().w.data(),
                                                   s.weighted().b.data(), act_lo(s), act_hi(s), 0, out);
        } else if (s.op == Op::max_pool2d) {
            st = xnn_create_max_pooling2d_nhwc_f32(u(s.pt), u(s.pr), u(s.pb), u(s.pl), u(s.kh), u(s.kw),
                                                   u(s.sh), u(s.sw), 1, 1, s.in.c, s.in.c, s.in.c,
                                                   -std::numeric_limits<float>::infinity(),
                                                   std::numeric_limits<float>::infinity(), 0, out);
        } else {
            return xnn_status_unsupported_parameter;
        }
    } else {
        const auto i8 = [](std::int32_t v) { return static_cast<std::int8_t>(v); };
        if (s.op == Op::max_pool2d)
            return xnn_create_max_pooling2d_nhwc_s8(u(s.pt), u(s.pr), u(s.pb), u(s.pl), u(s.kh), u(s.kw),
                                                    u(s.sh), u(s.sw), 1, 1, s.in.c, s.in.c, s.in.c, -128, 127,
                                                    0, out);
        if (!conv && !dw && s.op != Op::dense) return xnn_status_unsupported_parameter;
        const auto& wt = s.weighted();
        // XNNPACK wants the original bias; ours has -zp_in * sum(w) folded in. Undo it.
        std::vector<std::int32_t> bias(wt.qb);
        const std::size_t oc = s.out.c, taps = wt.qw.size() / oc;
        for (std::size_t c = 0; c < oc; ++c) {
            std::int64_t sum = 0;
            for (std::size_t t = 0; t < taps; ++t) sum += dw ? wt.qw[t * oc + c] : wt.qw[c * taps + t];
            bias[c] = static_cast<std::int32_t>(wt.qb[c] + s.zp_in * sum);
        }
        if (conv || dw) {
            std::vector<float> ks(oc);
            for (std::size_t c = 0; c < oc; ++c) // recover s_w[c] from the multiplier's source
                ks[c] = wt.wscale.size() == 1 ? wt.wscale[0] : wt.wscale[c];
            st = xnn_create_convolution2d_nhwc_qc8(
                u(s.pt), u(s.pr), u(s.pb), u(s.pl), u(s.kh), u(s.kw), u(s.sh), u(s.sw), 1, 1,
                dw ? u(s.in.c) : 1, dw ? 1 : s.in.c, dw ? 1 : s.out.c, s.in.c, s.out.c, i8(s.zp_in), s.s_in,
                ks.data(), wt.qw.data(), bias.data(), i8(s.zp_out), s.s_out, i8(wt.lo), i8(wt.hi),
                dw ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0, out);
        } else if (wt.wscale.size() == 1) { // dense; XNNPACK has no qc8 FC here
            st = xnn_create_fully_connected_nc_qs8(s.in.c, s.out.c, s.in.c, s.out.c, i8(s.zp_in), s.s_in,
                                                   wt.wscale[0], wt.qw.data(), bias.data(), i8(s.zp_out),
                                                   s.s_out, i8(wt.lo), i8(wt.hi), 0, out);
        } else {
            return xnn_status_unsupported_parameter;
        }
    }
    return st;
}

/// Create the operator for `s` if XNNPACK has one for it; false leaves the step to the
/// fallback kernels.
inline bool create(Step& s, const std::shared_ptr<pthreadpool>& pool) {
    if (!supported(s)) return false;
    auto o = std::make_shared<Operator>();
    o->pool = pool;
    check(make_operator(s, &o->spare), s, "create");
    s.backend = std::move(o);
    return true;
}

inline xnn_status setup(const Step& s, xnn_operator_t op, const void* x, void* y, std::size_t batch,
                        pthreadpool_t pool) noexcept {
    using compile::Op;
    if (!s.int8) {
        const auto* xf = static_cast<const float*>(x);
        auto* yf = static_cast<float*>(y);
        if (s.op == Op::dense) return xnn_setup_fully_connected_nc_f32(op, batch, xf, yf, pool);
        if (s.op == Op::max_pool2d) return xnn_setup_max_pooling2d_nhwc_f32(op, batch, s.in.h, s.in.w, xf, yf, pool);
        return xnn_setup_convolution2d_nhwc_f32(op, batch, s.in.h, s.in.w, xf, yf, pool);
    }
    const auto* xq = static_cast<const std::int8_t*>(x);
    auto* yq = static_cast<std::int8_t*>(y);
    if (s.op == Op::dense) return xnn_setup_fully_connected_nc_qs8(op, batch, xq, yq, pool);
    if (s.op == Op::max_pool2d) return xnn_setup_max_pooling2d_nhwc_s8(op, batch, s.in.h, s.in.w, xq, yq, pool);
    return xnn_setup_convolution2d_nhwc_qc8(op, batch, s.in.h, s.in.w, xq, yq, pool);
}

/// The operator already set up for these buffers, or a new one set up for them (the
/// arena's first run); nullptr when every slot is taken or XNNPACK fails.
inline Bound* bound_for(const Step& s, Operator& o, const void* x, void* y, std::size_t batch) noexcept {
    const auto find = [&]() -> Bound* {
        for (auto& slot : o.bound) {
            Bound* b = slot.load(std::memory_order_acquire);
            if (b == nullptr) return nullptr;
            if (b->in == x && b->out == y && b->batch == batch) return b;
        }
        return nullptr;
    };
    if (Bound* b = find()) return b;
    std::lock_guard lock(o.grow);
    if (Bound* b = find()) return b; // another thread bound the same buffers meanwhile
    for (auto& slot : o.bound) {
        if (slot.load(std::memory_order_relaxed) != nullptr) continue;
        xnn_operator_t op = o.spare;
        try {
            if (op == nullptr && make_operator(s, &op) != xnn_status_success) return nullptr;
        } catch (...) { // std::bad_alloc while undoing the int8 bias
            return nullptr;
        }
        if (op == o.spare) o.spare = nullptr;
        auto* b = new (std::nothrow) Bound{op, x, y, batch};
        if (b == nullptr || setup(s, op, x, y, batch, o.pool.get()) != xnn_status_success) {
            if (b != nullptr) delete b;
            xnn_delete_operator(op);
            return nullptr;
        }
        o.setups.fetch_add(1, std::memory_order_relaxed);
        slot.store(b, std::memory_order_release);
        return b;
    }
    return nullptr;
}

/// Run `s` on these buffers: in the operator bound to them, else (more arenas than slots)
/// in the shared operator, set up again under its mutex. noexcept: failures after a
/// successful create cannot happen for the sizes the engine checked; false if they do.
inline bool run(const Step& s, const void* x, void* y, std::size_t batch) noexcept {
    auto* o = s.xnn();
    pthreadpool_t pool = o->pool.get();
    if (Bound* b = bound_for(s, *o, x, y, batch))
        return xnn_run_operator(b->op, pool) == xnn_status_success;
    std::lock_guard lock(o->shared_mutex);
    Bound& b = o->shared;
    if (b.op == nullptr) {
        try {
            if (make_operator(s, &b.op) != xnn_status_success) return false;
        } catch (...) {
            return false;
        }
    }
    if (b.in != x || b.out != y || b.batch != batch) {
        b.in = nullptr;
        if (setup(s, b.op, x, y, batch, pool) != xnn_status_success) return false;
        o->setups.fetch_add(1, std::memory_order_relaxed);
        b = {b.op, x, y, batch};
    }
    return xnn_run_operator(b.op, pool) == xnn_status_success;
}

/// Setups done so far for step `s` (0 for a step XNNPACK does not run).
inline std::size_t setups(const Step& s) noexcept {
    const auto* o = s.xnn();
    return o == nullptr ? 0 : o->setups.load();
}

} // namespace edgestack::backend::detail::xnn
