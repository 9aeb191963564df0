// Heads must divide the feature size.
#include "edgestack/nn/nn.hpp"
using namespace edgestack::nn;
using Bad = Sequential<Input<6, 10>, MultiHeadSelfAttention<4>>;
Bad model;
