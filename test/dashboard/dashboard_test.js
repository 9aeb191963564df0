// The /dashboard page in headless chromium: charts fill from live data, a drift alarm
// appears after drifted requests, promote is refused without the admin token and switches
// the serving version with it, nothing is fetched from outside the server, and the page
// logs no console error. Writes dashboard.png into the --out folder.
// Usage: node dashboard_test.js --host <dashboard_host> --chromium <path> --modules <node_modules> --out <dir>
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const TOKEN = "view-token";
const ADMIN = "admin-token";
const STEP_MS = 60000; // bound of each wait: a hang fails the test, it never stalls ctest

function args() {
  const a = {};
  const v = process.argv.slice(2);
  for (let i = 0; i + 1 < v.length; i += 2) a[v[i].replace(/^--/, "")] = v[i + 1];
  return a;
}

function fail(message) {
  throw new Error(message);
}

function check(cond, message) {
  if (!cond) fail(message);
  console.log("ok: " + message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startHost(host, dir) {
  const child = spawn(host, [dir, TOKEN, ADMIN], { stdio: ["pipe", "pipe", "inherit"] });
  const port = new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("dashboard_host printed no port")), STEP_MS);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on("exit", (code) => reject(new Error("dashboard_host exited with " + code)));
  });
  return { child, port };
}

async function call(base, method, target, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(base + target, { method, headers, body });
  return { status: r.status, body: await r.text() };
}

function inferBody(x) {
  return JSON.stringify({ inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: x }] });
}

// Bounded load, loopback only: `n` requests spread over a few dashboard intervals.
async function load(base, n, shift, rng) {
  for (let i = 0; i < n; ++i) {
    const x = [0, 1, 2, 3].map(() => gaussian(rng) + shift);
    const r = await call(base, "POST", "/v2/models/classifier/infer", inferBody(x), TOKEN);
    if (r.status !== 200) fail("inference answered " + r.status + ": " + r.body);
    if (i % 10 === 9) await sleep(100);
  }
}

