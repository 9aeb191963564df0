// Shared by Ptq and Qat: calibration over batches, and the fake-quantized forward pass
// (what the int8 engine computes, in float) used to check the engine and to measure accuracy.
#pragma once

#include <cstddef>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/quant/detail/hooks.hpp"

namespace edgestack::quant::detail {

/// Run up to `n_batches` batches of `batches` through `model` in eval mode, calling
/// `observe(value, values)` for the input and for every observed layer output.
template <class M, class Batches, class F>
std::size_t run_calibration(M& model, QuantState& s, Batches& batches, std::size_t n_batches,
                            F&& observe) {
    if (n_batches == 0) throw config_error("quant: calibrate needs at least one batch");
    QuantHooks hooks(s);
    hooks.observe = observe;
    ScopedHooks<M> scoped(model, &hooks);
    data::Batch batch;
    Rng rng(0);
    std::size_t seen = 0;
    batches.start_epoch(0);
    for (std::size_t b = 0; b < n_batches && batches.next(batch); ++b) {
        observe(0, std::span<const float>(batch.x.data(), batch.x.size()));
        model.forward(batch.x.data(), batch.size(), nn::Mode::eval, rng);
        ++seen;
    }
    if (seen == 0) throw config_error("quant: calibrate got no batch from the loader (empty?)");
    return seen;
}

/// The fake-quantized forward pass on `batch` samples at `in`: input quantized with the
/// graph input's range, weights and observed activations fake-quantized. Returns the
/// model's output buffer.
template <class M>
const float* simulate(M& model, QuantState& s, const float* in, std::size_t batch,
                      std::vector<float>& qin) {
    if (s.ranges.empty() || !s.ranges[0].valid)
        throw config_error("quant: the input range is unknown - calibrate first");
    const AffineParams a = s.ranges[0].params();
    const std::size_t n = batch * M::input_shape::size;
    qin.resize(n);
    for (std::size_t i = 0; i < n; ++i) qin[i] = fake_quantize(in[i], a);
    QuantHooks hooks(s);
    hooks.fake_quant = true;
    ScopedHooks<M> scoped(model, &hooks);
    Rng rng(0);
    return model.forward(qin.data(), batch, nn::Mode::eval, rng);
}

} // namespace edgestack::quant::detail
