// backend::OpenCl on PoCL (the CPU as an OpenCL device): every op against backend::Reference
// (fp32 within 1e-4, int8 identical codes), the reference CNN and a residual network end to
// end, a partitioned graph, two threads at once, the binary cache, and the refusals.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "backend/common.hpp"
#include "edgestack/backend/opencl.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/concepts.hpp"

namespace utf = boost::unit_test;
using namespace edgestack;
using compile::Op;

// A stage of a pipeline like the other backends.
static_assert(Backend<backend::OpenCl>);
static_assert(Engine<backend::OpenClEngine>);

// Every form of the global operator new counts, so a test can show that run() allocates
// nothing itself. (The OpenCL driver allocates inside enqueue with malloc, its own business.)
// All forms are replaced together, so that memory from any of them is freed by its match.
namespace {
std::atomic<long> g_news{0};
void* counted(std::size_t n, std::size_t align = 0) noexcept {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    if (align <= alignof(std::max_align_t)) return std::malloc(n);
    return std::aligned_alloc(align, (n + align - 1) / align * align);
}
void* counted_or_throw(std::size_t n, std::size_t align = 0) {
    if (void* p = counted(n, align)) return p;
    throw std::bad_alloc();
}
} // namespace
void* operator new(std::size_t n) { return counted_or_throw(n); }
void* operator new[](std::size_t n) { return counted_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

/// Skip (saying why) when no OpenCL device exists; a complete build (CI) requires PoCL at
/// configure time, so there a failed precondition fails the test instead.
struct DevicePresent {
    boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
        boost::test_tools::assertion_result r(!backend::OpenCl::devices().empty());
        if (!r) r.message() << "no OpenCL device: apt-get install pocl-opencl-icd";
        return r;
    }
};

/// fp32: within 1e-4 relative (of the larger magnitude, floor 1) of Reference.
void check_close_1e4(const std::vector<float>& got, const std::vector<float>& want) {
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        const float tol = 1e-4f * std::max({1.0f, std::abs(got[i]), std::abs(want[i])});
        if (!(std::abs(got[i] - want[i]) <= tol))
            BOOST_FAIL("element " << i << ": " << got[i] << " vs reference " << want[i]);
    }
}

/// Runs `g` on OpenCl and Reference over `batch` samples and compares as the contract says.
void check_against_reference(const compile::Graph& g, std::size_t batch, const backend::OpenCl& cl = {}) {
    const auto x = backend::nets::random_inputs(g, batch, 11);
    const auto want = test::run_engine(backend::Reference{}.compile(g), x);
    const auto e = cl.compile(g);
    const auto got = test::run_engine(e, x);
    BOOST_TEST_CONTEXT("graph with " << g.nodes.size() << " nodes, " << (e.int8() ? "int8" : "fp32")) {
        if (e.int8())
            test::check_equal(got, want);
        else
            check_close_1e4(got, want);
    }
}

/// The backend on the device `spec` names.
backend::OpenCl on(const std::string& spec) {
    backend::OpenCl cl;
    cl.device = spec;
    return cl;
}

compile::Node node(Op op, const std::string& name) {
    compile::Node n;
    n.op = op;
    n.name = name;
    return n;
}

/// A padded k x k pool, stride s.
int padded_pool(compile::Graph& g, int x, Op op, std::size_t k, std::size_t s, std::size_t pad) {
    const auto in = g.values.at(static_cast<std::size_t>(x));
    auto n = node(op, g.fresh_name(op));
    n.kernel = {k, k};
    n.stride = {s, s};
    n.pad = {pad, pad, pad, pad};
    const auto ext = [&](std::size_t i) { return (i + 2 * pad - k) / s + 1; };
    return g.append(std::move(n), {x}, {ext(in[0]), ext(in[1]), in[2]});
}

