// A writer killed with SIGKILL in the middle of add() or promote() never leaves a half-written
// version or pointer visible, and the next writer carries on.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "deploy/scratch.hpp"
#include "edgestack/deploy/registry.hpp"

using namespace edgestack;
using deploy::Registry;

namespace {

bool staging_exists(const std::filesystem::path& dir) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.path().filename().string().starts_with(".staging-")) return true;
    return false;
}

// The child adds big versions forever; the parent kills it while a staging folder exists.
[[noreturn]] void writer_child(const std::filesystem::path& root) {
    try {
        Registry reg(root);
        std::vector<std::byte> model(4u << 20);
        for (std::size_t i = 0;; ++i) {
            for (std::size_t k = 0; k < model.size(); k += 4096)
                model[k] = static_cast<std::byte>(i + k);
            reg.add("m", model, {});
        }
    } catch (...) {
        ::_exit(3);
    }
}

[[noreturn]] void promoter_child(const std::filesystem::path& root) {
    try {
        Registry reg(root);
        for (std::uint64_t i = 0;; ++i) reg.promote("m", 1 + i % 2);
    } catch (...) {
        ::_exit(3);
    }
}

void kill_and_reap(pid_t pid) {
    BOOST_REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
    BOOST_TEST(WIFSIGNALED(status)); // it died from the kill, not from an error of its own
}

} // namespace

BOOST_AUTO_TEST_SUITE(registry_crash)

BOOST_AUTO_TEST_CASE(kill_during_add_leaves_only_complete_versions) {
    test::Scratch dir("reg-kill-add");
    int killed_mid_write = 0;
    for (int round = 0; round < 4; ++round) {
        const pid_t pid = ::fork();
        BOOST_REQUIRE(pid >= 0);
        if (pid == 0) writer_child(dir.path());
        // Wait until the child has published at least one version and is writing another.
        bool mid_write = false;
        for (int spin = 0; spin < 20000 && !mid_write; ++spin) {
            if (std::filesystem::exists(dir.path() / "m") &&
                !Registry(dir.path()).versions("m").empty() && staging_exists(dir.path() / "m"))
                mid_write = true;
            else
                std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        kill_and_reap(pid);
        killed_mid_write += mid_write && staging_exists(dir.path() / "m");

        Registry reg(dir.path());
        for (auto v : reg.versions("m")) BOOST_CHECK_NO_THROW(reg.load("m", v));
    }
    BOOST_TEST(killed_mid_write > 0);

    // The next writer cleans up the dead writer's staging folder and numbers on from there.
    Registry reg(dir.path());
    const auto before = reg.versions("m");
    const auto v = reg.add("m", std::vector<std::byte>(8), {});
    BOOST_TEST(v == before.back() + 1);
    BOOST_TEST(!staging_exists(dir.path() / "m"));
}

BOOST_AUTO_TEST_CASE(kill_during_promote_leaves_a_valid_pointer) {
    test::Scratch dir("reg-kill-promote");
    {
        Registry reg(dir.path());
        reg.add("m", std::vector<std::byte>(16, std::byte{1}), {});
        reg.add("m", std::vector<std::byte>(16, std::byte{2}), {});
        reg.promote("m", 1);
    }
    for (int round = 0; round < 5; ++round) {
        const pid_t pid = ::fork();
        BOOST_REQUIRE(pid >= 0);
        if (pid == 0) promoter_child(dir.path());
        std::this_thread::sleep_for(std::chrono::milliseconds(20 + 7 * round));
        kill_and_reap(pid);
        Registry reg(dir.path());
        const auto sp = reg.pointer("m");
        BOOST_REQUIRE(sp.has_value());
        BOOST_TEST((sp->version == 1u || sp->version == 2u));
        BOOST_CHECK_NO_THROW(reg.load_serving("m"));
    }
}

BOOST_AUTO_TEST_SUITE_END()
