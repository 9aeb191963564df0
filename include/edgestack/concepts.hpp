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

/// A random-access source of labelled samples. `read` must be safe to call from several
/// threads at once (batches are assembled in parallel).
template <class L>
concept Loader = requires(const L& l, std::size_t i, std::span<float> out) {
    { l.size() } -> std::convertible_to<std::size_t>;
    { l.sample_size() } -> std::convertible_to<std::size_t>;
    { l.num_classes() } -> std::convertible_to<std::size_t>;
    { l.read(i, out) } -> std::convertible_to<std::int32_t>;
};

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
