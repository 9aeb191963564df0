// The server's /dashboard page: one self-contained HTML document (script and styles inline,
// no external URL, so it works on a device with no network) that polls /dashboard/data
// about once a second and draws it with uPlot. Stage 6 (monitor), served by deploy::Server.
// uPlot is not part of the source tree: the build installs it with npm and generates
// edgestack/generated/uplot_assets.hpp from it; without that header the page still shows
// the registry and the latest figures, and says the charts are missing.
#pragma once

#include <string>
#include <string_view>

#if __has_include("edgestack/generated/uplot_assets.hpp")
#include "edgestack/generated/uplot_assets.hpp"
#define EDGESTACK_DASHBOARD_HAS_UPLOT 1
#else
#define EDGESTACK_DASHBOARD_HAS_UPLOT 0
#endif

namespace edgestack::monitor {

namespace detail::dashboard_page {

inline constexpr std::string_view head = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgestack dashboard</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{display:flex;flex-wrap:wrap;gap:12px;align-items:center;padding:10px 16px;background:#1d2330;color:#fff}
header h1{font-size:17px;margin:0 12px 0 0}
header label{font-size:13px}
header input{font:13px monospace;width:150px;margin-left:4px}
#status{font-size:13px;opacity:.85}
#status.bad{color:#ffb4a8;opacity:1}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px;padding:12px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px 10px}
section h2{font-size:14px;margin:0 0 4px}
.note{font-size:12px;color:#5b6475;margin:0 0 4px}
.chart{min-height:220px}
#drift-alarm{background:#c62828;color:#fff;padding:6px 10px;border-radius:4px;font-weight:600;margin:4px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eceef2}
tr.serving td{font-weight:600;background:#eef6ee}
button{font:12px system-ui,sans-serif;padding:2px 8px}
#admin-result{font-size:13px;margin:4px 0}
#admin-result.bad{color:#c62828}
</style>
)html";

inline constexpr std::string_view body = R"html(</head><body>
<header><h1>edgestack</h1>
<label>token <input id="token" type="password" autocomplete="off" placeholder="bearer token"></label>
<label>admin token <input id="admin-token" type="password" autocomplete="off" placeholder="same as token"></label>
<span id="status">connecting...</span></header>
<main>
<section><h2>Latency (engine time, ms)</h2><p class="note">p50 / p90 / p99 of the requests in each interval</p><div id="chart-latency" class="chart"></div></section>
<section><h2>Requests per second</h2><p class="note">successful inferences</p><div id="chart-rps" class="chart"></div></section>
<section><h2>Errors by status code</h2><p class="note">answers with status &ge; 400 per interval</p><div id="chart-errors" class="chart"></div></section>
<section><h2>Input drift (PSI per feature)</h2><p class="note">dashed: alarm threshold <span id="psi-threshold"></span></p><div id="drift-alarm" hidden></div><div id="chart-drift" class="chart"></div></section>
<section><h2>Accuracy (delayed labels)</h2><p class="note" id="accuracy-note">share of labelled predictions that were right</p><div id="chart-accuracy" class="chart"></div></section>
<section><h2>Registry</h2><div id="admin-result"></div><div id="registry"></div>
<h2 style="margin-top:10px">Serving history</h2><table><thead><tr><th>time (UTC)</th><th>model</th><th>action</th><th>from</th><th>to</th></tr></thead><tbody id="events"></tbody></table></section>
</main>
<script>
)html";

inline constexpr std::string_view app = R"js(
"use strict";
const $ = (id) => document.getElementById(id);
const charts = {};
window.dashboardCharts = charts;
window.dashboardState = { polls: 0, lastError: null, data: null };
const colors = ["#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#558b2f"];

function authHeaders(admin) {
  const t = (admin && $("admin-token").value.trim()) || $("token").value.trim();
  return t ? { Authorization: "Bearer " + t } : {};
}
function setStatus(text, bad) { const s = $("status"); s.textContent = text; s.className = bad ? "bad" : ""; }
function esc(s) { return String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";"); }
function utc(ms) { return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, ""); }

// A chart is rebuilt only when its series change (an error code appears, the feature count
// changes); otherwise new points are set in place.
function draw(name, labels, data, extra, yRange) {
  const el = $("chart-" + name);
  if (typeof uPlot === "undefined") { el.textContent = "charts unavailable: built without uPlot"; return; }
  const key = labels.join("|");
  let c = charts[name];
  if (!c || c.key !== key) {
    if (c) c.plot.destroy();
    const series = [{}].concat(labels.map((l, i) => Object.assign(
      { label: l, stroke: colors[i % colors.length], width: 2, spanGaps: false },
      (extra && extra[l]) || {})));
    const plot = new uPlot({ width: Math.max(300, el.clientWidth), height: 200, series,
      scales: { x: { time: true }, y: yRange ? { range: yRange } : {} }, axes: [{}, { size: 56 }], legend: { live: false } }, data, el);
    c = charts[name] = { plot, key };
  } else {
    c.plot.setData(data);
  }
}

function render(d) {
  const pts = d.points;
  const xs = pts.map((p) => p.t / 1000);
  draw("latency", ["p50", "p90", "p99"],
       [xs, pts.map((p) => p.p50 * 1e3), pts.map((p) => p.p90 * 1e3), pts.map((p) => p.p99 * 1e3)]);
  draw("rps", ["requests/s"], [xs, pts.map((p) => p.rps)]);
  const codes = [...new Set(pts.flatMap((p) => Object.keys(p.errors)))].sort();
  draw("errors", codes.length ? codes : ["none"],
       [xs].concat((codes.length ? codes : ["none"]).map((c) => pts.map((p) => p.errors[c] || 0))));
  const features = pts.reduce((n, p) => Math.max(n, p.psi.length), 0);
  const th = d.psi_threshold;
  $("psi-threshold").textContent = "(" + th + ")";
  const fl = [...Array(features).keys()].map((f) => "feature " + f);
  draw("drift", fl.concat(["threshold"]),
       [xs].concat(fl.map((_, f) => pts.map((p) => (f < p.psi.length ? p.psi[f] : null))),
                   [pts.map(() => th)]),
       { threshold: { stroke: "#c62828", dash: [6, 4], width: 1.5 } });
  const last = pts.length ? pts[pts.length - 1] : null;
  const over = last ? last.psi.map((v, f) => [f, v]).filter(([, v]) => v > th) : [];
  const alarm = $("drift-alarm");
  alarm.hidden = over.length === 0;
  alarm.textContent = over.length ? "Drift alarm: " + over.map(([f, v]) => "feature " + f + " PSI " + v.toFixed(2)).join(", ") + " > " + th : "";
  draw("accuracy", ["accuracy"], [xs, pts.map((p) => p.accuracy)], null, [0, 1]);
  $("accuracy-note").textContent = d.accuracy_source
    ? "share of labelled predictions that were right (" + d.accuracy_source + ")"
    : "no delayed labels wired";
  renderRegistry(d.models);
  $("events").innerHTML = d.events.slice().reverse().map((e) =>
    "<tr><td>" + utc(e.t) + "</td><td>" + esc(e.model) + "</td><td>" + esc(e.action) + "</td><td>" +
    (e.from ? "v" + e.from : "-") + "</td><td>" + (e.to ? "v" + e.to : "-") + "</td></tr>").join("");
}

let lastRegistryHtml = "";
function renderRegistry(models) {
  let html = "";
  for (const m of models) {
    html += "<h2>" + esc(m.name) + " &mdash; serving " + (m.serving ? "v" + m.serving : "nothing") + "</h2>";
    if (!m.watched) { html += "<p class='note'>a fixed model (not from a registry)</p>"; continue; }
    html += "<table><thead><tr><th>version</th><th>created</th><th></th></tr></thead><tbody>";
    for (const v of m.versions.slice().reverse()) {
      const serving = v.version === m.serving;
      html += "<tr class='" + (serving ? "serving" : "") + "'><td>v" + v.version + "</td><td>" + esc(v.created || v.error || "") +
        "</td><td>" + (serving ? "serving" : "<button data-model='" + esc(m.name) + "' data-version='" + v.version +
        "' class='promote'>promote</button>") + "</td></tr>";
    }
    html += "</tbody></table><p><button class='rollback' data-model='" + esc(m.name) + "'" +
      (m.previous.length ? "" : " disabled") + ">roll back" +
      (m.previous.length ? " to v" + m.previous[m.previous.length - 1] : "") + "</button></p>";
  }
  // Replaced only when it changed: a table rebuilt between a button's mousedown and mouseup
  // (every poll, a second apart) loses the click.
  if (html !== lastRegistryHtml) $("registry").innerHTML = lastRegistryHtml = html;
}

async function admin(path, what) {
  const out = $("admin-result");
  try {
    const r = await fetch(path, { method: "POST", headers: authHeaders(true), cache: "no-store" });
    const body = await r.json().catch(() => ({}));
    out.className = r.ok ? "" : "bad";
    out.textContent = r.ok ? what + ": now serving v" + body.serving
                           : what + " refused (" + r.status + "): " + (body.error || r.statusText);
  } catch (e) {
    out.className = "bad";
    out.textContent = what + " failed: " + e;
  }
}

$("registry").addEventListener("click", (ev) => {
  const b = ev.target.closest("button");
  if (!b) return;
  const m = encodeURIComponent(b.dataset.model);
  if (b.classList.contains("promote"))
    admin("v2/models/" + m + "/versions/" + b.dataset.version + "/promote", "promote v" + b.dataset.version);
  else if (b.classList.contains("rollback"))
    admin("v2/models/" + m + "/rollback", "roll back");
});

// After a 401 the page waits for the token to change instead of asking again every second.
let waitingForToken = false;
$("token").addEventListener("input", () => { waitingForToken = false; });

async function poll() {
  if (waitingForToken) return setTimeout(poll, 250);
  try {
    const r = await fetch("dashboard/data", { headers: authHeaders(false), cache: "no-store" });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      window.dashboardState.lastError = r.status;
      waitingForToken = r.status === 401;
      setStatus(r.status === 401 ? "enter the bearer token" : "data: " + r.status + " " + (body.error || ""), true);
    } else {
      const d = await r.json();
      window.dashboardState.data = d;
      window.dashboardState.lastError = null;
      render(d);
      setStatus("updated " + utc(d.time) + " UTC, " + d.points.length + " points" + (d.persisted ? ", kept in the telemetry store" : ""), false);
    }
  } catch (e) {
    window.dashboardState.lastError = String(e);
    setStatus("server unreachable", true);
  }
  window.dashboardState.polls++;
  setTimeout(poll, 1000);
}
poll();
)js";

inline constexpr std::string_view tail = "</script></body></html>\n";

} // namespace detail::dashboard_page

/// Whether this build embeds uPlot (the page draws charts) or not (tables and figures only).
inline constexpr bool dashboard_has_charts = EDGESTACK_DASHBOARD_HAS_UPLOT != 0;

/// The whole page, built once.
inline const std::string& dashboard_page() {
    namespace p = detail::dashboard_page;
    static const std::string page = [] {
        std::string s;
        s += p::head;
#if EDGESTACK_DASHBOARD_HAS_UPLOT
        s += "<style>\n";
        s += edgestack::generated::uplot_css;
        s += "\n</style>\n";
#endif
        s += p::body;
#if EDGESTACK_DASHBOARD_HAS_UPLOT
        s += edgestack::generated::uplot_js;
#endif
        s += "\n</script>\n<script>\n";
        s += p::app;
        s += p::tail;
        return s;
    }();
    return page;
}

} // namespace edgestack::monitor
