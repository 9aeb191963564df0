// Private to dist::DataParallel: the training hook that starts one non-blocking allreduce
// per gradient bucket as soon as backward has finished the layers in it.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "edgestack/dist/concepts.hpp"
#include "edgestack/nn/hooks.hpp"

namespace edgestack::dist::detail {

/// A range [lo, hi) of the gradient block, reduced once layer `trigger` (the lowest layer
/// in it) has its gradients.
struct Bucket {
    std::size_t trigger = 0, lo = 0, hi = 0;
};

/// Backward runs from the last layer to the first, so buckets are cut from the end of the
/// block: a bucket closes at the first layer boundary where it holds `bucket_floats` or more.
/// The plan depends only on the model type and the size, so it is the same on every rank.
template <std::size_t N>
std::vector<Bucket> plan_buckets(const std::array<std::size_t, N>& offsets,
                                 std::size_t bucket_floats) {
    std::vector<Bucket> plan;
    const std::size_t depth = N - 1;
    std::size_t hi = offsets[depth];
    for (std::size_t i = depth; i-- > 0;) {
        const std::size_t lo = offsets[i];
        if (hi > lo && (hi - lo >= bucket_floats || i == 0)) {
            plan.push_back({i, lo, hi});
            hi = lo;
        }
    }
    return plan;
}

/// Installed in front of any hooks already on the model (quantization, pruning), which it
/// calls first so their changes to the gradients are what gets averaged.
template <Communicator C>
class GradientBuckets final : public nn::TrainHooks {
public:
    GradientBuckets(C& comm, std::vector<Bucket> plan, std::span<float> grads,
                    nn::TrainHooks* inner)
        : comm_(&comm), plan_(std::move(plan)), grads_(grads), inner_(inner) {}

    nn::TrainHooks* inner() const noexcept { return inner_; }
    const std::vector<Bucket>& plan() const noexcept { return plan_; }

    /// Before backward: this rank's share of the global mean (its samples / all samples).
    void begin(float scale) noexcept {
        scale_ = scale;
        next_ = 0;
    }
    /// After backward (or instead of it, on a rank without samples this step, whose
    /// gradients are zero): start what is left, then wait for every bucket.
    void finish() {
        for (; next_ < plan_.size(); ++next_)
            comm_->start_allreduce_sum(grads_.subspan(plan_[next_].lo,
                                                      plan_[next_].hi - plan_[next_].lo));
        comm_->wait_all();
    }

    std::span<const float> forward_params(const nn::LayerInfo& l, std::span<const float> p,
                                          nn::Mode m) override {
        return inner_ ? inner_->forward_params(l, p, m) : p;
    }
    void after_forward(const nn::LayerInfo& l, std::span<float> out, nn::Mode m) override {
        if (inner_) inner_->after_forward(l, out, m);
    }
    void before_backward(const nn::LayerInfo& l, std::span<float> dout,
                         std::span<const float> out) override {
        if (inner_) inner_->before_backward(l, dout, out);
    }
    void after_backward(const nn::LayerInfo& l, std::span<float> g) override {
        if (inner_) inner_->after_backward(l, g);
        if (scale_ != 1.0f)
            for (float& v : g) v *= scale_;
        if (next_ < plan_.size() && plan_[next_].trigger == l.index) {
            const Bucket& b = plan_[next_++];
            comm_->start_allreduce_sum(grads_.subspan(b.lo, b.hi - b.lo));
        }
        comm_->progress();
    }

private:
    C* comm_;
    std::vector<Bucket> plan_;
    std::span<float> grads_;
    nn::TrainHooks* inner_;
    float scale_ = 1.0f;
    std::size_t next_ = 0;
};

} // namespace edgestack::dist::detail
