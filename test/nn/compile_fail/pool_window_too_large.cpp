// A pooling window wider than the padded input must not compile, and the message must name
// the layer and the fix.
#include "edgestack/nn/nn.hpp"
using namespace edgestack::nn;
using Bad = Sequential<Input<24, 4, 8>, AvgPool2D<Window<24, 5>>>;
Bad model;
