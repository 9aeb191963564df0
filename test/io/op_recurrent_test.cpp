// The lstm and gru op units end to end (compile/ops/recurrent.hpp, lstm.hpp, gru.hpp):
// declared models with GRU and LSTM (the last step and every step, stacked, one step, the
// keyword-spotting sizes 49 x 10 -> 64) lowered and exported to ONNX, run by ONNX Runtime
// and compared with the training layers' own forward pass (Sequential::predict); every
// backend compared with both (bidirectional layers too); weights that do not fit refused by
// name; int8 of a bidirectional layer refused (int8: op_recurrent_int8_test.cpp).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "edgestack/backend/parallel.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/backend/simd.hpp"
#if defined(EDGESTACK_HAS_XNNPACK)
#include "edgestack/backend/xnnpack.hpp"
#endif
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/nn/nn.hpp"
#include "declared_checks.hpp"
#include "graphs.hpp"
#include "io_util.hpp"
#include "ort.hpp"
#include "pytorch_exports.hpp"

using namespace edgestack;
namespace utf = boost::unit_test;

using iotest::check_model;
using iotest::init_with_biases;
using iotest::refused_everywhere;

BOOST_AUTO_TEST_SUITE(op_recurrent)

BOOST_AUTO_TEST_CASE(keyword_spotting_gru_and_lstm_match_ort_and_predict, *utf::precondition(iotest::OrtPresent{})) {
    check_model<nn::Sequential<nn::Input<49, 10>, nn::GRU<64>, nn::Dense<12>, nn::Softmax>>("kws gru", 11);
    check_model<nn::Sequential<nn::Input<49, 10>, nn::LSTM<64>, nn::Dense<12>, nn::Softmax>>("kws lstm", 12);
}

BOOST_AUTO_TEST_CASE(every_step_outputs_match_ort_and_predict, *utf::precondition(iotest::OrtPresent{})) {
    check_model<nn::Sequential<nn::Input<6, 5>, nn::GRU<8, true>>>("gru every step", 21);
    check_model<nn::Sequential<nn::Input<6, 5>, nn::LSTM<7, true>>>("lstm every step", 22);
    check_model<nn::Sequential<nn::Input<9, 4>, nn::GRU<17, true>, nn::Flatten, nn::Dense<3>>>("gru steps, dense", 23);
}

BOOST_AUTO_TEST_CASE(stacked_and_one_step_layers_match_ort_and_predict, *utf::precondition(iotest::OrtPresent{})) {
    check_model<nn::Sequential<nn::Input<7, 5>, nn::LSTM<6, true>, nn::GRU<4, true>, nn::LSTM<5>>>("lstm, gru, lstm", 31);
    check_model<nn::Sequential<nn::Input<8, 3>, nn::GRU<5, true>, nn::GRU<33>>>("gru, gru", 32, 5);
    check_model<nn::Sequential<nn::Input<1, 4>, nn::GRU<3>>>("gru one step", 33);
    check_model<nn::Sequential<nn::Input<1, 4>, nn::LSTM<3, true>>>("lstm one step", 34);
}

BOOST_AUTO_TEST_CASE(bidirectional_layers_match_ort_and_predict, *utf::precondition(iotest::OrtPresent{})) {
    check_model<nn::Sequential<nn::Input<6, 5>, nn::Bidirectional<nn::GRU<8>>>>("bigru last", 41);
    check_model<nn::Sequential<nn::Input<6, 5>, nn::Bidirectional<nn::GRU<8, true>>>>("bigru every step", 42);
    check_model<nn::Sequential<nn::Input<7, 4>, nn::Bidirectional<nn::LSTM<5>>, nn::Dense<3>>>("bilstm last", 43);
    check_model<nn::Sequential<nn::Input<5, 3>, nn::Bidirectional<nn::LSTM<17, true>>, nn::GRU<6>>>("bilstm steps, gru", 44);
    check_model<nn::Sequential<nn::Input<49, 10>, nn::Bidirectional<nn::GRU<32>>, nn::Dense<12>, nn::Softmax>>("kws bigru", 45);
}

BOOST_AUTO_TEST_CASE(int8_bidirectional_is_refused_naming_the_node) {
    for (auto g : {nn::Sequential<nn::Input<4, 3>, nn::Bidirectional<nn::GRU<5>>>{}.lower(),
                   nn::Sequential<nn::Input<4, 3>, nn::Bidirectional<nn::LSTM<5>>>{}.lower()}) {
        g.value_quant.assign(g.values.size(), {{0.05f}, {0}, -1});
        const std::string node = "'" + g.nodes[0].name + "' (" + std::string(compile::op_name(g.nodes[0].op)) + ")";
        refused_everywhere<config_error>(g, node, "int8 bidirectional recurrent layers are not supported");
    }
}

BOOST_AUTO_TEST_CASE(weights_that_do_not_fit_are_refused_naming_the_node) {
    compile::Graph g = nn::Sequential<nn::Input<4, 3>, nn::GRU<5>>{}.lower();
    g.nodes[0].weights.pop_back();
    refused_everywhere<shape_error>(g, "'" + g.nodes[0].name + "' (gru)", "expected 120");
    compile::Graph l = nn::Sequential<nn::Input<4, 3>, nn::LSTM<5>>{}.lower();
    l.nodes[0].bias.push_back(0.0f);
    refused_everywhere<shape_error>(l, "'" + l.nodes[0].name + "' (lstm)", "and 20");
}

BOOST_AUTO_TEST_CASE(state_lives_in_the_arena_scratch) {
    using Net = nn::Sequential<nn::Input<49, 10>, nn::GRU<64>, nn::Dense<12>>;
    const auto e = backend::Simd{}.compile(Net{}.lower());
    // h, c and two rows of 3 x 64 gate values.
    BOOST_TEST(e.program().scratch_bytes >= (2 * 64 + 2 * 3 * 64) * sizeof(float));
    BOOST_TEST(e.arena_bytes(4) - e.arena_bytes(1) == compile::align_up(4 * e.activation_bytes_per_sample()) -
                                                       compile::align_up(e.activation_bytes_per_sample()),
               "the scratch does not grow with the batch");
}

BOOST_AUTO_TEST_CASE(both_directions_share_one_scratch) {
    // The backward direction reuses the forward one's state: the scratch of a bidirectional
    // layer is that of one direction.
    using One = nn::Sequential<nn::Input<49, 10>, nn::GRU<64>, nn::Dense<12>>;
    using Bi = nn::Sequential<nn::Input<49, 10>, nn::Bidirectional<nn::GRU<64>>, nn::Dense<12>>;
    const auto one = backend::Simd{}.compile(One{}.lower());
    const auto bi = backend::Simd{}.compile(Bi{}.lower());
    BOOST_TEST(bi.program().scratch_bytes == one.program().scratch_bytes);
    BOOST_TEST(bi.arena_bytes(4) - bi.arena_bytes(1) == compile::align_up(4 * bi.activation_bytes_per_sample()) -
                                                         compile::align_up(bi.activation_bytes_per_sample()));
}

BOOST_AUTO_TEST_SUITE_END()
