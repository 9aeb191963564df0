// `edgestack plot`: a training history (train::read_history) drawn as one self-contained
// SVG file (loss, accuracy and learning rate per epoch, training and validation side by
// side), plus a few lines of text saying where the run was best and where validation loss
// turned. No scripts, fonts or anything fetched: it opens offline in any browser.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "edgestack/train/fit.hpp"

namespace edgestack::tools {

struct PlotSeries {
    std::string name;  // legend text and the polyline's data-series attribute
    std::string color; // CSS colour
    bool dashed = false;
    std::vector<double> y; // one value per epoch; NaN leaves a gap
};

struct PlotPanel {
    std::string title;
    std::vector<PlotSeries> series;
};

namespace detail {

inline std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// Text for SVG: & < > " escaped, control bytes dropped.
inline std::string xml(const std::string& s) {
    std::string out;
    for (const unsigned char c : s) {
        if (c == '&') out += "&amp;";
        else if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '"') out += "&quot;";
        else if (c >= 0x20) out += static_cast<char>(c);
    }
    return out;
}

// A round step (1, 2 or 5 times a power of ten) giving about `want` ticks over [lo, hi].
inline double tick_step(double lo, double hi, int want) {
    const double raw = (hi - lo) / want;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double r = raw / mag;
    return (r < 1.5 ? 1.0 : r < 3.5 ? 2.0 : r < 7.5 ? 5.0 : 10.0) * mag;
}

// The multiples of `step` in [lo, hi].
inline std::vector<double> ticks(double lo, double hi, double step) {
    std::vector<double> out;
    for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
        out.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
    return out;
}

} // namespace detail

