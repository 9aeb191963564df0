// Integer arithmetic of the int8 scheme (TFLite / ONNX QDQ conventions): affine
// quantization real = scale * (q - zero_point), and requantization of int32 accumulators by a
// 32-bit fixed-point multiplier and a shift. Every int8 kernel and the fake-quantized
// training forward use these functions, so they agree bit for bit.
//
// Rounding: quantize() rounds ties to even, as ONNX QuantizeLinear specifies (what
// std::nearbyint gives in the default rounding mode, computed by core/round.hpp); requantize() rounds the exact product
// acc * multiplier / 2^(31 + shift) with ties away from zero, in 64-bit integers, with no
// double rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "edgestack/core/error.hpp"
#include "edgestack/core/round.hpp"
#include <string>

namespace edgestack::quant {

/// A real multiplier M > 0 as multiplier * 2^-(31 + shift), multiplier in [2^30, 2^31).
struct Requant {
    std::int32_t multiplier = 0; ///< Q31 mantissa, in [2^30, 2^31)
    std::int32_t shift = 0;      ///< right shift after the Q31 product; negative means left

    /// Equal when both parts are.
    friend constexpr bool operator==(const Requant&, const Requant&) = default;
};

/// Decompose `real` (0 < real < 2^30) into a Q31 multiplier and a shift.
inline Requant quantize_multiplier(double real) {
    if (!(real > 0.0) || !(real < 1073741824.0))
        throw config_error("quantize_multiplier: multiplier " + std::to_string(real) +
                           " is outside (0, 2^30)");
    int exp = 0;
    const double mantissa = std::frexp(real, &exp); // real = mantissa * 2^exp, [0.5, 1)
    auto q = static_cast<std::int64_t>(std::llround(mantissa * 2147483648.0));
    if (q == (std::int64_t{1} << 31)) { // mantissa rounded up to 1.0
        q /= 2;
        ++exp;
    }
    return {static_cast<std::int32_t>(q), -exp};
}

/// round(acc * r.multiplier / 2^(31 + r.shift)), ties away from zero.
constexpr std::int32_t multiply_by_quantized(std::int32_t acc, Requant r) noexcept {
    const std::int64_t p = static_cast<std::int64_t>(acc) * r.multiplier;
    const int total = 31 + r.shift;
    if (total <= 0) return static_cast<std::int32_t>(p << (-total));
    const std::int64_t half = std::int64_t{1} << (total - 1);
    const std::int64_t nudge = p >= 0 ? half : half - 1;
    return static_cast<std::int32_t>((p + nudge) >> total);
}

/// Requantize an int32 accumulator to int8 with output zero point and clamp [lo, hi].
constexpr std::int8_t requantize(std::int32_t acc, Requant r, std::int32_t zero_point,
                                 std::int32_t lo = -128, std::int32_t hi = 127) noexcept {
    const std::int32_t v = multiply_by_quantized(acc, r) + zero_point;
    return static_cast<std::int8_t>(std::clamp(v, lo, hi));
}

/// Quantize one real value: clamp(round_half_even(x / scale) + zero_point, -128, 127).
inline std::int8_t quantize(float x, float scale, std::int32_t zero_point) noexcept {
    const float q = round_half_even(x / scale) + static_cast<float>(zero_point);
    return static_cast<std::int8_t>(std::clamp(q, -128.0f, 127.0f));
}

/// The real value of `q`: scale * (q - zero_point).
inline float dequantize(std::int8_t q, float scale, std::int32_t zero_point) noexcept {
    return scale * static_cast<float>(static_cast<std::int32_t>(q) - zero_point);
}

/// Asymmetric int8 parameters covering [lo, hi] (the range is widened to include 0, so
/// that zero is exact — padding and ReLU depend on it).
struct AffineParams {
    float scale = 1.0f;          ///< real value of one int8 step
    std::int32_t zero_point = 0; ///< the int8 value that stands for real 0
};

/// Parameters whose 256 steps cover [lo, hi] widened to include 0.
inline AffineParams choose_affine(float lo, float hi) noexcept {
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    if (hi - lo < 1e-12f) return {1.0f, 0};
    const float scale = (hi - lo) / 255.0f;
    const float zp = -128.0f - lo / scale;
    return {scale, static_cast<std::int32_t>(std::clamp(std::round(zp), -128.0f, 127.0f))};
}

/// Symmetric int8 scale for weights with largest magnitude `absmax` (range [-127, 127]).
inline float choose_symmetric(float absmax) noexcept {
    return absmax > 0.0f ? absmax / 127.0f : 1.0f;
}

/// The requantization of a dense/conv accumulator: M = input_scale * weight_scale /
/// output_scale, formed in double from the float scales so that every kernel that calls this
/// gets the same Q31 multiplier and shift.
inline Requant output_multiplier(float input_scale, float weight_scale, float output_scale) {
    return quantize_multiplier(static_cast<double>(input_scale) *
                               static_cast<double>(weight_scale) /
                               static_cast<double>(output_scale));
}

/// int32 bias for a per-channel scale input_scale * weight_scale (ties to even, saturated).
inline std::int32_t quantize_bias(float bias, float input_scale, float weight_scale) noexcept {
    const double s = static_cast<double>(input_scale) * static_cast<double>(weight_scale);
    const double q = std::nearbyint(static_cast<double>(bias) / s);
    return static_cast<std::int32_t>(std::clamp(q, -2147483648.0, 2147483647.0));
}

} // namespace edgestack::quant
