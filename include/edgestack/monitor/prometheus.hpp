// Writing metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges
// and histograms with labels. Stage 6 (monitor): the server's /metrics and the drift and
// accuracy monitors render through this.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "edgestack/monitor/latency.hpp"

namespace edgestack::monitor {

/// One label of a sample: name and value (the value is escaped when written).
using Label = std::pair<std::string_view, std::string_view>;

/// Builds a page in the Prometheus text format 0.0.4, family by family.
class PrometheusWriter {
public:
    /// HELP and TYPE lines; call once per metric family before its samples.
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }

    /// One sample line: `name{labels} value`.
    void sample(std::string_view name, std::initializer_list<Label> labels, double value) {
        out_ += name;
        write_labels(labels, {});
        out_ += ' ';
        out_ += number(value);
        out_ += '\n';
    }

    /// A histogram family's samples: cumulative buckets at every `stride`-th bound of the
    /// log-scale histogram, +Inf, _sum and _count.
    void histogram(std::string_view name, std::initializer_list<Label> labels,
                   const LatencyHistogram& h, std::size_t stride = LatencyHistogram::per_doubling) {
        std::uint64_t cumulative = 0;
        const std::string bucket = std::string(name) + "_bucket";
        for (std::size_t i = 0; i + 1 < LatencyHistogram::buckets; ++i) {
            cumulative += h.bucket_count(i);
            if (i % stride != 0) continue; // bounds 1 us, 2 us, 4 us, ... with stride 4
            char le[32];
            std::snprintf(le, sizeof le, "%.6g", LatencyHistogram::upper_bound(i));
            out_ += bucket;
            write_labels(labels, le);
            out_ += ' ';
            out_ += std::to_string(cumulative);
            out_ += '\n';
        }
        cumulative += h.bucket_count(LatencyHistogram::buckets - 1);
        out_ += bucket;
        write_labels(labels, "+Inf");
        out_ += ' ' + std::to_string(cumulative) + '\n';
        sample(std::string(name) + "_sum", labels, h.sum_seconds());
        sample(std::string(name) + "_count", labels, static_cast<double>(cumulative));
    }

    /// The page so far.
    const std::string& text() const noexcept { return out_; }
    /// The page, moved out.
    std::string take() { return std::move(out_); }

    /// A value as Prometheus writes it: NaN, +Inf, -Inf, or 17 significant digits.
    static std::string number(double v) {
        if (std::isnan(v)) return "NaN";
        if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        return buf;
    }

private:
    void write_labels(std::initializer_list<Label> labels, std::string_view le) {
        if (labels.size() == 0 && le.empty()) return;
        out_ += '{';
        bool first = true;
        for (const auto& [k, v] : labels) {
            if (!first) out_ += ',';
            first = false;
            out_ += k;
            out_ += "=\"";
            escape(v);
            out_ += '"';
        }
        if (!le.empty()) {
            if (!first) out_ += ',';
            out_ += "le=\"";
            out_ += le;
            out_ += '"';
        }
        out_ += '}';
    }
    void escape(std::string_view v) {
        for (char c : v) {
            if (c == '\\') out_ += "\\\\";
            else if (c == '"') out_ += "\\\"";
            else if (c == '\n') out_ += "\\n";
            else out_ += c;
        }
    }

    std::string out_;
};

} // namespace edgestack::monitor
