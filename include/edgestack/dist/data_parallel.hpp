// dist::DataParallel<Comm>: the training loop of train/fit.hpp spread over the ranks of a
// communicator (dist::Mpi across machines, dist::Local in one process). Each rank trains
// on its shard of every global batch; gradients are averaged by allreduce, in buckets
// started during backward; rank 0 writes checkpoints (train/checkpoint.hpp's format) and a
// restart resumes from them.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/dist/concepts.hpp"
#include "edgestack/dist/detail/gradient_buckets.hpp"
#include "edgestack/dist/shard.hpp"
#include "edgestack/nn/hooks.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/train/checkpoint.hpp"
#include "edgestack/train/concepts.hpp"
#include "edgestack/train/fit.hpp"
#include "edgestack/train/loss.hpp"

namespace edgestack::dist {

/// How DataParallel::fit runs: epochs, per-rank batch size, gradient buckets, checkpoints.
struct DataParallelOptions {
    std::size_t epochs = 1;      ///< epochs to train (counting those before a resume)
    std::size_t batch_size = 64; ///< per rank: a step trains on batch_size * ranks samples
    bool shuffle = true;         ///< reshuffle every epoch, from (seed, epoch)
    bool drop_last = false;      ///< drop a last global batch smaller than the others
    /// Start each bucket's allreduce as soon as backward has finished its layers (needs a
    /// model with training hooks, as nn::Sequential); false: one allreduce after backward.
    bool overlap = true;
    std::size_t bucket_bytes = std::size_t{1} << 20; ///< gradient bytes per allreduce with overlap
    /// Rank 0 writes a checkpoint here after every epoch (model, optimizer state, next
    /// epoch, seed: train::save_checkpoint's file); empty: no checkpoints.
    std::filesystem::path checkpoint_path;
    /// Continue from `checkpoint_path` when it exists.
    bool resume = true;
    /// With several ranks, an exception on one rank cannot be recovered by the others
    /// (they would wait for it forever): print it with the rank and stop the job.
    bool abort_on_error = true;
};

/// Where a fit started: from scratch or from a checkpoint.
struct ResumeInfo {
    bool resumed = false;  ///< whether it started from a checkpoint
    std::size_t epoch = 0; ///< the first epoch trained after the restart
};

namespace detail {

template <class M>
concept HookedModel = requires(M& m, nn::TrainHooks* h) {
    m.set_hooks(h);
    { m.hooks() } -> std::convertible_to<nn::TrainHooks*>;
    M::param_offsets;
};

/// Non-trainable state (BatchNorm running statistics) of models that have it.
template <class M>
std::span<float> state_of(M& m) {
    if constexpr (requires { { m.state() } -> std::convertible_to<std::span<float>>; })
        return m.state();
    else
        return {};
}

// Error kinds that cross ranks in agree(): rank 0 fails, every rank throws the same.
enum class ErrorKind : char { none, file, format, integrity, config, other };

inline ErrorKind kind_of(const std::exception& e) noexcept {
    if (dynamic_cast<const file_error*>(&e)) return ErrorKind::file;
    if (dynamic_cast<const format_error*>(&e)) return ErrorKind::format;
    if (dynamic_cast<const integrity_error*>(&e)) return ErrorKind::integrity;
    if (dynamic_cast<const config_error*>(&e)) return ErrorKind::config;
    return ErrorKind::other;
}

} // namespace detail

/// Data-parallel training over a Communicator: every rank holds the whole model, trains on
/// its shard of each global batch, and the gradients are summed across ranks (bucket by
/// bucket, overlapping backward) before every optimizer step, so all ranks stay equal.
template <Communicator C>
class DataParallel {
public:
    /// Over `comm` (held by pointer: it must outlive this). Throws config_error for batch_size
    /// 0, or bucket_bytes below 4 with overlap.
    explicit DataParallel(C& comm, DataParallelOptions options = {})
        : comm_(&comm), opt_(std::move(options)) {
        if (opt_.batch_size == 0)
            throw config_error("DataParallelOptions: batch_size must be at least 1");
        if (opt_.overlap && opt_.bucket_bytes < sizeof(float))
            throw config_error("DataParallelOptions: bucket_bytes must be at least 4 with "
                               "overlap (or set overlap = false)");
    }

