// Small files written by the tests themselves: a scratch folder per test run, and helpers
// to write bytes and text into it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fixtures {

/// A scratch folder removed when the object dies.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(std::string_view name) {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("edgestack-" + std::string(name) + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::filesystem::path operator/(std::string_view f) const { return path / std::string(f); }
};

inline void write_bytes(const std::filesystem::path& p, const std::vector<std::uint8_t>& b) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline void write_text(const std::filesystem::path& p, std::string_view s) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

inline void put_be32(std::vector<std::uint8_t>& b, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

/// An IDX file of uint8 values with the given dimensions; `body` bytes follow the header.
inline std::vector<std::uint8_t> idx_bytes(std::vector<std::uint32_t> dims,
                                           const std::vector<std::uint8_t>& body,
                                           std::uint8_t type = 0x08) {
    std::vector<std::uint8_t> b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
    for (auto d : dims) put_be32(b, d);
    b.insert(b.end(), body.begin(), body.end());
    return b;
}

/// Runs f, which must throw E, and returns the message.
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "<no exception>";
}

/// Runs `f` in a child process whose address space may grow by at most `extra` bytes, and
/// returns f's result (false when it threw or the child died): a loader that allocates what a
/// header claims fails there with bad_alloc instead of passing after a giant allocation.
/// Sanitizer builds reserve terabytes of shadow memory, so there `f` runs unlimited in-process.
inline bool within_memory(std::size_t extra, const std::function<bool()>& f) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)extra;
    return f();
#else
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return f();
    if (pid == 0) {
        std::size_t vm_kb = 0;
        if (std::FILE* st = std::fopen("/proc/self/status", "r")) {
            char line[256];
            while (std::fgets(line, sizeof line, st))
                if (std::sscanf(line, "VmSize: %zu kB", &vm_kb) == 1) break;
            std::fclose(st);
        }
        const rlimit lim{vm_kb * 1024 + extra, vm_kb * 1024 + extra};
        if (vm_kb == 0 || ::setrlimit(RLIMIT_AS, &lim) != 0) ::_exit(3);
        bool ok = false;
        try {
            ok = f();
        } catch (...) {
        }
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
#endif
}

/// Calls `f` while the FIFO `fifo` has a reader, and a watcher keeps opening it for writing
/// and closing it again: code that wrongly opens it to read and waits for data sees an end
/// of file, code that wrongly writes to it finds room, instead of hanging the test run. A
/// correct reader or writer refuses the FIFO without waiting at all.
template <class F>
void without_hanging_on(const std::filesystem::path& fifo, F&& f) {
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        while (!done) {
            const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd >= 0) ::close(fd);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    std::exception_ptr failure;
    try {
        f();
    } catch (...) {
        failure = std::current_exception();
    }
    done = true;
    watcher.join();
    if (reader >= 0) ::close(reader);
    if (failure) std::rethrow_exception(failure);
}

/// A FIFO at `p` (created fresh).
inline void make_fifo(const std::filesystem::path& p) {
    std::filesystem::create_directories(p.parent_path());
    std::filesystem::remove(p);
    if (::mkfifo(p.c_str(), 0600) != 0) throw std::runtime_error(p.string() + ": mkfifo failed");
}

inline const std::filesystem::path fashion_dir{EDGESTACK_FASHION_MNIST_DIR};

} // namespace fixtures
