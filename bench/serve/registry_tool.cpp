// registry_tool: list, promote and roll back registry versions from a shell (used by the
// load script to switch versions while wrk runs).
//   registry_tool ROOT list NAME | promote NAME VERSION | rollback NAME
#include <cstdio>
#include <cstdlib>
#include <string>

#include "edgestack/deploy/registry.hpp"

int main(int argc, char** argv) try {
    if (argc < 4) {
        std::fprintf(stderr, "usage: registry_tool ROOT list|promote|rollback NAME [VERSION]\n");
        return 2;
    }
    edgestack::deploy::Registry reg(argv[1]);
    const std::string cmd = argv[2], name = argv[3];
    if (cmd == "list") {
        const auto serving = reg.serving(name);
        for (auto v : reg.versions(name)) {
            const auto m = reg.manifest(name, v);
            std::printf("%s v%llu%s created %s sha256 %s\n", name.c_str(),
                        static_cast<unsigned long long>(v), serving == v ? " (serving)" : "",
                        m.created.c_str(), m.sha256.c_str());
        }
    } else if (cmd == "promote" && argc == 5) {
        reg.promote(name, std::strtoull(argv[4], nullptr, 10));
    } else if (cmd == "rollback") {
        std::printf("%llu\n", static_cast<unsigned long long>(reg.rollback(name)));
    } else {
        std::fprintf(stderr, "registry_tool: unknown command %s\n", cmd.c_str());
        return 2;
    }
    return 0;
} catch (const edgestack::error& e) {
    std::fprintf(stderr, "registry_tool: %s\n", e.what());
    return 1;
}
