// The model card stored beside every registered version: what the model is for, what it was
// trained on, how well it does per class, how it was quantized and where it fails.
// Stage 4 (deploy): filled by training code, rendered to Markdown by the registry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace edgestack::deploy {

/// Precision and recall of one class, for the model card's table.
struct ClassMetrics {
    std::string label;       ///< class name
    double precision = 0.0;  ///< of the predictions of this class, the share that were right
    double recall = 0.0;     ///< of the samples of this class, the share found
    std::size_t support = 0; ///< samples of this class
};

/// What MODEL_CARD.md says about a version, beside the manifest's figures.
struct ModelCard {
    std::string intended_use;             ///< what the model is for
    std::string data;                     ///< dataset, split, preprocessing
    std::vector<ClassMetrics> per_class;  ///< one row per class
    std::string quantization;             ///< "fp32", "int8 per-channel, PTQ on 1,000 samples", ...
    std::vector<std::string> known_limits; ///< a bullet each in the card
};

/// Per-class precision and recall from a confusion matrix [truth][predicted].
inline std::vector<ClassMetrics> class_metrics(const std::vector<std::size_t>& confusion,
                                               std::size_t classes,
                                               const std::vector<std::string>& labels = {}) {
    std::vector<ClassMetrics> out(classes);
    for (std::size_t c = 0; c < classes; ++c) {
        std::size_t tp = confusion[c * classes + c], row = 0, col = 0;
        for (std::size_t k = 0; k < classes; ++k) {
            row += confusion[c * classes + k];
            col += confusion[k * classes + c];
        }
        out[c].label = c < labels.size() ? labels[c] : std::to_string(c);
        out[c].precision = col ? static_cast<double>(tp) / static_cast<double>(col) : 0.0;
        out[c].recall = row ? static_cast<double>(tp) / static_cast<double>(row) : 0.0;
        out[c].support = row;
    }
    return out;
}

namespace detail {
inline std::string fixed(double v, int digits = 4) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}
inline std::string or_unstated(const std::string& s) { return s.empty() ? "Not stated." : s; }
} // namespace detail

/// Markdown for one version. The lineage facts come from the manifest so the card cannot
/// disagree with it.
template <class ManifestT>
std::string render_model_card(const ManifestT& m, const ModelCard& card) {
    std::string s = "# Model card: " + m.name + " v" + std::to_string(m.version) + "\n\n";
    s += "Created " + m.created + "; model file `" + m.model_file + "` (" +
         std::to_string(m.model_size) + " bytes, SHA-256 `" + m.sha256 + "`); parent version: " +
         (m.parent ? std::to_string(m.parent) : std::string("none")) + ".\n\n";
    s += "## Intended use\n\n" + detail::or_unstated(card.intended_use) + "\n\n";
    s += "## Data\n\n" + detail::or_unstated(card.data) + "\n";
    if (!m.dataset_fingerprint.empty())
        s += "\nDataset fingerprint: `" + m.dataset_fingerprint + "`.\n";
    s += "\n## Metrics\n\n";
    if (m.metrics.empty()) s += "None recorded.\n";
    for (const auto& [k, v] : m.metrics) s += "- " + k + ": " + detail::fixed(v) + "\n";
    if (!card.per_class.empty()) {
        s += "\n| class | precision | recall | support |\n|---|---|---|---|\n";
        for (const auto& c : card.per_class)
            s += "| " + c.label + " | " + detail::fixed(c.precision) + " | " +
                 detail::fixed(c.recall) + " | " + std::to_string(c.support) + " |\n";
    }
    s += "\n## Quantization\n\n" + detail::or_unstated(card.quantization) + "\n\n";
    s += "## Known limits\n\n";
    if (card.known_limits.empty()) s += "None stated.\n";
    for (const auto& l : card.known_limits) s += "- " + l + "\n";
    return s;
}

} // namespace edgestack::deploy