    int rank() const noexcept { return comm_->rank(); }  ///< this process's rank
    int ranks() const noexcept { return comm_->size(); } ///< ranks in the job
    /// Whether this is rank 0, the rank that writes checkpoints.
    bool is_root() const noexcept { return comm_->rank() == 0; }
    const DataParallelOptions& options() const noexcept { return opt_; } ///< as given
    const ResumeInfo& resume_info() const noexcept { return resume_; } ///< how the last fit started

    /// Rank 0's parameters to every rank.
    template <Model M>
    void broadcast_parameters(M& model) {
        comm_->broadcast(std::as_writable_bytes(model.parameters()), 0);
    }

    /// The random stream of `rank` for the training forward pass (dropout) at (epoch,
    /// step): different on every rank, the same on every run with the same seed.
    static Rng step_stream(const Rng& train, std::size_t epoch, std::size_t step, int rank) {
        return train.split(epoch).split(step).split(static_cast<std::uint64_t>(rank));
    }

    /// Train `model` on `data`. The shuffle stream is rng.split(Stream::shuffle) and the
    /// training stream rng.split(Stream::train), as in Pipeline::fit, so a pipeline's seed
    /// gives the same batches here on one rank with batch 2B as there with batch 2B.
    template <Model M, Loader L, Augmentation A, train::Optimizer O,
              class F, class... Callbacks>
    train::FitReport fit(M& model, const L& data, const A& augment, O& optimizer, const F& loss,
                         Rng rng, Callbacks&... callbacks) {
        auto noop = [](M&) {};
        return fit_with(model, data, augment, optimizer, loss, rng, noop, callbacks...);
    }

    /// As fit, with the pipeline's model, augmentation, seed and quantizer hooks.
    template <class Lo, class Au, class Mo, class Qu, class Ba, train::Optimizer O,
              class... Callbacks>
    train::FitReport fit(Pipeline<Lo, Au, Mo, Qu, Ba>& p, const Lo& data, O& optimizer,
                         Callbacks&... callbacks) {
        if constexpr (requires(Qu& q, Mo& m) { q.prepare(m); }) p.quantizer().prepare(p.model());
        auto after_step = [&](Mo& m) {
            if constexpr (requires(Qu& q) { q.after_step(m); }) p.quantizer().after_step(m);
        };
        using Loss = typename Pipeline<Lo, Au, Mo, Qu, Ba>::default_loss;
        return fit_with(p.model(), data, p.augmentation(), optimizer, Loss{}, Rng(p.seed()),
                        after_step, callbacks...);
    }

    /// The general form: `after_step(model)` runs after every optimizer step.
    template <Model M, Loader L, Augmentation A, train::Optimizer O,
              class F, class AfterStep, class... Callbacks>
    train::FitReport fit_with(M& model, const L& data, const A& augment, O& optimizer,
                              const F& loss, Rng rng, AfterStep&& after_step,
                              Callbacks&... callbacks) {
        try {
            return fit_impl(model, data, augment, optimizer, loss, rng, after_step,
                            callbacks...);
        } catch (const std::exception& e) {
            if (agreed_ || comm_->size() == 1 || !opt_.abort_on_error) throw;
            const std::string msg = "training failed at epoch " + std::to_string(epoch_) +
                                    ", step " + std::to_string(step_) + ": " + e.what() +
                                    " - stopping every rank";
            comm_->abort(1, msg.c_str());
        }
    }

