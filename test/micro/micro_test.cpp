// The micro engine (micro/engine.hpp) and its generator (deploy/micro_source.hpp): its
// kernels, run on the host, give backend::Reference's int8 codes bit for bit on networks
// with every op it runs; bad graphs are refused by name; and, where the cross compiler
// and QEMU are installed, the firmware in examples/micro_firmware built for a Cortex-M7
// prints the same codes in qemu-system-arm's mps2-an500 board.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "backend/common.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/reference_nets.hpp"
#include "edgestack/deploy/micro_source.hpp"
#include "edgestack/micro/engine.hpp"
#include "edgestack/quant/fixed_point.hpp"

namespace {

using namespace edgestack;
using compile::Graph;
using compile::Op;

/// concat, padded max and average pools (the divisor changes at the borders), ReLU6 after
/// an add (fused into it), a dense layer straight after a 4-D value: what op_zoo lacks.
Graph concat_net() {
    using namespace backend::nets;
    Rng rng(11);
    Graph g = Graph::with_input({9, 7, 3});
    const int a = conv2d(g, 0, 6, 3, rng);
    int b = depthwise(g, 0, 3, rng, 1);
    b = unary(g, b, Op::relu);
    compile::Node cat;
    cat.op = Op::concat;
    cat.name = "concat_0";
    int v = g.append(std::move(cat), {a, b}, {9, 7, 9});
    compile::Node avg;
    avg.op = Op::avg_pool2d;
    avg.name = "avg_pool2d_0";
    avg.kernel = {3, 3};
    avg.pad = {1, 1, 1, 1};
    v = g.append(std::move(avg), {v}, {9, 7, 9});
    const int c = conv2d(g, v, 9, 1, rng);
    compile::Node add;
    add.op = Op::add;
    add.name = "add_0";
    v = g.append(std::move(add), {v, c}, {9, 7, 9});
    v = unary(g, v, Op::relu6);
    v = pool(g, v, Op::max_pool2d, 2, 2, {0, 0, 1, 1});
    v = dense(g, v, 6, rng);
    unary(g, v, Op::softmax);
    return g;
}

/// Every network the micro engine is tested on, quantized on fixed calibration data.
std::vector<Graph> int8_nets() {
    std::vector<Graph> nets;
    for (auto& g : test::op_zoo()) nets.push_back(test::quantized(std::move(g)));
    nets.push_back(test::quantized(concat_net()));
    return nets;
}

/// `samples` inputs as int8 codes of the graph's input parameters.
std::vector<std::int8_t> input_codes(const Graph& g, std::size_t samples, std::uint64_t seed) {
    const auto x = backend::nets::random_inputs(g, samples, seed);
    const auto& q = g.value_quant.at(0);
    std::vector<std::int8_t> codes(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) codes[i] = quant::quantize(x[i], q.scale[0], q.zero_point[0]);
    return codes;
}

/// backend::Reference's int8 output codes, one sample after another.
std::vector<std::int8_t> reference_codes(const Graph& g, const std::vector<std::int8_t>& in) {
    const auto engine = backend::Reference{}.compile(g);
    const std::size_t batch = in.size() / engine.input_size();
    std::vector<std::int8_t> out(batch * engine.output_size());
    auto arena = engine.make_arena(batch);
    BOOST_REQUIRE(engine.run_int8(in, out, arena));
    return out;
}

/// The micro model's output codes on the host, one sample at a time.
std::vector<std::int8_t> micro_codes(const deploy::MicroModel& m, const std::vector<std::int8_t>& in) {
    const std::size_t isz = m.network.input_size, osz = m.network.output_size;
    std::vector<std::int8_t> out(in.size() / isz * osz);
    for (std::size_t s = 0; s * isz < in.size(); ++s)
        BOOST_REQUIRE(m.run(std::span(in).subspan(s * isz, isz), std::span(out).subspan(s * osz, osz)));
    return out;
}

void check_codes(const std::vector<std::int8_t>& got, const std::vector<std::int8_t>& want, std::size_t per_sample) {
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i] && ++wrong <= 5)
            BOOST_ERROR("sample " << i / per_sample << " output " << i % per_sample << ": " << int{got[i]}
                                  << " vs Reference " << int{want[i]});
    BOOST_TEST(wrong == 0u, wrong << " of " << got.size() << " codes differ from Reference");
}

/// Whether `what` throws E whose message contains `text`.
template <class E, class F>
void check_refused(F&& what, const std::string& text) {
    BOOST_CHECK_EXCEPTION(what(), E, [&](const E& e) {
        const bool ok = std::string(e.what()).find(text) != std::string::npos;
        if (!ok) BOOST_TEST_MESSAGE("message: " << e.what());
        return ok;
    });
}

} // namespace

BOOST_AUTO_TEST_SUITE(micro_engine)