/// One SVG with the panels stacked, sharing an x axis of epochs 1..epochs.
inline std::string svg_chart(const std::string& title, const std::vector<PlotPanel>& panels,
                             std::size_t epochs) {
    const double width = 760, panel_h = 200, top = 40, gap = 50, left = 80, right = 170;
    const double plot_w = width - left - right;
    const double height = top + panels.size() * (panel_h + gap) + 10;
    std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + detail::fmt("%.0f", width) +
                    "\" height=\"" + detail::fmt("%.0f", height) + "\" viewBox=\"0 0 " +
                    detail::fmt("%.0f", width) + " " + detail::fmt("%.0f", height) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n"
                    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
                    "<text x=\"" + detail::fmt("%.0f", width / 2) +
                    "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + detail::xml(title) +
                    "</text>\n";
    const double x_lo = 1, x_hi = std::max<double>(2, static_cast<double>(epochs));
    const auto px = [&](double epoch1) { return left + (epoch1 - x_lo) / (x_hi - x_lo) * plot_w; };
    for (std::size_t p = 0; p < panels.size(); ++p) {
        const auto& panel = panels[p];
        const double y0 = top + p * (panel_h + gap) + 20; // the plot area's top
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (const auto& ser : panel.series)
            for (double v : ser.y)
                if (std::isfinite(v)) {
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                }
        if (!std::isfinite(lo)) lo = 0, hi = 1;
        if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
            const double pad = std::max(std::abs(hi) * 0.05, 1e-12);
            lo -= pad;
            hi += pad;
        }
        // The frame runs from tick to tick.
        const double step = detail::tick_step(lo, hi, 4);
        lo = std::floor(lo / step + 1e-9) * step;
        hi = std::ceil(hi / step - 1e-9) * step;
        const auto yt = detail::ticks(lo, hi, step);
        const auto py = [&](double v) { return y0 + panel_h - (v - lo) / (hi - lo) * panel_h; };
        s += "<g data-panel=\"" + detail::xml(panel.title) + "\">\n";
        s += "<text x=\"" + detail::fmt("%.0f", left) + "\" y=\"" + detail::fmt("%.0f", y0 - 8) +
             "\" font-weight=\"bold\">" + detail::xml(panel.title) + "</text>\n";
        s += "<rect x=\"" + detail::fmt("%.1f", left) + "\" y=\"" + detail::fmt("%.1f", y0) +
             "\" width=\"" + detail::fmt("%.1f", plot_w) + "\" height=\"" +
             detail::fmt("%.1f", panel_h) + "\" fill=\"none\" stroke=\"#999\"/>\n";
        for (double t : yt) {
            const double y = py(t);
            s += "<line x1=\"" + detail::fmt("%.1f", left) + "\" x2=\"" +
                 detail::fmt("%.1f", left + plot_w) + "\" y1=\"" + detail::fmt("%.1f", y) +
                 "\" y2=\"" + detail::fmt("%.1f", y) + "\" stroke=\"#eee\"/>\n";
            s += "<text x=\"" + detail::fmt("%.1f", left - 6) + "\" y=\"" + detail::fmt("%.1f", y + 4) +
                 "\" text-anchor=\"end\">" + detail::fmt("%.4g", t) + "</text>\n";
        }
        for (double t : detail::ticks(x_lo, x_hi, std::max(1.0, detail::tick_step(x_lo, x_hi, 8)))) {
            if (t != std::floor(t)) continue; // whole epochs only
            s += "<text x=\"" + detail::fmt("%.1f", px(t)) + "\" y=\"" +
                 detail::fmt("%.1f", y0 + panel_h + 16) + "\" text-anchor=\"middle\">" +
                 detail::fmt("%.0f", t) + "</text>\n";
        }
        s += "<text x=\"" + detail::fmt("%.1f", left + plot_w / 2) + "\" y=\"" +
             detail::fmt("%.1f", y0 + panel_h + 32) + "\" text-anchor=\"middle\">epoch</text>\n";
        for (std::size_t k = 0; k < panel.series.size(); ++k) {
            const auto& ser = panel.series[k];
            std::string points, marks;
            std::size_t drawn = 0;
            for (std::size_t e = 0; e < ser.y.size(); ++e) {
                if (!std::isfinite(ser.y[e])) continue;
                const double x = px(static_cast<double>(e + 1)), y = py(ser.y[e]);
                if (drawn++) points += ' ';
                points += detail::fmt("%.2f,", x);
                points += detail::fmt("%.2f", y);
                marks += "<circle cx=\"" + detail::fmt("%.2f", x) + "\" cy=\"" + detail::fmt("%.2f", y) +
                         "\" r=\"2.5\" fill=\"" + ser.color + "\"><title>epoch " +
                         std::to_string(e + 1) + ": " + detail::fmt("%.6g", ser.y[e]) +
                         "</title></circle>\n";
            }
            if (drawn == 0) continue;
            s += "<polyline data-series=\"" + detail::xml(ser.name) + "\" fill=\"none\" stroke=\"" +
                 ser.color + "\" stroke-width=\"2\"" +
                 (ser.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" + points + "\"/>\n" +
                 marks;
            const double ly = y0 + 14 + k * 18;
            s += "<line x1=\"" + detail::fmt("%.1f", left + plot_w + 14) + "\" x2=\"" +
                 detail::fmt("%.1f", left + plot_w + 40) + "\" y1=\"" + detail::fmt("%.1f", ly - 4) +
                 "\" y2=\"" + detail::fmt("%.1f", ly - 4) + "\" stroke=\"" + ser.color +
                 "\" stroke-width=\"2\"" + (ser.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n";
            s += "<text x=\"" + detail::fmt("%.1f", left + plot_w + 46) + "\" y=\"" +
                 detail::fmt("%.1f", ly) + "\">" + detail::xml(ser.name) + "</text>\n";
        }
        s += "</g>\n";
    }
    return s + "</svg>\n";
}

/// Loss, accuracy and learning-rate panels of a history; a panel or series with no
/// finite value (no validation data, no rate recorded) is left out.
inline std::string history_svg(const std::string& title, const std::vector<train::EpochStats>& h) {
    const auto column = [&](auto field) {
        std::vector<double> v;
        for (const auto& e : h) v.push_back(field(e));
        return v;
    };
    const auto any = [](const std::vector<double>& v) {
        return std::any_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
    };
    std::vector<PlotPanel> panels;
    const auto add = [&](PlotPanel p) {
        std::erase_if(p.series, [&](const PlotSeries& s) { return !any(s.y); });
        if (!p.series.empty()) panels.push_back(std::move(p));
    };
    add({"loss",
         {{"train loss", "#1f77b4", false, column([](const auto& e) { return e.loss; })},
          {"validation loss", "#ff7f0e", true, column([](const auto& e) { return e.val_loss; })}}});
    add({"accuracy",
         {{"train accuracy", "#1f77b4", false, column([](const auto& e) { return e.accuracy; })},
          {"validation accuracy", "#ff7f0e", true,
           column([](const auto& e) { return e.val_accuracy; })}}});
    add({"learning rate",
         {{"learning rate", "#2ca02c", false, column([](const auto& e) { return e.learning_rate; })}}});
    std::size_t epochs = 0;
    for (const auto& e : h) epochs = std::max(epochs, e.epoch + 1);
    // Positions are by line, so a history is drawn in file order whatever its epoch numbers.
    return svg_chart(title, panels, std::max(epochs, h.size()));
}

/// A few lines on the run: epochs, the best epoch by validation (else training) figures, and
/// the epoch after which validation loss rose for good -- where training began to overfit.
inline std::string history_summary(const std::vector<train::EpochStats>& h) {
    std::string out = std::to_string(h.size()) + " epochs\n";
    const bool val = std::any_of(h.begin(), h.end(), [](const auto& e) { return std::isfinite(e.val_loss); });
    const auto loss = [&](const train::EpochStats& e) { return val ? e.val_loss : e.loss; };
    const auto acc = [&](const train::EpochStats& e) { return val ? e.val_accuracy : e.accuracy; };
    std::size_t best_loss = 0, best_acc = 0;
    for (std::size_t i = 0; i < h.size(); ++i) {
        if (std::isfinite(loss(h[i])) && !(loss(h[i]) >= loss(h[best_loss]))) best_loss = i;
        if (std::isfinite(acc(h[i])) && !(acc(h[i]) <= acc(h[best_acc]))) best_acc = i;
    }
    const char* which = val ? "validation" : "training";
    out += std::string("lowest ") + which + " loss " + detail::fmt("%.4f", loss(h[best_loss])) +
           " at epoch " + std::to_string(best_loss + 1) + "\n";
    if (std::isfinite(acc(h[best_acc])))
        out += std::string("highest ") + which + " accuracy " +
               detail::fmt("%.4f", acc(h[best_acc])) + " at epoch " + std::to_string(best_acc + 1) + "\n";
    if (val && best_loss + 1 < h.size())
        out += "validation loss rose after epoch " + std::to_string(best_loss + 1) +
               " and did not come back down (" + std::to_string(h.size() - best_loss - 1) +
               " epochs)\n";
    return out;
}

} // namespace edgestack::tools