    /// Rank 0 writes the checkpoint (the model, the optimizer's state when it has one, the
    /// next epoch and the seed); every rank returns, or throws the same error, together.
    template <train::CheckpointableModel M, train::Optimizer O>
    void save_checkpoint(M& model, const O& optimizer, std::size_t next_epoch,
                         std::uint64_t seed) {
        agree_on_root([&] {
            const train::TrainingProgress progress{next_epoch, seed};
            if constexpr (train::StatefulOptimizer<O>)
                train::save_checkpoint(opt_.checkpoint_path, model, optimizer, progress);
            else
                train::save_checkpoint(opt_.checkpoint_path, model, progress);
        });
    }

private:
    template <Model M, Loader L, Augmentation A, train::Optimizer O,
              class F, class AfterStep, class... Callbacks>
    train::FitReport fit_impl(M& model, const L& data, const A& augment, O& optimizer,
                              const F& loss, Rng rng, AfterStep& after_step,
                              Callbacks&... callbacks) {
        using clock = std::chrono::steady_clock;
        constexpr std::size_t classes = M::output_shape::size;
        constexpr TargetKind kind = target_kind_of<L>;
        static_assert(train::check_loss<kind, F>());
        using Objective = train::Objective<kind>;
        agreed_ = false;
        epoch_ = step_ = 0;
        check_same_everywhere(model, data);
        if (data.sample_size() != M::input_shape::size)
            agreed(shape_error("DataParallel: the loader's samples have " +
                               std::to_string(data.sample_size()) + " values; the model's input " +
                               M::input_shape::name() + " needs " +
                               std::to_string(M::input_shape::size)));
        resume_ = {};
        if (!try_resume(model, optimizer, rng.seed())) broadcast_parameters(model);

        ShardedBatcher<L, A> batcher(data, augment, layout_of<typename M::input_shape>(),
                                     {opt_.batch_size, opt_.shuffle, opt_.drop_last},
                                     rng.split(static_cast<std::uint64_t>(Stream::shuffle)),
                                     comm_->rank(), comm_->size());
        const Rng train_rng = rng.split(static_cast<std::uint64_t>(Stream::train));

        // Overlap needs the model's layer boundaries and a place to hook into backward.
        std::vector<detail::Bucket> plan;
        nn::TrainHooks* previous = nullptr;
        if constexpr (detail::HookedModel<M>) {
            if (opt_.overlap)
                plan = detail::plan_buckets(M::param_offsets,
                                            std::max<std::size_t>(1, opt_.bucket_bytes / 4));
            previous = model.hooks();
        }
        const bool overlap = !plan.empty();
        detail::GradientBuckets<C> buckets(*comm_, plan, model.gradients(), previous);
        struct Restore { // the model gets its own hooks back, also on the way out by throw
            M& m;
            nn::TrainHooks* h;
            bool on;
            ~Restore() {
                if constexpr (detail::HookedModel<M>)
                    if (on) m.set_hooks(h);
            }
        } restore{model, previous, overlap};
        if constexpr (detail::HookedModel<M>)
            if (overlap) model.set_hooks(&buckets);

        train::FitReport report;
        const auto t_start = clock::now();
        (train::detail::on_train_begin(callbacks), ...);
        data::Batch batch;
        std::vector<float> dlogits;
        const std::size_t n_batches = batcher.batches_per_epoch();
        for (std::size_t epoch = resume_.epoch; epoch < opt_.epochs; ++epoch) {
            const auto t0 = clock::now();
            epoch_ = epoch;
            batcher.start_epoch(epoch);
            (train::detail::on_epoch_begin(callbacks, epoch, n_batches), ...);
            // loss * samples, correct, samples, |error|: this rank's, summed over ranks at the
            // end.
            std::array<double, 4> sums{0.0, 0.0, 0.0, 0.0};
            std::size_t global = 0;
            double rate = std::numeric_limits<double>::quiet_NaN();
            for (step_ = batcher.step(); batcher.next(batch, global); ++step_) {
                const std::size_t n = batch.size();
                const float share = static_cast<float>(n) / static_cast<float>(global);
                float l = 0.0f;
                std::size_t c = 0;
                if (n > 0) {
                    dlogits.resize(n * classes);
                    Rng step_rng = step_stream(train_rng, epoch, step_, comm_->rank());
                    const float* logits =
                        model.forward(batch.x.data(), n, nn::Mode::train, step_rng);
                    const train::StepFigures f =
                        Objective::apply(loss, logits, batch, n, classes, dlogits.data());
                    l = f.loss;
                    c = f.correct;
                    sums[3] += f.abs_error;
                    if (overlap) buckets.begin(share);
                    model.backward(dlogits.data());
                } else {
                    // Nothing to learn from this step on this rank; it still has to take
                    // part in the same collectives as the others.
                    std::ranges::fill(model.gradients(), 0.0f);
                    if (overlap) buckets.begin(1.0f);
                }
                if (overlap) {
                    buckets.finish();
                } else {
                    const auto g = model.gradients();
                    if (share != 1.0f && n > 0)
                        for (float& v : g) v *= share;
                    comm_->allreduce_sum(g);
                }
                rate = train::detail::current_rate(optimizer);
                optimizer.step(model.parameters(), model.gradients());
                after_step(model);
                sums[0] += static_cast<double>(l) * static_cast<double>(n);
                sums[1] += static_cast<double>(c);
                sums[2] += static_cast<double>(n);
                [[maybe_unused]] const train::BatchStats bs{epoch, step_, n_batches, l,
                                                            c,     n,     opt_.epochs};
                (train::detail::on_batch_end(callbacks, bs), ...);
            }
            comm_->allreduce_sum(std::span<double>(sums));
            average_model_state(model);
            train::EpochStats es;
            es.epoch = epoch;
            es.epochs = opt_.epochs;
            es.samples = static_cast<std::size_t>(sums[2]);
            es.loss = sums[2] > 0 ? sums[0] / sums[2] : 0.0;
            if constexpr (Objective::has_accuracy)
                es.accuracy = sums[2] > 0 ? sums[1] / sums[2] : 0.0;
            else {
                es.accuracy = std::numeric_limits<double>::quiet_NaN();
                es.mae = sums[2] > 0 ? sums[3] / (sums[2] * classes)
                                     : std::numeric_limits<double>::quiet_NaN();
            }
            es.seconds = std::chrono::duration<double>(clock::now() - t0).count();
            es.learning_rate = rate;
            if constexpr (train::CheckpointableModel<M>)
                if (!opt_.checkpoint_path.empty())
                    save_checkpoint(model, optimizer, epoch + 1, rng.seed());
            report.history.push_back(es);
            bool stop = false;
            ((stop = train::detail::on_epoch_end(callbacks, es, model) || stop), ...);
            // Any rank's callback may stop training; all ranks must stop at the same epoch.
            std::array<std::uint64_t, 1> s{stop ? 1u : 0u};
            comm_->allreduce_max(s);
            if (s[0] != 0) {
                report.stopped_early = epoch + 1 < opt_.epochs;
                break;
            }
        }
        report.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
        (train::detail::on_train_end(callbacks, report), ...);
        return report;
    }

