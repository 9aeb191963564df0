// Runs one of the project's programs as a user would, for the tests of the installed tools
// and the examples: arguments quoted for the shell, stdout and stderr collected together.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <sys/wait.h>

namespace edgestack::test {

struct ProgramRun {
    int status = -1; ///< exit status, or 128 + the signal that ended it
    std::string out; ///< stdout and stderr together
};

/// Runs `program` with `args` and waits for it; status -1 when it could not be started.
inline ProgramRun run_program(const std::string& program, const std::vector<std::string>& args) {
    std::string cmd = "'" + program + "'";
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>&1";
    ProgramRun r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return r;
}

/// Whether `text` holds `part`.
inline bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace edgestack::test
