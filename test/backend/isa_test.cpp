// The Simd backend at every instruction-set level this CPU has, selected with the
// EDGESTACK_ISA cap: within 1e-5 of Reference in fp32 and identical in int8 on the test
// networks, the level chosen never above the cap, its kernels named for it, and an unknown
// cap refused with a message that lists the accepted ones; the int8 input quantization of
// every level equal to quant::quantize.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common.hpp"
#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/simd.hpp"
#include "edgestack/core/cpu.hpp"

using namespace edgestack;

namespace {

/// Sets EDGESTACK_ISA for one scope and restores what was there.
class IsaCap {
public:
    explicit IsaCap(const std::string& value) {
        if (const char* old = std::getenv("EDGESTACK_ISA")) old_ = old;
        ::setenv("EDGESTACK_ISA", value.c_str(), 1);
    }
    ~IsaCap() {
        if (old_) ::setenv("EDGESTACK_ISA", old_->c_str(), 1);
        else ::unsetenv("EDGESTACK_ISA");
    }
    IsaCap(const IsaCap&) = delete;
    IsaCap& operator=(const IsaCap&) = delete;

private:
    std::optional<std::string> old_;
};

/// The levels this CPU runs; the others are reported, not silently passed over.
std::vector<Isa> levels_here() {
    std::vector<Isa> out;
    for (Isa i : all_isas) {
        if (isa_supported(i)) out.push_back(i);
        else BOOST_TEST_MESSAGE("this CPU lacks " << isa_name(i) << ": its kernels are not run");
    }
    return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

} // namespace

BOOST_AUTO_TEST_SUITE(isa)

BOOST_AUTO_TEST_CASE(input_quantization_equals_quant_quantize_at_every_level) {
    // Ties either side of zero, values that clamp, signed zeros, NaN and infinities, values
    // of 2^23 and more (no fraction bits left), then random bit patterns; 3 past a multiple
    // of 8, so the scalar tail runs too.
    const float scale = 0.25f;
    std::vector<float> x;
    for (int k = -300; k <= 300; ++k) x.push_back(scale * (static_cast<float>(k) + 0.5f));
    for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 31.9f, -32.1f, 8388608.0f, -8388609.0f, 3e38f, -3e38f,
                    std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()})
        x.push_back(v);
    std::mt19937 gen(3);
    for (int k = 0; k < 200 || x.size() % 8 != 3; ++k) {
        const std::uint32_t bits = gen();
        float v;
        std::memcpy(&v, &bits, sizeof v);
        x.push_back(v);
    }
    for (std::int32_t zp : {0, -7, 100}) {
        std::vector<std::int8_t> want(x.size()), got(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) want[i] = quant::quantize(x[i], scale, zp);
        for (Isa level : levels_here()) {
            BOOST_TEST_CONTEXT("level " << isa_name(level) << ", zero point " << zp) {
                std::fill(got.begin(), got.end(), std::int8_t{55});
                backend::detail::SimdKernels::quantize(x.data(), got.data(), x.size(), scale, zp, level);
                std::size_t bad = 0;
                while (bad < x.size() && got[bad] == want[bad]) ++bad;
                BOOST_TEST(bad == x.size(), "value " << (bad < x.size() ? x[bad] : 0.0f) << ": "
                                                      << (bad < x.size() ? int{got[bad]} : 0) << " against "
                                                      << (bad < x.size() ? int{want[bad]} : 0));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(names_round_trip) {
    for (Isa i : all_isas) BOOST_TEST(parse_isa(isa_name(i)) == i);
    BOOST_TEST(isa_supported(Isa::scalar));
    BOOST_TEST(isa_at_most(Isa::scalar) == Isa::scalar);
    BOOST_TEST(isa_supported(detected_isa()));
#if defined(__x86_64__)
    BOOST_TEST(isa_supported(Isa::sse2)); // every x86-64 CPU has it
#endif
}

BOOST_AUTO_TEST_CASE(every_level_agrees_with_reference) {
    for (Isa level : levels_here()) {
        BOOST_TEST_CONTEXT("EDGESTACK_ISA=" << isa_name(level)) {
            const IsaCap cap(std::string(isa_name(level)));
            BOOST_TEST(selected_isa() == level);
            for (const auto& g : test::op_zoo()) {
                const auto x = backend::nets::random_inputs(g, 3, 17);
                const backend::SimdEngine fast(g);
                BOOST_TEST(fast.isa() <= level);
                test::check_close(test::run_engine(fast, x), test::run_engine(backend::ReferenceEngine(g), x));
                const auto q = test::quantized(g);
                const backend::SimdEngine fast8(q);
                BOOST_TEST(fast8.isa() <= level);
                test::check_equal(test::run_engine(fast8, x), test::run_engine(backend::ReferenceEngine(q), x));
            }
        }
    }
}

// add_i8 and f32_add at every level, against the unfused graph on Reference.
BOOST_AUTO_TEST_CASE(every_level_clamps_a_fused_add) {
    for (Isa level : levels_here()) {
        BOOST_TEST_CONTEXT("EDGESTACK_ISA=" << isa_name(level)) {
            const IsaCap cap(std::string(isa_name(level)));
            for (const auto& c : test::add_relu_cases()) {
                const auto x = backend::nets::random_inputs(c.unfused, 3, 31);
                const auto got = test::run_engine(backend::SimdEngine(c.fused), x);
                const auto want = test::run_engine(backend::ReferenceEngine(c.unfused), x);
                if (c.fused.value_quant.empty()) test::check_close(got, want);
                else test::check_equal(got, want);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(every_level_agrees_at_every_tile_height) {
    const auto g = backend::nets::cnn(9);
    const auto q = test::quantized(g);
    for (Isa level : levels_here()) {
        BOOST_TEST_CONTEXT("EDGESTACK_ISA=" << isa_name(level)) {
            const IsaCap cap(std::string(isa_name(level)));
            for (std::size_t batch : {1u, 2u, 3u, 7u, 9u, 17u}) {
                const auto x = backend::nets::random_inputs(g, batch, batch);
                test::check_close(test::run_engine(backend::SimdEngine(g), x),
                                  test::run_engine(backend::ReferenceEngine(g), x));
                test::check_equal(test::run_engine(backend::SimdEngine(q), x),
                                  test::run_engine(backend::ReferenceEngine(q), x));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(the_cap_is_honoured_and_the_kernels_named_for_it) {
    const auto g = backend::nets::ds_cnn(4);
    const auto q = test::quantized(g);
    for (Isa cap_level : all_isas) {
        if (!isa_of_this_arch(cap_level)) continue; // refused: another_architectures_level_is_refused
        BOOST_TEST_CONTEXT("EDGESTACK_ISA=" << isa_name(cap_level)) {
            const IsaCap cap(std::string(isa_name(cap_level)));
            const Isa want = isa_at_most(cap_level);
            BOOST_TEST(isa_supported(want));
            BOOST_TEST(want <= cap_level);
            for (const auto* graph : {&g, &q}) {
                const backend::SimdEngine e(*graph);
                BOOST_TEST(e.isa() <= cap_level);
                const auto names = e.kernel_names();
                BOOST_REQUIRE_EQUAL(names.size(), e.program().steps.size());
                std::size_t vector_steps = 0;
                for (std::size_t i = 0; i < names.size(); ++i) {
                    const auto& s = e.program().steps[i];
                    if (s.pack().winograd || s.alias) continue;
                    BOOST_TEST_CONTEXT("step " << s.name << ": " << names[i]) {
                        BOOST_TEST(names[i].rfind(s.int8 ? "qs8-" : "f32-", 0) == 0);
                        BOOST_TEST(s.level <= cap_level);
                        if (s.level == Isa::scalar) {
                            BOOST_TEST(ends_with(names[i], "-scalar"));
                            continue;
                        }
                        ++vector_steps;
                        BOOST_TEST(s.level == want);
                        // fp32 kernels use no VNNI instruction and carry the level below's name.
                        std::string isa(isa_name(s.level));
                        if (!s.int8 && s.level == Isa::avxvnni) isa = "avx2";
                        if (!s.int8 && s.level == Isa::avx512vnni) isa = "avx512";
                        BOOST_TEST(ends_with(names[i], "-" + isa));
                    }
                }
#if defined(EDGESTACK_SIMD_DISPATCH)
                // Dense, convolution and depthwise steps run vector kernels at every level but scalar.
                // On AArch64 the one level, NEON, runs them too.
                if (want != Isa::scalar) BOOST_TEST(vector_steps >= 3u);
                else BOOST_TEST(vector_steps == 0u);
#endif
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_parallel_engine_reports_its_inner_engines_kernels) {
    const auto g = backend::nets::cnn(5);
#if defined(__aarch64__)
    const IsaCap cap("neon");
#else
    const IsaCap cap("avx2");
#endif
    const backend::SimdEngine one(g);
    const auto par = backend::Parallel<backend::Simd>{{}, 2}.compile(g);
    BOOST_TEST(par.isa() == one.isa());
    BOOST_TEST(par.kernel_names() == one.kernel_names(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_unknown_level_is_refused_by_name) {
    const auto g = backend::nets::cnn(3);
    for (const char* bad : {"avx9", "AVX2", "native"}) {
        const IsaCap cap(bad);
        BOOST_CHECK_EXCEPTION(backend::SimdEngine{g}, config_error, [&](const config_error& e) {
            const std::string m = e.what();
            return m.find("EDGESTACK_ISA") != std::string::npos && m.find(std::string("'") + bad + "'") != std::string::npos &&
                   m.find("accepted: scalar, sse2, avx2, avxvnni, avx512, avx512vnni, neon") != std::string::npos;
        });
    }
    // A level of another architecture is named as such, with the levels this program runs.
    for (Isa other : all_isas) {
        if (isa_of_this_arch(other)) continue;
        const IsaCap cap(std::string(isa_name(other)));
        BOOST_CHECK_EXCEPTION(backend::SimdEngine{g}, config_error, [&](const config_error& e) {
            const std::string m = e.what();
            return m.find("another architecture") != std::string::npos &&
                   m.find(std::string("'") + std::string(isa_name(other)) + "'") != std::string::npos &&
                   m.find("runs: scalar") != std::string::npos;
        });
    }
    const IsaCap empty("");
    BOOST_TEST(selected_isa() == detected_isa()); // set but empty: no cap
}

BOOST_AUTO_TEST_SUITE_END()
