// A kernel taller than the padded input (10 rows over 6 + 1 + 1) must not compile, and the
// message must name the layer and the fix.
#include "edgestack/nn/nn.hpp"
using namespace edgestack::nn;
using Bad = Sequential<Input<6, 10, 1>, Conv2D<4, Kernel<10, 4>, Stride<2, 2>, Pad<1, 1>>>;
Bad model;
