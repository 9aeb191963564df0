// A residual block that changes the channel count needs a projection shortcut.
#include "edgestack/nn/nn.hpp"
using namespace edgestack::nn;
using Bad = Sequential<Input<8, 8, 4>, Residual<Conv2D<8, 3>, ReLU>>;
Bad model;
