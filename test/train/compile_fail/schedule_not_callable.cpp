// A schedule must be callable with the step number; this one is not.
#include "edgestack/train/optimizer.hpp"

struct NotASchedule {};

edgestack::train::BasicOptimizer<edgestack::train::AdamUpdate, edgestack::train::NoDecay,
                                 NotASchedule>
    optimizer(1e-3f);
