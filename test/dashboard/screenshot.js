// A picture of a running server's /dashboard, for the docs: waits until every chart holds
// points, then writes a full-page PNG.
// Usage: node screenshot.js --url http://127.0.0.1:PORT/dashboard --chromium <path>
//                           --modules <node_modules> --out <file.png> [--token T]
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

function args() {
  const a = {};
  const v = process.argv.slice(2);
  for (let i = 0; i + 1 < v.length; i += 2) a[v[i].replace(/^--/, "")] = v[i + 1];
  return a;
}

async function main() {
  const a = args();
  if (!a.url || !a.out || !a.chromium || !a.modules)
    throw new Error("--url, --out, --chromium and --modules are required");
  const puppeteer = require(path.resolve(a.modules, "puppeteer-core"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "edgestack-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: a.chromium,
    headless: true,
    pipe: true,
    userDataDir: profile,
    ignoreDefaultArgs: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--remote-debugging-pipe", "--user-data-dir=" + profile,
           "about:blank"],
    defaultViewport: { width: 1280, height: 1100 },
    protocolTimeout: 60000,
  });
  try {
    const page = await browser.newPage();
    await page.goto(a.url, { waitUntil: "load", timeout: 60000 });
    if (a.token) await page.type("#token", a.token);
    await page.waitForFunction(() => {
      const c = window.dashboardCharts || {};
      return ["latency", "rps", "drift", "accuracy"].every((n) => c[n] &&
        c[n].plot.data.slice(1).some((s) => s.some((v) => v !== null && v !== undefined)));
    }, { timeout: 60000 });
    await new Promise((r) => setTimeout(r, 2500)); // a few polls: the charts draw every point
    await page.screenshot({ path: a.out, fullPage: true });
    console.log("wrote " + a.out);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error("screenshot: " + (e && e.stack ? e.stack : e)); process.exit(1); });
