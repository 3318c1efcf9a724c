// The admin page: signs in at /token and draws what /admin/api/* answers. Plain fetch and DOM,
// no framework and no external assets, so it works with no internet access.
"use strict";

const REFRESH_MS = 10000;
// The counts and growth read every activity (a sequential scan on PostgreSQL, 0.6 s per
// million): every sixth refresh, on the Refresh button and after a training run.
const OVERVIEW_EVERY = 6;
const TRAINING_MS = 2000;
const SERVING_WAIT_MS = 30000;
const $ = (id) => document.getElementById(id);

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child ?? "");
  return node;
};

const svg = (tag, attrs = {}, ...children) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

const number = (value, digits = 0) =>
  value === null || value === undefined ? "–" :
    value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const cell = (text, numeric = false) => el("td", numeric ? { class: "number" } : {}, text);

// ------------------------------------------------------------------------ session and API

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", Authorization: "Token " + sessionStorage.getItem("token") };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = await response.json().catch(() => null);
  if (response.status === 401) throw new Unauthorized(body?.error?.message || "signed out");
  if (!response.ok) throw new Error(body?.error?.message || `${response.status} ${response.statusText}`);
  return body;
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData($("login"));
  $("login-error").textContent = "";
  const response = await fetch("/token", {
    method: "POST", headers: { Accept: "application/json" }, body: new URLSearchParams(form),
  });
  const body = await response.json().catch(() => null);
  $("login-password").value = "";
  if (!response.ok) {
    $("login-error").textContent = body?.error?.message || `sign-in failed (${response.status})`;
    return;
  }
  sessionStorage.setItem("token", body.token);
  sessionStorage.setItem("username", form.get("username"));
  show();
}

function signOut() {
  sessionStorage.clear();
  show();
}

let timer = null;
let ticks = 0;

function show() {
  const signedIn = sessionStorage.getItem("token") !== null;
  $("login").hidden = signedIn;
  $("dashboard").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("username").textContent = sessionStorage.getItem("username") || "";
  clearInterval(timer);
  if (signedIn) {
    refresh(true);
    timer = setInterval(() => refresh(++ticks % OVERVIEW_EVERY === 0), REFRESH_MS);
  }
}

async function refresh(everything) {
  const parts = [models(), runs(), traffic(), experiments(), training()];
  if (everything) parts.push(overview());
  const results = await Promise.allSettled(parts);
  if (results.some((r) => r.status === "rejected" && r.reason instanceof Unauthorized)) {
    signOut();
    $("login-error").textContent = "Your session ended; sign in again.";
    return;
  }
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  $("updated").textContent = failed.length ? "Some panels failed: " + failed.join("; ") :
    "Updated " + new Date().toLocaleTimeString("en-GB");
}

// ------------------------------------------------------------------------------- panels

async function overview() {
  const data = await api("/admin/api/overview");
  for (const name of ["users", "products", "activities"]) {
    $("count-" + name).textContent = number(data[name]);
    $("count-" + name).dataset.value = data[name];
  }
  $("growth").replaceChildren(growthChart(data.activities_per_day));
}

