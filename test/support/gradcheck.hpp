// The one finite-difference gradient checker every layer test calls. The loss is
// L = sum_i r_i * y_i for fixed random r, summed in float64; central differences of L over
// every input and every parameter are compared with what the layer's backward returns.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "edgestack/core/rng.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/detail/layer_traits.hpp"

namespace edgestack::test {

struct GradCheckResult {
    double worst_input = 0;      // worst error ratio over input coordinates (<= 1 passes)
    double worst_param = 0;      // the same over parameters
    std::size_t checked = 0;     // coordinates checked
    std::string where;           // the worst coordinate, for the failure message
    bool ok() const noexcept { return worst_input <= 1.0 && worst_param <= 1.0; }
};

struct GradCheckOptions {
    std::size_t batch = 2;
    nn::Mode mode = nn::Mode::train;
    std::uint64_t seed = 1;
    double eps = 1e-3;           // finite-difference step
    double atol = 2e-3;          // |analytic - numeric| <= atol + rtol * max(|a|, |n|)
    double rtol = 2e-2;
    float min_abs_input = 0.0f;  // keep inputs away from kinks at 0 (ReLU-like layers)
    /// Parameters are drawn from the layer's init, then jittered by this much so that
    /// zero-initialized biases and unit gammas are not a special case.
    float param_jitter = 0.1f;
};

/// Checks a bound layer L (e.g. `nn::Conv2D<4, 3>::bind<Shape<5, 5, 2>>`).
template <nn::Layer L>
GradCheckResult gradcheck(const GradCheckOptions& o = {}) {
    using In = typename L::input_shape;
    using Out = typename L::output_shape;
    const std::size_t nin = o.batch * In::size, nout = o.batch * Out::size;
    Rng rng(o.seed);

    L layer{};
    std::vector<float> state(nn::detail::state_count_of<L>());
    if constexpr (nn::detail::state_count_of<L>() > 0) {
        layer.init_state(state);
        layer.attach_state(state);
    }
    std::vector<float> p(L::param_count);
    {
        Rng r = rng.split(1);
        layer.init(p, r);
        for (float& v : p) v += r.uniform(-o.param_jitter, o.param_jitter);
    }
    std::vector<float> x(nin);
    for (float& v : x) {
        const float m = rng.uniform(o.min_abs_input, 1.0f);
        v = rng.bernoulli(0.5f) ? m : -m;
    }
    std::vector<float> r(nout);
    for (float& v : r) v = rng.uniform(-1.0f, 1.0f);

    const Rng fwd_rng = rng.split(2); // every forward sees the same stream (dropout masks)
    std::vector<float> y(nout);
    auto loss = [&](const std::vector<float>& xs, const std::vector<float>& ps) {
        Rng fr = fwd_rng;
        layer.forward(xs.data(), y.data(), o.batch, ps, o.mode, fr);
        double l = 0;
        for (std::size_t i = 0; i < nout; ++i) l += static_cast<double>(r[i]) * y[i];
        return l;
    };

    loss(x, p);
    std::vector<float> dx(nin), g(L::param_count);
    layer.backward(x.data(), y.data(), r.data(), dx.data(), o.batch, p, g);
    // The same again with din == nullptr: parameter gradients must not depend on it.
    std::vector<float> g2(L::param_count);
    loss(x, p);
    layer.backward(x.data(), y.data(), r.data(), nullptr, o.batch, p, g2);

    GradCheckResult res;
    auto judge = [&](double a, double n, double& worst, const std::string& what) {
        const double err = std::abs(a - n) / (o.atol + o.rtol * std::max(std::abs(a), std::abs(n)));
        ++res.checked;
        if (err > worst) {
            worst = err;
            if (err > 1.0 || res.where.empty())
                res.where = what + ": analytic " + std::to_string(a) + " numeric " +
                            std::to_string(n);
        }
    };
    for (std::size_t i = 0; i < nin; ++i) {
        auto xp = x;
        const float hi = static_cast<float>(x[i] + o.eps), lo = static_cast<float>(x[i] - o.eps);
        xp[i] = hi;
        const double lp = loss(xp, p);
        xp[i] = lo;
        const double lm = loss(xp, p);
        judge(dx[i], (lp - lm) / (double(hi) - double(lo)), res.worst_input,
              "input " + std::to_string(i));
    }
    for (std::size_t i = 0; i < L::param_count; ++i) {
        auto pp = p;
        const float hi = static_cast<float>(p[i] + o.eps), lo = static_cast<float>(p[i] - o.eps);
        pp[i] = hi;
        const double lp = loss(x, pp);
        pp[i] = lo;
        const double lm = loss(x, pp);
        judge(g[i], (lp - lm) / (double(hi) - double(lo)), res.worst_param,
              "param " + std::to_string(i));
        // Not bit-exact: Eigen's reductions may vectorize differently with the alignment of
        // a freshly allocated buffer.
        if (std::abs(g[i] - g2[i]) > 1e-5f * std::max(1.0f, std::abs(g[i]))) {
            res.worst_param = 1e9;
            res.where = "param " + std::to_string(i) + " differs when din is null";
        }
    }
    return res;
}

} // namespace edgestack::test
