// libFuzzer target: the inference server's request handling without a socket. The bytes are
// one raw HTTP/1.1 request; they go through the Beast parser (header and body limits) and
// every route to a server with a bearer token and a 4 -> 4 model. Any answer is fine; a
// crash, a hang, a leak or no HTTP response at all is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "edgestack/backend/reference.hpp"
#include "edgestack/deploy/server_impl.hpp"

namespace {

edgestack::deploy::Server& server() {
    using namespace edgestack;
    static deploy::Server* const s = [] {
        deploy::ServerOptions o;
        o.port = 0;
        o.bearer_token = "fuzz-token"; // the seeds carry it, so mutations reach every route
        o.body_limit = 1 << 20;
        o.reload_interval = std::chrono::milliseconds(0);
        auto* srv = new deploy::Server(o); // lives for the whole run
        auto g = compile::Graph::with_input({4});
        compile::Node n;
        n.op = compile::Op::dense;
        n.name = "dense_0";
        n.weights.assign(16, 0.5f);
        n.bias.assign(4, 0.0f);
        g.append(n, {0}, {4});
        srv->add_model(deploy::make_served_model("m", 1, backend::Reference{}.compile(g), {4}, {4},
                                                 8, "reference fp32"));
        return srv;
    }();
    return *s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string out =
        server().handle(std::string_view(reinterpret_cast<const char*>(data), size));
    if (out.rfind("HTTP/1.", 0) != 0) __builtin_trap(); // every request gets an answer
    return 0;
}
