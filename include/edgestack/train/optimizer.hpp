// Optimizers of the training stage, as one template over small policies:
// BasicOptimizer<Update, Decay, Schedule>. Friendly aliases: Sgd, Adam, AdamW. All work on
// the model's one parameter span and one gradient span, and can clip the gradient by its
// global norm before the update.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/core/error.hpp"
#include "edgestack/train/concepts.hpp"
#include "edgestack/train/schedule.hpp"

namespace edgestack::train {

namespace detail {
inline void check_unit_interval(const char* who, const char* field, float v) {
    if (!(v >= 0.0f && v < 1.0f))
        throw config_error(std::string(who) + ": " + field + " = " + std::to_string(v) +
                           " is outside [0, 1)");
}
inline void check_non_negative(const char* who, const char* field, float v) {
    if (!(v >= 0.0f))
        throw config_error(std::string(who) + ": " + field + " = " + std::to_string(v) +
                           " must be >= 0");
}
} // namespace detail

/// Euclidean norm of `g` (accumulated in double, so large models do not lose precision).
inline double global_norm(std::span<const float> g) noexcept {
    double s = 0.0;
    for (float v : g) s += double(v) * v;
    return std::sqrt(s);
}

/// Scale `g` in place so its global norm is at most `max_norm`; returns the norm before.
inline double clip_by_global_norm(std::span<float> g, float max_norm) {
    if (!(max_norm > 0.0f))
        throw config_error("clip_by_global_norm: max_norm = " + std::to_string(max_norm) +
                           " must be > 0");
    const double n = global_norm(g);
    if (n > max_norm) {
        const auto s = static_cast<float>(max_norm / (n + 1e-6));
        for (float& v : g) v *= s;
    }
    return n;
}

// ---- decay policies: how weight decay enters the update ---------------------------------

/// No weight decay.
struct NoDecay {
    static constexpr float coupled() noexcept { return 0.0f; }   ///< nothing added to gradients
    static constexpr float decoupled() noexcept { return 0.0f; } ///< nothing taken from weights
    static std::string name() { return ""; }                     ///< adds nothing to the name
    void validate(const char*) const {}                          ///< nothing to check
};

/// L2 regularisation: `rate * p` is added to the gradient (PyTorch's `weight_decay`).
struct L2Decay {
    float rate = 0.0f; ///< >= 0
    /// `Sgd(0.1f, {}, 1e-4f)` reads naturally: the constructor is implicit on purpose.
    L2Decay(float r = 0.0f) : rate(r) {} // NOLINT: a bare number reads naturally here
    float coupled() const noexcept { return rate; }              ///< added to gradients, x p
    static constexpr float decoupled() noexcept { return 0.0f; } ///< nothing taken from weights
    static std::string name() { return ""; }                     ///< adds nothing to the name
    /// Throws config_error for a negative rate, naming `who`.
    void validate(const char* who) const { detail::check_non_negative(who, "weight_decay", rate); }
};

/// Decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * rate, apart from the
/// adaptive update, so decay does not get divided by Adam's second moment.
struct DecoupledDecay {
    float rate = 0.01f; ///< >= 0
    /// Implicit on purpose, as L2Decay's.
    DecoupledDecay(float r = 0.01f) : rate(r) {} // NOLINT
    static constexpr float coupled() noexcept { return 0.0f; } ///< nothing added to gradients
    float decoupled() const noexcept { return rate; }          ///< p *= 1 - lr * rate
    static std::string name() { return "W"; }                  ///< Adam becomes AdamW
    /// Throws config_error for a negative rate, naming `who`.
    void validate(const char* who) const { detail::check_non_negative(who, "weight_decay", rate); }
};

// ---- update policies: the step itself ----------------------------------------------------
// apply(p, g, g_scale, l2, lr, t, slots): g_scale is the clipping factor, l2 the coupled
// decay, t the 1-based step number; slots are this policy's per-parameter buffers.

/// Plain or momentum SGD, optionally Nesterov (PyTorch's formulation).
struct MomentumUpdate {
    float momentum = 0.0f; ///< in [0, 1); 0: plain SGD
    bool nesterov = false; ///< Nesterov momentum (needs momentum > 0)
    /// Implicit on purpose: `Sgd(0.1f, 0.9f)`.
    MomentumUpdate(float m = 0.0f, bool n = false) : momentum(m), nesterov(n) {} // NOLINT

    static std::string name() { return "Sgd"; } ///< recorded in checkpoints
    /// One velocity buffer with momentum, none without.
    std::size_t slot_count() const noexcept { return momentum > 0.0f ? 1 : 0; }
    /// Throws config_error for a momentum outside [0, 1) or Nesterov without momentum.
    void validate(const char* who) const {
        detail::check_unit_interval(who, "momentum", momentum);
        if (nesterov && momentum == 0.0f)
            throw config_error(std::string(who) + ": nesterov needs momentum > 0");
    }

