#include "common.hpp"
struct Hollow {
    int compile(const edgestack::compile::Graph&) const { return 0; }
};
edgestack::Pipeline<edgestack::data::InMemoryLoader, edgestack::data::NoAugment, Net,
                    edgestack::quant::NoQuant, Hollow> p;
