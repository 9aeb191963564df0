// Dense after a convolution without Flatten must not compile, and must say why.
#include "edgestack/nn/nn.hpp"
using namespace edgestack::nn;
using Bad = Sequential<Input<8, 8, 1>, Conv2D<4, 3>, Dense<10>>;
Bad model;