    /// One step over `p` (see the comment above the update policies).
    void apply(std::span<float> p, std::span<const float> g, float g_scale, float l2, float lr,
               std::uint64_t, std::span<std::vector<float>> slots) const {
        const std::size_t n = p.size();
        if (momentum == 0.0f) {
            for (std::size_t i = 0; i < n; ++i) p[i] -= lr * (g_scale * g[i] + l2 * p[i]);
            return;
        }
        float* v = slots[0].data();
        for (std::size_t i = 0; i < n; ++i) {
            const float d = g_scale * g[i] + l2 * p[i];
            v[i] = momentum * v[i] + d;
            p[i] -= lr * (nesterov ? d + momentum * v[i] : v[i]);
        }
    }
};

/// Adam: per-parameter steps from bias-corrected first and second moment estimates.
struct AdamUpdate {
    float beta1 = 0.9f;    ///< decay of the first moment, in [0, 1)
    float beta2 = 0.999f;  ///< decay of the second moment, in [0, 1)
    float epsilon = 1e-8f; ///< added to the denominator, > 0

    static std::string name() { return "Adam"; }                     ///< recorded in checkpoints
    static constexpr std::size_t slot_count() noexcept { return 2; } ///< first and second moments
    /// Throws config_error for betas outside [0, 1) or epsilon <= 0.
    void validate(const char* who) const {
        detail::check_unit_interval(who, "beta1", beta1);
        detail::check_unit_interval(who, "beta2", beta2);
        if (!(epsilon > 0.0f))
            throw config_error(std::string(who) + ": epsilon = " + std::to_string(epsilon) +
                               " must be > 0");
    }

    /// One step over `p` (see the comment above the update policies).
    void apply(std::span<float> p, std::span<const float> g, float g_scale, float l2, float lr,
               std::uint64_t t, std::span<std::vector<float>> slots) const {
        const double bc1 = 1.0 - std::pow(double(beta1), double(t));
        const double bc2 = 1.0 - std::pow(double(beta2), double(t));
        const auto step = static_cast<float>(lr / bc1);
        const auto inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
        float* m = slots[0].data();
        float* v = slots[1].data();
        const float b1 = beta1, b2 = beta2, c1 = 1.0f - beta1, c2 = 1.0f - beta2;
        const std::size_t n = p.size();
        for (std::size_t i = 0; i < n; ++i) {
            const float d = g_scale * g[i] + l2 * p[i];
            m[i] = b1 * m[i] + c1 * d;
            v[i] = b2 * v[i] + c2 * d * d;
            p[i] -= step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + epsilon);
        }
    }
};

/// The generic optimizer. `lr` is the base learning rate; the rate used at step t is
/// lr * schedule(t). Gradient clipping (off by default) rescales the whole gradient when
/// its global norm exceeds `set_clip_norm`'s bound.
template <class Update, class Decay = NoDecay, class S = ConstantLr>
class BasicOptimizer {
    static_assert(Schedule<S>, "BasicOptimizer<Update, Decay, S>: S is not a Schedule - it "
                               "needs `float operator()(std::uint64_t step) const` (see "
                               "train/schedule.hpp)");
    static_assert(requires(const Update& u, std::span<float> p, std::span<const float> g,
                           std::span<std::vector<float>> slots) {
        { Update::name() } -> std::convertible_to<std::string>;
        { u.slot_count() } -> std::convertible_to<std::size_t>;
        u.validate("");
        u.apply(p, g, 1.0f, 0.0f, 1.0f, std::uint64_t{1}, slots);
    }, "BasicOptimizer<Update, ...>: Update needs name(), slot_count(), validate(const char*) "
       "and apply(p, g, g_scale, l2, lr, step, slots) - see MomentumUpdate");
    static_assert(requires(const Decay& d) {
        { d.coupled() } -> std::convertible_to<float>;
        { d.decoupled() } -> std::convertible_to<float>;
        { Decay::name() } -> std::convertible_to<std::string>;
        d.validate("");
    }, "BasicOptimizer<Update, Decay, ...>: Decay needs coupled(), decoupled(), name() and "
       "validate(const char*) - see L2Decay");

public:
    using update_type = Update;  ///< the step itself
    using decay_type = Decay;    ///< how weight decay enters
    using schedule_type = S;     ///< the learning-rate schedule

    /// Throws config_error for lr <= 0 and for invalid update or decay settings.
    explicit BasicOptimizer(float lr = 0.01f, Update update = {}, Decay decay = {},
                            S schedule = {})
        : lr_(lr), update_(std::move(update)), decay_(std::move(decay)),
          schedule_(std::move(schedule)) {
        const std::string who = name();
        if (!(lr > 0.0f))
            throw config_error(who + ": learning_rate = " + std::to_string(lr) + " must be > 0");
        update_.validate(who.c_str());
        decay_.validate(who.c_str());
    }

