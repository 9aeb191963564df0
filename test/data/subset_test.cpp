#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <vector>

#include "data/fixtures.hpp"
#include "edgestack/concepts.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/label_map.hpp"
#include "edgestack/data/subset.hpp"

using namespace edgestack;
using namespace edgestack::data;

static_assert(Loader<Subset<IdxLoader>>);
static_assert(Loader<Subset<InMemoryLoader>>);

BOOST_AUTO_TEST_SUITE(labels)

BOOST_AUTO_TEST_CASE(stratified_split_keeps_class_shares) {
    const auto train = load_fashion_mnist(Split::train, fixtures::fashion_dir, 3000);
    const auto s = stratified_split(train, 0.2, 123);
    BOOST_TEST(s.train.size() + s.validation.size() == 3000u);
    const auto all = class_counts(train), va = class_counts(s.validation);
    for (std::size_t k = 0; k < 10; ++k)
        BOOST_TEST(std::abs(static_cast<double>(va[k]) - 0.2 * all[k]) <= 0.5 + 1e-9);
    std::vector<std::size_t> both = s.train.indices();
    both.insert(both.end(), s.validation.indices().begin(), s.validation.indices().end());
    std::sort(both.begin(), both.end());
    for (std::size_t i = 0; i < both.size(); ++i) BOOST_TEST_REQUIRE(both[i] == i);
    // The same seed gives the same split; another seed another.
    BOOST_TEST(stratified_split(train, 0.2, 123).validation.indices() == s.validation.indices());
    BOOST_TEST(stratified_split(train, 0.2, 124).validation.indices() != s.validation.indices());
    // A Subset reads through to its base.
    std::vector<float> a(784), b(784);
    const std::size_t j = s.validation.indices()[5];
    BOOST_TEST(s.validation.read(5, a) == train.read(j, b));
    BOOST_TEST(a == b);
    BOOST_CHECK_THROW(stratified_split(train, 1.5, 1), config_error);
}

BOOST_AUTO_TEST_CASE(class_weights_from_frequencies) {
    std::vector<float> x(8, 0.0f);
    const InMemoryLoader l(x, {0, 0, 0, 0, 0, 0, 1, 1}, 1, 3); // class 2 absent
    BOOST_TEST(class_counts(l) == (std::vector<std::size_t>{6, 2, 0}), boost::test_tools::per_element());
    const auto w = class_weights(l);
    BOOST_TEST(w[0] == 8.0f / (2 * 6), boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(w[1] == 8.0f / (2 * 2), boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(w[2] == 0.0f);
}

BOOST_AUTO_TEST_CASE(subset_range_and_bad_index) {
    const InMemoryLoader l(std::vector<float>{0, 1, 2, 3, 4}, {0, 1, 0, 1, 0}, 1, 2);
    const auto r = Subset<InMemoryLoader>::range(l, 1, 4);
    BOOST_TEST(r.size() == 3u);
    std::vector<float> v(1);
    BOOST_TEST(r.read(2, v) == 1);
    BOOST_TEST(v[0] == 3.0f);
    const auto msg = fixtures::message_of<config_error>([&] { Subset<InMemoryLoader>(l, {0, 9}); });
    BOOST_TEST(msg.find("index 9 at position 1") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(label_map_both_ways) {
    LabelMap m;
    BOOST_TEST(m.add("cat") == 0);
    BOOST_TEST(m.add("dog") == 1);
    BOOST_TEST(m.add("cat") == 0);
    BOOST_TEST(m.size() == 2u);
    BOOST_TEST(m.index_of("dog") == 1);
    BOOST_TEST(m.name_of(0) == "cat");
    BOOST_CHECK_THROW(m.index_of("cow"), config_error);
    BOOST_CHECK_THROW(m.name_of(2), config_error);
    const auto f = LabelMap::from(fashion_mnist_classes);
    BOOST_TEST(f.index_of("Ankle boot") == 9);
}

BOOST_AUTO_TEST_SUITE_END()
