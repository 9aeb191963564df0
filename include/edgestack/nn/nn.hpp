// Umbrella header of the model stage: every layer and nn::Sequential.
#pragma once

#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/attention.hpp"
#include "edgestack/nn/batch_norm.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/dropout.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/hooks.hpp"
#include "edgestack/nn/init.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/layer_norm.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/nn/recurrent.hpp"
#include "edgestack/nn/residual.hpp"
#include "edgestack/nn/sequential.hpp"
