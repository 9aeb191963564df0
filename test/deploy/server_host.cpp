// The one translation unit of the tests that compiles the server itself.
#include "edgestack/deploy/server_impl.hpp"
