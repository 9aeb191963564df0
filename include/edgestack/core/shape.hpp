// Compile-time shapes: a sample's shape is part of its type, so layers can check and infer
// shapes while the program compiles. The batch size is never part of a shape.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <type_traits>

namespace edgestack {

/// The shape of one sample, NHWC without the N: `Shape<28, 28, 1>` is a 28x28 grey image,
/// `Shape<128>` a feature vector.
template <std::size_t... Dims>
struct Shape {
    static_assert(sizeof...(Dims) > 0, "Shape<>: a shape needs at least one dimension");
    static_assert(((Dims > 0) && ...), "Shape<...>: every dimension must be at least 1");

    static constexpr std::size_t rank = sizeof...(Dims);               ///< number of dimensions
    static constexpr std::size_t size = (std::size_t{1} * ... * Dims); ///< values per sample
    /// The dimensions, outermost first.
    static constexpr std::array<std::size_t, rank> dims{Dims...};

    /// Dimension I.
    template <std::size_t I>
    static constexpr std::size_t dim = dims[I];

    /// "28x28x1": the form used in summaries and error messages.
    static std::string name() {
        std::string s;
        for (std::size_t i = 0; i < rank; ++i) {
            if (i != 0) s += 'x';
            s += std::to_string(dims[i]);
        }
        return s;
    }
};

namespace detail {
template <class T>
struct is_shape : std::false_type {};
template <std::size_t... D>
struct is_shape<Shape<D...>> : std::true_type {};
} // namespace detail

/// Satisfied by every `Shape<...>`.
template <class T>
concept ShapeType = detail::is_shape<T>::value;

/// Height, width and channels of one sample seen as an image (rank-1 shapes are 1 x N x 1,
/// rank-2 shapes are 1 x W x C, time steps along W). Augmentation works on this view.
struct SampleLayout {
    std::size_t height = 1;   ///< rows
    std::size_t width = 1;    ///< columns (time steps for series)
    std::size_t channels = 1; ///< values per position

    /// Values per sample.
    constexpr std::size_t size() const noexcept { return height * width * channels; }
    /// Equal when all three are.
    friend constexpr bool operator==(const SampleLayout&, const SampleLayout&) = default;
};

/// The SampleLayout of shape S (see SampleLayout for ranks 1 and 2; rank 4 and more
/// fold the middle dimensions into the width).
template <ShapeType S>
constexpr SampleLayout layout_of() noexcept {
    if constexpr (S::rank == 1) return {1, S::dims[0], 1};
    else if constexpr (S::rank == 2) return {1, S::dims[0], S::dims[1]};
    else if constexpr (S::rank == 3) return {S::dims[0], S::dims[1], S::dims[2]};
    else return {S::dims[0], S::size / (S::dims[0] * S::dims[S::rank - 1]), S::dims[S::rank - 1]};
}

} // namespace edgestack
