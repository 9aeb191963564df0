// backend::OpenCl: runs a graph on an OpenCL device (GPU, FPGA, or PoCL on the CPU), fp32
// and int8, with the same results as backend::Reference (fp32 within 1e-4; int8 identical
// codes). The program is built once at compile (binary cached on disk), weights live on the
// device, each arena owns a queue and the activation buffer, so run() only enqueues. Ops the
// device does not run (or that the caller sends to the CPU) run on backend::Simd, with one
// transfer per boundary; placement() says which ran where. Component edgestack::opencl.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "edgestack/backend/arena.hpp"
#include "edgestack/backend/detail/program.hpp"
#include "edgestack/backend/detail/opencl_kernels.hpp"
#include "edgestack/backend/detail/opencl_runtime.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/compile/graph.hpp"
#include "edgestack/compile/memory_plan.hpp"
#include "edgestack/compile/ops.hpp"
#include "edgestack/compile/passes.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace edgestack::backend {

/// Where one node of an OpenClEngine runs, and the kernel it runs there.
struct NodePlacement {
    std::string node;     ///< the node's name in the canonical graph
    compile::Op op{};     ///< its op
    bool on_device = true; ///< false: on the CPU fallback (backend::Simd)
    std::string kernel;   ///< `<dtype>-<op>-<tile>-<isa>`; empty for a node that does no work
};

/// One OpenClEngine::run_profiled(): where the time of each step went, in microseconds.
/// Device times come from OpenCL event profiling; a CPU part's compute is host wall time.
struct OpenClProfile {
    /// One device step, or one CPU part (its nodes joined by '+').
    struct Entry {
        std::string what;        ///< node name(s)
        std::string kernel;      ///< kernel name(s)
        bool on_device = true;   ///< false: a CPU part
        double launch_us = 0;    ///< device idle between the previous command's end and its start
        double compute_us = 0;   ///< the kernel's execution (a CPU part: the Simd engine's run)
        double transfer_us = 0;  ///< copies to and from the device (CPU parts, input, output)
    };
    std::vector<Entry> entries; ///< input write, then steps in order, then output read
    double total_us = 0;        ///< host wall time of the whole run
};

namespace detail {

struct OpenClStep {
    std::string fn;       // kernel function in opencl_source
    std::string kernel;   // reported name
    std::string node;
    OpenClGeo geo;
    std::vector<ClMem> params;
    std::size_t x_off = 0, x2_off = 0, y_off = 0; // elements per sample
    bool two_inputs = false;
    std::size_t work = 0;  // work items per sample
    std::size_t local = 1; // work-group size: a divisor of `work`, so of every batch's total
};

struct OpenClCpuPart {
    std::unique_ptr<SimdEngine> engine;
    std::size_t in_off = 0, out_off = 0;   // elements per sample
    std::size_t in_size = 0, out_size = 0; // elements per sample
    std::string nodes, kernels;
};

struct OpenClState {
    ClDevice device;
    ClContext ctx;
    ClProgram program;
    bool from_cache = false;
    std::vector<OpenClStep> steps;
    std::vector<OpenClCpuPart> parts;
    std::vector<std::pair<bool, std::size_t>> order; // (cpu part?, index)
    bool int8 = false;
    std::size_t elem = 4, input_size = 0, output_size = 0, in_off = 0, out_off = 0;
    std::size_t bytes_per_sample = 0;
    float in_scale = 1, out_scale = 1;
    std::int32_t in_zp = 0, out_zp = 0;
    std::vector<NodePlacement> placement;
    compile::Graph graph;
};

} // namespace detail

/// The working memory of OpenClEngine runs: a command queue, the device activation buffer,
/// the step kernels with their arguments set, and the host staging of CPU parts. One per
/// thread; keeps the engine's device objects alive.
class OpenClArena {
public:
    OpenClArena() = default;
    std::size_t max_batch() const noexcept { return max_batch_; } ///< largest batch it holds

private:
    friend class OpenClEngine;
    std::shared_ptr<const detail::OpenClState> state_;
    detail::ClQueue queue_;
    detail::ClMem mem_;
    std::vector<detail::ClKernel> kernels_;
    std::vector<std::byte> stage_in_, stage_out_;
    std::vector<std::int8_t> codes_;
    std::vector<Arena> cpu_;
    std::size_t max_batch_ = 0;
};

