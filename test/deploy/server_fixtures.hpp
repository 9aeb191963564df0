// What the server tests share: a tiny model whose output names its version, request bodies,
// options for a loopback server on an ephemeral port, and an error-answer check.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "deploy/http_client.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/deploy/server.hpp"

namespace test {

// A 4 -> 4 dense layer computing scale * x: the scale tells which version answered.
inline edgestack::compile::Graph scale_graph(float scale) {
    auto g = edgestack::compile::Graph::with_input({4});
    edgestack::compile::Node n;
    n.op = edgestack::compile::Op::dense;
    n.name = "dense_0";
    n.weights.assign(16, 0.0f);
    for (int i = 0; i < 4; ++i) n.weights[static_cast<std::size_t>(i * 5)] = scale;
    n.bias.assign(4, 0.0f);
    g.append(n, {0}, {4});
    return g;
}

inline std::shared_ptr<const edgestack::deploy::ServedModel>
scale_model(const std::string& name, std::uint64_t v, float scale) {
    return edgestack::deploy::make_served_model(
        name, v, edgestack::backend::Reference{}.compile(scale_graph(scale)), {4}, {4}, 16,
        "reference fp32");
}

inline std::vector<std::byte> scale_bytes(float scale) {
    const std::string s = std::to_string(scale);
    const auto b = std::as_bytes(std::span(s.data(), s.size()));
    return {b.begin(), b.end()};
}

inline edgestack::deploy::ModelFactory scale_factory() {
    return [](const edgestack::deploy::LoadedModel& lm) {
        const std::string s(reinterpret_cast<const char*>(lm.bytes.data()), lm.bytes.size());
        return scale_model(lm.manifest.name, lm.manifest.version, std::stof(s));
    };
}

inline std::string infer_body(const nlohmann::json& data, const nlohmann::json& shape,
                              const std::string& id = {}) {
    nlohmann::json j{{"inputs", nlohmann::json::array({nlohmann::json{
                                    {"name", "input"}, {"shape", shape},
                                    {"datatype", "FP32"}, {"data", data}}})}};
    if (!id.empty()) j["id"] = id;
    return j.dump();
}

inline edgestack::deploy::ServerOptions test_options() {
    edgestack::deploy::ServerOptions o;
    o.port = 0;
    o.threads = 2;
    o.reload_interval = std::chrono::milliseconds(0);
    o.body_limit = 64 * 1024;
    return o;
}

inline void expect_error(const Reply& r, int status, const std::string& needle) {
    BOOST_TEST_INFO("status " << r.status << " body " << r.body.substr(0, 600));
    BOOST_TEST(r.status == status);
    BOOST_TEST(r.body.find(needle) != std::string::npos);
}

} // namespace test