BOOST_AUTO_TEST_CASE(requantization_matches_fixed_point) {
    // The engine restates quant::multiply_by_quantized and quant::quantize without the
    // standard library; both must agree everywhere, ties included.
    // 0.5 and 0.25 put odd and twice-odd accumulators exactly on a tie.
    const std::array<double, 7> reals{0.000123, 0.0071, 0.25, 0.5, 0.5 + 1e-9, 0.99999, 3.75};
    const std::array<std::int32_t, 13> accs{0, 1, -1, 3, -3, -2, 6, -6, 127, -128, 65535, -65536, -2147483647};
    for (double r : reals) {
        const auto q = quant::quantize_multiplier(r);
        for (std::int32_t a : accs)
            BOOST_TEST(micro::multiply_by_quantized(a, {q.multiplier, q.shift}) == quant::multiply_by_quantized(a, q));
    }
    for (float x : {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 0.49999997f, 126.5f, -300.0f, 1e9f, 3.0f})
        BOOST_TEST(static_cast<int>(micro::quantize(x, 1.0f, 0)) == static_cast<int>(quant::quantize(x, 1.0f, 0)),
                   "x = " << x);
    for (float x : {0.1f, 0.7f, -0.37f, 0.0f})
        BOOST_TEST(static_cast<int>(micro::quantize(x, 0.00390625f, -128)) ==
                   static_cast<int>(quant::quantize(x, 0.00390625f, -128)));
}

BOOST_AUTO_TEST_CASE(host_kernels_match_reference_bit_for_bit) {
    for (const auto& g : int8_nets()) {
        const auto m = deploy::lower_micro(g);
        BOOST_TEST_CONTEXT("network " << compile::to_string(g.input_shape()) << " with " << m.layers.size()
                                      << " layers") {
            const auto in = input_codes(g, 6, 21);
            check_codes(micro_codes(m, in), reference_codes(g, in), m.network.output_size);
        }
    }
}

// qs8_add with the relu / relu6 fused (the layer's lo and hi), against the unfused graph on
// Reference, whose add and clamp are two steps.
BOOST_AUTO_TEST_CASE(a_fused_add_matches_the_unfused_graph) {
    for (const auto& c : test::add_relu_cases()) {
        if (c.fused.value_quant.empty()) continue; // int8 only
        const auto m = deploy::lower_micro(c.fused);
        std::size_t adds = 0;
        for (const auto& l : m.layers) adds += l.kernel == std::string("qs8_add");
        BOOST_TEST(adds == 2u);
        BOOST_TEST(m.layers.size() == 7u); // no clamp layers of their own
        const auto in = input_codes(c.fused, 6, 41);
        check_codes(micro_codes(m, in), reference_codes(c.unfused, in), m.network.output_size);
    }
}

BOOST_AUTO_TEST_CASE(arena_plan_reuses_memory) {
    // The reference CNN's largest step is the first max pool: 25088 bytes in, 6272 out.
    const auto m = deploy::lower_micro(test::quantized(backend::nets::cnn(1)));
    BOOST_TEST(m.network.arena_bytes == 25088u + 6272u);
    BOOST_TEST(m.layers.size() == 6u); // ReLUs fused, flatten an alias
    BOOST_TEST(m.network.output_size == 10u);
    // 421,408 int8 weights; 234 output channels, each with an int32 bias and a multiplier.
    BOOST_TEST(m.table_bytes() == 421408u + 234u * 4u + 234u * 8u);
}