function growthChart(days) {
  const width = 560, height = 170, left = 40, bottom = 24, top = 10;
  const most = Math.max(1, ...days.map((d) => d.activities));
  const step = (width - left) / days.length;
  const scale = (height - bottom - top) / most;
  const total = days.reduce((sum, d) => sum + d.activities, 0);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Activities per day: ${total} in the last ${days.length} days, at most ${most} a day`,
  });
  chart.append(
    svg("line", { class: "axis", x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
    svg("text", { x: left - 6, y: top + 8, "text-anchor": "end" }, String(most)),
    svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, "0"),
  );
  days.forEach((day, i) => {
    const barHeight = day.activities * scale;
    const x = left + i * step;
    chart.append(svg("rect", {
      class: "bar", x: x + step * 0.15, width: step * 0.7, y: height - bottom - barHeight,
      height: barHeight, "data-day": day.day, "data-activities": day.activities,
    }, svg("title", {}, `${day.day}: ${day.activities} activities`)));
    if ((days.length - 1 - i) % 2 === 0) {
      chart.append(svg("text", { x: x + step / 2, y: height - 8, "text-anchor": "middle" },
        day.day.slice(5)));
    }
  });
  return chart;
}

async function models() {
  const data = await api("/admin/api/models");
  $("serving").textContent = data.serving.version;
  $("serving-state").textContent = data.serving.state === "loaded" ? "" : `(${data.serving.state})`;
  const rows = data.versions.map((v) => {
    const marks = el("td", {});
    if (v.champion) marks.append(el("span", { class: "mark champion" }, "champion"));
    if (v.serving) marks.append(el("span", { class: "mark serving" }, "serving"));
    const button = el("button", { type: "button", class: "quiet", "aria-label": `Promote version ${v.version}` }, "Promote");
    button.disabled = v.champion;
    button.addEventListener("click", () => promote(v.version));
    return el("tr", { "data-version": v.version },
      cell(String(v.version), true), cell(v.model_class), cell(number(v.validation_score, 4), true),
      cell(number(v.champion_score, 4), true), cell(v.created_at.replace("T", " ").replace("Z", "")),
      el("td", { title: v.reason }, v.decision), marks, el("td", {}, button));
  });
  const empty = el("tr", {}, el("td", { colspan: 8, class: "empty" }, "No version is registered yet: train one."));
  $("models").tBodies[0].replaceChildren(...(rows.length ? rows : [empty]));
  return data;
}

async function promote(version) {
  const message = $("models-message");
  message.textContent = `Promoting version ${version}…`;
  try {
    const done = await api("/admin/api/promote", { method: "POST", body: { version: String(version) } });
    message.textContent = `Version ${done.version} is the champion; the server is loading it.`;
    const deadline = Date.now() + SERVING_WAIT_MS;
    while (Date.now() < deadline) {
      const data = await models();
      if (data.serving.version === `${data.name}/${done.version}`) {
        message.textContent = `Version ${done.version} is the champion and serves now.`;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    message.textContent = `Version ${done.version} is the champion; the server has not loaded it yet.`;
  } catch (error) {
    message.textContent = "Promotion failed: " + error.message;
  }
}

async function runs() {
  const data = await api("/admin/api/runs");
  const rows = data.map((run) => el("tr", { "data-run": run.run_id },
    cell((run.started_at || "").replace("T", " ").replace("Z", "")), cell(run.status),
    cell(number(run.seconds, 1), true), cell(number(run.activities), true),
    cell(number(run.metrics.best_ndcg_at_10, 4), true), cell(number(run.metrics.best_precision_at_10, 4), true),
    cell(number(run.metrics.best_recall_at_10, 4), true), cell(run.registered_version || "–"),
    cell(run.decision || "")));
  const empty = el("tr", {}, el("td", { colspan: 9, class: "empty" }, "No training run yet."));
  $("runs").tBodies[0].replaceChildren(...(rows.length ? rows : [empty]));
}

let trainingTimer = null;

async function training() {
  const state = await api("/admin/api/train");
  const box = $("families");
  if (box.querySelectorAll("input").length === 0) {
    for (const family of state.families) {
      const input = el("input", { type: "checkbox", value: family, id: "family-" + family });
      box.append(el("label", { for: input.id }, input, " " + family.replace("_", " ")));
    }
  }
  showTraining(state);
}

function showTraining(state) {
  const running = state.state === "running";
  $("train").disabled = running;
  const texts = {
    idle: "No training run was started here yet.",
    running: `Running since ${state.started_at} (started by ${state.started_by})…`,
    succeeded: `Succeeded at ${state.finished_at}.`,
    failed: `Failed at ${state.finished_at} (exit code ${state.exit_code}).`,
    interrupted: "Interrupted: its server stopped before it ended.",
  };
  $("train-state").textContent = texts[state.state];
  $("train-state").dataset.state = state.state;
  const output = $("train-output");
  output.hidden = !(state.output && state.output.length);
  output.textContent = (state.output || []).join("\n");
  clearTimeout(trainingTimer);
  if (running) trainingTimer = setTimeout(followTraining, TRAINING_MS);
}

async function followTraining() {
  try {
    const state = await api("/admin/api/train");
    showTraining(state);
    if (state.state !== "running") await Promise.allSettled([runs(), models(), overview()]);
  } catch (error) {
    $("train-state").textContent = "Cannot read the training state: " + error.message;
  }
}

async function startTraining() {
  const picked = [...$("families").querySelectorAll("input:checked")].map((input) => input.value);
  $("train").disabled = true;
  try {
    const state = await api("/admin/api/train", { method: "POST", body: picked.length ? { candidates: picked } : {} });
    showTraining(state);
  } catch (error) {
    $("train-state").textContent = "Could not start: " + error.message;
    $("train").disabled = false;
  }
}

async function traffic() {
  const data = await api("/admin/api/traffic");
  $("traffic-note").textContent = `Counted by server process ${data.process} over the last ` +
    `${number(data.covered_seconds)} s. With several worker processes each counts only the requests it answered.`;
  const rows = data.routes.map((r) => el("tr", { "data-endpoint": r.endpoint },
    cell(r.endpoint), cell(r.method), cell(number(r.requests), true), cell(number(r.per_second, 2), true),
    cell(number(r.client_errors), true), cell(number(r.server_errors), true),
    cell(number(r.p50_ms, 1), true), cell(number(r.p95_ms, 1), true), cell(number(r.p99_ms, 1), true)));
  const empty = el("tr", {}, el("td", { colspan: 9, class: "empty" }, "No requests in this window."));
  $("traffic").tBodies[0].replaceChildren(...(rows.length ? rows : [empty]));
}

async function experiments() {
  const data = await api("/admin/api/experiments");
  const box = $("experiments");
  if (data.length === 0) {
    box.replaceChildren(el("p", { class: "empty" }, "No experiments are running."));
    return;
  }
  box.replaceChildren(...data.map(experimentView));
}

const percent = (value) => (value === null || value === undefined ? "–" : (100 * value).toFixed(2) + "%");

function experimentView(e) {
  const rows = e.variants.map((v) => el("tr", { "data-variant": v.name },
    cell(v.name), cell(`${v.target} (v${v.version})`), cell(v.share + "%", true),
    cell(number(v.impressions), true), cell(number(v.users), true),
    cell(`${percent(v.ctr)} [${percent(v.ctr_low)}, ${percent(v.ctr_high)}]`, true),
    cell(`${percent(v.conversion)} [${percent(v.conversion_low)}, ${percent(v.conversion_high)}]`, true)));
  const table = el("table", { class: "variants" },
    el("caption", {}, "Rates with 95% intervals"),
    el("thead", {}, el("tr", {}, ...["Variant", "Serves", "Share", "Impressions", "Users",
      "Click-through", "Conversion"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows));
  const verdicts = e.comparisons.map((c) => el("p", { class: "verdict" },
    `${c.variant} vs ${c.control}: conversion ${percent(c.difference)} ` +
    `[${percent(c.difference_low)}, ${percent(c.difference_high)}], p = ` +
    (c.p_value === null ? "–" : c.p_value.toPrecision(3)) +
    (c.significant ? " (significant)" : " (not significant)")));
  const promote = el("select", { "aria-label": `Promote on stop (${e.name})` },
    el("option", { value: "" }, "promote none"),
    ...e.variants.map((v) => el("option", { value: v.name }, `promote ${v.name}`)));
  const stop = el("button", { type: "button", class: "quiet", "data-stop": e.name }, "Stop");
  stop.addEventListener("click", () => stopExperiment(e.name, promote.value, stop));
  return el("div", { class: "experiment", "data-experiment": e.name },
    el("h3", {}, `${e.name}, started ${e.started_at.replace("T", " ").replace("Z", " UTC")}`),
    table, intervalPlot(e.variants), ...verdicts, el("p", {}, promote, " ", stop));
}

function intervalPlot(variants) {
  // Two intervals per variant (click-through above, conversion below) on one 0..max axis.
  const width = 560, left = 110, right = 20, row = 34, top = 10;
  const highs = variants.flatMap((v) => [v.ctr_high, v.conversion_high]).filter((x) => x !== null);
  const max = Math.max(0.01, ...highs) * 1.1;
  const x = (value) => left + (width - left - right) * value / max;
  const height = top + row * variants.length + 24;
  const parts = [svg("line", { class: "axis", x1: left, x2: width - right, y1: height - 20, y2: height - 20 })];
  for (const tick of [0, max / 2, max]) {
    parts.push(svg("text", { x: x(tick), y: height - 6, "text-anchor": "middle" }, percent(tick)));
  }
  variants.forEach((v, i) => {
    const y = top + row * i + 8;
    parts.push(svg("text", { x: 4, y: y + 8 }, v.name));
    [["ctr", v.ctr, v.ctr_low, v.ctr_high, 0], ["conversion", v.conversion, v.conversion_low, v.conversion_high, 12]]
      .forEach(([kind, value, low, high, dy]) => {
        if (value === null) return;
        parts.push(svg("line", { class: `ci ${kind}`, "data-variant": v.name, "data-kind": kind,
          x1: x(low), x2: x(high), y1: y + dy, y2: y + dy }, svg("title", {}, `${v.name} ${kind}`)));
        parts.push(svg("circle", { class: kind, cx: x(value), cy: y + dy, r: 3.5 }));
      });
  });
  return el("figure", {}, svg("svg", { class: "intervals", viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": "Click-through (upper, orange) and conversion (lower, blue) with 95% intervals" }, ...parts),
  el("figcaption", {}, "Per variant: click-through (orange, upper) and conversion (blue, lower), 95% intervals."));
}

function parseVariants(text) {
  return text.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
    const [named, rest] = part.includes("=") ? part.split("=", 2) : [null, part];
    const [target, share] = rest.split(":");
    return { target: target.trim(), share: Number(share), ...(named ? { name: named.trim() } : {}) };
  });
}

async function startExperiment(event) {
  event.preventDefault();
  $("experiment-message").textContent = "";
  $("experiment-start").disabled = true;
  try {
    const body = { name: $("experiment-name").value.trim(), variants: parseVariants($("experiment-variants").value) };
    const started = await api("/admin/api/experiments", { method: "POST", body });
    $("experiment-message").textContent = `Experiment ${started.name} started.`;
    await experiments();
  } catch (error) {
    $("experiment-message").textContent = "Could not start: " + error.message;
  } finally {
    $("experiment-start").disabled = false;
  }
}

async function stopExperiment(name, promote, button) {
  button.disabled = true;
  try {
    await api(`/admin/api/experiments/${encodeURIComponent(name)}/stop`,
      { method: "POST", body: promote ? { promote } : {} });
    $("experiment-message").textContent = `Experiment ${name} stopped` + (promote ? `; ${promote} promoted.` : ".");
    await Promise.allSettled([experiments(), models()]);
  } catch (error) {
    $("experiment-message").textContent = "Could not stop: " + error.message;
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------- start

$("login").addEventListener("submit", (event) => signIn(event).catch((error) => {
  $("login-error").textContent = "Sign-in failed: " + error.message;
}));
$("logout").addEventListener("click", signOut);
$("refresh").addEventListener("click", () => refresh(true));
$("train").addEventListener("click", startTraining);
$("experiment-form").addEventListener("submit", startExperiment);
show();