/// An immutable compiled model on an OpenCL device, with the public surface of BasicEngine:
/// run() is noexcept and allocates nothing on the host; several threads may run at once,
/// each with its own OpenClArena (its own queue).
class OpenClEngine {
public:
    using arena_type = OpenClArena; ///< what make_arena() returns

    /// Floats per input sample.
    std::size_t input_size() const noexcept { return s_->input_size; }
    /// Floats per output sample.
    std::size_t output_size() const noexcept { return s_->output_size; }
    bool int8() const noexcept { return s_->int8; } ///< whether it runs the int8 graph
    const compile::Graph& graph() const noexcept { return s_->graph; } ///< the canonical graph
    /// The device: "platform / device name".
    std::string device_name() const { return s_->device.platform_name + " / " + s_->device.name; }
    /// Whether the program came from the on-disk binary cache rather than a build.
    bool program_from_cache() const noexcept { return s_->from_cache; }
    /// Per node of the canonical graph, in order: where it runs and its kernel.
    const std::vector<NodePlacement>& placement() const noexcept { return s_->placement; }
    /// Per node, its kernel's name (`f32-conv2d-1x1-opencl`; a CPU node's Simd kernel).
    std::vector<std::string> kernel_names() const {
        std::vector<std::string> names;
        for (const auto& p : s_->placement) names.push_back(p.kernel);
        return names;
    }
    /// Number of nodes that run on the device and on the CPU.
    std::pair<std::size_t, std::size_t> split() const noexcept {
        std::size_t d = 0;
        for (const auto& p : s_->placement) d += p.on_device ? 1 : 0;
        return {d, s_->placement.size() - d};
    }

    /// An arena for batches of up to `max_batch` samples: a queue, the activation buffer
    /// and the kernels with their arguments. Throws config_error when the device refuses.
    OpenClArena make_arena(std::size_t max_batch) const {
        using namespace detail;
        OpenClArena a;
        a.state_ = s_;
        a.max_batch_ = max_batch;
        cl_int err = CL_SUCCESS;
        a.queue_ = ClQueue(clCreateCommandQueue(s_->ctx.get(), s_->device.id, CL_QUEUE_PROFILING_ENABLE, &err));
        cl_check(err, "clCreateCommandQueue");
        const std::size_t bytes = std::max<std::size_t>(1, s_->bytes_per_sample * max_batch);
        a.mem_ = ClMem(clCreateBuffer(s_->ctx.get(), CL_MEM_READ_WRITE, bytes, nullptr, &err));
        cl_check(err, "clCreateBuffer of " + std::to_string(bytes) + " activation bytes");
        const cl_mem m = a.mem_.get();
        for (const auto& st : s_->steps) {
            ClKernel k(clCreateKernel(s_->program.get(), st.fn.c_str(), &err));
            cl_check(err, "clCreateKernel " + st.fn);
            cl_uint i = 0;
            auto arg = [&](std::size_t size, const void* v) {
                cl_check(clSetKernelArg(k.get(), i++, size, v), "clSetKernelArg of " + st.fn);
            };
            arg(sizeof m, &m);
            const cl_ulong xo = st.x_off * max_batch, x2o = st.x2_off * max_batch, yo = st.y_off * max_batch;
            arg(sizeof xo, &xo);
            if (st.two_inputs) arg(sizeof x2o, &x2o);
            arg(sizeof yo, &yo);
            for (const auto& p : st.params) {
                const cl_mem pm = p.get();
                arg(sizeof pm, &pm);
            }
            arg(sizeof st.geo, &st.geo);
            a.kernels_.push_back(std::move(k));
        }
        std::size_t in_max = 0, out_max = 0;
        for (const auto& p : s_->parts) {
            in_max = std::max(in_max, p.in_size);
            out_max = std::max(out_max, p.out_size);
            a.cpu_.push_back(p.engine->make_arena(max_batch));
        }
        a.stage_in_.resize(in_max * max_batch * s_->elem);
        a.stage_out_.resize(out_max * max_batch * s_->elem);
        if (s_->int8) a.codes_.resize(std::max(s_->input_size, s_->output_size) * max_batch);
        return a;
    }

    /// Run on in.size() / input_size() samples. False (and nothing written) when the sizes
    /// do not fit, the arena is another engine's, or the device reports an error.
    bool run(std::span<const float> in, std::span<float> out, OpenClArena& arena) const noexcept {
        return execute(in, out, arena, nullptr);
    }

