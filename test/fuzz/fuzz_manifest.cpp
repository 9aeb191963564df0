// libFuzzer target: the registry's manifest and serving-pointer readers
// (deploy/registry.hpp), and the model card rendered from a manifest that parses.
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/deploy/registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace d = edgestack::deploy::detail;
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::filesystem::path file = "manifest.json";
    nlohmann::json j;
    try {
        j = d::parse_json_file(file, text);
    } catch (const edgestack::error&) {
        return 0;
    }
    try {
        const auto m = d::manifest_from_json(j, file);
        edgestack::deploy::ModelCard card;
        card.per_class = edgestack::deploy::class_metrics({3, 1, 0, 4}, 2, {m.name});
        (void)edgestack::deploy::render_model_card(m, card);
    } catch (const edgestack::error&) {
    }
    // The serving pointer (serving.json) is read with the same helpers.
    try {
        (void)d::field<std::uint64_t>(j, "version", file);
        (void)d::field<std::vector<std::uint64_t>>(j, "history", file);
    } catch (const edgestack::error&) {
    }
    return 0;
}
