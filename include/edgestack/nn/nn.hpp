// Umbrella header of the model stage: every layer and nn::Sequential.
#pragma once

#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/concepts.hpp"
#include "edgestack/nn/hooks.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/input.hpp"
#include "edgestack/nn/sequential.hpp"