    // Non-trainable state (BatchNorm running statistics) is updated from each rank's own
    // samples; the mean over ranks is what one process would have seen.
    template <class M>
    void average_model_state(M& model) {
        const std::span<float> s = detail::state_of(model);
        if (s.empty() || comm_->size() == 1) return;
        comm_->allreduce_sum(s);
        const float inv = 1.0f / static_cast<float>(comm_->size());
        for (float& v : s) v *= inv;
    }

    // Throw `e` on every rank: the condition was computed from values all ranks share.
    template <class E>
    [[noreturn]] void agreed(const E& e) {
        agreed_ = true;
        throw e;
    }

    // Runs `f` on rank 0; if it throws, every rank throws an error of the same kind with
    // the same message, so no rank is left waiting in a collective.
    template <class F>
    void agree_on_root(F&& f) {
        std::array<char, 2048> buf{};
        if (is_root()) {
            try {
                f();
            } catch (const std::exception& e) {
                buf[0] = static_cast<char>(detail::kind_of(e));
                std::strncpy(buf.data() + 1, e.what(), buf.size() - 2);
            }
        }
        comm_->broadcast(std::as_writable_bytes(std::span<char>(buf)), 0);
        const std::string msg(buf.data() + 1);
        switch (static_cast<detail::ErrorKind>(buf[0])) {
        case detail::ErrorKind::none: return;
        case detail::ErrorKind::file: agreed(file_error(msg));
        case detail::ErrorKind::format: agreed(format_error(msg));
        case detail::ErrorKind::integrity: agreed(integrity_error(msg));
        case detail::ErrorKind::config: agreed(config_error(msg));
        default: agreed(error(msg));
        }
    }

