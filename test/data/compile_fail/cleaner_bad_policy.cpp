#include "edgestack/data/clean.hpp"
struct NoTag {
    void fit(const edgestack::data::Table&) {}
};
edgestack::data::Cleaner<NoTag> c;
