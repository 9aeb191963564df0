// A model starts with its input shape.
#include "edgestack/nn/nn.hpp"
using namespace edgestack::nn;
using Bad = Sequential<Dense<4>, Dense<2>>;
Bad model;