    /// "Sgd", "Adam", "AdamW": the name checkpoints record.
    static std::string name() { return Update::name() + Decay::name(); }

    /// Updates parameters `p` from gradients `g` (clipped first when clipping is on). Throws
    /// shape_error when their sizes differ.
    void step(std::span<float> p, std::span<const float> g) {
        if (g.size() != p.size())
            throw shape_error(name() + ": " + std::to_string(g.size()) + " gradients for " +
                              std::to_string(p.size()) + " parameters");
        const std::size_t k = update_.slot_count();
        if (slots_.size() != k || (k > 0 && slots_[0].size() != p.size()))
            slots_.assign(k, std::vector<float>(p.size(), 0.0f));
        float g_scale = 1.0f;
        if (clip_ > 0.0f) {
            last_norm_ = global_norm(g);
            if (last_norm_ > clip_) g_scale = static_cast<float>(clip_ / (last_norm_ + 1e-6));
        }
        const float lr = current_learning_rate();
        ++steps_;
        if (const float wd = decay_.decoupled(); wd > 0.0f) {
            const float keep = 1.0f - lr * wd;
            for (float& v : p) v *= keep;
        }
        update_.apply(p, g, g_scale, decay_.coupled(), lr, steps_, slots_);
    }

    /// The base rate (before the schedule).
    float learning_rate() const noexcept { return lr_; }
    /// Sets the base rate; throws config_error for lr <= 0.
    void set_learning_rate(float lr) {
        if (!(lr > 0.0f))
            throw config_error(name() + ": learning_rate = " + std::to_string(lr) + " must be > 0");
        lr_ = lr;
    }
    /// The rate the next step will use.
    float current_learning_rate() const { return lr_ * static_cast<float>(schedule_(steps_)); }

    /// Clip the gradient to global norm `max_norm` before every step; 0 turns it off.
    void set_clip_norm(float max_norm) {
        detail::check_non_negative(name().c_str(), "clip_norm", max_norm);
        clip_ = max_norm;
    }
    float clip_norm() const noexcept { return clip_; } ///< 0: no clipping
    /// Global gradient norm seen by the last step (computed only while clipping is on).
    double last_gradient_norm() const noexcept { return last_norm_; }

    std::uint64_t steps() const noexcept { return steps_; }       ///< steps taken
    const Update& update() const noexcept { return update_; }     ///< as given
    const Decay& decay() const noexcept { return decay_; }        ///< as given
    const S& schedule() const noexcept { return schedule_; }      ///< as given

    /// Name, step count and buffers, for checkpoints.
    OptimizerState state() const { return {name(), steps_, slots_}; }
    /// Restores a state() (of an optimizer with the same name). Throws config_error for
    /// another optimizer's state, format_error for buffers that do not fit.
    void load_state(const OptimizerState& s) {
        if (s.name != name())
            throw config_error("optimizer state of " + s.name + " cannot be loaded into " +
                               name());
        if (s.slots.size() != 0 && s.slots.size() != update_.slot_count())
            throw format_error(name() + ": state has " + std::to_string(s.slots.size()) +
                               " buffers, expected " + std::to_string(update_.slot_count()));
        for (const auto& slot : s.slots)
            if (slot.size() != s.slots[0].size())
                throw format_error(name() + ": state buffers differ in length");
        steps_ = s.steps;
        slots_ = s.slots;
    }

private:
    float lr_;
    Update update_;
    Decay decay_;
    S schedule_;
    float clip_ = 0.0f;
    double last_norm_ = 0.0;
    std::uint64_t steps_ = 0;
    std::vector<std::vector<float>> slots_;
};

/// SGD with optional momentum/Nesterov and L2 weight decay: Sgd(0.1f, {0.9f, true}, 5e-4f).
using Sgd = BasicOptimizer<MomentumUpdate, L2Decay>;
/// Adam with optional L2 weight decay: Adam(1e-3f).
using Adam = BasicOptimizer<AdamUpdate, L2Decay>;
/// Adam with decoupled weight decay (default 0.01): AdamW(1e-3f, {}, 0.05f).
using AdamW = BasicOptimizer<AdamUpdate, DecoupledDecay>;

/// The same optimizer following `schedule`: with_schedule(Adam(1e-3f), WarmUp<Cosine>{...}).
template <class Update, class Decay, class S, Schedule S2>
BasicOptimizer<Update, Decay, S2> with_schedule(const BasicOptimizer<Update, Decay, S>& o,
                                                S2 schedule) {
    BasicOptimizer<Update, Decay, S2> r(o.learning_rate(), o.update(), o.decay(),
                                        std::move(schedule));
    r.set_clip_norm(o.clip_norm());
    return r;
}

} // namespace edgestack::train
