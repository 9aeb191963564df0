// BasicEngine<Kernels>: what every graph-running backend compiles to. It canonicalizes the
// graph, builds the program and memory plan once, lets the kernel policy pack weights, and
// then runs step by step in a caller-owned arena, noexcept and without allocating.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgestack/backend/arena.hpp"
#include "edgestack/backend/detail/program.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/cpu.hpp"

namespace edgestack::backend {

/// An immutable compiled model: run() is noexcept, allocation-free and safe from several
/// threads, each with its own Arena. Made by a backend's compile().
template <class Kernels>
class BasicEngine {
public:
    using arena_type = Arena;     ///< what make_arena() returns
    using kernels_type = Kernels; ///< the kernel set it runs

    /// Compiles `g` (canonicalized first) with the kernel set's own weight packing. Throws
    /// shape_error or config_error for a graph it cannot run.
    explicit BasicEngine(compile::Graph g) : BasicEngine(std::move(g), [](detail::Step& s) { Kernels::pack(s); }) {}

    /// With a packer of the backend's own (one that needs state, such as a thread pool).
    template <class Packer>
    BasicEngine(compile::Graph g, Packer&& pack) : graph_(std::move(g)) {
        compile::canonicalize(graph_);
        program_ = detail::build_program(graph_, Kernels::name);
        for (auto& s : program_.steps) {
            pack(s); // may grow the step's scratch
            program_.scratch_bytes = std::max(program_.scratch_bytes, compile::align_up(s.scratch_bytes));
            isa_ = std::max(isa_, s.level);
        }
        bind();
    }

    /// Floats per input sample.
    std::size_t input_size() const noexcept { return program_.input_size; }
    /// Floats per output sample.
    std::size_t output_size() const noexcept { return program_.output_size; }
    bool int8() const noexcept { return program_.int8; } ///< whether it runs the int8 graph
    const compile::Graph& graph() const noexcept { return graph_; } ///< the canonical graph it runs
    /// Steps, figures, memory plan.
    const detail::Program& program() const noexcept { return program_; }

    /// The kernel each step runs, in XNNPACK's naming grammar `<dtype>-<op>-<tile>-<isa>`
    /// (`f32-igemm-8x16-avx512`, `qs8-dwconv-3x3-avx2`; `-scalar` for plain loops), one per
    /// step in program order; empty for steps that do no work or whose backend names none.
    std::vector<std::string> kernel_names() const {
        std::vector<std::string> names;
        for (const auto& s : program_.steps) names.push_back(s.kernel);
        return names;
    }

    /// The widest instruction-set level any step's kernel uses (Isa::scalar for a kernel
    /// set without vector kernels).
    Isa isa() const noexcept { return isa_; }

    /// Arena bytes for batches of up to `max_batch` samples: activations scale with the
    /// batch, kernel scratch does not.
    std::size_t arena_bytes(std::size_t max_batch) const noexcept {
        return compile::align_up(program_.value_bytes_per_sample * max_batch) +
               program_.scratch_bytes;
    }
    /// Activation bytes per sample given by the memory plan.
    std::size_t activation_bytes_per_sample() const noexcept {
        return program_.value_bytes_per_sample;
    }

    /// An owned arena for batches of up to `max_batch` samples.
    Arena make_arena(std::size_t max_batch) const {
        return Arena(arena_bytes(max_batch), max_batch);
    }

    /// Run on in.size() / input_size() samples. False (and nothing written) when the sizes
    /// do not fit: a ragged input, a short output, or more samples than the arena holds.
    bool run(std::span<const float> in, std::span<float> out, Arena& arena) const noexcept {
        // The traced run with a tap that does nothing: inlined, the same code as a plain run.
        return run_traced(in, out, arena, [](std::size_t, const detail::Step&, const std::byte*) {});
    }

    /// Integer-only run of an int8 engine: codes in, codes out (false for fp32 engines).
    bool run_int8(std::span<const std::int8_t> in, std::span<std::int8_t> out,
                  Arena& arena) const noexcept {
        std::size_t batch = 0;
        if (!program_.int8 || !fits(in.size(), out.size(), arena, batch)) return false;
        std::byte* base = arena.data();
        std::copy(in.begin(), in.end(), reinterpret_cast<std::int8_t*>(base + program_.input_off * batch));
        execute(arena, batch, [](std::size_t, const detail::Step&, const std::byte*) {});
        const auto* y = reinterpret_cast<const std::int8_t*>(base + program_.output_off * batch);
        std::copy(y, y + out.size(), out.begin());
        return true;
    }

