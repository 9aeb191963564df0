// Beast client side of the server tests.
#include "deploy/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <cstdlib>

#include <poll.h>
#include <sys/socket.h>

namespace test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

http::request<http::string_body> make_request(const std::string& method, const std::string& target,
                                              const std::string& body, const std::string& bearer) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    return req;
}

Reply to_reply(http::response<http::string_body>& res) {
    Reply r;
    r.status = static_cast<int>(res.result_int());
    r.body = std::move(res.body());
    for (const auto& f : res) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
    }
    return r;
}

} // namespace

Reply call(std::uint16_t port, const std::string& method, const std::string& target,
           const std::string& body, const std::string& bearer, bool tls) {
    net::io_context ioc;
    const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    auto req = make_request(method, target, body, bearer);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    if (tls) {
        ssl::context ctx(ssl::context::tls_client);
        ctx.set_verify_mode(ssl::verify_none);
        beast::ssl_stream<beast::tcp_stream> s(ioc, ctx);
        beast::get_lowest_layer(s).connect(ep);
        s.handshake(ssl::stream_base::client);
        http::write(s, req);
        http::read(s, buf, parser);
        beast::error_code ec;
        s.shutdown(ec);
        return to_reply(parser.get());
    }
    beast::tcp_stream s(ioc);
    s.connect(ep);
    http::write(s, req);
    http::read(s, buf, parser);
    beast::error_code ec;
    s.socket().shutdown(tcp::socket::shutdown_both, ec);
    return to_reply(parser.get());
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes, int timeout_ms) {
    net::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    beast::error_code ec;
    net::write(sock, net::buffer(bytes), ec);
    if (!ec) sock.shutdown(tcp::socket::shutdown_send, ec);
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) break;
        pollfd p{sock.native_handle(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
        const ssize_t n = ::recv(sock.native_handle(), buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

Reply parse_raw(const std::string& response) {
    Reply r;
    if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return r;
    r.status = std::atoi(response.c_str() + 9);
    const auto end = response.find("\r\n\r\n");
    if (end == std::string::npos) return r;
    std::size_t i = response.find("\r\n") + 2;
    while (i < end) {
        const auto eol = response.find("\r\n", i);
        const std::string line = response.substr(i, eol - i);
        if (const auto colon = line.find(':'); colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::size_t v = colon + 1;
            while (v < line.size() && line[v] == ' ') ++v;
            r.headers[name] = line.substr(v);
        }
        i = eol + 2;
    }
    r.body = response.substr(end + 4);
    return r;
}

bool tls12_handshake(std::uint16_t port, const std::string& ciphers) {
    net::io_context ioc;
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_none);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(ctx.native_handle(), ciphers.c_str()) != 1) return false;
    beast::ssl_stream<beast::tcp_stream> s(ioc, ctx);
    beast::get_lowest_layer(s).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    beast::error_code ec;
    s.handshake(ssl::stream_base::client, ec);
    if (ec) return false;
    s.shutdown(ec);
    return true;
}

struct Connection::State {
    net::io_context ioc;
    beast::tcp_stream stream{ioc};
    beast::flat_buffer buf;
};

Connection::Connection(std::uint16_t port) : s_(std::make_unique<State>()) {
    s_->stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
}

Connection::~Connection() {
    beast::error_code ec;
    s_->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

Reply Connection::request(const std::string& method, const std::string& target,
                          const std::string& body) {
    auto req = make_request(method, target, body, {});
    http::write(s_->stream, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(s_->stream, s_->buf, parser);
    return to_reply(parser.get());
}

} // namespace test