    /// Convenience for one caller: runs in an arena the engine keeps (not thread-safe).
    bool run(std::span<const float> in, std::span<float> out) {
        const std::size_t batch = input_size() == 0 ? 0 : in.size() / input_size();
        if (!own_ || own_->max_batch() < batch) own_ = std::make_shared<OpenClArena>(make_arena(batch));
        return run(in, out, *own_);
    }

    /// As run(), measuring each step (allocates: for reports, not for serving).
    bool run_profiled(std::span<const float> in, std::span<float> out, OpenClArena& arena,
                      OpenClProfile& profile) const {
        profile = {};
        return execute(in, out, arena, &profile);
    }

private:
    friend struct OpenCl;
    explicit OpenClEngine(std::shared_ptr<const detail::OpenClState> s) : s_(std::move(s)) {}

    static double event_us(cl_event e, cl_profiling_info from, cl_profiling_info to) noexcept {
        cl_ulong a = 0, b = 0;
        clGetEventProfilingInfo(e, from, sizeof a, &a, nullptr);
        clGetEventProfilingInfo(e, to, sizeof b, &b, nullptr);
        return b > a ? static_cast<double>(b - a) / 1000.0 : 0.0;
    }

    bool execute(std::span<const float> in, std::span<float> out, OpenClArena& a,
                 OpenClProfile* prof) const noexcept {
        using namespace detail;
        const auto& s = *s_;
        const std::size_t isz = s.input_size, osz = s.output_size;
        if (in.empty() || isz == 0 || in.size() % isz != 0 || a.state_ != s_) return false;
        const std::size_t batch = in.size() / isz, M = a.max_batch_;
        if (batch > M || out.size() != batch * osz) return false;
        const cl_command_queue q = a.queue_.get();
        const cl_mem m = a.mem_.get();
        const std::size_t E = s.elem;
        const auto t0 = std::chrono::steady_clock::now();
        cl_ulong prev_end = 0;
        // Profiling keeps one event per command; otherwise none is asked for.
        auto record = [&](cl_event ev, OpenClProfile::Entry entry, bool transfer) {
            if (!prof || !ev) return;
            clWaitForEvents(1, &ev);
            cl_ulong sub = 0, start = 0, end = 0;
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_SUBMIT, sizeof sub, &sub, nullptr);
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof start, &start, nullptr);
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, nullptr);
            const cl_ulong from = std::max(prev_end, sub);
            entry.launch_us += start > from ? static_cast<double>(start - from) / 1000.0 : 0.0;
            (transfer ? entry.transfer_us : entry.compute_us) += event_us(ev, CL_PROFILING_COMMAND_START, CL_PROFILING_COMMAND_END);
            prev_end = end;
            prof->entries.push_back(std::move(entry));
        };
        auto ev_ptr = [&](cl_event& e) { return prof ? &e : nullptr; };
        // On an error, wait for what was enqueued: it may still read the caller's input.
        auto fail = [q] {
            clFinish(q);
            return false;
        };
        try {
            cl_event ev = nullptr;
            // Input: fp32 as given; int8 quantized on the host, exactly as the CPU engines do.
            if (s.int8) {
                for (std::size_t i = 0; i < in.size(); ++i) a.codes_[i] = quant::quantize(in[i], s.in_scale, s.in_zp);
                if (clEnqueueWriteBuffer(q, m, CL_FALSE, s.in_off * M, in.size(), a.codes_.data(), 0, nullptr, ev_ptr(ev)) != CL_SUCCESS)
                    return fail();
            } else if (clEnqueueWriteBuffer(q, m, CL_FALSE, s.in_off * M * E, in.size() * E, in.data(), 0,
                                            nullptr, ev_ptr(ev)) != CL_SUCCESS) {
                return fail();
            }
            if (prof) {
                ClEvent hold(ev);
                record(ev, {"input", "", true, 0, 0, 0}, true);
            }
            for (const auto& [cpu, idx] : s.order) {
                if (!cpu) {
                    const auto& st = s.steps[idx];
                    const std::size_t global = st.work * batch;
                    if (global == 0) continue;
                    if (clEnqueueNDRangeKernel(q, a.kernels_[idx].get(), 1, nullptr, &global, &st.local, 0, nullptr,
                                               ev_ptr(ev)) != CL_SUCCESS)
                        return fail();
                    if (prof) {
                        ClEvent hold(ev);
                        record(ev, {st.node, st.kernel, true, 0, 0, 0}, false);
                    }
                    continue;
                }
                // A CPU part: one read from the device, the Simd engine, one write back.
                const auto& p = s.parts[idx];
                const std::size_t nin = p.in_size * batch, nout = p.out_size * batch;
                cl_event rd = nullptr, wr = nullptr;
                if (clEnqueueReadBuffer(q, m, CL_TRUE, p.in_off * M * E, nin * E, a.stage_in_.data(), 0, nullptr,
                                        ev_ptr(rd)) != CL_SUCCESS)
                    return fail();
                ClEvent hold_rd(rd);
                const auto c0 = std::chrono::steady_clock::now();
                bool ok = false;
                if (s.int8) {
                    ok = p.engine->run_int8({reinterpret_cast<const std::int8_t*>(a.stage_in_.data()), nin},
                                            {reinterpret_cast<std::int8_t*>(a.stage_out_.data()), nout}, a.cpu_[idx]);
                } else {
                    ok = p.engine->run({reinterpret_cast<const float*>(a.stage_in_.data()), nin},
                                       {reinterpret_cast<float*>(a.stage_out_.data()), nout}, a.cpu_[idx]);
                }
                if (!ok) return fail();
                const double compute_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - c0).count();
                if (clEnqueueWriteBuffer(q, m, CL_TRUE, p.out_off * M * E, nout * E, a.stage_out_.data(), 0, nullptr,
                                         ev_ptr(wr)) != CL_SUCCESS)
                    return fail();
                ClEvent hold_wr(wr);
                if (prof) { // the names are copied only here: a plain run allocates nothing
                    OpenClProfile::Entry entry{p.nodes, p.kernels, false, 0, compute_us, 0};
                    entry.transfer_us = event_us(rd, CL_PROFILING_COMMAND_START, CL_PROFILING_COMMAND_END) +
                                        event_us(wr, CL_PROFILING_COMMAND_START, CL_PROFILING_COMMAND_END);
                    cl_ulong end = 0;
                    clGetEventProfilingInfo(wr, CL_PROFILING_COMMAND_END, sizeof end, &end, nullptr);
                    prev_end = end;
                    prof->entries.push_back(std::move(entry));
                }
            }
            // Output: read back (blocking, so the queue is drained), int8 dequantized on the host.
            void* dst = s.int8 ? static_cast<void*>(a.codes_.data()) : static_cast<void*>(out.data());
            if (clEnqueueReadBuffer(q, m, CL_TRUE, s.out_off * M * E, out.size() * E, dst, 0, nullptr, ev_ptr(ev)) !=
                CL_SUCCESS)
                return fail();
            if (prof) {
                ClEvent hold(ev);
                record(ev, {"output", "", true, 0, 0, 0}, true);
            }
            if (s.int8)
                for (std::size_t i = 0; i < out.size(); ++i) out[i] = quant::dequantize(a.codes_[i], s.out_scale, s.out_zp);
            if (prof) prof->total_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
            return true;
        } catch (...) { // only the profiling path allocates
            return fail();
        }
    }

    std::shared_ptr<const detail::OpenClState> s_;
    std::shared_ptr<OpenClArena> own_;
};

