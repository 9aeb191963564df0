// Command-line parsing shared by the example programs (CLI11): parse or leave the program,
// printing the help (status 0) or the one-line reason the command line is wrong (status 2).
#pragma once

#include <cstdlib>

#include <CLI/CLI.hpp>

namespace edgestack::tools {

inline void parse_or_exit(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e) == 0 ? 0 : 2);
    }
}

} // namespace edgestack::tools
