// The int8 lstm and gru (compile/ops/recurrent_int8.hpp, backend/detail/simd_sequence_int8.hpp):
// the Reference kernel against an integer recurrence written here from the documented
// scheme, the Simd kernels against Reference at every instruction-set level this CPU has,
// the int8 engine against the fp32 one and against ONNX Runtime on the QDQ export (ONNX has no
// int8 GRU: the export quantizes the values around a float GRU), and the refusals.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#include "edgestack/core/cpu.hpp"
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/nn/nn.hpp"
#include "edgestack/quant/graph_ptq.hpp"
#include "declared_checks.hpp"
#include "int8_checks.hpp"
#include "io_util.hpp"
#include "ort.hpp"

using namespace edgestack;

namespace {

using iotest::random_codes;
using iotest::run_codes;
using iotest::worst_step;

/// A model's fp32 graph and its int8 form (64 calibration samples in [-1.5, 1.5]).
template <class Net>
std::pair<compile::Graph, compile::Graph> graphs(unsigned seed) {
    return iotest::int8_graphs<Net>(seed, 64, 1.5f);
}

/// The scheme written out: per-row symmetric int8 weights, int16 state of scale 1/32767,
/// int64 sums (so that an int32 overflow in the engine would show), fp32 gates with
/// std::exp, the output quantized ties to even.
std::vector<std::int8_t> integer_recurrence(const compile::Graph& q, const std::vector<std::int8_t>& x) {
    const compile::Node& n = q.nodes.at(0);
    const bool lstm = n.op == compile::Op::lstm;
    const std::size_t G = lstm ? 4 : 3;
    const auto& in = q.values[0];
    const auto& outd = q.values[static_cast<std::size_t>(n.output)];
    const std::size_t T = in[0], F = in[1], U = outd.back(), GU = G * U;
    const bool every = outd.size() == 2;
    const float s_in = q.value_quant[0].scale[0], s_out = q.value_quant[1].scale[0];
    const int zp_in = q.value_quant[0].zero_point[0], zp_out = q.value_quant[1].zero_point[0];
    auto rows = [&](std::size_t off, std::size_t K, std::vector<long>& codes, std::vector<double>& scale) {
        codes.resize(GU * K);
        scale.resize(GU);
        for (std::size_t j = 0; j < GU; ++j) {
            float m = 0;
            for (std::size_t k = 0; k < K; ++k) m = std::max(m, std::fabs(n.weights[off + j * K + k]));
            const float s = m > 0 ? m / 127.0f : 1.0f;
            scale[j] = s;
            for (std::size_t k = 0; k < K; ++k)
                codes[j * K + k] = std::lrint(std::clamp(n.weights[off + j * K + k] / s, -127.0f, 127.0f));
        }
    };
    std::vector<long> wx, wh;
    std::vector<double> sx, sh;
    rows(0, F, wx, sx);
    rows(GU * F, U, wh, sh);
    auto sig = [](float v) { return 1.0f / (1.0f + std::exp(-v)); };
    const std::size_t batch = x.size() / (T * F);
    std::vector<std::int8_t> y(batch * (every ? T : 1) * U);
    for (std::size_t b = 0; b < batch; ++b) {
        std::vector<long> h(U, 0);
        std::vector<float> c(U, 0.0f), a(GU), hb(GU), hf(U);
        for (std::size_t t = 0; t < T; ++t) {
            for (std::size_t j = 0; j < GU; ++j) {
                long long ax = 0, ah = 0;
                for (std::size_t k = 0; k < F; ++k) ax += (x[(b * T + t) * F + k] - zp_in) * wx[j * F + k];
                for (std::size_t k = 0; k < U; ++k) ah += h[k] * wh[j * U + k];
                a[j] = static_cast<float>(s_in * static_cast<float>(sx[j])) * static_cast<float>(ax) + n.bias[j];
                const float hbias = lstm ? 0.0f : n.bias[GU + j];
                hb[j] = static_cast<float>(sh[j]) / 32767.0f * static_cast<float>(ah) + hbias;
            }
            for (std::size_t u = 0; u < U; ++u) {
                const float hp = static_cast<float>(h[u]) / 32767.0f;
                if (lstm) {
                    const float i = sig(a[u] + hb[u]), f = sig(a[U + u] + hb[U + u]);
                    const float g = std::tanh(a[2 * U + u] + hb[2 * U + u]), o = sig(a[3 * U + u] + hb[3 * U + u]);
                    c[u] = f * c[u] + i * g;
                    hf[u] = o * std::tanh(c[u]);
                } else {
                    const float r = sig(a[u] + hb[u]), z = sig(a[U + u] + hb[U + u]);
                    const float nn = std::tanh(a[2 * U + u] + r * hb[2 * U + u]);
                    hf[u] = (1.0f - z) * nn + z * hp;
                }
            }
            for (std::size_t u = 0; u < U; ++u) h[u] = std::clamp(std::lrint(hf[u] * 32767.0f), -32767L, 32767L);
            if (every || t + 1 == T)
                for (std::size_t u = 0; u < U; ++u) {
                    const float v = std::nearbyint(static_cast<float>(h[u]) / 32767.0f / s_out) + static_cast<float>(zp_out);
                    y[(b * (every ? T : 1) + (every ? t : 0)) * U + u] = static_cast<std::int8_t>(std::clamp(v, -128.0f, 127.0f));
                }
        }
    }
    return y;
}

/// Sets EDGESTACK_ISA for one scope and restores what was there.
struct IsaCap {
    std::optional<std::string> old;
    explicit IsaCap(std::string_view v) {
        if (const char* o = std::getenv("EDGESTACK_ISA")) old = o;
        ::setenv("EDGESTACK_ISA", std::string(v).c_str(), 1);
    }
    ~IsaCap() {
        if (old) ::setenv("EDGESTACK_ISA", old->c_str(), 1);
        else ::unsetenv("EDGESTACK_ISA");
    }
};

using Gru1 = nn::Sequential<nn::Input<6, 5>, nn::GRU<8, true>>;
using Gru2 = nn::Sequential<nn::Input<9, 7>, nn::GRU<17>>;
using Lstm1 = nn::Sequential<nn::Input<6, 5>, nn::LSTM<8, true>>;
using Lstm2 = nn::Sequential<nn::Input<9, 7>, nn::LSTM<33>>;
using KwsGru = nn::Sequential<nn::Input<49, 10>, nn::GRU<64>>;
using KwsLstm = nn::Sequential<nn::Input<49, 10>, nn::LSTM<64>>;

template <class Net>
void check_reference_is_the_scheme(unsigned seed, const char* what) {
    const auto [g, q] = graphs<Net>(seed);
    const auto x = random_codes(3 * g.input_size(), seed + 2);
    const auto want = integer_recurrence(q, x);
    const auto got = run_codes(backend::Reference{}, q, x);
    BOOST_TEST(worst_step(got, want) == 0, what << ": reference differs from the integer recurrence");
}

template <class Net>
void check_simd_at_every_level(unsigned seed, const char* what) {
    const auto [g, q] = graphs<Net>(seed);
    const auto x = random_codes(4 * g.input_size(), seed + 3);
    const auto want = run_codes(backend::Reference{}, q, x);
    for (Isa isa : all_isas) {
        if (isa > detected_isa()) continue;
        IsaCap cap(isa_name(isa));
        const auto got = run_codes(backend::Simd{}, q, x);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
        BOOST_TEST(worst_step(got, want) <= 1, what << " at " << isa_name(isa) << ": more than one step from reference");
        BOOST_TEST_MESSAGE(what << " at " << isa_name(isa) << ": " << differ << " of " << got.size()
                                << " codes one step from reference");
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(op_recurrent_int8)

BOOST_AUTO_TEST_CASE(reference_is_the_documented_integer_scheme) {
    check_reference_is_the_scheme<Gru1>(41, "gru every step");
    check_reference_is_the_scheme<Gru2>(42, "gru last step");
    check_reference_is_the_scheme<Lstm1>(43, "lstm every step");
    check_reference_is_the_scheme<Lstm2>(44, "lstm last step");
    check_reference_is_the_scheme<KwsGru>(45, "kws gru");
}

BOOST_AUTO_TEST_CASE(simd_is_within_one_step_of_reference_at_every_level) {
    check_simd_at_every_level<Gru1>(51, "gru every step");
    check_simd_at_every_level<Gru2>(52, "gru last step");
    check_simd_at_every_level<Lstm1>(53, "lstm every step");
    check_simd_at_every_level<Lstm2>(54, "lstm last step");
    check_simd_at_every_level<KwsGru>(55, "kws gru");
    check_simd_at_every_level<KwsLstm>(56, "kws lstm");
}

BOOST_AUTO_TEST_CASE(int8_engine_follows_fp32) {
    using Net = nn::Sequential<nn::Input<49, 10>, nn::GRU<64>, nn::Dense<12>>;
    const auto [g, q] = graphs<Net>(61);
    const auto x = iotest::random_floats(8 * g.input_size(), -1.5f, 1.5f, 62);
    const auto f = iotest::run_on(backend::Reference{}, g, x);
    const float step = q.value_quant.at(static_cast<std::size_t>(q.output)).scale.at(0);
    std::vector<std::pair<const char*, std::vector<float>>> runs{{"reference", iotest::run_on(backend::Reference{}, q, x)},
                                                                 {"simd", iotest::run_on(backend::Simd{}, q, x)}};
#if defined(EDGESTACK_HAS_XNNPACK)
    runs.emplace_back("xnnpack", iotest::run_on(backend::Xnnpack{}, q, x));
#endif
    for (const auto& [name, y] : runs) {
        float worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - f[i]));
        BOOST_TEST(worst <= 3 * step, name << ": " << worst / step << " output steps from fp32");
    }
}

BOOST_AUTO_TEST_CASE(qdq_export_with_a_float_gru_is_within_steps_of_ort,
                     *boost::unit_test::precondition(iotest::OrtPresent{})) {
    using Net = nn::Sequential<nn::Input<49, 10>, nn::GRU<64>, nn::Dense<12>>;
    const auto [g, q] = graphs<Net>(71);
    iotest::TempDir dir;
    io::export_onnx(dir.file("q.onnx"), q);
    constexpr std::size_t N = 4;
    const auto x = iotest::random_floats(N * g.input_size(), -1.5f, 1.5f, 72);
    const auto want = iotest::ort_run(dir.file("q.onnx"), x, N, q.input_shape(), dir, "basic");
    const float step = q.value_quant.at(static_cast<std::size_t>(q.output)).scale.at(0);
    for (const auto& [name, y] : {std::pair{"reference", iotest::run_on(backend::Reference{}, q, x)},
                                  std::pair{"simd", iotest::run_on(backend::Simd{}, q, x)}}) {
        BOOST_REQUIRE_EQUAL(y.size(), want.size());
        float worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - want[i]));
        // ORT runs the GRU on fp32 weights and state; the engine on int8 weights and int16 state.
        BOOST_TEST(worst <= 3 * step, name << ": " << worst / step << " output steps from ONNX Runtime");
        BOOST_TEST_MESSAGE(name << ": " << worst / step << " output steps from ONNX Runtime");
    }
}

BOOST_AUTO_TEST_CASE(too_many_units_are_refused_naming_the_node) {
    compile::Graph g = nn::Sequential<nn::Input<2, 3>, nn::GRU<520>>{}.lower();
    g.value_quant.assign(g.values.size(), {{0.05f}, {0}, -1});
    iotest::refused_everywhere<config_error>(g, "'" + g.nodes[0].name + "' (gru)", "at most 516 units");
}

BOOST_AUTO_TEST_SUITE_END()
