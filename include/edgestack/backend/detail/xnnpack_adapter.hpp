// The one place edgestack calls XNNPACK (the 2022 operator API: create -> setup -> run).
// Each supported step gets an operator created, with its weights packed, at compile time;
// setup is repeated only when the buffers or the batch change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>

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

struct Operator {
    xnn_operator_t op = nullptr;
    std::shared_ptr<pthreadpool> pool;
    std::mutex mutex; // setup rebinds buffers: one run at a time per operator
    const void* last_in = nullptr;
    void* last_out = nullptr;
    std::size_t last_batch = 0;
    ~Operator() {
        if (op != nullptr) xnn_delete_operator(op);
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

/// Create the operator for `s` if XNNPACK has one for it; false leaves the step to the
/// fallback kernels.
inline bool create(Step& s, const std::shared_ptr<pthreadpool>& pool) {
    using compile::Op;
    auto o = std::make_shared<Operator>();
    o->pool = pool;
    const auto u = [](std::size_t v) { return static_cast<std::uint32_t>(v); };
    xnn_status st = xnn_status_unsupported_parameter;
    const bool conv = s.op == Op::conv2d, dw = s.op == Op::depthwise_conv2d;
    if (!s.int8) {
        if (conv || dw) {
            st = xnn_create_convolution2d_nhwc_f32(
                u(s.pt), u(s.pr), u(s.pb), u(s.pl), u(s.kh), u(s.kw), u(s.sh), u(s.sw), 1, 1,
                dw ? u(s.in.c) : 1, dw ? 1 : s.in.c, dw ? 1 : s.out.c, s.in.c, s.out.c, s.w.data(),
                s.b.data(), act_lo(s), act_hi(s), dw ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0, &o->op);
        } else if (s.op == Op::dense) {
            st = xnn_create_fully_connected_nc_f32(s.in.c, s.out.c, s.in.c, s.out.c, s.w.data(),
                                                   s.b.data(), act_lo(s), act_hi(s), 0, &o->op);
        } else if (s.op == Op::max_pool2d) {
            st = xnn_create_max_pooling2d_nhwc_f32(u(s.pt), u(s.pr), u(s.pb), u(s.pl), u(s.kh), u(s.kw),
                                                   u(s.sh), u(s.sw), 1, 1, s.in.c, s.in.c, s.in.c,
                                                   -std::numeric_limits<float>::infinity(),
                                                   std::numeric_limits<float>::infinity(), 0, &o->op);
        } else {
            return false;
        }
    } else {
        const auto i8 = [](std::int32_t v) { return static_cast<std::int8_t>(v); };
        // XNNPACK wants the original bias; ours has -zp_in * sum(w) folded in. Undo it.
        std::vector<std::int32_t> bias(s.qb);
        const std::size_t oc = s.out.c, taps = s.qw.size() / oc;
        for (std::size_t c = 0; c < oc; ++c) {
            std::int64_t sum = 0;
            for (std::size_t t = 0; t < taps; ++t) sum += dw ? s.qw[t * oc + c] : s.qw[c * taps + t];
            if (conv || dw || s.op == Op::dense) bias[c] = static_cast<std::int32_t>(s.qb[c] + s.zp_in * sum);
        }
        if (conv || dw) {
            std::vector<float> ks(oc);
            for (std::size_t c = 0; c < oc; ++c) // recover s_w[c] from the multiplier's source
                ks[c] = s.wscale.size() == 1 ? s.wscale[0] : s.wscale[c];
            st = xnn_create_convolution2d_nhwc_qc8(
                u(s.pt), u(s.pr), u(s.pb), u(s.pl), u(s.kh), u(s.kw), u(s.sh), u(s.sw), 1, 1,
                dw ? u(s.in.c) : 1, dw ? 1 : s.in.c, dw ? 1 : s.out.c, s.in.c, s.out.c, i8(s.zp_in), s.s_in,
                ks.data(), s.qw.data(), bias.data(), i8(s.zp_out), s.s_out, i8(s.lo), i8(s.hi),
                dw ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0, &o->op);
        } else if (s.op == Op::dense && s.wscale.size() == 1) { // XNNPACK has no qc8 FC here
            st = xnn_create_fully_connected_nc_qs8(s.in.c, s.out.c, s.in.c, s.out.c, i8(s.zp_in), s.s_in,
                                                   s.wscale[0], s.qw.data(), bias.data(), i8(s.zp_out),
                                                   s.s_out, i8(s.lo), i8(s.hi), 0, &o->op);
        } else if (s.op == Op::max_pool2d) {
            st = xnn_create_max_pooling2d_nhwc_s8(u(s.pt), u(s.pr), u(s.pb), u(s.pl), u(s.kh), u(s.kw),
                                                  u(s.sh), u(s.sw), 1, 1, s.in.c, s.in.c, s.in.c, -128, 127,
                                                  0, &o->op);
        } else {
            return false;
        }
    }
    check(st, s, "create");
    s.handle = std::move(o);
    return true;
}

/// Bind buffers (when they changed) and run. noexcept: failures after a successful create
/// cannot happen for the sizes the engine checked; the result is false if they do.
inline bool run(const Step& s, const void* x, void* y, std::size_t batch) noexcept {
    using compile::Op;
    auto* o = static_cast<Operator*>(s.handle.get());
    std::lock_guard lock(o->mutex);
    pthreadpool_t pool = o->pool.get();
    if (x != o->last_in || y != o->last_out || batch != o->last_batch) {
        xnn_status st = xnn_status_invalid_state;
        if (!s.int8) {
            const auto* xf = static_cast<const float*>(x);
            auto* yf = static_cast<float*>(y);
            if (s.op == Op::dense) st = xnn_setup_fully_connected_nc_f32(o->op, batch, xf, yf, pool);
            else if (s.op == Op::max_pool2d) st = xnn_setup_max_pooling2d_nhwc_f32(o->op, batch, s.in.h, s.in.w, xf, yf, pool);
            else st = xnn_setup_convolution2d_nhwc_f32(o->op, batch, s.in.h, s.in.w, xf, yf, pool);
        } else {
            const auto* xq = static_cast<const std::int8_t*>(x);
            auto* yq = static_cast<std::int8_t*>(y);
            if (s.op == Op::dense) st = xnn_setup_fully_connected_nc_qs8(o->op, batch, xq, yq, pool);
            else if (s.op == Op::max_pool2d) st = xnn_setup_max_pooling2d_nhwc_s8(o->op, batch, s.in.h, s.in.w, xq, yq, pool);
            else st = xnn_setup_convolution2d_nhwc_qc8(o->op, batch, s.in.h, s.in.w, xq, yq, pool);
        }
        if (st != xnn_status_success) return false;
        o->last_in = x;
        o->last_out = y;
        o->last_batch = batch;
    }
    return xnn_run_operator(o->op, pool) == xnn_status_success;
}

} // namespace edgestack::backend::detail::xnn
