#include "common.hpp"
struct Unlowerable : Net {
    void lower() const {}
};
edgestack::Pipeline<edgestack::data::InMemoryLoader, edgestack::data::NoAugment, Unlowerable,
                    edgestack::quant::NoQuant, edgestack::backend::Reference> p;