/// An average pool whose padding counts (count_include_pad): the graph form importers give
/// it, a depthwise convolution with weights 1 / (k * k).
int count_pad_avg_pool(compile::Graph& g, int x, std::size_t k, std::size_t s, std::size_t pad) {
    const auto in = g.values.at(static_cast<std::size_t>(x));
    auto n = node(Op::depthwise_conv2d, g.fresh_name(Op::depthwise_conv2d));
    n.kernel = {k, k};
    n.stride = {s, s};
    n.pad = {pad, pad, pad, pad};
    n.weights.assign(k * k * in[2], 1.0f / static_cast<float>(k * k));
    const auto ext = [&](std::size_t i) { return (i + 2 * pad - k) / s + 1; };
    return g.append(std::move(n), {x}, {ext(in[0]), ext(in[1]), in[2]});
}

/// Every pooling form: max and average, padded, with and without the padding counted.
compile::Graph pools() {
    Rng rng(21);
    auto g = compile::Graph::with_input({9, 7, 5});
    int v = backend::nets::conv2d(g, 0, 6, 3, rng);
    const int a = padded_pool(g, v, Op::max_pool2d, 3, 2, 1);
    const int b = padded_pool(g, v, Op::avg_pool2d, 3, 2, 1);
    const int c = count_pad_avg_pool(g, v, 3, 2, 1);
    auto add = node(Op::add, "add_0");
    v = g.append(std::move(add), {a, b}, g.values[static_cast<std::size_t>(a)]);
    auto add2 = node(Op::add, "add_1");
    v = g.append(std::move(add2), {v, c}, g.values[static_cast<std::size_t>(a)]);
    v = backend::nets::pool(g, v, Op::max_pool2d, 2, 1);
    v = backend::nets::flatten(g, v);
    backend::nets::dense(g, v, 7, rng);
    return g;
}

/// Concat, a batch norm that cannot be folded (after an add), relu6 and leaky relu on their
/// own, dropout, softmax.
compile::Graph misc_fp32() {
    Rng rng(22);
    auto g = compile::Graph::with_input({6, 6, 3});
    const int a = backend::nets::conv2d(g, 0, 4, 3, rng);
    const int b = backend::nets::conv2d(g, 0, 5, 1, rng);
    auto cat = node(Op::concat, "concat_0");
    int v = g.append(std::move(cat), {a, b}, {6, 6, 9});
    auto add = node(Op::add, "add_0");
    v = g.append(std::move(add), {v, v}, {6, 6, 9});
    auto bn = node(Op::batch_norm, "batch_norm_0");
    for (int part = 0; part < 4; ++part)
        for (int c = 0; c < 9; ++c)
            bn.extra.push_back(part == 3 ? rng.uniform(0.5f, 2.0f) : rng.uniform(-1.0f, 1.0f));
    bn.alpha = 1e-5f;
    v = g.append(std::move(bn), {v}, {6, 6, 9});
    v = backend::nets::unary(g, v, Op::relu6);
    v = backend::nets::unary(g, v, Op::leaky_relu, 0.2f);
    v = backend::nets::unary(g, v, Op::relu);
    auto drop = node(Op::dropout, "dropout_0");
    v = g.append(std::move(drop), {v}, {6, 6, 9});
    v = backend::nets::unary(g, v, Op::softmax);
    v = backend::nets::flatten(g, v);
    backend::nets::dense(g, v, 4, rng);
    return g;
}

/// The same ops where int8 has them: concat, relu/relu6 and leaky relu on their own.
compile::Graph misc_int8() {
    Rng rng(23);
    auto g = compile::Graph::with_input({6, 6, 3});
    const int a = backend::nets::conv2d(g, 0, 4, 3, rng);
    const int b = backend::nets::conv2d(g, 0, 5, 1, rng);
    auto cat = node(Op::concat, "concat_0");
    int v = g.append(std::move(cat), {a, b}, {6, 6, 9});
    v = backend::nets::unary(g, v, Op::leaky_relu, 0.2f);
    v = backend::nets::pool(g, v, Op::avg_pool2d, 2, 2);
    v = backend::nets::unary(g, v, Op::relu6);
    v = backend::nets::flatten(g, v);
    backend::nets::dense(g, v, 4, rng);
    return g;
}

