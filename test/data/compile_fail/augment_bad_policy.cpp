#include "edgestack/data/augment.hpp"
struct NotAPolicy {
    void operator()(float*) const {}
};
edgestack::data::Augment<NotAPolicy> a;
