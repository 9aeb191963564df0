// Eigen views over the model's flat float buffers (row-major, as the layers store them).
#pragma once

#include "edgestack/core/detail/intrinsics.hpp"
#include <Eigen/Core>

namespace edgestack::nn::detail {
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapMatrix = Eigen::Map<RowMatrix>;
using ConstMapMatrix = Eigen::Map<const RowMatrix>;
using MapVector = Eigen::Map<Eigen::VectorXf>;
using ConstMapVector = Eigen::Map<const Eigen::VectorXf>;
} // namespace edgestack::nn::detail
