// A convolution over a flat feature vector must not compile.
#include "edgestack/nn/nn.hpp"
using namespace edgestack::nn;
using Bad = Sequential<Input<64>, Conv2D<4, 3>>;
Bad model;
