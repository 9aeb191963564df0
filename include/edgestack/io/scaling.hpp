// The fitted input cleaning and target scaling that travel inside the deployment file with a
// model: missing input features are filled, outliers clipped and features standardized
// before the engine runs, its outputs turned back into target units after, so a client
// sends raw feature rows and reads answers in the target's units. Written and read by
// io/model_file.hpp (format version 2; 3 with filling or clipping), applied by deploy/ when
// serving. data::Cleaner::input_scaling() fills the input side from fitted cleaning.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::io {

/// Per-value maps around a model. Before it, in this order: a missing (non-finite) input
/// value becomes input_fill; a finite one is clipped to [input_lo, input_hi]; then
/// x' = (x - input_mean) / input_sd. After it: y = y' * output_sd + output_mean. Each part
/// may be empty (not applied).
struct Scaling {
    std::vector<double> input_mean;  ///< one per input value, or empty
    std::vector<double> input_sd;    ///< one per input value (> 0), or empty
    std::vector<double> output_mean; ///< one per output value, or empty
    std::vector<double> output_sd;   ///< one per output value (> 0), or empty
    std::vector<double> input_fill;  ///< per input value: what a missing one becomes, or empty
    std::vector<double> input_lo;    ///< per input value: lower clip bound, or empty
    std::vector<double> input_hi;    ///< per input value: upper clip bound (>= lo), or empty

    /// Whether nothing is mapped on either side.
    bool empty() const noexcept { return !maps_input() && output_mean.empty(); }
    /// Whether inputs are filled, clipped or standardized.
    bool maps_input() const noexcept {
        return !input_mean.empty() || !input_fill.empty() || !input_lo.empty();
    }
    /// Whether it fills or clips (which needs format version 3).
    bool cleans() const noexcept { return !input_fill.empty() || !input_lo.empty(); }

    /// Throws config_error unless each part is empty or holds `inputs` / `outputs` finite
    /// values: positive standard deviations, lower clip bounds not above upper ones. `who`
    /// begins the message.
    void check(std::size_t inputs, std::size_t outputs, const std::string& who) const {
        side(input_mean, input_sd, inputs, who, "input");
        side(output_mean, output_sd, outputs, who, "output");
        if (!input_fill.empty()) {
            if (input_fill.size() != inputs)
                throw config_error(who + ": input filling has " + std::to_string(input_fill.size()) +
                                   " values, the model has " + std::to_string(inputs) + " input values");
            for (std::size_t i = 0; i < inputs; ++i)
                if (!std::isfinite(input_fill[i]))
                    throw config_error(who + ": input filling of value " + std::to_string(i) + " is not finite");
        }
        if (input_lo.empty() && input_hi.empty()) return;
        if (input_lo.size() != inputs || input_hi.size() != inputs)
            throw config_error(who + ": input clipping has " + std::to_string(input_lo.size()) + " lower and " +
                               std::to_string(input_hi.size()) + " upper bounds, the model has " +
                               std::to_string(inputs) + " input values");
        for (std::size_t i = 0; i < inputs; ++i)
            if (!std::isfinite(input_lo[i]) || !std::isfinite(input_hi[i]) || input_lo[i] > input_hi[i])
                throw config_error(who + ": input clipping of value " + std::to_string(i) + ": [" +
                                   std::to_string(input_lo[i]) + ", " + std::to_string(input_hi[i]) +
                                   "] (bounds must be finite, lower not above upper)");
    }

    /// Fills, clips and standardizes samples of input values in place (each part only when
    /// present).
    void to_model(std::span<float> x) const noexcept {
        if (!input_fill.empty()) {
            const std::size_t k = input_fill.size();
            for (std::size_t i = 0; i < x.size(); ++i)
                if (!std::isfinite(x[i])) x[i] = static_cast<float>(input_fill[i % k]);
        }
        if (!input_lo.empty()) {
            const std::size_t k = input_lo.size();
            for (std::size_t i = 0; i < x.size(); ++i)
                if (std::isfinite(x[i]))
                    x[i] = std::clamp(x[i], static_cast<float>(input_lo[i % k]), static_cast<float>(input_hi[i % k]));
        }
        if (input_mean.empty()) return;
        const std::size_t k = input_mean.size();
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = static_cast<float>((x[i] - input_mean[i % k]) / input_sd[i % k]);
    }
    /// Turns samples of model outputs into target units in place (nothing without an
    /// output map).
    void from_model(std::span<float> y) const noexcept {
        if (output_mean.empty()) return;
        const std::size_t k = output_mean.size();
        for (std::size_t i = 0; i < y.size(); ++i)
            y[i] = static_cast<float>(y[i] * output_sd[i % k] + output_mean[i % k]);
    }

    bool operator==(const Scaling&) const = default; ///< same maps

private:
    static void side(const std::vector<double>& mean, const std::vector<double>& sd,
                     std::size_t n, const std::string& who, const char* what) {
        if (mean.empty() && sd.empty()) return;
        if (mean.size() != n || sd.size() != n)
            throw config_error(who + ": " + what + " scaling has " + std::to_string(mean.size()) +
                               " means and " + std::to_string(sd.size()) +
                               " standard deviations, the model has " + std::to_string(n) + " " +
                               what + " values");
        for (std::size_t i = 0; i < n; ++i)
            if (!std::isfinite(mean[i]) || !std::isfinite(sd[i]) || !(sd[i] > 0.0))
                throw config_error(who + ": " + what + " scaling of value " + std::to_string(i) +
                                   ": mean " + std::to_string(mean[i]) + ", sd " +
                                   std::to_string(sd[i]) + " (must be finite, sd > 0)");
    }
};

} // namespace edgestack::io
