#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "edgestack/train/loss.hpp"
#include "fixtures.hpp"

using namespace edgestack;
using train_test::message_of;

namespace {

/// Central differences of the loss w.r.t. each output, in float64 around float inputs.
template <class Loss>
void check_gradient(const std::function<float(const float*, float*)>& loss,
                    std::vector<float> x, double tol) {
    std::vector<float> grad(x.size()), scratch(x.size());
    loss(x.data(), grad.data());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const float h = 1e-2f;
        const float keep = x[i];
        x[i] = keep + h;
        const double up = loss(x.data(), scratch.data());
        x[i] = keep - h;
        const double down = loss(x.data(), scratch.data());
        x[i] = keep;
        const double numeric = (up - down) / (2.0 * h);
        BOOST_TEST(std::abs(numeric - grad[i]) < tol, "output " << i << ": analytic " << grad[i]
                                                                << " numeric " << numeric);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(losses)

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_value_and_gradient) {
    const std::vector<float> z = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f};
    const std::vector<std::int32_t> y = {1, 2};
    std::vector<float> g(6);
    const float l = train::SoftmaxCrossEntropy{}(z.data(), y.data(), 2, 3, g.data());
    const double l0 = -(2.0 - std::log(std::exp(1.0) + std::exp(2.0) + std::exp(0.5)));
    const double l1 = -(3.0 - std::log(std::exp(-1.0) + std::exp(0.0) + std::exp(3.0)));
    BOOST_TEST(l == (l0 + l1) / 2, boost::test_tools::tolerance(1e-5));
    for (float s : {0.0f, 0.1f})
        check_gradient<train::SoftmaxCrossEntropy>(
            [&](const float* x, float* gr) {
                return train::SoftmaxCrossEntropy{s}(x, y.data(), 2, 3, gr);
            },
            z, 1e-3);
}

BOOST_AUTO_TEST_CASE(label_smoothing_moves_the_optimum_off_one_hot) {
    // With smoothing, a confident correct prediction still has a gradient pulling it back.
    const std::vector<float> z = {10.0f, -10.0f, -10.0f};
    const std::int32_t y = 0;
    std::vector<float> g0(3), g1(3);
    train::SoftmaxCrossEntropy{}(z.data(), &y, 1, 3, g0.data());
    train::SoftmaxCrossEntropy{0.3f}(z.data(), &y, 1, 3, g1.data());
    BOOST_TEST(std::abs(g0[0]) < 1e-6);
    BOOST_TEST(g1[0] > 0.15f); // p(0) ~ 1 but the target is 0.8
}

BOOST_AUTO_TEST_CASE(binary_cross_entropy_labels_and_targets) {
    const std::vector<float> z = {0.3f, -2.0f, 40.0f, -40.0f};
    const std::vector<std::int32_t> y = {1, 0, 1, 0};
    std::vector<float> g(4);
    const float l = train::BinaryCrossEntropy{}(z.data(), y.data(), 4, 1, g.data());
    const auto sp = [](double x) { return std::log1p(std::exp(x)); }; // softplus
    const double want = (sp(-0.3) + sp(-2.0) + sp(-40.0) + sp(-40.0)) / 4;
    BOOST_TEST(l == want, boost::test_tools::tolerance(1e-5));
    BOOST_TEST(std::isfinite(l)); // saturated logits must not overflow
    const std::vector<float> t = {0.2f, 0.9f, 0.5f, 0.0f};
    check_gradient<train::BinaryCrossEntropy>(
        [&](const float* x, float* gr) {
            return train::BinaryCrossEntropy{}(x, t.data(), 2, 2, gr);
        },
        {0.3f, -1.0f, 2.0f, 0.1f}, 1e-3);
}

BOOST_AUTO_TEST_CASE(mse_and_huber) {
    const std::vector<float> y = {1.0f, 2.0f, -3.0f, 0.5f};
    const std::vector<float> t = {0.0f, 2.5f, 1.0f, 0.5f};
    std::vector<float> g(4);
    BOOST_TEST(train::MeanSquaredError{}(y.data(), t.data(), 2, 2, g.data()) ==
                   (1.0 + 0.25 + 16.0 + 0.0) / 4,
               boost::test_tools::tolerance(1e-6));
    // Huber: quadratic for |d| <= 1, linear beyond: 0.5, 0.125, 1 * (4 - 0.5), 0
    BOOST_TEST(train::Huber{}(y.data(), t.data(), 2, 2, g.data()) ==
                   (0.5 + 0.125 + 3.5 + 0.0) / 4,
               boost::test_tools::tolerance(1e-6));
    BOOST_TEST(g[2] == -0.25f); // the outlier's gradient is capped at delta / n
    const std::vector<float> x0 = {1.0f, 2.2f, -3.0f, 0.3f};
    check_gradient<train::MeanSquaredError>(
        [&](const float* x, float* gr) {
            return train::MeanSquaredError{}(x, t.data(), 2, 2, gr);
        },
        x0, 1e-3);
    check_gradient<train::Huber>(
        [&](const float* x, float* gr) { return train::Huber{0.5f}(x, t.data(), 2, 2, gr); },
        x0, 1e-3);
}

// The concepts split classification from regression losses: checked when this file
// compiles (a test case holding only static_asserts would check nothing at run time).
static_assert(train::ClassificationLoss<train::SoftmaxCrossEntropy>);
static_assert(train::ClassificationLoss<train::BinaryCrossEntropy>);
static_assert(train::RegressionLoss<train::BinaryCrossEntropy>);
static_assert(train::RegressionLoss<train::MeanSquaredError>);
static_assert(train::RegressionLoss<train::Huber>);
static_assert(!train::ClassificationLoss<train::MeanSquaredError>);
static_assert(!train::RegressionLoss<train::SoftmaxCrossEntropy>);

BOOST_AUTO_TEST_CASE(bad_labels_and_settings_name_the_sample_and_field) {
    const std::vector<float> z(6, 0.0f);
    std::vector<float> g(6);
    const std::vector<std::int32_t> y = {1, 3};
    const auto m = message_of([&] { train::SoftmaxCrossEntropy{}(z.data(), y.data(), 2, 3, g.data()); });
    BOOST_TEST(m.find("label 3 of sample 1") != std::string::npos, m);
    BOOST_CHECK_THROW(train::SoftmaxCrossEntropy{}(z.data(), y.data(), 2, 3, g.data()),
                      format_error);
    const std::vector<std::int32_t> y2 = {2};
    BOOST_CHECK_THROW(train::BinaryCrossEntropy{}(z.data(), y2.data(), 1, 1, g.data()),
                      format_error);
    const auto s = message_of([&] { train::SoftmaxCrossEntropy{1.5f}(z.data(), y2.data(), 1, 3, g.data()); });
    BOOST_TEST(s.find("label_smoothing") != std::string::npos, s);
    const std::vector<float> t = {1.5f};
    const auto b = message_of([&] { train::BinaryCrossEntropy{}(z.data(), t.data(), 1, 1, g.data()); });
    BOOST_TEST(b.find("target 1.5") != std::string::npos, b);
    BOOST_CHECK_THROW(train::Huber{0.0f}(z.data(), z.data(), 1, 1, g.data()), config_error);
}

BOOST_AUTO_TEST_SUITE_END()
