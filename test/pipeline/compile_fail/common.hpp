// Shared by the compile-fail snippets: a valid pipeline's parts, one of which each snippet
// replaces with a broken policy.
#pragma once
#include "edgestack/edgestack.hpp"

using Net = edgestack::nn::Sequential<edgestack::nn::Input<4>, edgestack::nn::Dense<3>>;
