// The optimize stage's quantization half in one include: the int8 scheme, observers,
// post-training quantization (Ptq) and quantization-aware training (Qat).
#pragma once

#include "edgestack/quant/fixed_point.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/quant/observer.hpp"
#include "edgestack/quant/ptq.hpp"
#include "edgestack/quant/qat.hpp"
#include "edgestack/quant/scheme.hpp"
