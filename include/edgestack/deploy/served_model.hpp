// A model as the server sees it: any Engine behind one virtual call, with its name, version,
// shapes and a pool of arenas so several worker threads can run it at once.
// Stage 4 (deploy): built from a registry version by a factory, swapped in on hot reload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/io/scaling.hpp"

namespace edgestack::deploy {

/// A model as the server sees it: a name, a version, shapes, and a thread-safe infer() over
/// whatever engine runs it (see make_served_model()). The server holds versions through this type.
class ServedModel {
public:
    virtual ~ServedModel() = default;

    /// Model name in the registry.
    const std::string& name() const noexcept { return name_; }
    /// Registry version served.
    std::uint64_t version() const noexcept { return version_; }
    /// Per-sample shapes (NHWC without N), as in the graph.
    const std::vector<std::size_t>& input_shape() const noexcept { return in_shape_; }
    /// Per-sample output shape.
    const std::vector<std::size_t>& output_shape() const noexcept { return out_shape_; }
    /// Values per input sample.
    std::size_t input_size() const noexcept { return volume(in_shape_); }
    /// Values per output sample.
    std::size_t output_size() const noexcept { return volume(out_shape_); }
    /// Largest batch one infer() call takes.
    std::size_t max_batch() const noexcept { return max_batch_; }
    /// What the engine is ("reference fp32", "xnnpack int8", ...), shown in metadata.
    const std::string& platform() const noexcept { return platform_; }

    /// Run in.size() / input_size() samples (at most max_batch()). Safe from any thread;
    /// false when the sizes do not fit.
    virtual bool infer(std::span<const float> in, std::span<float> out) const noexcept = 0;
    /// Whether a missing input value (NaN; JSON null in a request) is filled before the
    /// engine runs, as the fitted cleaning saved with the model says.
    virtual bool fills_missing() const noexcept { return false; }

protected:
    /// For engine wrappers; throws config_error when max_batch is 0.
    ServedModel(std::string name, std::uint64_t version, std::vector<std::size_t> in_shape,
                std::vector<std::size_t> out_shape, std::size_t max_batch, std::string platform)
        : name_(std::move(name)), version_(version), in_shape_(std::move(in_shape)),
          out_shape_(std::move(out_shape)), max_batch_(max_batch),
          platform_(std::move(platform)) {
        if (max_batch_ == 0) throw config_error("ServedModel '" + name_ + "': max_batch must be >= 1");
    }

private:
    static std::size_t volume(const std::vector<std::size_t>& d) noexcept {
        std::size_t n = 1;
        for (auto x : d) n *= x;
        return n;
    }

    std::string name_;
    std::uint64_t version_;
    std::vector<std::size_t> in_shape_, out_shape_;
    std::size_t max_batch_;
    std::string platform_;
};

namespace detail {

template <Engine E>
class EngineModel final : public ServedModel {
public:
    EngineModel(std::string name, std::uint64_t version, E engine,
                std::vector<std::size_t> in_shape, std::vector<std::size_t> out_shape,
                std::size_t max_batch, std::string platform)
        : ServedModel(std::move(name), version, std::move(in_shape), std::move(out_shape),
                      max_batch, std::move(platform)),
          engine_(std::move(engine)) {
        if (engine_.input_size() != input_size() || engine_.output_size() != output_size())
            throw shape_error("ServedModel '" + this->name() + "': the engine takes " +
                              std::to_string(engine_.input_size()) + " and gives " +
                              std::to_string(engine_.output_size()) +
                              " values per sample, the declared shapes say " +
                              std::to_string(input_size()) + " and " +
                              std::to_string(output_size()));
    }

    bool infer(std::span<const float> in, std::span<float> out) const noexcept override {
        std::unique_ptr<typename E::arena_type> arena = take();
        if (!arena) return false;
        const bool ok = engine_.run(in, out, *arena);
        give(std::move(arena));
        return ok;
    }

private:
    // Arenas are reused across requests: running stays allocation-free once every worker
    // thread has had one.
    std::unique_ptr<typename E::arena_type> take() const noexcept {
        {
            std::lock_guard lock(m_);
            if (!free_.empty()) {
                auto a = std::move(free_.back());
                free_.pop_back();
                return a;
            }
        }
        try {
            return std::make_unique<typename E::arena_type>(engine_.make_arena(max_batch()));
        } catch (...) {
            return nullptr;
        }
    }
    void give(std::unique_ptr<typename E::arena_type> a) const noexcept {
        try {
            std::lock_guard lock(m_);
            free_.push_back(std::move(a));
        } catch (...) {
        }
    }

    E engine_;
    mutable std::mutex m_;
    mutable std::vector<std::unique_ptr<typename E::arena_type>> free_;
};

// A served model with its fitted scaling around it: requests carry raw features, answers
// are in target units. The scaled copy of the input lives in a per-thread buffer that grows
// to the largest batch once, so serving stays allocation-free after the first requests.
class ScaledModel final : public ServedModel {
public:
    ScaledModel(std::shared_ptr<const ServedModel> inner, io::Scaling scaling)
        : ServedModel(inner->name(), inner->version(), inner->input_shape(),
                      inner->output_shape(), inner->max_batch(), inner->platform()),
          inner_(std::move(inner)), scaling_(std::move(scaling)) {
        scaling_.check(input_size(), output_size(), "ServedModel '" + name() + "'");
    }

    bool infer(std::span<const float> in, std::span<float> out) const noexcept override {
        if (!scaling_.maps_input()) {
            if (!inner_->infer(in, out)) return false;
        } else {
            thread_local std::vector<float> scaled;
            try {
                scaled.assign(in.begin(), in.end());
            } catch (...) {
                return false;
            }
            scaling_.to_model(scaled);
            if (!inner_->infer(scaled, out)) return false;
        }
        scaling_.from_model(out);
        return true;
    }
    bool fills_missing() const noexcept override { return !scaling_.input_fill.empty(); }

private:
    std::shared_ptr<const ServedModel> inner_;
    io::Scaling scaling_;
};

} // namespace detail

/// `model` with `scaling` applied around it: inputs filled, clipped and standardized before it runs, outputs
/// turned back into target units after. An empty scaling returns `model` itself. Throws
/// config_error when the scaling does not fit the model's sizes.
inline std::shared_ptr<const ServedModel> with_scaling(std::shared_ptr<const ServedModel> model,
                                                       io::Scaling scaling) {
    if (scaling.empty()) return model;
    return std::make_shared<detail::ScaledModel>(std::move(model), std::move(scaling));
}

/// Wrap an engine for serving. The shapes are per sample; their volumes must match the
/// engine's input_size() and output_size().
template <Engine E>
std::shared_ptr<const ServedModel> make_served_model(std::string name, std::uint64_t version,
                                                     E engine, std::vector<std::size_t> in_shape,
                                                     std::vector<std::size_t> out_shape,
                                                     std::size_t max_batch = 64,
                                                     std::string platform = "edgestack") {
    return std::make_shared<detail::EngineModel<E>>(std::move(name), version, std::move(engine),
                                                    std::move(in_shape), std::move(out_shape),
                                                    max_batch, std::move(platform));
}

} // namespace edgestack::deploy