namespace detail {

inline bool opencl_device_runs(compile::Op op, bool int8) {
    using compile::Op;
    switch (op) {
    case Op::dense: case Op::conv2d: case Op::depthwise_conv2d: case Op::max_pool2d:
    case Op::avg_pool2d: case Op::global_avg_pool: case Op::relu: case Op::relu6:
    case Op::leaky_relu: case Op::sigmoid: case Op::tanh: case Op::hard_swish: case Op::add:
    case Op::concat: case Op::flatten: case Op::dropout:
        return true;
    // int8 softmax dequantizes and calls exp: a device's exp may differ from the host's in
    // the last bit, which can move a code, so it runs on the CPU.
    case Op::softmax: case Op::batch_norm: return !int8;
    default: return false;
    }
}

template <class T>
ClMem opencl_upload(cl_context ctx, const std::vector<T>& v, const std::string& what) {
    cl_int err = CL_SUCCESS;
    const std::size_t bytes = std::max<std::size_t>(1, v.size() * sizeof(T));
    T dummy{};
    ClMem m(clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes,
                           const_cast<T*>(v.empty() ? &dummy : v.data()), &err));
    cl_check(err, "clCreateBuffer of " + what);
    return m;
}

} // namespace detail

/// The OpenCL backend policy: compile() returns an OpenClEngine on the chosen device.
struct OpenCl {
    static constexpr const char* name = "opencl"; ///< the backend's name
    /// The device: "" (EDGESTACK_OPENCL_DEVICE when set, else the first device), an index
    /// over all platforms ("1"), "platform:device" ("0:1"), or part of "platform / device
    /// name" ("pthread", "NVIDIA"), case-insensitive.
    std::string device;
    /// Ops sent to the CPU (backend::Simd) even when the device runs them: what a device
    /// profile marks as slower there.
    std::vector<compile::Op> cpu_ops;
    /// Where program binaries are cached: "" for EDGESTACK_OPENCL_CACHE, else
    /// $XDG_CACHE_HOME/edgestack/opencl or ~/.cache/edgestack/opencl.
    std::string cache_dir;
    bool cache = true; ///< keep and reuse program binaries on disk