function gaussian(rng) {
  const u = Math.max(rng(), 1e-12), v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

async function serving(base) {
  const r = await call(base, "GET", "/v2/models/classifier", undefined, TOKEN);
  if (r.status !== 200) fail("metadata answered " + r.status);
  return JSON.parse(r.body).versions[0];
}

async function main() {
  const a = args();
  if (!a.chromium || !fs.existsSync(a.chromium))
    fail("chromium not found (apt-get install chromium); got '" + (a.chromium || "") + "'");
  let puppeteer;
  try {
    puppeteer = require(path.join(a.modules || "", "puppeteer-core"));
  } catch (e) {
    fail("puppeteer-core not found under '" + a.modules + "' (scripts/run installs it): " + e.message);
  }
  if (!a.host || !a.out) fail("--host and --out are required");

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "edgestack-dashboard-"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "edgestack-chromium-"));
  const { child, port: portReady } = startHost(a.host, scratch);
  let browser;
  try {
    const port = await portReady;
    const base = "http://127.0.0.1:" + port;
    const rng = lcg(42);
    await load(base, 150, 0, rng);
    for (let i = 0; i < 3; ++i)
      check((await call(base, "POST", "/v2/models/classifier/infer", "{", TOKEN)).status === 400,
            "a malformed body is answered 400");
    check((await call(base, "GET", "/v2/models/none", undefined, TOKEN)).status === 404,
          "an unknown model is answered 404");

    browser = await puppeteer.launch({
      executablePath: a.chromium,
      headless: true,
      pipe: true,
      userDataDir: profile,
      ignoreDefaultArgs: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-debugging-pipe", "--user-data-dir=" + profile,
             "about:blank"],
      defaultViewport: { width: 1280, height: 1100 },
      protocolTimeout: STEP_MS,
    });
    const page = await browser.newPage();
    const consoleErrors = [];
    const foreign = [];
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
    page.on("pageerror", (e) => consoleErrors.push("page error: " + e.message));
    page.on("request", (r) => { if (!r.url().startsWith(base + "/")) foreign.push(r.url()); });
    page.setDefaultTimeout(STEP_MS);

    await page.goto(base + "/dashboard", { waitUntil: "load" });
    check(await page.evaluate(() => typeof uPlot === "function"), "uPlot is embedded in the page");
    // Until a token is typed the data is refused (401, logged by the browser) and the page
    // waits for one; from then on nothing may go wrong.
    await page.waitForFunction(() => window.dashboardState.lastError === 401);
    const beforeToken = consoleErrors.splice(0);
    check(beforeToken.every((t) => /401/.test(t)), "before the token only the 401 is logged (" + beforeToken.join(" | ") + ")");
    await page.type("#token", TOKEN);
    await load(base, 100, 0, rng);

    // Every chart holds points: latency, rate, errors, drift, accuracy.
    await page.waitForFunction(() => {
      const c = window.dashboardCharts;
      const names = ["latency", "rps", "errors", "drift", "accuracy"];
      return names.every((n) => c[n] && c[n].plot.data[0].length >= 3 &&
        c[n].plot.data.slice(1).some((s) => s.some((v) => v !== null && v !== undefined)));
    });
    const summary = await page.evaluate(() => {
      const c = window.dashboardCharts;
      const max = (n, i) => Math.max(...c[n].plot.data[i].filter((v) => v != null));
      return {
        points: c.latency.plot.data[0].length,
        p99: max("latency", 3),
        rps: max("rps", 1),
        errorSeries: c.errors.plot.series.slice(1).map((s) => s.label),
        accuracy: max("accuracy", 1),
      };
    });
    console.log("charts: " + JSON.stringify(summary));
    check(summary.p99 > 0, "latency chart has a p99 above zero");
    check(summary.rps > 0, "request rate chart has requests");
    check(summary.errorSeries.includes("400") && summary.errorSeries.includes("404"),
          "errors chart has the 400 and 404 answers");
    check(summary.accuracy > 0.5 && summary.accuracy <= 1, "accuracy chart has the delayed-label accuracy");
    check(await page.$eval("#drift-alarm", (e) => e.hidden), "no drift alarm before drift");

    // Inputs shifted far from the training distribution: PSI rises above the threshold.
    await load(base, 300, 3, rng);
    await page.waitForSelector("#drift-alarm:not([hidden])");
    const alarm = await page.$eval("#drift-alarm", (e) => e.textContent);
    check(/Drift alarm: feature \d/.test(alarm), "drift alarm shown: " + alarm);
    check(consoleErrors.length === 0, "no console error while loading and drawing (" + consoleErrors.join(" | ") + ")");

    // Promote without the admin token: the view token is not enough.
    check((await serving(base)) === "1", "v1 serves before promotion");
    await page.waitForSelector("button.promote[data-version='2']");
    await page.click("button.promote[data-version='2']");
    await page.waitForFunction(() => /refused \(401\)/.test(document.querySelector("#admin-result").textContent));
    check((await serving(base)) === "1", "promote without the admin token is refused; v1 still serves");

    await page.type("#admin-token", ADMIN);
    await page.click("button.promote[data-version='2']");
    await page.waitForFunction(() => /now serving v2/.test(document.querySelector("#admin-result").textContent));
    check((await serving(base)) === "2", "promote with the admin token switches serving to v2");
    await page.waitForFunction(() => /serving v2/.test(document.querySelector("#registry").textContent) &&
      /promote/.test(document.querySelector("#events").textContent));
    await load(base, 30, 3, rng);
    await sleep(2500); // two more polls, so the picture shows points after the switch

    const unexpected = consoleErrors.filter((t) => !/401/.test(t));
    check(unexpected.length === 0, "no console error but the refused promote (" + unexpected.join(" | ") + ")");
    check(foreign.length === 0, "nothing requested outside the server (" + foreign.join(", ") + ")");

    fs.mkdirSync(a.out, { recursive: true });
    const shot = path.join(a.out, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    check(fs.statSync(shot).size > 10000, "screenshot written: " + shot);

    // The host must stop cleanly (under the sanitizers: no error, no leak report).
    await browser.close();
    browser = undefined;
    const exited = new Promise((r) => child.on("exit", (code, signal) => r(code === null ? signal : code)));
    child.stdin.end();
    const code = child.exitCode !== null ? child.exitCode
      : await Promise.race([exited, sleep(STEP_MS).then(() => "still running")]);
    check(code === 0, "dashboard_host stopped cleanly (exit " + code + ")");
  } finally {
    if (browser) await browser.close().catch(() => {});
    child.stdin.end();
    const exited = new Promise((r) => child.on("exit", r));
    if (child.exitCode === null) {
      const t = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(scratch, { recursive: true, force: true });
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => { console.log("dashboard browser test passed"); process.exit(0); },
  (e) => { console.error("FAIL: " + (e && e.stack ? e.stack : e)); process.exit(1); });
