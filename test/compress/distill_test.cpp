// Distillation: the loss, its gradient, and a student learning from a teacher type.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "edgestack/backend/reference.hpp"
#include "edgestack/compress/distill.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/train/evaluate.hpp"
#include "edgestack/train/loss.hpp"
#include "edgestack/train/optimizer.hpp"

namespace ec = edgestack::compress;
namespace nn = edgestack::nn;

BOOST_AUTO_TEST_SUITE(distill)

BOOST_AUTO_TEST_CASE(gradient_matches_finite_differences) {
    const ec::DistillationLoss loss{3.0f, 0.6f};
    std::vector<float> s{0.3f, -1.2f, 2.0f, 0.1f, 0.5f, -0.4f, 1.1f, 0.0f};
    const std::vector<float> t{1.0f, 0.2f, -0.5f, 0.7f, -1.0f, 2.2f, 0.3f, 0.1f};
    const std::vector<std::int32_t> y{2, 1};
    std::vector<float> g(8), scratch(8);
    loss(s.data(), t.data(), y.data(), 2, 4, g.data());
    for (std::size_t i = 0; i < 8; ++i) {
        const float h = 1e-2f, keep = s[i];
        s[i] = keep + h;
        const double up = loss(s.data(), t.data(), y.data(), 2, 4, scratch.data());
        s[i] = keep - h;
        const double down = loss(s.data(), t.data(), y.data(), 2, 4, scratch.data());
        s[i] = keep;
        BOOST_TEST(g[i] == (up - down) / (2 * h), boost::test_tools::tolerance(2e-3));
    }
}

BOOST_AUTO_TEST_CASE(alpha_zero_is_plain_cross_entropy) {
    const ec::DistillationLoss loss{2.0f, 0.0f};
    const std::vector<float> s{0.3f, -1.2f, 2.0f};
    const std::vector<float> t{5.0f, 0.0f, 0.0f};
    const std::vector<std::int32_t> y{1};
    std::vector<float> g1(3), g2(3);
    const float a = loss(s.data(), t.data(), y.data(), 1, 3, g1.data());
    const float b = edgestack::train::SoftmaxCrossEntropy{}(s.data(), y.data(), 1, 3, g2.data());
    BOOST_TEST(a == b, boost::test_tools::tolerance(1e-5f));
    for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(g1[i] == g2[i], boost::test_tools::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(bad_parameters_are_rejected) {
    BOOST_CHECK_THROW((ec::DistillationLoss{0.0f, 0.5f}.validate()), edgestack::config_error);
    BOOST_CHECK_THROW((ec::DistillationLoss{1.0f, 1.5f}.validate()), edgestack::config_error);
}

BOOST_AUTO_TEST_CASE(student_of_another_type_learns_from_the_teacher) {
    using Teacher = nn::Sequential<nn::Input<8>, nn::Dense<64>, nn::ReLU, nn::Dense<4>>;
    using Student = nn::Sequential<nn::Input<8>, nn::Dense<8>, nn::ReLU, nn::Dense<4>>;
    edgestack::Rng rng(9);
    std::vector<float> x(800 * 8);
    std::vector<std::int32_t> y(800);
    for (std::size_t i = 0; i < 800; ++i) {
        y[i] = static_cast<std::int32_t>(i % 4);
        for (std::size_t d = 0; d < 8; ++d)
            x[i * 8 + d] = rng.normal(d % 4 == static_cast<std::size_t>(y[i]) ? 1.5f : 0.0f, 0.8f);
    }
    const edgestack::data::InMemoryLoader data(x, y, 8, 4);
    edgestack::Pipeline<edgestack::data::InMemoryLoader, edgestack::data::NoAugment, Teacher,
                        edgestack::quant::NoQuant, edgestack::backend::Reference>
        tp(1);
    edgestack::train::Adam ta(1e-2f);
    tp.fit(data, ta, {10, 32, true, false});
    const double teacher_acc = tp.evaluate(data).accuracy;
    Student student;
    edgestack::Rng init(2);
    student.init(init);
    edgestack::train::Adam sa(1e-2f);
    const auto report = ec::distill(student, tp.model(), data, sa, {10, 32, true, false},
                                    ec::DistillationLoss{4.0f, 0.7f}, edgestack::Rng(3));
    BOOST_TEST(report.history.size() == 10u);
    BOOST_TEST(report.history.back().loss < report.history.front().loss);
    const double student_acc = edgestack::train::evaluate(student, data).accuracy;
    BOOST_TEST_MESSAGE("teacher " << teacher_acc << " student " << student_acc);
    BOOST_TEST(student_acc > teacher_acc - 0.05);
}

BOOST_AUTO_TEST_CASE(loader_of_the_wrong_width_is_named) {
    using M = nn::Sequential<nn::Input<8>, nn::Dense<4>>;
    M a, b;
    const edgestack::data::InMemoryLoader data(std::vector<float>(6, 0.0f), {0, 1}, 3, 4);
    edgestack::train::Adam opt(1e-3f);
    try {
        ec::distill(a, b, data, opt, {1, 2, true, false}, {}, edgestack::Rng(1));
        BOOST_FAIL("expected shape_error");
    } catch (const edgestack::shape_error& e) {
        BOOST_TEST(std::string(e.what()).find("3 values") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