BOOST_AUTO_TEST_CASE(source_declares_constant_tables) {
    const auto g = test::quantized(backend::nets::cnn(1));
    const auto src = deploy::micro_source(g, "fashion::cnn");
    BOOST_TEST(src.find("namespace fashion::cnn {") != std::string::npos);
    BOOST_TEST(src.find("inline constexpr int8_t layer0_w[]") != std::string::npos);
    BOOST_TEST(src.find("inline constexpr edgestack::micro::Network network{layers, 6u, 31360u") != std::string::npos);
    BOOST_TEST(src.find("new ") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(refuses_what_it_cannot_run) {
    const auto fp32 = backend::nets::cnn(1);
    check_refused<config_error>([&] { deploy::lower_micro(fp32); }, "quantize it first");
    auto g = test::quantized(backend::nets::cnn(1));
    check_refused<config_error>([&] { deploy::micro_source(g, "1model"); }, "not a C++ identifier");
    check_refused<config_error>([&] { deploy::micro_source(g, "a:::b"); }, "not a C++ identifier");
    check_refused<config_error>([&] { deploy::micro_source(g, ""); }, "not a C++ identifier");
    {
        auto bad = g;
        bad.nodes.back().qweights[3] = -128;
        check_refused<config_error>([&] { deploy::lower_micro(bad); }, "dense_1' (dense): has a weight of -128");
    }
    {
        auto bad = g;
        bad.nodes.front().qweights.pop_back();
        check_refused<shape_error>([&] { deploy::lower_micro(bad); }, "conv2d_0");
    }
    {
        auto bad = g;
        bad.value_quant[1].scale.push_back(1.0f);
        check_refused<config_error>([&] { deploy::lower_micro(bad); }, "needs one scale and one zero point");
    }
    {
        auto bad = g;
        for (auto& n : bad.nodes)
            if (n.op == Op::max_pool2d) n.op = Op::lstm;
        check_refused<config_error>([&] { deploy::lower_micro(bad); }, "does not run this op");
    }
    {
        auto bad = g;
        bad.nodes.front().dilation = {2, 2};
        check_refused<config_error>([&] { deploy::lower_micro(bad); }, "dilation");
    }
}

#if defined(EDGESTACK_MICRO_CROSS)

namespace {

std::string read_command(const std::string& cmd, int& status) {
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    BOOST_REQUIRE_MESSAGE(p != nullptr, "cannot run: " << cmd);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    status = pclose(p);
    return out;
}

/// Builds examples/micro_firmware around `g` and `in` in `dir`, runs it in QEMU, and
/// returns the output codes it printed.
std::vector<std::int8_t> run_firmware(const Graph& g, const std::vector<std::int8_t>& in,
                                      const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    const auto m = deploy::lower_micro(g);
    std::ofstream(dir / "model.hpp") << deploy::micro_source(m, "model");
    {
        const std::size_t isz = m.network.input_size;
        std::ofstream f(dir / "inputs.hpp");
        f << "// Fixed int8 inputs of the firmware test.\n#pragma once\n#include <stdint.h>\n"
          << "inline constexpr int8_t inputs[" << in.size() / isz << "][" << isz << "] = {\n";
        for (std::size_t s = 0; s * isz < in.size(); ++s) {
            f << "  {";
            for (std::size_t i = 0; i < isz; ++i) f << int{in[s * isz + i]} << ",";
            f << "},\n";
        }
        f << "};\n";
    }
    const std::string src = EDGESTACK_SOURCE_DIR "/examples/micro_firmware";
    const std::string elf = (dir / "firmware.elf").string();
    int status = 0;
    const std::string build =
        std::string(EDGESTACK_ARM_GXX) +
        " -std=c++20 -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16 -fno-exceptions -fno-rtti -O2"
        " -Wall -Wextra -Werror -ffunction-sections -fdata-sections"
        " -I" EDGESTACK_SOURCE_DIR "/include -I" + src + " -I" + dir.string() + " " + src + "/startup.cpp " + src +
        "/main.cpp -nostartfiles -nodefaultlibs -T " + src + "/mps2_an500.ld -Wl,--gc-sections -o " + elf +
        " -Wl,--start-group -lc_nano -lm -lgcc -Wl,--end-group";
    const auto log = read_command(build, status);
    BOOST_REQUIRE_MESSAGE(status == 0, "cross build failed:\n" << build << "\n" << log);
    BOOST_TEST_MESSAGE("arm-none-eabi-size:\n" << read_command(std::string(EDGESTACK_ARM_SIZE) + " -A " + elf, status));
    const std::string run = "timeout 300 " + std::string(EDGESTACK_QEMU_ARM) +
                            " -M mps2-an500 -nographic -monitor none -serial none"
                            " -semihosting-config enable=on,target=native -kernel " + elf;
    const auto out = read_command(run, status);
    BOOST_REQUIRE_MESSAGE(status == 0, "qemu failed (status " << status << "):\n" << out);
    BOOST_TEST_MESSAGE("firmware printed:\n" << out);
    std::vector<std::int8_t> codes;
    std::istringstream lines(out);
    std::size_t sample = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("out ", 0) != 0) continue;
        std::istringstream f(line.substr(line.find(':') + 1));
        std::size_t n = 0;
        for (int v; f >> v; ++n) codes.push_back(static_cast<std::int8_t>(v));
        BOOST_TEST(n == m.network.output_size, "sample " << sample << " printed " << n << " codes");
        ++sample;
    }
    BOOST_TEST(out.find("arena ") != std::string::npos);
    return codes;
}

} // namespace

BOOST_AUTO_TEST_CASE(cortex_m7_firmware_in_qemu_matches_reference, *boost::unit_test::timeout(900)) {
    // Every network of the host test, so that every kernel runs on the target: the
    // reference CNN, the depthwise-separable CNN, the odd-sized network with the lookup
    // tables and softmax, the residual one, and the one with concat and padded pools.
    const auto nets = int8_nets();
    for (std::size_t k = 0; k < nets.size(); ++k) {
        const auto& g = nets[k];
        const std::string name = "net" + std::to_string(k);
        BOOST_TEST_CONTEXT("firmware " << name << " (input " << compile::to_string(g.input_shape()) << ")") {
            const auto in = input_codes(g, 4, 33);
            const auto got = run_firmware(g, in, std::filesystem::path(EDGESTACK_MICRO_WORK_DIR) / name);
            check_codes(got, reference_codes(g, in), g.output_size());
        }
    }
}

#endif

BOOST_AUTO_TEST_SUITE_END()
