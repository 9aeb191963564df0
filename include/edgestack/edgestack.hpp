// The core of edgestack in one include: shapes, the RNG, the concepts, the pipeline, the
// layers, training, and the default (empty or reference) policies. xtensor tensors over
// samples and batches are in core/tensor.hpp: nothing here needs them, and xtensor alone
// costs a file that includes it a second of compile time.
#pragma once

#include "edgestack/backend/reference.hpp"
#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/core/shape.hpp"
#include "edgestack/data/batcher.hpp"
#include "edgestack/data/in_memory.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/nn/nn.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/train/evaluate.hpp"
#include "edgestack/train/fit.hpp"
#include "edgestack/train/loss.hpp"
#include "edgestack/train/sgd.hpp"
