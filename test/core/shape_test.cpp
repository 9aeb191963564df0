#include <boost/test/unit_test.hpp>

#include <array>
#include <vector>

#include "edgestack/core/shape.hpp"
#include "edgestack/core/tensor.hpp"

using namespace edgestack;

BOOST_AUTO_TEST_SUITE(shape)

BOOST_AUTO_TEST_CASE(rank_size_and_dims_are_compile_time) {
    using S = Shape<28, 28, 1>;
    static_assert(S::rank == 3);
    static_assert(S::size == 784);
    static_assert(S::dim<1> == 28);
    static_assert(ShapeType<S>);
    static_assert(!ShapeType<int>);
    BOOST_TEST(S::name() == "28x28x1");
    BOOST_TEST(Shape<10>::name() == "10");
}

BOOST_AUTO_TEST_CASE(layout_views_every_rank_as_an_image) {
    constexpr auto img = layout_of<Shape<28, 28, 3>>();
    static_assert(img.height == 28 && img.width == 28 && img.channels == 3);
    constexpr auto vec = layout_of<Shape<16>>();
    static_assert(vec.height == 1 && vec.width == 16 && vec.channels == 1);
    constexpr auto seq = layout_of<Shape<50, 8>>(); // 50 time steps of 8 features
    static_assert(seq.height == 1 && seq.width == 50 && seq.channels == 8);
    BOOST_TEST(img.size() == 28u * 28u * 3u);
}

BOOST_AUTO_TEST_CASE(views_share_memory_with_the_buffer) {
    std::vector<float> buf(2 * 6);
    auto v = batch_view<Shape<2, 3>>(buf.data(), 2);
    BOOST_TEST(v.dimension() == 3u);
    BOOST_TEST(v.shape()[0] == 2u);
    BOOST_TEST(v.shape()[2] == 3u);
    v(1, 1, 2) = 5.0f;
    BOOST_TEST(buf[6 + 3 + 2] == 5.0f);
    auto s = view<Shape<2, 3>>(buf.data() + 6);
    BOOST_TEST(s(1, 2) == 5.0f);
}

BOOST_AUTO_TEST_SUITE_END()
