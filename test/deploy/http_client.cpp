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

std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
    net::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    net::write(sock, net::buffer(bytes));
    sock.shutdown(tcp::socket::shutdown_send);
    std::string out;
    beast::error_code ec;
    char buf[4096];
    for (;;) {
        const std::size_t n = sock.read_some(net::buffer(buf), ec);
        out.append(buf, n);
        if (ec) break;
    }
    return out;
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
