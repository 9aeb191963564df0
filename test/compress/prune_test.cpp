// Magnitude pruning: the schedule, the masks, and pruned weights staying zero in training.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "edgestack/compress/magnitude.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/train/optimizer.hpp"

namespace ec = edgestack::compress;
namespace nn = edgestack::nn;

namespace {
using Net = nn::Sequential<nn::Input<8>, nn::Dense<32>, nn::ReLU, nn::Dense<4>>;
using P = edgestack::Pipeline<edgestack::data::InMemoryLoader, edgestack::data::NoAugment, Net,
                              edgestack::quant::NoQuant, edgestack::backend::Reference>;

// Four Gaussian blobs in 8-D: learnable, so training moves the weights.
edgestack::data::InMemoryLoader blobs(std::size_t n, std::uint64_t seed) {
    edgestack::Rng rng(seed);
    std::vector<float> x(n * 8);
    std::vector<std::int32_t> y(n);
    for (std::size_t i = 0; i < n; ++i) {
        y[i] = static_cast<std::int32_t>(i % 4);
        for (std::size_t d = 0; d < 8; ++d)
            x[i * 8 + d] = rng.normal(d % 4 == static_cast<std::size_t>(y[i]) ? 2.0f : 0.0f, 0.7f);
    }
    return {std::move(x), std::move(y), 8, 4};
}
} // namespace

BOOST_AUTO_TEST_SUITE(prune)

BOOST_AUTO_TEST_CASE(polynomial_schedule_rises_to_its_final_sparsity) {
    ec::PolynomialSparsity s{0.0f, 0.8f, 10, 110, 10, 3.0f};
    BOOST_TEST(s.at(0) == 0.0f);
    BOOST_TEST(s.at(10) == 0.0f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(s.at(60) == 0.8f - 0.8f * 0.125f, boost::test_tools::tolerance(1e-5f));
    BOOST_TEST(s.at(110) == 0.8f);
    BOOST_TEST(s.at(1000) == 0.8f);
    for (std::size_t t = 11; t < 120; ++t) BOOST_TEST(s.at(t) >= s.at(t - 1));
    BOOST_TEST(s.update_at(20));
    BOOST_TEST(!s.update_at(25));
    BOOST_TEST(!s.update_at(200));
}

BOOST_AUTO_TEST_CASE(bad_schedules_are_rejected) {
    BOOST_CHECK_THROW((ec::PolynomialSparsity{0.0f, 1.0f, 0, 10, 1, 3.0f}.validate()),
                      edgestack::config_error);
    BOOST_CHECK_THROW((ec::PolynomialSparsity{0.0f, 0.5f, 10, 10, 1, 3.0f}.validate()),
                      edgestack::config_error);
    BOOST_CHECK_THROW((ec::ConstantSparsity{-0.1f}.validate()), edgestack::config_error);
}

BOOST_AUTO_TEST_CASE(weight_blocks_skip_biases) {
    Net m;
    const auto b = ec::weight_blocks(m);
    BOOST_REQUIRE_EQUAL(b.size(), 2u);
    BOOST_TEST(b[0].offset == 0u);
    BOOST_TEST(b[0].count == 32u * 8u);
    BOOST_TEST(b[1].offset == Net::param_offsets[2]);
    BOOST_TEST(b[1].count == 4u * 32u);
}

BOOST_AUTO_TEST_CASE(one_shot_prunes_the_smallest_magnitudes_per_layer) {
    Net m;
    edgestack::Rng rng(1);
    m.init(rng);
    auto opt = ec::prune_while_training(edgestack::train::Sgd(0.01f), m, ec::ConstantSparsity{0.75f});
    const std::vector<float> before(m.parameters().begin(), m.parameters().end());
    opt.prune_now(m.parameters(), 0.75f);
    for (const auto& blk : opt.blocks()) {
        std::size_t zeros = 0;
        float largest_pruned = 0.0f, smallest_kept = 1e9f;
        for (std::size_t i = 0; i < blk.count; ++i) {
            const float w = m.parameters()[blk.offset + i];
            const float a = std::fabs(before[blk.offset + i]);
            if (w == 0.0f) {
                ++zeros;
                largest_pruned = std::max(largest_pruned, a);
            } else {
                smallest_kept = std::min(smallest_kept, a);
            }
        }
        BOOST_TEST(zeros == blk.count * 3 / 4);
        BOOST_TEST(largest_pruned <= smallest_kept);
    }
    // Biases untouched.
    BOOST_TEST(m.parameters()[Net::param_offsets[1] - 1] == before[Net::param_offsets[1] - 1]);
}

BOOST_AUTO_TEST_CASE(pruned_weights_stay_zero_through_training) {
    P p(3);
    const auto data = blobs(512, 4);
    // Adam with momentum would move a merely gradient-masked weight; ours must stay at 0.
    auto opt = ec::prune_while_training(edgestack::train::Adam(1e-2f), p.model(),
                                        ec::PolynomialSparsity{0.0f, 0.9f, 0, 40, 5, 3.0f});
    const auto blocks = opt.blocks();
    std::vector<std::uint8_t> mask_at_40;
    struct Check {
        decltype(opt)* o;
        Net* m;
        std::vector<std::uint8_t>* snap;
        std::size_t violations = 0;
        void on_batch_end(const edgestack::train::BatchStats&) {
            const auto mk = o->mask();
            const auto ps = m->parameters();
            for (std::size_t i = 0; i < mk.size(); ++i) violations += !mk[i] && ps[i] != 0.0f;
            if (o->steps() == 40) snap->assign(mk.begin(), mk.end());
            if (o->steps() > 40 && !snap->empty())
                for (std::size_t i = 0; i < mk.size(); ++i) violations += (*snap)[i] && !mk[i];
        }
    } check{&opt, &p.model(), &mask_at_40};
    p.fit(data, opt, {10, 32, true, false}, check); // 160 steps: 40 pruning, 120 fine-tuning
    BOOST_TEST(check.violations == 0u);
    BOOST_TEST(ec::sparsity_of(p.model().parameters(), blocks) == 0.9, boost::test_tools::tolerance(0.01));
    BOOST_TEST(p.evaluate(data).accuracy > 0.9); // still learns the blobs at 90% sparsity
}

BOOST_AUTO_TEST_SUITE_END()
