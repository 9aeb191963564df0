// An update policy without apply() is refused with a message that names what is missing.
#include "edgestack/train/optimizer.hpp"

struct HalfAnUpdate {
    static std::string name() { return "Half"; }
    std::size_t slot_count() const { return 0; }
    void validate(const char*) const {}
};

edgestack::train::BasicOptimizer<HalfAnUpdate> optimizer(1e-3f);