    /// Every OpenCL device on this machine, "index (platform:device): platform / device" per
    /// line; empty when there is none.
    static std::vector<std::string> devices() {
        std::vector<std::string> out;
        const auto ds = detail::cl_devices();
        for (std::size_t i = 0; i < ds.size(); ++i)
            out.push_back(std::to_string(i) + " (" + std::to_string(ds[i].platform_index) + ":" +
                          std::to_string(ds[i].device_index) + "): " + ds[i].platform_name + " / " +
                          ds[i].name + " (" + ds[i].version + ")");
        return out;
    }

    /// The engine of `g` (canonicalized first). Throws config_error for no or no matching
    /// device, shape_error or config_error for a graph it cannot run.
    OpenClEngine compile(const compile::Graph& graph) const;
};

inline OpenClEngine OpenCl::compile(const compile::Graph& graph) const {
    using namespace detail;
    using compile::Op;
    auto st = std::make_shared<OpenClState>();
    OpenClState& s = *st;
    s.graph = graph;
    compile::Graph& g = s.graph;
    compile::canonicalize(g);
    s.int8 = !g.value_quant.empty();
    if (s.int8 && g.value_quant.size() != g.values.size())
        throw config_error("backend::OpenCl: value_quant has " + std::to_string(g.value_quant.size()) +
                           " entries for " + std::to_string(g.values.size()) + " values");
    auto qp = [&](int v, const std::string& who) -> std::pair<float, std::int32_t> {
        const auto& q = g.value_quant[static_cast<std::size_t>(v)];
        if (q.scale.size() != 1 || q.zero_point.size() != 1 || !(q.scale[0] > 0.0f))
            throw config_error("backend::OpenCl: value " + std::to_string(v) + " (of node '" + who +
                               "') needs one positive scale and one zero point");
        return {q.scale[0], q.zero_point[0]};
    };
    s.elem = s.int8 ? 1 : sizeof(float);
    auto is_alias = [](const compile::Node& n) { return n.op == Op::flatten || n.op == Op::dropout; };
    const auto plan = compile::plan_memory(g, [&](int) { return s.elem; }, is_alias);
    s.bytes_per_sample = plan.bytes_per_sample;
    auto off = [&](int v) { return plan.offset[static_cast<std::size_t>(v)] / s.elem; };
    s.input_size = g.input_size();
    s.output_size = g.output_size();
    s.in_off = off(0);
    s.out_off = off(g.output);
    if (s.int8) {
        std::tie(s.in_scale, s.in_zp) = qp(0, "<graph input>");
        std::tie(s.out_scale, s.out_zp) = qp(g.output, "<graph output>");
    }

    // Placement: the device, unless it cannot run the op or the caller sends it to the CPU;
    // flatten follows its producer, so that a CPU part is not cut by a no-op.
    const std::size_t N = g.nodes.size();
    std::vector<char> on_cpu(N, 0);
    std::vector<int> producer(g.values.size(), -1);
    for (std::size_t i = 0; i < N; ++i) {
        const auto& n = g.nodes[i];
        producer[static_cast<std::size_t>(n.output)] = static_cast<int>(i);
        const bool forced = std::find(cpu_ops.begin(), cpu_ops.end(), n.op) != cpu_ops.end();
        if (is_alias(n)) {
            const int p = n.inputs.empty() ? -1 : producer[static_cast<std::size_t>(n.inputs[0])];
            on_cpu[i] = forced || (p >= 0 && on_cpu[static_cast<std::size_t>(p)]);
        } else {
            // The device's dense kernel takes one row per sample; a dense over the rows of a
            // T x F value (TimeDense) runs on the CPU.
            const bool rows = n.op == Op::dense &&
                              compile::ops::Dense::rows({g.values[static_cast<std::size_t>(n.inputs[0])], nullptr,
                                                         g.values[static_cast<std::size_t>(n.output)]}) != 1;
            on_cpu[i] = forced || rows || !opencl_device_runs(n.op, s.int8);
        }
    }
    // CPU parts: runs of consecutive CPU nodes reading one value from outside and defining
    // one value read outside (their last). A part is cut after any node whose output is read
    // outside it, until every part is of that form.
    std::vector<std::vector<int>> readers(g.values.size());
    for (std::size_t i = 0; i < N; ++i)
        for (int v : g.nodes[i].inputs) readers[static_cast<std::size_t>(v)].push_back(static_cast<int>(i));
    std::vector<char> cut(N, 0);
    std::vector<std::pair<std::size_t, std::size_t>> parts; // [first, last]
    for (bool changed = true; changed;) {
        changed = false;
        parts.clear();
        for (std::size_t i = 0; i < N;) {
            if (!on_cpu[i]) {
                ++i;
                continue;
            }
            std::size_t j = i;
            while (!cut[j] && j + 1 < N && on_cpu[j + 1]) ++j;
            parts.push_back({i, j});
            i = j + 1;
        }
        for (const auto& [a, b] : parts)
            for (std::size_t k = a; k < b && !changed; ++k) {
                const int v = g.nodes[k].output;
                bool outside = v == g.output;
                for (int r : readers[static_cast<std::size_t>(v)])
                    outside = outside || r < static_cast<int>(a) || r > static_cast<int>(b);
                if (outside) cut[k] = changed = true;
            }
    }

    ClDevice dev;
    {
        std::string spec = device;
        if (spec.empty())
            if (const char* e = std::getenv("EDGESTACK_OPENCL_DEVICE"); e) spec = e;
        dev = choose_device(spec);
    }
    s.device = dev;
    cl_int err = CL_SUCCESS;
    s.ctx = ClContext(clCreateContext(nullptr, 1, &dev.id, nullptr, nullptr, &err));
    cl_check(err, "clCreateContext on '" + dev.name + "'");
    const cl_context ctx = s.ctx.get();
    s.program = build_program_cached(ctx, dev, opencl_source, "",
                                     cache ? cache_folder(cache_dir) : std::filesystem::path{}, s.from_cache);

    // Every node checked and prepared once, by its op unit: one Step per node.
    const Program prog = detail::build_program(g, "OpenCl");

    std::size_t part_i = 0;
    for (std::size_t i = 0; i < N; ++i) {
        const compile::Node& n = g.nodes[i];
        auto bad = [&](const std::string& why) {
            return config_error("backend::OpenCl: node '" + n.name + "' (" + std::string(compile::op_name(n.op)) +
                                "): " + why);
        };
        if (part_i < parts.size() && parts[part_i].first == i) {
            // The CPU part as a graph of its own, compiled by backend::Simd.
            const auto [a, b] = parts[part_i];
            int ext = -1;
            std::vector<int> map(g.values.size(), -1);
            std::vector<char> inside(g.values.size(), 0);
            for (std::size_t k = a; k <= b; ++k) {
                for (int v : g.nodes[k].inputs) {
                    if (inside[static_cast<std::size_t>(v)] || v == ext) continue;
                    if (ext >= 0)
                        throw config_error("backend::OpenCl: node '" + g.nodes[k].name +
                                           "' runs on the CPU and reads two values computed on the device; "
                                           "a CPU part takes one input");
                    ext = v;
                }
                inside[static_cast<std::size_t>(g.nodes[k].output)] = 1;
            }
            compile::Graph sub = compile::Graph::with_input(g.values[static_cast<std::size_t>(ext)]);
            if (s.int8) sub.value_quant = {g.value_quant[static_cast<std::size_t>(ext)]};
            map[static_cast<std::size_t>(ext)] = 0;
            OpenClCpuPart part;
            for (std::size_t k = a; k <= b; ++k) {
                compile::Node c = g.nodes[k];
                std::vector<int> ins;
                for (int v : c.inputs) ins.push_back(map[static_cast<std::size_t>(v)]);
                const int out = c.output;
                const int id = sub.append(std::move(c), std::move(ins), g.values[static_cast<std::size_t>(out)]);
                map[static_cast<std::size_t>(out)] = id;
                if (s.int8) sub.value_quant[static_cast<std::size_t>(id)] = g.value_quant[static_cast<std::size_t>(out)];
                part.nodes += (k == a ? "" : "+") + g.nodes[k].name;
            }
            part.engine = std::make_unique<SimdEngine>(std::move(sub));
            part.in_off = off(ext);
            part.out_off = off(g.nodes[b].output);
            part.in_size = compile::volume(g.values[static_cast<std::size_t>(ext)]);
            part.out_size = compile::volume(g.values[static_cast<std::size_t>(g.nodes[b].output)]);
            const auto names = part.engine->kernel_names();
            for (std::size_t k = a; k <= b; ++k) {
                NodePlacement pl{g.nodes[k].name, g.nodes[k].op, false, ""};
                if (names.size() == b - a + 1) pl.kernel = names[k - a];
                s.placement.push_back(std::move(pl));
            }
            for (const auto& nm : names)
                if (!nm.empty()) part.kernels += (part.kernels.empty() ? "" : "+") + nm;
            s.order.push_back({true, s.parts.size()});
            s.parts.push_back(std::move(part));
            i = b;
            ++part_i;
            continue;
        }
        // A device step: its geometry and int8 parameters as the op's unit prepared them
        // (compile/ops/<name>.hpp), which also checked its shapes and tensors.
        const Step& ps = prog.steps[i];
        NodePlacement pl{n.name, n.op, true, ""};
        if (ps.alias) {
            s.placement.push_back(std::move(pl));
            continue;
        }
        OpenClStep st;
        st.node = n.name;
        OpenClGeo& geo = st.geo;
        auto i32 = [](std::size_t v) { return static_cast<std::int32_t>(v); };
        geo.ih = i32(ps.in.h); geo.iw = i32(ps.in.w); geo.ic = i32(ps.in.c);
        geo.oh = i32(ps.out.h); geo.ow = i32(ps.out.w); geo.oc = i32(ps.out.c);
        geo.kh = i32(ps.kh); geo.kw = i32(ps.kw);
        geo.sh = i32(ps.sh); geo.sw = i32(ps.sw);
        geo.pt = i32(ps.pt); geo.pl = i32(ps.pl);
        geo.act = ps.act == compile::Activation::relu ? 1 : ps.act == compile::Activation::relu6 ? 2 : 0;
        geo.alpha = ps.alpha;
        geo.zp_in = ps.zp_in;
        geo.zp_in2 = ps.zp_in2;
        geo.zp_out = ps.zp_out;
        st.x_off = off(n.inputs[0]);
        st.y_off = off(n.output);
        st.work = ps.out.size();
        if (compile::ops::arity(n.op) == 2) {
            st.two_inputs = true;
            st.x2_off = off(n.inputs[1]);
        }
        const char* dt = s.int8 ? "qs8" : "f32";
        // Requantizations as the device kernels read them: multipliers, then shifts.
        auto upload_rq = [&](const std::vector<quant::Requant>& rq, const std::string& what) {
            std::vector<std::int32_t> mult(rq.size()), shift(rq.size());
            for (std::size_t c = 0; c < rq.size(); ++c) {
                mult[c] = rq[c].multiplier;
                shift[c] = rq[c].shift;
            }
            st.params.push_back(opencl_upload(ctx, mult, n.name + " " + what + " multipliers"));
            st.params.push_back(opencl_upload(ctx, shift, n.name + " " + what + " shifts"));
        };
        switch (n.op) {
        case Op::dense:
        case Op::conv2d:
        case Op::depthwise_conv2d: {
            const auto& w = ps.weighted();
            const std::string name = n.op == Op::dense ? "dense" : n.op == Op::conv2d ? "conv2d" : "depthwise_conv2d";
            st.fn = std::string(dt) + "_" + name;
            st.kernel = std::string(dt) + (n.op == Op::depthwise_conv2d ? "-dwconv" : "-" + name) + "-1x1-opencl";
            if (!s.int8) {
                st.params.push_back(opencl_upload(ctx, w.w, n.name + " weights"));
                st.params.push_back(opencl_upload(ctx, w.b, n.name + " bias"));
            } else {
                // The device kernels subtract the input zero point themselves: the node's own
                // bias, not the step's (which has -zp_in * sum(w) folded in).
                st.params.push_back(opencl_upload(ctx, w.qw, n.name + " weights"));
                st.params.push_back(opencl_upload(ctx, n.qbias.empty() ? std::vector<std::int32_t>(ps.out.c, 0) : n.qbias,
                                                  n.name + " bias"));
                upload_rq(w.rq, "output");
                geo.lo = w.lo;
                geo.hi = w.hi;
            }
            break;
        }
        case Op::max_pool2d:
        case Op::avg_pool2d: {
            const bool mx = n.op == Op::max_pool2d;
            st.fn = std::string(dt) + (mx ? "_max_pool2d" : "_avg_pool2d");
            st.kernel = std::string(dt) + (mx ? "-maxpool-1x1-opencl" : "-avgpool-1x1-opencl");
            if (s.int8 && !mx) upload_rq(ps.get<compile::ops::CountRequant>().count_rq, "count");
            break;
        }
        case Op::global_avg_pool:
            st.fn = std::string(dt) + "_global_avg_pool";
            st.kernel = std::string(dt) + "-gavgpool-1x1-opencl";
            if (s.int8) upload_rq(ps.get<compile::ops::CountRequant>().count_rq, "count");
            break;
        case Op::relu:
        case Op::relu6:
        case Op::sigmoid:
        case Op::tanh:
        case Op::hard_swish:
        case Op::leaky_relu: {
            st.fn = std::string(dt) + "_unary";
            st.kernel = std::string(dt) + "-" + std::string(compile::op_name(n.op)) + "-1x1-opencl";
            geo.unary = n.op == Op::relu ? 0 : n.op == Op::relu6 ? 1 : n.op == Op::sigmoid ? 2
                      : n.op == Op::tanh ? 3 : n.op == Op::hard_swish ? 4 : 5;
            if (s.int8) {
                std::vector<std::int8_t> table(256, 0);
                if (n.op == Op::relu || n.op == Op::relu6) {
                    const auto& c = ps.get<compile::ops::Clamp>();
                    geo.lo = c.lo;
                    geo.hi = c.hi;
                } else {
                    geo.table = 1;
                    table = ps.get<compile::ops::Table>().table;
                }
                st.params.push_back(opencl_upload(ctx, table, n.name + " table"));
            }
            break;
        }
        case Op::batch_norm: {
            const auto& a = ps.get<compile::ops::Affine>();
            st.params.push_back(opencl_upload(ctx, a.w, n.name + " scale"));
            st.params.push_back(opencl_upload(ctx, a.b, n.name + " shift"));
            st.fn = "f32_batch_norm";
            st.kernel = "f32-batchnorm-1x1-opencl";
            break;
        }
        case Op::softmax:
            geo.ic = i32(ps.in.c);
            st.work = ps.in.h * ps.in.w;
            st.fn = "f32_softmax";
            st.kernel = "f32-softmax-1x1-opencl";
            break;
        case Op::add:
        case Op::concat: {
            const bool add = n.op == Op::add;
            st.fn = std::string(dt) + (add ? "_add" : "_concat");
            st.kernel = std::string(dt) + (add ? "-vadd-1x1-opencl" : "-concat-1x1-opencl");
            if (s.int8) {
                const auto& r = ps.get<compile::ops::Rescale>();
                geo.a_mult = r.a.multiplier; geo.a_shift = r.a.shift;
                geo.b_mult = r.b.multiplier; geo.b_shift = r.b.shift;
                geo.lo = r.lo; geo.hi = r.hi; // concat: every code
            }
            break;
        }
        default: throw bad("op not supported");
        }
        pl.kernel = st.kernel;
        s.placement.push_back(std::move(pl));
        s.order.push_back({false, s.steps.size()});
        s.steps.push_back(std::move(st));
    }
    // Every kernel is created once here, so that a missing one fails at compile, not in
    // make_arena. Work-groups as large as the kernel allows, up to 64 (an explicit size: a
    // driver's own choice can be a group per item), dividing the work of one sample.
    for (auto& step : s.steps) {
        ClKernel k(clCreateKernel(s.program.get(), step.fn.c_str(), &err));
        cl_check(err, "clCreateKernel " + step.fn);
        std::size_t most = 1;
        clGetKernelWorkGroupInfo(k.get(), dev.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof most, &most, nullptr);
        step.local = 1;
        for (std::size_t l = std::min<std::size_t>(64, std::max<std::size_t>(1, most)); l > 1; --l)
            if (step.work % l == 0) {
                step.local = l;
                break;
            }
    }
    return OpenClEngine(std::move(st));
}

} // namespace edgestack::backend
