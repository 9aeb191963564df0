#include "common.hpp"
struct TakesVector {
    void operator()(std::vector<float>&) const {}
};
edgestack::Pipeline<edgestack::data::InMemoryLoader, TakesVector, Net, edgestack::quant::NoQuant,
                    edgestack::backend::Reference> p;
