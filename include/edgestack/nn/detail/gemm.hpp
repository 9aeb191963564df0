// The one matrix product the trainable layers call (Dense, Conv2D's im2col path, the
// Winograd weight gradient). Every Eigen product expression compiles its own GEMM, GEMV and
// small-size coefficient paths; going through this function, a translation unit compiles
// three of them (no operand transposed, the right one, the left one) instead of one per
// expression in every layer.
#pragma once

#include <cassert>

#include "edgestack/nn/detail/eigen.hpp"

namespace edgestack::nn::detail {

/// C = op(A) op(B), or C += op(A) op(B) when `accumulate`: op(A) is m x k, op(B) k x n, C
/// m x n. Every matrix is row-major with `ld*` floats between rows; a transposed operand is
/// stored as its transpose (A as k x m when `trans_a`). At most one operand is transposed.
/// The result is the one the Eigen expression `C.noalias() = A * B` (or `+=`) gives.
inline void gemm(bool trans_a, bool trans_b, Eigen::Index m, Eigen::Index n, Eigen::Index k,
                 const float* a, Eigen::Index lda, const float* b, Eigen::Index ldb, float* c,
                 Eigen::Index ldc, bool accumulate) {
    assert(!(trans_a && trans_b) && "detail::gemm: at most one operand may be transposed");
    using Stride = Eigen::OuterStride<>;
    using ColMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
    using Rows = Eigen::Map<const RowMatrix, Eigen::Unaligned, Stride>;
    using Cols = Eigen::Map<const ColMatrix, Eigen::Unaligned, Stride>;
    Eigen::Map<RowMatrix, Eigen::Unaligned, Stride> out(c, m, n, Stride(ldc));
    // Eigen's `=` zeroes the output and then accumulates (or, below its small-size
    // threshold, writes each sum): zeroing here and always accumulating gives the same
    // values with one expression per operand form instead of two.
    if (!accumulate) out.setZero();
    if (trans_a)
        out.noalias() += Cols(a, m, k, Stride(lda)) * Rows(b, k, n, Stride(ldb));
    else if (trans_b)
        out.noalias() += Rows(a, m, k, Stride(lda)) * Cols(b, k, n, Stride(ldb));
    else
        out.noalias() += Rows(a, m, k, Stride(lda)) * Rows(b, k, n, Stride(ldb));
}

} // namespace edgestack::nn::detail
