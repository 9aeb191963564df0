// Stochastic gradient descent: an alias of the generic optimizer (see optimizer.hpp), kept
// as its own header for code that includes it by name.
#pragma once

#include "edgestack/train/optimizer.hpp"
