#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "edgestack/train/optimizer.hpp"
#include "edgestack/train/schedule.hpp"
#include "fixtures.hpp"

using namespace edgestack;
using train_test::message_of;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_SUITE(optimizers)

BOOST_AUTO_TEST_CASE(aliases_are_policies_of_one_template) {
    static_assert(train::StatefulOptimizer<train::Sgd>);
    static_assert(train::StatefulOptimizer<train::Adam>);
    static_assert(train::StatefulOptimizer<train::AdamW>);
    static_assert(std::is_same_v<train::Sgd::update_type, train::MomentumUpdate>);
    static_assert(std::is_same_v<train::AdamW::decay_type, train::DecoupledDecay>);
    BOOST_TEST(train::Sgd::name() == "Sgd");
    BOOST_TEST(train::Adam::name() == "Adam");
    BOOST_TEST(train::AdamW::name() == "AdamW");
}

BOOST_AUTO_TEST_CASE(sgd_plain_momentum_and_nesterov) {
    std::vector<float> p = {1.0f, -2.0f};
    const std::vector<float> g = {0.5f, 1.0f};
    train::Sgd plain(0.1f);
    plain.step(p, g);
    BOOST_TEST(p[0] == 0.95f, tt::tolerance(1e-6f));
    BOOST_TEST(p[1] == -2.1f, tt::tolerance(1e-6f));

    // momentum 0.9: v1 = g, v2 = 0.9 g + g = 1.9 g; p moves 0.1 * (1 + 1.9) g in two steps
    std::vector<float> q = {1.0f};
    const std::vector<float> h = {1.0f};
    train::Sgd heavy(0.1f, 0.9f);
    heavy.step(q, h);
    heavy.step(q, h);
    BOOST_TEST(q[0] == 1.0f - 0.29f, tt::tolerance(1e-6f));
    // Nesterov: step uses g + 0.9 v: 0.1 * (1 + 0.9) then 0.1 * (1 + 0.9 * 1.9)
    std::vector<float> r = {1.0f};
    train::Sgd nesterov(0.1f, {0.9f, true});
    nesterov.step(r, h);
    nesterov.step(r, h);
    BOOST_TEST(r[0] == 1.0f - 0.19f - 0.271f, tt::tolerance(1e-6f));
    // L2 weight decay adds rate * p to the gradient.
    std::vector<float> s = {2.0f};
    const std::vector<float> zero = {0.0f};
    train::Sgd decayed(0.1f, 0.0f, 0.5f);
    decayed.step(s, zero);
    BOOST_TEST(s[0] == 1.9f, tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(adam_matches_a_float64_reference) {
    std::vector<float> p = {0.5f, -1.0f, 2.0f};
    std::vector<double> ref(p.begin(), p.end()), m(3, 0.0), v(3, 0.0);
    train::Adam adam(0.01f);
    for (int t = 1; t <= 20; ++t) {
        const std::vector<float> g = {std::sin(float(t)), 0.1f * t, -1.0f / t};
        adam.step(p, g);
        for (std::size_t i = 0; i < 3; ++i) {
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.999 * v[i] + 0.001 * double(g[i]) * g[i];
            const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
            ref[i] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
        }
    }
    for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(p[i] == ref[i], tt::tolerance(1e-5));
    BOOST_TEST(adam.steps() == 20u);
}

BOOST_AUTO_TEST_CASE(adamw_decays_apart_from_the_gradient) {
    // With a zero gradient, AdamW only shrinks p by (1 - lr * rate) per step, while Adam's
    // L2 decay goes through the moments and moves p by about lr.
    const std::vector<float> zero = {0.0f};
    std::vector<float> w = {2.0f}, l2 = {2.0f};
    train::AdamW adamw(0.1f, {}, 0.5f);
    train::Adam adam(0.1f, {}, 0.5f);
    adamw.step(w, zero);
    adam.step(l2, zero);
    BOOST_TEST(w[0] == 2.0f * (1.0f - 0.05f), tt::tolerance(1e-6f));
    BOOST_TEST(l2[0] == 1.9f, tt::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(gradient_clipping_by_global_norm) {
    std::vector<float> g = {3.0f, 4.0f};
    BOOST_TEST(train::clip_by_global_norm(g, 1.0f) == 5.0, tt::tolerance(1e-9));
    BOOST_TEST(train::global_norm(g) == 1.0, tt::tolerance(1e-5));
    std::vector<float> small = {0.3f, 0.4f};
    train::clip_by_global_norm(small, 1.0f);
    BOOST_TEST(small[0] == 0.3f); // under the bound: untouched

    std::vector<float> p = {0.0f, 0.0f};
    const std::vector<float> big = {30.0f, 40.0f};
    train::Sgd sgd(1.0f);
    sgd.set_clip_norm(5.0f);
    sgd.step(p, big);
    BOOST_TEST(sgd.last_gradient_norm() == 50.0, tt::tolerance(1e-9));
    BOOST_TEST(p[0] == -3.0f, tt::tolerance(1e-5f));
    BOOST_TEST(p[1] == -4.0f, tt::tolerance(1e-5f));
    BOOST_CHECK_THROW(train::clip_by_global_norm(g, 0.0f), config_error);
    BOOST_CHECK_THROW(sgd.set_clip_norm(-1.0f), config_error);
}

BOOST_AUTO_TEST_CASE(schedules_and_their_composition) {
    const train::StepDecay step{10, 0.5f};
    BOOST_TEST(step(0) == 1.0f);
    BOOST_TEST(step(9) == 1.0f);
    BOOST_TEST(step(10) == 0.5f);
    BOOST_TEST(step(25) == 0.25f);
    const train::Cosine cosine{100, 0.1f};
    BOOST_TEST(cosine(0) == 1.0f, tt::tolerance(1e-6f));
    BOOST_TEST(cosine(50) == 0.55f, tt::tolerance(1e-6f));
    BOOST_TEST(cosine(100) == 0.1f, tt::tolerance(1e-6f));
    BOOST_TEST(cosine(500) == 0.1f, tt::tolerance(1e-6f));
    const train::WarmUp<train::Cosine> warm{4, {100}};
    BOOST_TEST(warm(0) == 0.25f);
    BOOST_TEST(warm(3) == 1.0f);
    BOOST_TEST(warm(4 + 50) == 0.5f, tt::tolerance(1e-6f));
    const train::WarmUp<train::StepDecay> warm_step{2, {5, 0.1f}};
    BOOST_TEST(warm_step(1) == 1.0f);
    BOOST_TEST(warm_step(2 + 5) == 0.1f, tt::tolerance(1e-6f));

    // The optimizer follows its schedule step by step.
    auto opt = train::with_schedule(train::Adam(0.1f), train::WarmUp<train::Cosine>{2, {10}});
    static_assert(std::is_same_v<decltype(opt)::schedule_type, train::WarmUp<train::Cosine>>);
    BOOST_TEST(opt.current_learning_rate() == 0.05f, tt::tolerance(1e-6f));
    std::vector<float> p = {1.0f};
    const std::vector<float> g = {1.0f};
    opt.step(p, g);
    BOOST_TEST(opt.current_learning_rate() == 0.1f, tt::tolerance(1e-6f));
    opt.step(p, g);
    opt.step(p, g);
    BOOST_TEST(opt.current_learning_rate() == 0.1f * train::Cosine{10}(1),
               tt::tolerance(1e-6f));
    BOOST_CHECK_THROW((train::StepDecay{0, 0.5f}(3)), config_error);
}

BOOST_AUTO_TEST_CASE(state_round_trip_continues_bit_exactly) {
    std::vector<float> a = {0.5f, -0.5f, 1.5f}, b;
    train::Adam first(0.01f), second(0.01f);
    const auto grad = [](int t) {
        return std::vector<float>{0.1f * t, -0.2f, std::cos(float(t))};
    };
    for (int t = 0; t < 5; ++t) first.step(a, grad(t));
    b = a;
    second.load_state(first.state());
    for (int t = 5; t < 9; ++t) {
        first.step(a, grad(t));
        second.step(b, grad(t));
    }
    BOOST_TEST(a == b, tt::per_element());
    BOOST_TEST(second.steps() == 9u);
}

BOOST_AUTO_TEST_CASE(bad_settings_name_the_optimizer_and_field) {
    auto m = message_of([] { train::Adam(0.0f); });
    BOOST_TEST(m.find("Adam: learning_rate") != std::string::npos, m);
    m = message_of([] { train::Adam(1e-3f, {1.0f}); });
    BOOST_TEST(m.find("Adam: beta1 = 1") != std::string::npos, m);
    m = message_of([] { train::Sgd(0.1f, 1.5f); });
    BOOST_TEST(m.find("Sgd: momentum") != std::string::npos, m);
    m = message_of([] { train::Sgd(0.1f, {0.0f, true}); });
    BOOST_TEST(m.find("nesterov") != std::string::npos, m);
    m = message_of([] { train::AdamW(0.1f, {}, -1.0f); });
    BOOST_TEST(m.find("AdamW: weight_decay") != std::string::npos, m);
    train::Sgd sgd(0.1f);
    m = message_of([&] { sgd.load_state(train::Adam(0.1f).state()); });
    BOOST_TEST(m.find("Adam cannot be loaded into Sgd") != std::string::npos, m);
    std::vector<float> p(3), g(2);
    BOOST_CHECK_THROW(sgd.step(p, g), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
