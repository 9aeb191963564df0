#include "common.hpp"
struct Forgetful {};
edgestack::Pipeline<edgestack::data::InMemoryLoader, edgestack::data::NoAugment, Net, Forgetful,
                    edgestack::backend::Reference> p;
