// Glue between the deployment model file (io/model_file.hpp) and the registry and server:
// a graph to registrable bytes, and a ModelFactory that turns a verified registry version
// back into a served engine. Stage 4 (deploy). Link edgestack::crypto.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <span>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "edgestack/compile/graph.hpp"
#include "edgestack/deploy/detail/durable_fs.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/deploy/served_model.hpp"
#include "edgestack/deploy/server.hpp"
#include "edgestack/io/model_file.hpp"

namespace edgestack::deploy {

/// The MIME type the registry records for model files.
inline constexpr const char* model_file_format = "application/x-edgestack-model";

/// The bytes of the model file for `g`, ready for Registry::add.
inline std::vector<std::byte> model_file_bytes(const compile::Graph& g,
                                               const io::SaveOptions& opt = {}) {
    const auto tmp = std::filesystem::temp_directory_path() /
                     ("edgestack-model-" + std::to_string(::getpid()) + "-" +
                      std::to_string(reinterpret_cast<std::uintptr_t>(&g)) + ".bin");
    io::save_model(tmp.string(), g, opt);
    auto bytes = detail::read_file(tmp);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return bytes;
}

/// ModelInfo preset for a model file.
inline ModelInfo model_file_info() {
    ModelInfo info;
    info.model_file = "model.edgemdl";
    info.format = model_file_format;
    return info;
}

/// A factory for Server::watch: parses the verified bytes as a model file and compiles the
/// graph on `Backend` (fp32 or int8, whichever the file holds), with the file's fitted
/// scaling (io::Scaling) applied around it.
template <class Backend>
ModelFactory model_file_factory(Backend backend = {}, std::size_t max_batch = 64,
                                std::string platform = "edgestack") {
    return [backend, max_batch, platform](const LoadedModel& lm) {
        // The model file wants its tensors 64-byte aligned in memory, as they are when mapped;
        // registry bytes sit in an ordinary vector, so copy them to an aligned block first.
        const std::size_t n = (lm.bytes.size() + 63) / 64 * 64;
        std::unique_ptr<std::byte, decltype(&std::free)> aligned(
            static_cast<std::byte*>(std::aligned_alloc(64, n == 0 ? 64 : n)), &std::free);
        if (!aligned) throw std::bad_alloc();
        if (!lm.bytes.empty()) std::memcpy(aligned.get(), lm.bytes.data(), lm.bytes.size());
        const auto file = io::ModelFile::parse(
            std::span<const std::byte>(aligned.get(), lm.bytes.size()),
            (lm.dir / lm.manifest.model_file).string(), io::LoadOptions{});
        compile::Graph g = file.to_graph();
        const auto in = g.input_shape(), out = g.output_shape();
        std::string what = platform + (g.nodes.empty() || g.value_quant.empty() ? " fp32" : " int8");
        // The scaling saved with the model applies around it: clients send raw features.
        return with_scaling(make_served_model(lm.manifest.name, lm.manifest.version,
                                              backend.compile(g),
                                              std::vector<std::size_t>(in.begin(), in.end()),
                                              std::vector<std::size_t>(out.begin(), out.end()),
                                              max_batch, std::move(what)),
                            file.scaling());
    };
}

} // namespace edgestack::deploy