    /// Convenience for one caller: runs in an arena the engine keeps (not thread-safe).
    bool run(std::span<const float> in, std::span<float> out) {
        const std::size_t batch = input_size() == 0 ? 0 : in.size() / input_size();
        if (own_.max_batch() < batch) own_ = make_arena(batch);
        return run(in, out, own_);
    }

    /// As run(), calling tap(step_index, step, output bytes) after every step: the hook the
    /// layer-by-layer comparison uses. The output pointer holds batch * step.out.size()
    /// elements (float, or int8 codes in an int8 engine).
    template <class Tap>
    bool run_traced(std::span<const float> in, std::span<float> out, Arena& arena, Tap&& tap) const {
        std::size_t batch = 0;
        if (!fits(in.size(), out.size(), arena, batch)) return false;
        std::byte* base = arena.data();
        if (program_.int8) {
            Kernels::quantize(in.data(), reinterpret_cast<std::int8_t*>(base + program_.input_off * batch), in.size(),
                              program_.in_scale, program_.in_zp, isa());
        } else {
            std::copy(in.begin(), in.end(), reinterpret_cast<float*>(base + program_.input_off * batch));
        }
        execute(arena, batch, tap);
        if (program_.int8) {
            Kernels::dequantize(reinterpret_cast<const std::int8_t*>(base + program_.output_off * batch), out.data(),
                                out.size(), program_.out_scale, program_.out_zp, isa());
        } else {
            const auto* y = reinterpret_cast<const float*>(base + program_.output_off * batch);
            std::copy(y, y + out.size(), out.begin());
        }
        return true;
    }

private:
    bool fits(std::size_t in_n, std::size_t out_n, const Arena& arena, std::size_t& batch) const noexcept {
        const std::size_t isz = input_size(), osz = output_size();
        if (in_n == 0 || isz == 0 || in_n % isz != 0) return false;
        batch = in_n / isz;
        return out_n == batch * osz && batch <= arena.max_batch() &&
               arena.size() >= arena_bytes(batch) && arena.data() != nullptr;
    }

    template <class Tap>
    void execute(Arena& arena, std::size_t batch, Tap&& tap) const noexcept {
        std::byte* base = arena.data();
        std::byte* scratch = base + compile::align_up(program_.value_bytes_per_sample * batch);
        for (std::size_t i = 0; i < program_.steps.size(); ++i) {
            const detail::Step& s = program_.steps[i];
            std::byte* in0 = base + s.in_off[0] * batch;
            std::byte* in1 = base + s.in_off[1] * batch;
            std::byte* out = base + s.out_off * batch;
            fns_[i](s, in0, in1, out, batch, scratch);
            tap(i, s, static_cast<const std::byte*>(out));
        }
    }

    /// Runs one step: the kernel set's kernel for the step's op unit, in element type T.
    template <class U, class T>
    static void call(const detail::Step& s, std::byte* in0, std::byte* in1, std::byte* out,
                     std::size_t batch, std::byte* scratch) noexcept {
        if constexpr (!U::alias && U::runs)
            Kernels::kernel(U{}, s, reinterpret_cast<const T*>(in0), reinterpret_cast<const T*>(in1),
                            reinterpret_cast<T*>(out), batch * s.rows, scratch);
    }
    using StepFn = void (*)(const detail::Step&, std::byte*, std::byte*, std::byte*, std::size_t,
                            std::byte*) noexcept;

    /// Each step's function, chosen once from its op and the graph's element type.
    void bind() {
        fns_.clear();
        for (const auto& s : program_.steps)
            fns_.push_back(compile::ops::visit(s.op, [&]<class U>() -> StepFn {
                return program_.int8 ? &call<U, std::int8_t> : &call<U, float>;
            }));
    }

    compile::Graph graph_;
    detail::Program program_;
    Isa isa_ = Isa::scalar; // the widest step level, fixed when packed (every run quantizes at it)
    std::vector<StepFn> fns_;
    Arena own_;
};

/// A backend policy over a kernel set: compile() returns BasicEngine<Kernels>.
template <class Kernels>
struct KernelBackend {
    static constexpr const char* name = Kernels::name; ///< the kernel set's name
    /// The engine of `g`.
    BasicEngine<Kernels> compile(const compile::Graph& g) const { return BasicEngine<Kernels>(g); }
};

} // namespace edgestack::backend
