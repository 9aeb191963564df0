// The OpenCL C source of backend::OpenCl's kernels, fp32 and int8, built once per engine
// (and cached on disk by device and source hash). One work item computes one output
// element; every kernel reads and writes one activation buffer at element offsets, so a
// step's arguments are set once per arena and a run only enqueues.
#pragma once

#include <cstdint>
#include <string_view>

namespace edgestack::backend::detail {

/// A step's geometry and int8 parameters as the kernels read them: plain 4-byte fields, the
/// same layout on host and device (passed by value).
struct OpenClGeo {
    std::int32_t ih = 1, iw = 1, ic = 1; // input height, width, channels
    std::int32_t oh = 1, ow = 1, oc = 1; // output
    std::int32_t kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0;
    std::int32_t act = 0;   // fused activation: 0 none, 1 relu, 2 relu6
    std::int32_t unary = 0; // 0 relu, 1 relu6, 2 sigmoid, 3 tanh, 4 hard_swish, 5 leaky_relu
    std::int32_t zp_in = 0, zp_in2 = 0, zp_out = 0, lo = -128, hi = 127;
    std::int32_t a_mult = 0, a_shift = 0, b_mult = 0, b_shift = 0; // add / concat rescaling
    std::int32_t table = 0; // int8 unary: 1 when a 256-entry table is given
    float alpha = 0.0f;     // leaky_relu's slope
};

/// The kernels' source. `Geo` mirrors OpenClGeo field for field.
inline constexpr std::string_view opencl_source = R"CLC(
typedef struct {
    int ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, pt, pl;
    int act, unary, zp_in, zp_in2, zp_out, lo, hi;
    int a_mult, a_shift, b_mult, b_shift, table;
    float alpha;
} Geo;

float f32_act(float v, int a) {
    if (a == 1) return v > 0.0f ? v : 0.0f;
    if (a == 2) return clamp(v, 0.0f, 6.0f);
    return v;
}

/* round(acc * mult / 2^(31 + shift)), ties away from zero: quant::multiply_by_quantized */
int mbq(int acc, int mult, int shift) {
    long p = (long)acc * (long)mult;
    int total = 31 + shift;
    if (total <= 0) return (int)(p << (-total));
    long rnd = (long)1 << (total - 1);
    long nudge = p >= 0 ? rnd : rnd - 1;
    return (int)((p + nudge) >> total);
}

char requant(int acc, int mult, int shift, int zp, int lo, int hi) {
    return (char)clamp(mbq(acc, mult, shift) + zp, lo, hi);
}

/* sum x[c] * w[c] in eight partial sums: explicit vectors, since a compiler may not
   reorder a float sum by itself (within 1e-4 of the sequential sum on these sizes) */
float dot_f32(global const float* x, global const float* w, int n) {
    float8 acc8 = (float8)(0.0f);
    int c = 0;
    for (; c + 8 <= n; c += 8) acc8 += vload8(0, x + c) * vload8(0, w + c);
    float4 acc4 = acc8.lo + acc8.hi;
    float acc = (acc4.x + acc4.y) + (acc4.z + acc4.w);
    for (; c < n; ++c) acc += x[c] * w[c];
    return acc;
}

/* the output element a work item computes: sample n, row oh, column ow, channel o */
#define SPLIT(g)                                                                        \
    size_t gid = get_global_id(0);                                                      \
    int o = (int)(gid % (size_t)(g).oc);                                                \
    size_t r_ = gid / (size_t)(g).oc;                                                   \
    int ow = (int)(r_ % (size_t)(g).ow);                                                \
    r_ /= (size_t)(g).ow;                                                               \
    int oh = (int)(r_ % (size_t)(g).oh);                                                \
    size_t n = r_ / (size_t)(g).oh;                                                     \
    size_t in_sample = (size_t)(g).ih * (g).iw * (g).ic;

/* ---- fp32 ------------------------------------------------------------------------- */
kernel void f32_dense(global float* m, ulong xo, ulong yo, global const float* w,
                      global const float* b, Geo g) {
    size_t gid = get_global_id(0);
    int o = (int)(gid % (size_t)g.oc);
    size_t n = gid / (size_t)g.oc;
    global const float* x = m + xo + n * (size_t)g.ic;
    global const float* wo = w + (size_t)o * g.ic;
    m[yo + gid] = f32_act(b[o] + dot_f32(x, wo, g.ic), g.act);
}

kernel void f32_conv2d(global float* m, ulong xo, ulong yo, global const float* w,
                       global const float* b, Geo g) {
    SPLIT(g)
    global const float* x = m + xo + n * in_sample;
    float acc = b[o];
    for (int i = 0; i < g.kh; ++i) {
        int ih = oh * g.sh + i - g.pt;
        if (ih < 0 || ih >= g.ih) continue;
        for (int j = 0; j < g.kw; ++j) {
            int iw = ow * g.sw + j - g.pl;
            if (iw < 0 || iw >= g.iw) continue;
            global const float* px = x + ((size_t)ih * g.iw + iw) * g.ic;
            global const float* pw = w + (((size_t)o * g.kh + i) * g.kw + j) * g.ic;
            acc += dot_f32(px, pw, g.ic);
        }
    }
    m[yo + gid] = f32_act(acc, g.act);
}

kernel void f32_depthwise_conv2d(global float* m, ulong xo, ulong yo, global const float* w,
                                 global const float* b, Geo g) {
    SPLIT(g)
    global const float* x = m + xo + n * in_sample;
    float acc = b[o];
    for (int i = 0; i < g.kh; ++i) {
        int ih = oh * g.sh + i - g.pt;
        if (ih < 0 || ih >= g.ih) continue;
        for (int j = 0; j < g.kw; ++j) {
            int iw = ow * g.sw + j - g.pl;
            if (iw < 0 || iw >= g.iw) continue;
            acc += x[((size_t)ih * g.iw + iw) * g.ic + o] * w[((size_t)i * g.kw + j) * g.oc + o];
        }
    }
    m[yo + gid] = f32_act(acc, g.act);
}

/* padded positions never win a max and are not counted in an average */
kernel void f32_max_pool2d(global float* m, ulong xo, ulong yo, Geo g) {
    SPLIT(g)
    global const float* x = m + xo + n * in_sample;
    float acc = -INFINITY;
    for (int i = 0; i < g.kh; ++i) {
        int ih = oh * g.sh + i - g.pt;
        if (ih < 0 || ih >= g.ih) continue;
        for (int j = 0; j < g.kw; ++j) {
            int iw = ow * g.sw + j - g.pl;
            if (iw < 0 || iw >= g.iw) continue;
            acc = fmax(acc, x[((size_t)ih * g.iw + iw) * g.ic + o]);
        }
    }
    m[yo + gid] = acc;
}

kernel void f32_avg_pool2d(global float* m, ulong xo, ulong yo, Geo g) {
    SPLIT(g)
    global const float* x = m + xo + n * in_sample;
    float acc = 0.0f;
    int count = 0;
    for (int i = 0; i < g.kh; ++i) {
        int ih = oh * g.sh + i - g.pt;
        if (ih < 0 || ih >= g.ih) continue;
        for (int j = 0; j < g.kw; ++j) {
            int iw = ow * g.sw + j - g.pl;
            if (iw < 0 || iw >= g.iw) continue;
            acc += x[((size_t)ih * g.iw + iw) * g.ic + o];
            ++count;
        }
    }
    m[yo + gid] = acc / (float)count;
}

kernel void f32_global_avg_pool(global float* m, ulong xo, ulong yo, Geo g) {
    size_t gid = get_global_id(0);
    int c = (int)(gid % (size_t)g.ic);
    size_t n = gid / (size_t)g.ic;
    size_t hw = (size_t)g.ih * g.iw;
    global const float* x = m + xo + n * hw * g.ic;
    float acc = 0.0f;
    for (size_t i = 0; i < hw; ++i) acc += x[i * g.ic + c];
    m[yo + gid] = acc / (float)hw;
}

kernel void f32_unary(global float* m, ulong xo, ulong yo, Geo g) {
    size_t gid = get_global_id(0);
    float v = m[xo + gid], y;
    switch (g.unary) {
    case 0: y = v > 0.0f ? v : 0.0f; break;
    case 1: y = clamp(v, 0.0f, 6.0f); break;
    case 2: y = 1.0f / (1.0f + exp(-v)); break;
    case 3: y = tanh(v); break;
    case 4: y = v * clamp(v + 3.0f, 0.0f, 6.0f) / 6.0f; break;
    default: y = v > 0.0f ? v : g.alpha * v; break;
    }
    m[yo + gid] = y;
}

kernel void f32_batch_norm(global float* m, ulong xo, ulong yo, global const float* w,
                           global const float* b, Geo g) {
    size_t gid = get_global_id(0);
    int c = (int)(gid % (size_t)g.ic);
    m[yo + gid] = m[xo + gid] * w[c] + b[c];
}

/* one work item per row of ic values */
kernel void f32_softmax(global float* m, ulong xo, ulong yo, Geo g) {
    size_t row = get_global_id(0);
    global const float* x = m + xo + row * g.ic;
    global float* y = m + yo + row * g.ic;
    float mx = x[0];
    for (int c = 1; c < g.ic; ++c) mx = fmax(mx, x[c]);
    float sum = 0.0f;
    for (int c = 0; c < g.ic; ++c) sum += (y[c] = exp(x[c] - mx));
    for (int c = 0; c < g.ic; ++c) y[c] /= sum;
}

kernel void f32_add(global float* m, ulong xo, ulong x2o, ulong yo, Geo g) {
    size_t gid = get_global_id(0);
    m[yo + gid] = f32_act(m[xo + gid] + m[x2o + gid], g.act);
}

/* the first input's ic channels, then the second's oc - ic, per position */
kernel void f32_concat(global float* m, ulong xo, ulong x2o, ulong yo, Geo g) {
    size_t gid = get_global_id(0);
    int c = (int)(gid % (size_t)g.oc);
    size_t r = gid / (size_t)g.oc;
    int cb = g.oc - g.ic;
    m[yo + gid] = c < g.ic ? m[xo + r * g.ic + c] : m[x2o + r * cb + (c - g.ic)];
}

/* ---- int8 (docs/engine.md: the int8 contract) ------------------------------------ */
/* acc = bias[o] + sum (x - zp_in) * w over real taps: padding reads zp_in, adding zero */
kernel void qs8_dense(global char* m, ulong xo, ulong yo, global const char* w,
                      global const int* b, global const int* mult, global const int* shift,
                      Geo g) {
    size_t gid = get_global_id(0);
    int o = (int)(gid % (size_t)g.oc);
    size_t n = gid / (size_t)g.oc;
    global const char* x = m + xo + n * (size_t)g.ic;
    global const char* wo = w + (size_t)o * g.ic;
    int acc = b[o];
    for (int i = 0; i < g.ic; ++i) acc += ((int)x[i] - g.zp_in) * (int)wo[i];
    m[yo + gid] = requant(acc, mult[o], shift[o], g.zp_out, g.lo, g.hi);
}

kernel void qs8_conv2d(global char* m, ulong xo, ulong yo, global const char* w,
                       global const int* b, global const int* mult, global const int* shift,
                       Geo g) {
    SPLIT(g)
    global const char* x = m + xo + n * in_sample;
    int acc = b[o];
    for (int i = 0; i < g.kh; ++i) {
        int ih = oh * g.sh + i - g.pt;
        if (ih < 0 || ih >= g.ih) continue;
        for (int j = 0; j < g.kw; ++j) {
            int iw = ow * g.sw + j - g.pl;
            if (iw < 0 || iw >= g.iw) continue;
            global const char* px = x + ((size_t)ih * g.iw + iw) * g.ic;
            global const char* pw = w + (((size_t)o * g.kh + i) * g.kw + j) * g.ic;
            for (int c = 0; c < g.ic; ++c) acc += ((int)px[c] - g.zp_in) * (int)pw[c];
        }
    }
    m[yo + gid] = requant(acc, mult[o], shift[o], g.zp_out, g.lo, g.hi);
}

kernel void qs8_depthwise_conv2d(global char* m, ulong xo, ulong yo, global const char* w,
                                 global const int* b, global const int* mult,
                                 global const int* shift, Geo g) {
    SPLIT(g)
    global const char* x = m + xo + n * in_sample;
    int acc = b[o];
    for (int i = 0; i < g.kh; ++i) {
        int ih = oh * g.sh + i - g.pt;
        if (ih < 0 || ih >= g.ih) continue;
        for (int j = 0; j < g.kw; ++j) {
            int iw = ow * g.sw + j - g.pl;
            if (iw < 0 || iw >= g.iw) continue;
            acc += ((int)x[((size_t)ih * g.iw + iw) * g.ic + o] - g.zp_in) *
                   (int)w[((size_t)i * g.kw + j) * g.oc + o];
        }
    }
    m[yo + gid] = requant(acc, mult[o], shift[o], g.zp_out, g.lo, g.hi);
}

kernel void qs8_max_pool2d(global char* m, ulong xo, ulong yo, Geo g) {
    SPLIT(g)
    global const char* x = m + xo + n * in_sample;
    int acc = -128;
    for (int i = 0; i < g.kh; ++i) {
        int ih = oh * g.sh + i - g.pt;
        if (ih < 0 || ih >= g.ih) continue;
        for (int j = 0; j < g.kw; ++j) {
            int iw = ow * g.sw + j - g.pl;
            if (iw < 0 || iw >= g.iw) continue;
            acc = max(acc, (int)x[((size_t)ih * g.iw + iw) * g.ic + o]);
        }
    }
    m[yo + gid] = (char)acc;
}

/* mult/shift indexed by the number of real positions in the window */
kernel void qs8_avg_pool2d(global char* m, ulong xo, ulong yo, global const int* mult,
                           global const int* shift, Geo g) {
    SPLIT(g)
    global const char* x = m + xo + n * in_sample;
    int acc = 0, count = 0;
    for (int i = 0; i < g.kh; ++i) {
        int ih = oh * g.sh + i - g.pt;
        if (ih < 0 || ih >= g.ih) continue;
        for (int j = 0; j < g.kw; ++j) {
            int iw = ow * g.sw + j - g.pl;
            if (iw < 0 || iw >= g.iw) continue;
            acc += (int)x[((size_t)ih * g.iw + iw) * g.ic + o] - g.zp_in;
            ++count;
        }
    }
    m[yo + gid] = requant(acc, mult[count], shift[count], g.zp_out, -128, 127);
}

kernel void qs8_global_avg_pool(global char* m, ulong xo, ulong yo, global const int* mult,
                                global const int* shift, Geo g) {
    size_t gid = get_global_id(0);
    int c = (int)(gid % (size_t)g.ic);
    size_t n = gid / (size_t)g.ic;
    size_t hw = (size_t)g.ih * g.iw;
    global const char* x = m + xo + n * hw * g.ic;
    int acc = 0;
    for (size_t i = 0; i < hw; ++i) acc += (int)x[i * g.ic + c] - g.zp_in;
    m[yo + gid] = requant(acc, mult[0], shift[0], g.zp_out, -128, 127);
}

/* a 256-entry table indexed by q + 128, or a clamp to [lo, hi] (relu, relu6) */
kernel void qs8_unary(global char* m, ulong xo, ulong yo, global const char* table, Geo g) {
    size_t gid = get_global_id(0);
    int v = m[xo + gid];
    m[yo + gid] = g.table ? table[v + 128] : (char)clamp(v, g.lo, g.hi);
}

/* both inputs rescaled with 20 fractional bits, summed, shifted back by 2^-20, clamped to
   the fused activation's codes [lo, hi] */
kernel void qs8_add(global char* m, ulong xo, ulong x2o, ulong yo, Geo g) {
    size_t gid = get_global_id(0);
    int ea = mbq(((int)m[xo + gid] - g.zp_in) * (1 << 20), g.a_mult, g.a_shift);
    int eb = mbq(((int)m[x2o + gid] - g.zp_in2) * (1 << 20), g.b_mult, g.b_shift);
    m[yo + gid] = requant(ea + eb, 1 << 30, 19, g.zp_out, g.lo, g.hi);
}

kernel void qs8_concat(global char* m, ulong xo, ulong x2o, ulong yo, Geo g) {
    size_t gid = get_global_id(0);
    int c = (int)(gid % (size_t)g.oc);
    size_t r = gid / (size_t)g.oc;
    int cb = g.oc - g.ic;
    m[yo + gid] = c < g.ic
        ? requant((int)m[xo + r * g.ic + c] - g.zp_in, g.a_mult, g.a_shift, g.zp_out, -128, 127)
        : requant((int)m[x2o + r * cb + (c - g.ic)] - g.zp_in2, g.b_mult, g.b_shift, g.zp_out,
                  -128, 127);
}
)CLC";

} // namespace edgestack::backend::detail
