#include "common.hpp"
using Bad = edgestack::nn::Sequential<edgestack::nn::Input<8, 8, 1>, edgestack::nn::Dense<10>>;
Bad model;
