#include "common.hpp"
struct NoRead {
    std::size_t size() const { return 0; }
    std::size_t sample_size() const { return 4; }
    std::size_t num_classes() const { return 3; }
};
edgestack::Pipeline<NoRead, edgestack::data::NoAugment, Net, edgestack::quant::NoQuant,
                    edgestack::backend::Reference> p;
