"""The visual mode's page: one HTML document with inline style and script, no external assets.

The script polls ``stats.json`` every half second, fetches a frame only when its version
changed, and draws the curves on canvases.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pipezero visual</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f4f2ee; color: #222; }
  header { background: #2d3a4a; color: #fff; padding: 10px 18px; display: flex;
           align-items: baseline; gap: 18px; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header .info { color: #c9d3de; font-size: 13px; }
  #status { margin-left: auto; font-size: 13px; }
  #status.live::before { content: "\\25cf  "; color: #6fdc8c; }
  #status.ended::before { content: "\\25cf  "; color: #e0a040; }
  main { padding: 14px 18px; display: grid; gap: 14px;
         grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); }
  section { background: #fff; border-radius: 6px; padding: 10px 14px;
            box-shadow: 0 1px 2px rgba(0,0,0,.12); }
  section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em;
               color: #666; margin: 0 0 8px; }
  .wide { grid-column: 1 / -1; }
  .cards { display: flex; flex-wrap: wrap; gap: 10px; }
  .card { min-width: 120px; padding: 6px 10px; background: #f7f7f7; border-radius: 4px; }
  .card .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .card .k { font-size: 12px; color: #666; }
  #frames { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
  figure { margin: 0; text-align: center; font-size: 12px; color: #666; }
  figure img { display: block; max-height: 240px; image-rendering: pixelated;
               border: 1px solid #ccc; background: #000; }
  canvas { width: 100%; height: 180px; display: block; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  td { padding: 2px 6px; border-bottom: 1px solid #eee; }
  td.n { text-align: right; }
  .note { color: #8a5a00; font-size: 13px; }
  .empty { color: #999; font-size: 13px; }
</style>
</head>
<body>
<header>
  <h1 id="title">pipezero</h1><span class="info" id="info"></span>
  <span id="status">connecting</span>
</header>
<main>
  <section class="wide"><h2>Run</h2><div class="cards" id="cards"></div></section>
  <section class="wide"><h2>Collector environments</h2>
    <div id="frames"></div><div class="note" id="frame-notes"></div></section>
  <section><h2>Evaluation return</h2><canvas id="eval"></canvas>
    <div class="empty" id="eval-empty">no evaluation yet</div></section>
  <section><h2 id="loss-title">Loss</h2><canvas id="loss"></canvas>
    <div class="empty" id="loss-empty">no update yet</div></section>
  <section><h2>Latest losses</h2><table id="losses"></table></section>
  <section id="async-box" hidden><h2>Async queues and staleness</h2>
    <table id="async"></table></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const shown = {};
const esc = (t) => String(t).replace(/[&<>"]/g, (c) =>
  ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "\\u2013";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en");
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(digits || 4)));
}

function cards(s) {
  const total = s.total_env_steps ? " / " + fmt(s.total_env_steps) : "";
  const evals = s.eval_curve.filter((p) => p[1] !== null);
  const best = evals.length ? Math.max(...evals.map((p) => p[1])) : null;
  const items = [
    ["env steps" + total, fmt(s.env_step)],
    ["env steps/s", fmt(s.env_steps_per_s, 3)],
    ["train iterations", fmt(s.train_iter)],
    ["train iterations/s", fmt(s.train_iters_per_s, 3)],
    ["buffer transitions", fmt(s.buffer_transitions)],
    ["last eval return", evals.length ? fmt(evals[evals.length - 1][1]) : fmt(null)],
    ["best eval return", fmt(best)],
    ["elapsed", fmt(s.elapsed_s / 60, 3) + " min"],
  ];
  $("cards").innerHTML = items.map(([k, v]) =>
    '<div class="card"><div class="v">' + v + '</div><div class="k">' + k + "</div></div>"
  ).join("");
}

function frames(f) {
  const box = $("frames");
  for (const [index, version] of Object.entries(f.versions)) {
    let fig = document.getElementById("frame-" + index);
    if (!fig) {
      fig = document.createElement("figure");
      fig.id = "frame-" + index;
      fig.innerHTML = '<img alt="environment ' + index + '"><figcaption>env ' + index +
        "</figcaption>";
      box.appendChild(fig);
    }
    if (shown[index] !== version) {
      shown[index] = version;
      fig.querySelector("img").src = "frame/" + index + ".png?v=" + version;
    }
  }
  const notes = Object.entries(f.notes).map(([i, n]) =>
    (i === "all" ? "" : "env " + i + ": ") + n);
  if (!Object.keys(f.versions).length && !notes.length) notes.push("waiting for pictures\\u2026");
  $("frame-notes").textContent = notes.join(" \\u00b7 ");
}

function chart(canvas, points, colour, xlabel) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * ratio; canvas.height = h * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  const pts = points.filter((p) => p[1] !== null);
  if (!pts.length) return false;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  const L = 52, R = 10, T = 8, B = 26;
  const X = (x) => L + (x - x0) / (x1 - x0) * (w - L - R);
  const Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (h - T - B);
  g.strokeStyle = "#ddd"; g.fillStyle = "#666"; g.font = "11px system-ui, sans-serif";
  g.beginPath(); g.moveTo(L, T); g.lineTo(L, h - B); g.lineTo(w - R, h - B); g.stroke();
  g.textAlign = "right";
  g.fillText(fmt(y1, 3), L - 4, T + 8); g.fillText(fmt(y0, 3), L - 4, h - B);
  g.textAlign = "left"; g.fillText(fmt(x0), L, h - 8);
  g.textAlign = "right"; g.fillText(fmt(x1) + " " + xlabel, w - R, h - 8);
  g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
  pts.forEach((p, i) => (i ? g.lineTo(X(p[0]), Y(p[1])) : g.moveTo(X(p[0]), Y(p[1]))));
  g.stroke();
  g.fillStyle = colour;
  if (pts.length < 60) pts.forEach((p) => g.fillRect(X(p[0]) - 2, Y(p[1]) - 2, 4, 4));
  return true;
}

function table(id, rows) {
  $(id).innerHTML = rows.map(([k, v]) =>
    "<tr><td>" + esc(k) + '</td><td class="n">' + v + "</td></tr>").join("");
}

function asyncStats(a) {
  $("async-box").hidden = !a;
  if (!a) return;
  const rows = [];
  for (const [k, v] of Object.entries(a.queue_depth || {}))
    rows.push(["queue " + k.replace("_to_", " \\u2192 "), fmt(v)]);
  for (const [k, v] of Object.entries(a.staleness || {}))
    rows.push(["staleness " + k + " (train iterations)", fmt(v)]);
  for (const [k, v] of Object.entries(a.steps_per_s || {}))
    rows.push([k + " steps/s", fmt(v, 3)]);
  table("async", rows);
}

function render(s) {
  document.title = "pipezero \\u00b7 " + s.title;
  $("title").textContent = s.title;
  $("info").textContent = Object.entries(s.info).map(([k, v]) => k + " " + v).join(" \\u00b7 ");
  const status = $("status");
  status.textContent = s.finished ? "finished: " + s.finished : "live";
  status.className = s.finished ? "ended" : "live";
  cards(s);
  frames(s.frames);
  $("eval-empty").hidden = chart($("eval"), s.eval_curve, "#2f7ed8", "env steps");
  $("loss-title").textContent = s.loss_key ? "Loss: " + s.loss_key : "Loss";
  $("loss-empty").hidden = chart($("loss"), s.loss_curve, "#d8572f", "train iterations");
  table("losses", Object.entries(s.losses).map(([k, v]) => [k, fmt(v, 4)]));
  asyncStats(s.async);
}

async function tick() {
  let delay = 500;
  try {
    const response = await fetch("stats.json", { cache: "no-store" });
    render(await response.json());
  } catch (err) {
    $("status").textContent = "the run has ended (server gone)";
    $("status").className = "ended";
    delay = 3000;
  }
  setTimeout(tick, delay);
}
tick();
</script>
</body>
</html>
"""
