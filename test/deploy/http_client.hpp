// A small blocking HTTP/1.1 client for the server tests (Boost.Beast lives in http_client.cpp
// only, so the test files stay quick to compile).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace test {

struct Reply {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers; // lower-case names
    bool ok() const noexcept { return status == 200; }
};

/// One request on a fresh connection (TLS without certificate checks when `tls`).
Reply call(std::uint16_t port, const std::string& method, const std::string& target,
           const std::string& body = {}, const std::string& bearer = {}, bool tls = false);

/// Raw bytes in, raw bytes out: for requests no well-behaved client would send. Returns what
/// arrived until the server closed or `timeout_ms` passed.
std::string raw_exchange(std::uint16_t port, const std::string& bytes, int timeout_ms = 30000);

/// A raw HTTP response split into status, lower-case headers and body (status 0: none).
Reply parse_raw(const std::string& response);

/// Whether a TLS 1.2 handshake with only `ciphers` (OpenSSL names) succeeds.
bool tls12_handshake(std::uint16_t port, const std::string& ciphers);

/// A keep-alive connection that sends requests one after another.
class Connection {
public:
    explicit Connection(std::uint16_t port);
    ~Connection();
    Reply request(const std::string& method, const std::string& target,
                  const std::string& body = {});

private:
    struct State;
    std::unique_ptr<State> s_;
};

} // namespace test