/// Two residual blocks (conv, conv, add with the block's input), global average pool, dense.
compile::Graph residual() {
    Rng rng(24);
    auto g = compile::Graph::with_input({10, 10, 3});
    int x = backend::nets::conv2d(g, 0, 8, 3, rng);
    x = backend::nets::unary(g, x, Op::relu);
    for (int block = 0; block < 2; ++block) {
        int y = backend::nets::conv2d(g, x, 8, 3, rng);
        y = backend::nets::unary(g, y, Op::relu);
        y = backend::nets::conv2d(g, y, 8, 3, rng);
        auto add = node(Op::add, g.fresh_name(Op::add));
        x = g.append(std::move(add), {x, y}, {10, 10, 8});
        x = backend::nets::unary(g, x, Op::relu);
    }
    auto gap = node(Op::global_avg_pool, "global_avg_pool_0");
    x = g.append(std::move(gap), {x}, {8});
    x = backend::nets::dense(g, x, 5, rng);
    backend::nets::unary(g, x, Op::softmax);
    return g;
}

} // namespace

BOOST_AUTO_TEST_SUITE(opencl)

BOOST_AUTO_TEST_CASE(every_op_fp32_and_int8_matches_reference, *utf::precondition(DevicePresent{})) {
    auto zoo = test::op_zoo();
    zoo.push_back(pools());
    zoo.push_back(misc_int8());
    for (const auto& g : zoo) {
        check_against_reference(g, 3);
        check_against_reference(test::quantized(g), 3);
    }
    check_against_reference(misc_fp32(), 3);
}

// f32_add and qs8_add with the activation fused, against the unfused graph on Reference.
BOOST_AUTO_TEST_CASE(a_fused_add_matches_the_unfused_graph, *utf::precondition(DevicePresent{})) {
    for (const auto& c : test::add_relu_cases()) {
        const auto x = backend::nets::random_inputs(c.unfused, 4, 37);
        const auto e = backend::OpenCl{}.compile(c.fused);
        BOOST_TEST(e.split().second == 0u, c.what << ": all of it on the device");
        const auto got = test::run_engine(e, x);
        const auto want = test::run_engine(backend::Reference{}.compile(c.unfused), x);
        BOOST_TEST_CONTEXT(c.what) {
            if (e.int8()) test::check_equal(got, want);
            else check_close_1e4(got, want);
        }
    }
}

BOOST_AUTO_TEST_CASE(reference_cnn_end_to_end, *utf::precondition(DevicePresent{})) {
    const auto g = backend::nets::cnn(3);
    for (std::size_t batch : {std::size_t{1}, std::size_t{8}}) {
        check_against_reference(g, batch);
        check_against_reference(test::quantized(g), batch);
    }
    const auto e = backend::OpenCl{}.compile(g);
    BOOST_TEST(e.split().second == 0u); // all of it on the device
    BOOST_TEST(e.kernel_names().front() == "f32-conv2d-1x1-opencl");
}

BOOST_AUTO_TEST_CASE(residual_network_end_to_end, *utf::precondition(DevicePresent{})) {
    check_against_reference(residual(), 4);
    const auto q = test::quantized(residual());
    check_against_reference(q, 4);
    // int8 softmax is the one op the device leaves to the CPU: its exp is the host's.
    const auto e = backend::OpenCl{}.compile(q);
    BOOST_TEST(!e.placement().back().on_device);
    BOOST_TEST(e.placement().back().node == "softmax_0");
    BOOST_TEST(e.split().second == 1u);
}

BOOST_AUTO_TEST_CASE(partitioned_graph_runs_each_part_where_placed, *utf::precondition(DevicePresent{})) {
    // Convolutions on the CPU, the rest on the device: three boundaries each way in the CNN.
    backend::OpenCl cl;
    cl.cpu_ops = {Op::conv2d, Op::flatten};
    const auto g = backend::nets::cnn(4);
    check_against_reference(g, 5, cl);
    check_against_reference(test::quantized(g), 5, cl);
    const auto e = cl.compile(g);
    std::vector<std::string> cpu;
    for (const auto& p : e.placement())
        if (!p.on_device) cpu.push_back(p.node);
    BOOST_TEST(cpu == (std::vector<std::string>{"conv2d_0", "conv2d_1", "flatten_0"}));
    for (const auto& p : e.placement())
        if (!p.on_device && p.op == Op::conv2d) BOOST_TEST(p.kernel.find("opencl") == std::string::npos);
    // A CPU part in the middle of a residual block: the add reads the device's value and the
    // CPU part's output.
    backend::OpenCl mid;
    mid.cpu_ops = {Op::relu};
    check_against_reference(residual(), 2, mid);
}