    // Ranks started with different programs, data or options would mismatch collectives
    // later (a hang or garbage); compare the values that must agree first.
    template <Model M, Loader L>
    void check_same_everywhere(const M& model, const L& data) {
        const std::array<const char*, 6> names{"parameter count", "loader size",
                                               "batch_size", "epochs", "overlap",
                                               "bucket_bytes"};
        const std::array<std::uint64_t, 6> mine{model.parameters().size(), data.size(),
                                                opt_.batch_size, opt_.epochs,
                                                opt_.overlap ? 1u : 0u, opt_.bucket_bytes};
        std::array<std::uint64_t, 12> v{};
        for (std::size_t i = 0; i < 6; ++i) {
            v[i] = mine[i];
            v[6 + i] = ~mine[i]; // the max of the complements is the complement of the min
        }
        comm_->allreduce_max(v);
        for (std::size_t i = 0; i < 6; ++i)
            if (v[i] != ~v[6 + i])
                agreed(config_error("DataParallel: ranks disagree on the " +
                                    std::string(names[i]) + " (from " +
                                    std::to_string(~v[6 + i]) + " to " + std::to_string(v[i]) +
                                    ") - start every rank with the same program, data and "
                                    "options"));
    }

    // Rank 0 loads the checkpoint into its model and optimizer (train::load_checkpoint
    // checks architecture, sizes and optimizer), then every rank receives it. False when
    // there is none.
    template <Model M, train::Optimizer O>
    bool try_resume(M& model, O& optimizer, std::uint64_t seed) {
        if (opt_.checkpoint_path.empty()) return false;
        if constexpr (!train::CheckpointableModel<M>) {
            agreed(config_error("DataParallel: checkpoint_path is set but the model has no "
                                "architecture()/fingerprint() to check a checkpoint against"));
        } else {
            if (!opt_.resume) return false;
            const std::string where = opt_.checkpoint_path.string();
            std::array<std::uint64_t, 2> head{0, 0}; // found, next epoch
            agree_on_root([&] {
                if (!std::filesystem::exists(opt_.checkpoint_path)) return;
                train::TrainingProgress p;
                if constexpr (train::StatefulOptimizer<O>)
                    p = train::load_checkpoint(opt_.checkpoint_path, model, optimizer);
                else
                    p = train::load_checkpoint(opt_.checkpoint_path, model);
                if (p.seed != seed)
                    throw config_error(where + ": written by a run seeded " +
                                       std::to_string(p.seed) + ", this one is seeded " +
                                       std::to_string(seed) +
                                       " - its batches could not be repeated");
                head = {1, p.epoch};
            });
            comm_->broadcast(std::as_writable_bytes(std::span<std::uint64_t>(head)), 0);
            if (head[0] == 0) return false;
            broadcast_parameters(model);
            comm_->broadcast(std::as_writable_bytes(detail::state_of(model)), 0);
            if constexpr (train::StatefulOptimizer<O>) broadcast_optimizer(optimizer);
            resume_ = {true, static_cast<std::size_t>(head[1])};
            if (resume_.epoch > opt_.epochs)
                agreed(config_error(where + ": the checkpoint is at epoch " +
                                    std::to_string(resume_.epoch) + ", past epochs = " +
                                    std::to_string(opt_.epochs)));
        }
        return true;
    }

    // Rank 0's optimizer state (step count and buffers) to every rank.
    template <train::StatefulOptimizer O>
    void broadcast_optimizer(O& optimizer) {
        train::OptimizerState st = optimizer.state();
        std::array<std::uint64_t, 2> head{st.steps, st.slots.size()};
        comm_->broadcast(std::as_writable_bytes(std::span<std::uint64_t>(head)), 0);
        std::vector<std::uint64_t> sizes(head[1]);
        if (is_root())
            for (std::size_t i = 0; i < sizes.size(); ++i) sizes[i] = st.slots[i].size();
        comm_->broadcast(std::as_writable_bytes(std::span<std::uint64_t>(sizes)), 0);
        st.steps = head[0];
        st.slots.resize(sizes.size());
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            st.slots[i].resize(sizes[i]);
            comm_->broadcast(std::as_writable_bytes(std::span<float>(st.slots[i])), 0);
        }
        if (!is_root()) optimizer.load_state(st);
    }

    C* comm_;
    DataParallelOptions opt_;
    ResumeInfo resume_;
    bool agreed_ = false;
    std::size_t epoch_ = 0, step_ = 0;
};

} // namespace edgestack::dist
