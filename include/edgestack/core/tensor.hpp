// Tensor vocabulary over xtensor: owning tensors for samples and batches, and non-owning
// views over buffers that belong to someone else (a model's parameter block, a mmapped file).
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include "edgestack/core/detail/intrinsics.hpp"
#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "edgestack/core/shape.hpp"

namespace edgestack {

/// An owning float tensor of rank N (row-major).
template <std::size_t N>
using Tensor = xt::xtensor<float, N>;

/// An owning tensor for a batch of samples of shape S: rank S::rank + 1, batch first.
template <ShapeType S>
using BatchTensor = xt::xtensor<float, S::rank + 1>;

/// A view of `data` as a tensor of the given runtime shape; no copy, no ownership.
template <class T, std::size_t N>
auto view(T* data, const std::array<std::size_t, N>& shape) {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return xt::adapt(data, n, xt::no_ownership(), shape);
}

/// A view of one sample of shape S stored at `data`.
template <ShapeType S, class T>
auto view(T* data) {
    return view(data, S::dims);
}

/// A view of `batch` samples of shape S stored contiguously at `data`.
template <ShapeType S, class T>
auto batch_view(T* data, std::size_t batch) {
    std::array<std::size_t, S::rank + 1> shape{};
    shape[0] = batch;
    for (std::size_t i = 0; i < S::rank; ++i) shape[i + 1] = S::dims[i];
    return view(data, shape);
}

} // namespace edgestack