BOOST_AUTO_TEST_CASE(cpu_part_reading_two_device_values_is_refused, *utf::precondition(DevicePresent{})) {
    backend::OpenCl cl;
    cl.cpu_ops = {Op::add};
    BOOST_CHECK_EXCEPTION(cl.compile(residual()), config_error, [](const config_error& e) {
        return std::string(e.what()).find("reads two values computed on the device") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(two_threads_run_concurrently, *utf::precondition(DevicePresent{})) {
    const auto g = test::quantized(backend::nets::cnn(5));
    const auto e = backend::OpenCl{}.compile(g);
    const auto x = backend::nets::random_inputs(g, 4, 13);
    const auto want = test::run_engine(backend::Reference{}.compile(g), x);
    std::atomic<int> bad{0};
    auto work = [&] {
        auto arena = e.make_arena(4);
        std::vector<float> y(want.size());
        for (int i = 0; i < 20; ++i) {
            std::fill(y.begin(), y.end(), 0.0f);
            if (!e.run(x, y, arena) || y != want) ++bad;
        }
    };
    std::thread a(work), b(work);
    a.join();
    b.join();
    BOOST_TEST(bad.load() == 0);
}

BOOST_AUTO_TEST_CASE(program_binary_is_cached_on_disk, *utf::precondition(DevicePresent{})) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("edgestack_opencl_cache_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    backend::OpenCl cl;
    cl.cache_dir = dir.string();
    const auto g = backend::nets::cnn(6);
    const auto first = cl.compile(g);
    BOOST_TEST(!first.program_from_cache());
    BOOST_TEST(!std::filesystem::is_empty(dir));
    const auto second = cl.compile(g);
    BOOST_TEST(second.program_from_cache());
    const auto x = backend::nets::random_inputs(g, 2, 3);
    check_close_1e4(test::run_engine(second, x), test::run_engine(backend::Reference{}.compile(g), x));
    // A damaged cache file is rebuilt, not trusted.
    for (const auto& f : std::filesystem::directory_iterator(dir)) std::filesystem::resize_file(f.path(), 16);
    const auto third = cl.compile(g);
    BOOST_TEST(!third.program_from_cache());
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(device_by_index_and_name_and_missing, *utf::precondition(DevicePresent{})) {
    const auto devices = backend::OpenCl::devices();
    BOOST_REQUIRE(!devices.empty());
    const auto g = backend::nets::cnn(7);
    const auto by_index = on("0").compile(g);
    const auto by_pair = on("0:0").compile(g);
    BOOST_TEST(by_index.device_name() == by_pair.device_name());
    // Part of the platform name, in any case.
    const auto name = by_index.device_name();
    const auto by_name = on(name.substr(0, 4)).compile(g);
    BOOST_TEST(by_name.device_name() == name);
    for (const std::string spec : {"no such device", "99", "0:42"}) {
        BOOST_CHECK_EXCEPTION(on(spec).compile(g), config_error, [&](const config_error& e) {
            const std::string w = e.what();
            return w.find("no OpenCL device matches '" + spec + "'") != std::string::npos &&
                   w.find("\n  0 (0:0): ") != std::string::npos; // and lists the devices
        });
    }
    // The environment variable chooses when the policy names no device.
    ::setenv("EDGESTACK_OPENCL_DEVICE", "no such device", 1);
    BOOST_CHECK_THROW(backend::OpenCl{}.compile(g), config_error);
    ::setenv("EDGESTACK_OPENCL_DEVICE", "0", 1);
    BOOST_TEST(backend::OpenCl{}.compile(g).device_name() == name);
    ::unsetenv("EDGESTACK_OPENCL_DEVICE");
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_without_writing, *utf::precondition(DevicePresent{})) {
    const auto g = backend::nets::cnn(8);
    const auto e = backend::OpenCl{}.compile(g);
    auto arena = e.make_arena(2);
    std::vector<float> x(2 * e.input_size(), 0.5f), y(2 * e.output_size(), 42.0f);
    BOOST_TEST(!e.run(std::span<const float>(x).first(x.size() - 1), y, arena)); // ragged
    BOOST_TEST(!e.run(x, std::span<float>(y).first(y.size() - 1), arena));       // short output
    std::vector<float> x3(3 * e.input_size(), 0.5f), y3(3 * e.output_size());
    BOOST_TEST(!e.run(x3, y3, arena)); // more samples than the arena holds
    const auto other = backend::OpenCl{}.compile(g);
    BOOST_TEST(!other.run(x, y, arena)); // another engine's arena
    BOOST_TEST(std::all_of(y.begin(), y.end(), [](float v) { return v == 42.0f; }));
    BOOST_TEST(e.run(x, y, arena));
    // A graph whose shapes disagree names the node.
    auto broken = g;
    broken.nodes[0].weights.pop_back();
    BOOST_CHECK_EXCEPTION(backend::OpenCl{}.compile(broken), shape_error, [](const shape_error& err) {
        return std::string(err.what()).find("conv2d_0") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(run_makes_no_allocation_of_its_own, *utf::precondition(DevicePresent{})) {
    // fp32 and int8, each with a CPU part (its Simd engine runs in the arena too).
    for (const bool int8 : {false, true}) {
        const auto g = int8 ? test::quantized(residual()) : backend::nets::cnn(10);
        backend::OpenCl cl;
        cl.cpu_ops = {Op::max_pool2d};
        const auto e = cl.compile(g);
        BOOST_TEST(e.split().second >= 1u);
        auto arena = e.make_arena(3);
        const auto x = backend::nets::random_inputs(g, 3, 4);
        std::vector<float> y(3 * e.output_size());
        BOOST_REQUIRE(e.run(x, y, arena)); // warm: the driver builds its kernels on first use
        const long before = g_news.load();
        bool ok = true;
        for (int i = 0; i < 5; ++i) ok = e.run(x, y, arena) && ok;
        const long news = g_news.load() - before;
        BOOST_TEST(ok);
        BOOST_TEST(news == 0);
    }
    // The counter sees an allocation when there is one.
    const long before = g_news.load();
    auto* probe = new std::vector<int>(3);
    BOOST_TEST(g_news.load() > before);
    delete probe;
}

BOOST_AUTO_TEST_CASE(profile_splits_transfer_launch_compute, *utf::precondition(DevicePresent{})) {
    const auto g = backend::nets::cnn(9);
    backend::OpenCl cl;
    cl.cpu_ops = {Op::dense};
    const auto e = cl.compile(g);
    auto arena = e.make_arena(2);
    const auto x = backend::nets::random_inputs(g, 2, 5);
    std::vector<float> y(2 * e.output_size());
    backend::OpenClProfile p;
    BOOST_REQUIRE(e.run_profiled(x, y, arena, p));
    check_close_1e4(y, test::run_engine(backend::Reference{}.compile(g), x));
    BOOST_REQUIRE(p.entries.size() >= 3u);
    BOOST_TEST(p.entries.front().what == "input");
    BOOST_TEST(p.entries.back().what == "output");
    double compute = 0;
    bool cpu_part = false;
    for (const auto& en : p.entries) {
        compute += en.compute_us;
        if (!en.on_device) {
            cpu_part = true;
            BOOST_TEST(en.what == "dense_0+dense_1");
            BOOST_TEST(en.transfer_us > 0.0);
        }
    }
    BOOST_TEST(cpu_part);
    BOOST_TEST(compute > 0.0);
    BOOST_TEST(p.total_us >= compute);
}

BOOST_AUTO_TEST_SUITE_END()
