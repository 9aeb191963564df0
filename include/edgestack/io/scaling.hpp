// The fitted standardization that travels inside the deployment file with a model: input
// features are standardized before the engine runs, its outputs turned back into target
// units after, so a client sends raw feature rows and reads answers in the target's units.
// Written and read by io/model_file.hpp (format version 2), applied by deploy/ when serving.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/error.hpp"

namespace edgestack::io {

/// Per-value affine maps around a model: x' = (x - input_mean) / input_sd before it,
/// y = y' * output_sd + output_mean after it. Either side may be empty (no map there).
struct Scaling {
    std::vector<double> input_mean;  ///< one per input value, or empty
    std::vector<double> input_sd;    ///< one per input value (> 0), or empty
    std::vector<double> output_mean; ///< one per output value, or empty
    std::vector<double> output_sd;   ///< one per output value (> 0), or empty

    /// Whether neither side maps anything.
    bool empty() const noexcept { return input_mean.empty() && output_mean.empty(); }

    /// Throws config_error unless each side is empty or holds `inputs` / `outputs` finite
    /// means and finite positive standard deviations. `who` begins the message.
    void check(std::size_t inputs, std::size_t outputs, const std::string& who) const {
        side(input_mean, input_sd, inputs, who, "input");
        side(output_mean, output_sd, outputs, who, "output");
    }

    /// Standardizes samples of input values in place (nothing without an input map).
    void to_model(std::span<float> x) const noexcept {
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
