// The optimize stage's compression half in one include: magnitude pruning with a sparsity
// schedule, structured channel pruning into a smaller model type, and distillation.
#pragma once

#include "edgestack/compress/channel.hpp"
#include "edgestack/compress/distill.hpp"
#include "edgestack/compress/magnitude.hpp"
