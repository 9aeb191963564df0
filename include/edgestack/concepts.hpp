// The pipeline-level concepts: what a Loader, an Augmentation, a Model, a Quantizer and a
// Backend must provide to be a stage of edgestack::Pipeline. Stage-specific contracts (the
// layer contract, optimizers) live in their stage's concepts.hpp.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "edgestack/compile/graph.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/nn/concepts.hpp"

namespace edgestack {

/// What a Loader's samples are trained against.
enum class TargetKind {
    label, ///< one int32 class label per sample (classification)
    value, ///< target_size() floats per sample (regression, multi-output)
    input, ///< nothing: the target is the sample itself (autoencoders)
};

/// What every Loader has: how many samples, and how many floats each.
template <class L>
concept SampleSource = requires(const L& l) {
    { l.size() } -> std::convertible_to<std::size_t>;
    { l.sample_size() } -> std::convertible_to<std::size_t>;
};

/// A Loader of labelled samples: `read(i, x)` fills x and returns the int32 label, which
/// lies in [0, num_classes()).
template <class L>
concept LabelLoader = SampleSource<L> && requires(const L& l, std::size_t i, std::span<float> x) {
    { l.num_classes() } -> std::convertible_to<std::size_t>;
    { l.read(i, x) } -> std::convertible_to<std::int32_t>;
};

/// A Loader of samples with float targets: `read(i, x, t)` fills x and t, target_size()
/// floats (regression; several outputs for multi-output regression).
template <class L>
concept ValueLoader = SampleSource<L> &&
                      requires(const L& l, std::size_t i, std::span<float> x, std::span<float> t) {
                          { l.target_size() } -> std::convertible_to<std::size_t>;
                          l.read(i, x, t);
                      };

/// A Loader of samples without targets: `void read(i, x)`; a model trained on it learns to
/// reproduce its input (autoencoders).
template <class L>
concept InputLoader = SampleSource<L> && requires(const L& l, std::size_t i, std::span<float> x) {
    { l.read(i, x) } -> std::same_as<void>;
};

/// A random-access source of samples, with int32 labels (LabelLoader), float targets
/// (ValueLoader) or none (InputLoader). `read` must be safe to call from several threads at
/// once (batches are assembled in parallel).
template <class L>
concept Loader = LabelLoader<L> || ValueLoader<L> || InputLoader<L>;

/// The kind of target a Loader gives; a loader that is both a LabelLoader and a
/// ValueLoader counts as a LabelLoader.
template <Loader L>
inline constexpr TargetKind target_kind_of =
    LabelLoader<L> ? TargetKind::label : ValueLoader<L> ? TargetKind::value : TargetKind::input;

/// Changes one sample in place, drawing every random choice from the stream it is given.
template <class A>
concept Augmentation = std::copy_constructible<A> &&
                       requires(const A& a, std::span<float> x, const SampleLayout& d, Rng& r) {
                           a(x, d, r);
                       };

/// A trainable model with compile-time input and output shapes, one parameter block and one
/// gradient block, and a lowering to a graph for deployment.
template <class M>
concept Model = ShapeType<typename M::input_shape> && ShapeType<typename M::output_shape> &&
                requires(M& m, const M& cm, const float* in, std::size_t batch, Rng& rng) {
                    { m.parameters() } -> std::convertible_to<std::span<float>>;
                    { m.gradients() } -> std::convertible_to<std::span<float>>;
                    m.init(rng);
                    { m.forward(in, batch, nn::Mode::train, rng) } -> std::same_as<const float*>;
                    m.backward(in);
                    { cm.lower() } -> std::same_as<compile::Graph>;
                };

/// Rewrites a lowered fp32 graph into the numeric form the engine will run (NoQuant leaves
/// it as it is). Optional hooks, detected when present: `prepare(model)` before training,
/// `after_step(model)` after each optimizer step, `calibrate(model, batcher)` after training.
template <class Q>
concept Quantizer = std::default_initializable<Q> && requires(const Q& q, compile::Graph& g) {
    q.lower(g);
};

/// What a backend's compile() returns: an immutable engine. `run` with a caller-owned arena
/// is noexcept, allocation-free and safe to call from several threads, one arena each.
template <class E>
concept Engine = requires(const E& e, std::span<const float> in, std::span<float> out,
                          typename E::arena_type& arena, std::size_t batch) {
    { e.input_size() } -> std::convertible_to<std::size_t>;
    { e.output_size() } -> std::convertible_to<std::size_t>;
    { e.make_arena(batch) } -> std::same_as<typename E::arena_type>;
    { e.run(in, out, arena) } noexcept -> std::same_as<bool>;
};

/// Compiles a graph into an Engine.
template <class B>
concept Backend = requires(const B& b, const compile::Graph& g) {
    { b.compile(g) } -> Engine;
};

} // namespace edgestack
