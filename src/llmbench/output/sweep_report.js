/* llmbench sweep report: draws the page from the JSON document in #llmbench-data.
 *
 * The rules of report.js hold here too: every string from sweep.json is put on screen
 * with textContent or as ECharts canvas text, never parsed as HTML; ECharts inserts a
 * tooltip formatter's output as HTML, so formatters escape what they include. A link's
 * href is set only from a step's checked relative name (sweep_report.py) and is checked
 * again here. The small helpers are report_common.js's, shared with report.js. */
(function () {
  "use strict";
  const { el, add, esc, has, num, fix, ms, compact, chart, heading, meta, banner, card, footer, guarded, drawPage } = LLMBENCH;
  const D = JSON.parse(document.getElementById("llmbench-data").textContent);
  const C = { grid: "#e6e9ef", muted: "#7b8494", line: "#3b6fd8", ideal: "#9aa3b2",
    answer: "#2e7d32", knee: "#3b6fd8", client: "#8e24aa", slo: "#c62828", target: "#b26a00" };
  // Verdicts in legend order; an unknown one is drawn as "other".
  const VERDICTS = [
    ["ok", "ok", "#2e7d32", "circle"],
    ["slo_failed", "SLO failed", "#e08a00", "triangle"],
    ["overloaded", "overloaded", "#c62828", "diamond"],
    ["client_limited", "client-limited", "#8e24aa", "rect"],
    ["other", "other", "#7b8494", "pin"],
  ];
  const PCTS = [["p50", "#64b5f6", "solid"], ["p95", "#1e88e5", "dashed"], ["p99", "#0d47a1", "dotted"]];
  // No prototype: a key from the data such as "constructor" must not find anything here.
  const LABELS = Object.assign(Object.create(null), {
    ttft_ms: "TTFT", tpot_ms: "TPOT", itl_ms: "ITL", latency_ms: "E2E latency" });
  const HREF = /^[A-Za-z0-9._~%-]+\/report\.html$/;  // what sweep_report.py makes, nothing else
  const A = D.answer || null, K = D.knee || null;
  const S = Array.isArray(D.steps) ? D.steps : [];
  const P = S.filter((s) => has(s.load));  // the steps a load axis can place
  const UNIT = D.load_unit || (D.mode === "concurrency" ? "concurrency" : "req/s");
  const RATE = D.mode === "rate" || (D.mode !== "concurrency" && UNIT === "req/s");

  // ---- small helpers (the rest are report_common.js's) ----------------------------
  function short(v) {  // a load or a rate: as many decimals as it has, up to 2
    if (!has(v)) return "–";
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: Math.abs(v) < 10 ? 2 : 1 });
  }
  function load(v) {  // a load in its unit, for sentences
    if (!has(v)) return "–";
    if (UNIT === "concurrency") return "concurrency " + short(v);
    return short(v) + " " + UNIT;
  }
  function link(name, href) {  // a step's report, or its name alone when it has no safe link
    if (typeof href === "string" && HREF.test(href)) {
      const a = el("a", null, name);
      a.setAttribute("href", href);
      return a;
    }
    return el("span", null, has(name) ? name : "–");
  }
  function verdictOf(s) {
    const v = VERDICTS.find((row) => row[0] === s.verdict && row[0] !== "other");
    return v || VERDICTS[VERDICTS.length - 1];
  }

  // ---- header ----------------------------------------------------------------------
  function thresholdText(t) {
    return t.expr || [t.metric, t.op, t.value, t.unit].filter(has).join(" ");
  }
  function goodputText(g) {
    const crit = Object.entries(g.criteria || {}).map(([k, v]) => (LABELS[k] || k) + " ≤ " + ms(v));
    const target = has(g.target_percent) ? "; target " + short(g.target_percent) + " % of requests" : "";
    return (crit.join(", ") || "no criteria") + target;
  }
  function modeText() {
    if (D.mode === "rate") return "open loop: offered request rate (req/s)";
    if (D.mode === "concurrency") return "closed loop: concurrent requests";
    return UNIT;
  }
  function probeText(p) {
    const parts = [];
    if (has(p.concurrency)) parts.push("concurrency " + short(p.concurrency));
    if (has(p.achieved_rps)) parts.push(short(p.achieved_rps) + " req/s");
    if (has(p.output_tokens_per_s)) parts.push(num(p.output_tokens_per_s) + " tok/s");
    return parts.join(" → ") + (p.dir ? " · " : "");
  }
  function stepsText() {
    const counts = new Map();
    S.forEach((s) => counts.set(verdictOf(s)[1], (counts.get(verdictOf(s)[1]) || 0) + 1));
    const parts = Array.from(counts, ([k, n]) => n + " " + k);
    return S.length + (S.length === 1 ? " step" : " steps") + (parts.length ? " (" + parts.join(", ") + ")" : "");
  }
  function notFoundText() {
    if (S.some((s) => s.verdict === "slo_failed" || s.verdict === "overloaded")) {
      return "no load tested held the SLOs" + (A.bounded_by.length ? " (" + A.bounded_by.join("; ") + ")" : "") +
        "; each step's reasons are in the table below";
    }
    if (has(A.client_limited_at)) return "the client saturated before any load passed";
    return S.length ? "no step passed" : "no step has been measured";
  }
  function stepRule() {
    const parts = [];
    if (has(D.step_duration_s)) parts.push(short(D.step_duration_s) + " s");
    if (has(D.step_requests)) parts.push(num(D.step_requests) + " requests");
    return parts.join(" or ") || null;
  }
  function header(h) {
    heading(h, "llmbench sweep", "llmbench sweep", D);
    const sentence = A ? A.text || (A.found ? "max sustainable load: " + load(A.load) : "no sustainable load found")
      : "sweep.json records no answer";
    add(h, el("p", "answer" + (A && A.found ? "" : " none"), sentence));
    let probe = null;
    if (D.probe) {
      probe = el("span", null, probeText(D.probe));
      if (D.probe.dir) add(probe, link(D.probe.dir, D.probe.href));
    }
    const bound = A && A.bounded_by.length
      ? A.bounded_by.join("; ") + (has(A.bound_load) ? " (at " + load(A.bound_load) + ")" : "") : null;
    meta(h, [
      ["Mode", modeText()],
      ["SLOs", D.slos.length ? D.slos.join(", ") : "none"],
      ["Goodput", D.goodput ? goodputText(D.goodput) : null],
      ["Tolerance", has(D.tolerance_percent) ? short(D.tolerance_percent) + " %" : null],
      ["Bounded by", bound],
      ["Knee", K && has(K.load) ? load(K.load) : null],
      ["Probe", probe],
      ["Steps", stepsText()],
      ["Each step", stepRule()],
      ["Started", D.started_at],
      ["llmbench", D.llmbench_version],
    ]);
    if (D.interrupted) {
      banner(h, "bad", "Interrupted: the sweep stopped before it finished; the answer covers only the steps measured so far.");
    }
    if (A && !A.found) banner(h, "bad", "No sustainable load found: " + notFoundText() + ".");
    if (A && has(A.client_limited_at)) {
      banner(h, "warn", "The client saturated at " + load(A.client_limited_at) +
        ": the load generator, not the server, limited the higher loads. Rerun with --workers (more client processes) to measure past it.");
    }
  }
  function cards(box) {
    const at = S.find((s) => s.answer) || null;
    const unit = UNIT === "concurrency" ? "concurrent" : UNIT;
    card(box, "Max sustainable", A && A.found ? short(A.load) : "none", A && A.found ? unit : null,
      A && A.found ? "the highest load that held the SLOs" : "no load held the SLOs", A && A.found ? "good" : "bad");
    if (at) {
      card(box, "Throughput there", short(at.achieved_rps), "req/s", num(at.output_tokens_per_s) + " output tok/s");
      card(box, "TTFT p95 there", ms(at.ttft_ms ? at.ttft_ms.p95 : null), null,
        "TPOT p95 " + ms(at.tpot_ms ? at.tpot_ms.p95 : null));
    }
    if (K && has(K.load)) card(box, "Knee", short(K.load), unit, "where latency starts to climb");
    card(box, "Steps", num(S.length), null, S.filter((s) => s.verdict === "ok").length + " ok");
  }

  // ---- charts ----------------------------------------------------------------------
  function nice(v, up) {  // two significant digits, rounded outwards
    if (v === 0) return 0;
    const p = Math.pow(10, Math.floor(Math.log10(Math.abs(v))) - 1);
    return +((up ? Math.ceil(v / p) : Math.floor(v / p)) * p).toPrecision(12);
  }
  function xRange() {  // one x axis on every load chart, so they line up
    const xs = P.map((s) => s.load);
    [A && A.load, K && K.load, A && A.client_limited_at].forEach((v) => { if (has(v)) xs.push(v); });
    if (!xs.length) return { type: "value", min: 0, max: 1 };
    const lo = Math.min.apply(null, xs), hi = Math.max.apply(null, xs);
    // Concurrency steps double (1, 2, 4 ... 256): on a linear axis the low ones,
    // where the answer usually is, would share one corner.
    if (!RATE && lo > 0 && hi / lo >= 8) {
      return { type: "log", logBase: 2, min: Math.pow(2, Math.floor(Math.log2(lo))), max: Math.pow(2, Math.ceil(Math.log2(hi))) };
    }
    const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.1 || 1;
    let min = lo - pad;
    if (lo >= 0 && (min < 0 || lo < hi * 0.35)) min = 0;  // close to zero: start there
    return { type: "value", min: nice(min, false), max: nice(hi + pad, true) };
  }
  const X = xRange();
  function loadAxis() {
    const name = (RATE ? "offered load (req/s)" : "concurrency") + (X.type === "log" ? " (log scale)" : "");
    return Object.assign({ name: name, nameLocation: "middle", nameGap: 26,
      axisLabel: { formatter: compact, hideOverlap: true }, splitLine: { show: false } }, X);
  }
  function axisMs(v) { return v === 0 ? "0" : v >= 1000 ? compact(v / 1000) + " s" : compact(v) + " ms"; }
  function vMark(x, text, color, type, position) {
    return { xAxis: x, lineStyle: { color: color, type: type, width: 2 },
      label: { formatter: () => text, color: color, position: position, fontWeight: 600 } };
  }
  function loadMarks() {  // the answer, the knee and the client's limit: on every load chart
    const m = [];
    if (A && A.found && has(A.load)) m.push(vMark(A.load, "max sustainable", C.answer, "solid", "end"));
    if (K && has(K.load)) m.push(vMark(K.load, "knee", C.knee, "dashed", "insideEndTop"));
    if (A && has(A.client_limited_at)) m.push(vMark(A.client_limited_at, "client limit", C.client, "dotted", "insideEndBottom"));
    return m;
  }
  function hMark(y, text, color) {
    return { yAxis: y, lineStyle: { color: color, type: "dashed", width: 1.5 },
      label: { formatter: () => text, color: color, position: "insideStartTop" } };
  }
  function stepTip(i, what) {  // a step's figures, escaped: ECharts shows this as HTML
    const s = S[i], v = verdictOf(s);
    const lines = ["<b>" + esc(load(s.load)) + "</b> · step " + esc(has(s.index) ? s.index : "?") + (s.role ? " (" + esc(s.role) + ")" : "")];
    if (what) lines.push(esc(what));
    lines.push('<span style="color:' + v[2] + '">verdict: ' + esc(s.verdict || "unknown") + "</span>" +
      (s.answer ? " · max sustainable" : "") + (s.knee ? " · knee" : ""));
    s.reasons.slice(0, 6).forEach((r) => lines.push("· " + esc(r)));
    lines.push("achieved " + short(s.achieved_rps) + " req/s · output " + num(s.output_tokens_per_s) + " tok/s");
    const p95 = ["ttft_ms", "tpot_ms", "latency_ms"].map((k) => LABELS[k] + " p95 " + ms(s[k] ? s[k].p95 : null));
    lines.push(p95.join(" · "));
    const req = s.requests || {};
    lines.push("goodput " + (has(s.goodput_percent) ? short(s.goodput_percent) + " %" : "–") +
      " · " + num(req.ok) + " ok, " + num(req.failed) + " failed");
    return lines.join("<br>");
  }
  // Lines (one per figure) and, over them, one marker per step and figure, coloured and
  // shaped by the step's verdict. A null figure (no successes) is a gap, not a zero.
  function loadChart(box, spec) {
    const lines = spec.lines.filter((l) => P.some((s) => has(l.get(s))));
    if (!lines.length) { add(box, el("p", "empty", spec.title + ": no step has this figure.")); return; }
    const series = lines.map((l) => ({
      name: l.name, type: "line", data: P.map((s) => [s.load, has(l.get(s)) ? l.get(s) : null]),
      showSymbol: false, connectNulls: false, silent: true, z: 2,
      lineStyle: { color: l.color, type: l.type || "solid", width: 1.5 }, itemStyle: { color: l.color },
    }));
    const present = VERDICTS.filter((v) => P.some((s) => verdictOf(s) === v));
    present.forEach((v) => series.push({
      name: v[1], type: "scatter", symbol: v[3], itemStyle: { color: v[2] }, z: 3,
      data: [].concat.apply([], lines.map((l, j) => P.filter((s) => verdictOf(s) === v && has(l.get(s))).map((s) =>
        ({ value: [s.load, l.get(s), S.indexOf(s), j], symbolSize: s.answer ? 13 : 8,
          itemStyle: s.answer ? { borderColor: "#1d2330", borderWidth: 1.5 } : undefined })))),
    }));
    if (spec.ideal) series.push(spec.ideal);
    const marks = loadMarks().concat(spec.hmarks || []);
    series.push({ name: "marks", type: "line", data: [], silent: true, markLine: { symbol: "none", silent: true, data: marks } });
    const top = Math.max.apply(null, (spec.hmarks || []).map((m) => m.yAxis).concat([0]));
    chart(add(box, el("div", "chart sweep")), {
      title: { text: spec.title, left: 8, top: 2, textStyle: { fontSize: 13 } },
      legend: { data: lines.map((l) => l.name).concat(spec.ideal ? [spec.ideal.name] : [], present.map((v) => v[1])),
        top: 24, left: 8, right: 8, itemWidth: 16, itemHeight: 9, textStyle: { fontSize: 11 } },
      grid: { left: 62, right: 28, top: 86, bottom: 44 },
      tooltip: { trigger: "item", confine: true, formatter: (p) =>
        (p.seriesType === "scatter" ? stepTip(p.value[2], lines[p.value[3]].name + ": " + spec.fmt(p.value[1])) : "") },
      xAxis: loadAxis(),
      yAxis: { type: "value", name: spec.yName, min: spec.yMin,
        max: spec.yMax || (top > 0 ? (e) => nice(Math.max(e.max, top * 1.12), true) : null),
        axisLabel: { formatter: spec.axisFmt || compact, hideOverlap: true }, splitLine: { lineStyle: { color: C.grid } } },
      series: series,
    });
    if (spec.caption) add(box, el("p", "caption", spec.caption));
  }
  function thresholds(family) {  // the SLO lines of a latency family, in ms
    return (D.slo_thresholds || []).filter((t) => t.family === family && has(t.value) && (t.unit === "ms" || t.unit === "s"))
      .map((t) => hMark(t.unit === "s" ? t.value * 1000 : t.value, "SLO " + thresholdText(t), C.slo));
  }
  function latencyChart(box, key, title) {
    loadChart(box, {
      title: title + " vs load", fmt: ms, axisFmt: axisMs, hmarks: thresholds(key === "latency_ms" ? "latency" : key.slice(0, -3)),
      lines: PCTS.map(([p, color, type]) => ({ name: p, color: color, type: type, get: (s) => (s[key] ? s[key][p] : null) })),
    });
  }
  function throughputChart(box) {
    const hmarks = (D.slo_thresholds || []).filter((t) => t.unit === "req/s" && has(t.value))
      .map((t) => hMark(t.value, "SLO " + thresholdText(t), C.slo));
    if (D.probe && has(D.probe.achieved_rps)) {
      hmarks.push(Object.assign(hMark(D.probe.achieved_rps, "probe ceiling " + short(D.probe.achieved_rps) + " req/s", C.muted),
        { lineStyle: { color: C.muted, type: "dotted", width: 1.5 } }));
    }
    loadChart(box, {
      title: RATE ? "Achieved vs offered throughput" : "Throughput vs concurrency", yName: "req/s", yMin: 0,
      fmt: (v) => short(v) + " req/s", hmarks: hmarks,
      lines: [{ name: "achieved req/s", color: C.line, get: (s) => s.achieved_rps }],
      ideal: RATE ? { name: "ideal (achieved = offered)", type: "line", data: [[X.min, X.min], [X.max, X.max]], showSymbol: false,
        silent: true, lineStyle: { color: C.ideal, type: "dashed", width: 1 }, itemStyle: { color: C.ideal } } : null,
      caption: RATE ? "Where the points leave the dashed line, the server no longer keeps up with the offered rate." : null,
    });
  }
  function goodputChart(box) {
    const g = D.goodput, hmarks = has(g.target_percent) ? [hMark(g.target_percent, "target " + short(g.target_percent) + " %", C.target)] : [];
    loadChart(box, {
      title: "Goodput vs load", yName: "%", yMin: 0, yMax: 100, fmt: (v) => short(v) + " %", hmarks: hmarks,
      lines: [{ name: "goodput %", color: C.line, get: (s) => s.goodput_percent }],
      caption: "Share of requests that met " + goodputText(g) + ".",
    });
  }
  function paretoChart(box) {
    const pts = S.filter((s) => has(s.output_tokens_per_s) && has(s.per_user_tokens_per_s));
    if (!pts.length) { add(box, el("p", "empty", "Per-user speed vs throughput: no step has both figures.")); return; }
    const present = VERDICTS.filter((v) => pts.some((s) => verdictOf(s) === v));
    const point = (s) => [s.output_tokens_per_s, s.per_user_tokens_per_s, S.indexOf(s)];
    const series = [{ name: "in load order", type: "line", data: pts.map(point), showSymbol: false, silent: true,
      lineStyle: { color: C.ideal, width: 1 }, itemStyle: { color: C.ideal } }];
    present.forEach((v) => series.push({
      name: v[1], type: "scatter", symbol: v[3], symbolSize: 9, itemStyle: { color: v[2] }, z: 3,
      data: pts.filter((s) => verdictOf(s) === v).map(point),
      label: { show: true, position: "top", fontSize: 10, color: C.muted, formatter: (p) => short(S[p.value[2]].load) },
      labelLayout: { hideOverlap: true },
    }));
    const best = pts.filter((s) => s.answer).map(point);
    const right = Math.max.apply(null, pts.map((s) => s.output_tokens_per_s));
    if (best.length) {
      series.push({ name: "max sustainable", type: "scatter", symbol: "circle", symbolSize: 22, z: 4, data: best,
        itemStyle: { color: "rgba(0,0,0,0)", borderColor: C.answer, borderWidth: 2.5 },
        label: { show: true, position: best[0][0] > 0.7 * right ? "left" : "right", color: C.answer, fontWeight: 600, formatter: () => "max sustainable" } });
    }
    chart(add(box, el("div", "chart sweep")), {
      title: { text: "Per-user speed vs total throughput", left: 8, top: 2, textStyle: { fontSize: 13 } },
      legend: { data: present.map((v) => v[1]).concat(best.length ? ["max sustainable"] : []), top: 24, left: 8, right: 8,
        itemWidth: 16, itemHeight: 9, textStyle: { fontSize: 11 } },
      grid: { left: 62, right: 28, top: 86, bottom: 44 },
      tooltip: { trigger: "item", confine: true, formatter: (p) => (p.seriesType === "scatter" ? stepTip(p.value[2],
        num(p.value[0]) + " output tok/s in all; " + short(p.value[1]) + " tok/s per user") : "") },
      xAxis: { type: "value", name: "total output throughput (tok/s)", nameLocation: "middle", nameGap: 26,
        axisLabel: { formatter: compact, hideOverlap: true }, splitLine: { show: false } },
      yAxis: { type: "value", name: "tok/s per user", axisLabel: { formatter: compact }, splitLine: { lineStyle: { color: C.grid } } },
      series: series,
    });
    add(box, el("p", "caption", "Each point is a step, labelled with its load" + (RATE ? " (req/s)" : " (concurrency)") +
      ": up and right is better; per-user speed is 1000 / TPOT p50."));
  }
  function chartsSection(box) {
    if (!P.length) { add(box, el("p", "empty", "No step has a load to plot.")); return; }
    const hasItl = (D.slo_thresholds || []).some((t) => t.family === "itl");
    const draws = [
      throughputChart,
      (b) => latencyChart(b, "ttft_ms", "TTFT"),
      (b) => latencyChart(b, "tpot_ms", "TPOT"),
      (b) => latencyChart(b, "latency_ms", "E2E latency"),
    ];
    if (hasItl) draws.push((b) => latencyChart(b, "itl_ms", "ITL"));
    if (D.goodput) draws.push(goodputChart);
    draws.push(paretoChart);
    // Every panel first: a chart takes its container's width when it is created.
    const panels = draws.map(() => add(box, el("div", "panel")));
    draws.forEach((draw, i) => guarded(panels[i], "llmbench sweep report: chart " + i, "chart", draw));
  }

  // ---- the steps table -------------------------------------------------------------
  function stepsTable(box) {
    if (!S.length) { add(box, el("p", "empty", "sweep.json lists no steps.")); return; }
    const t = add(add(box, el("div", "scroll")), el("table"));
    const head = add(t, el("thead"));
    const top = add(head, el("tr")), sub = add(head, el("tr"));
    const loadHead = RATE ? "Load (req/s)" : UNIT === "concurrency" ? "Concurrency" : "Load (" + UNIT + ")";
    [[loadHead, "text"], ["Role", "text"], ["Verdict", "text"], ["Achieved req/s"], ["Output tok/s"]].forEach(([h, cls]) => {
      add(top, el("th", cls || null, h)).rowSpan = 2;
    });
    ["TTFT (ms)", "TPOT (ms)", "E2E latency (ms)"].forEach((h) => {
      add(top, el("th", "group", h)).colSpan = 3;
      PCTS.forEach(([p]) => add(sub, el("th", null, p)));
    });
    [["Goodput %"], ["Duration"], ["Stop reason", "text"], ["Report", "text"]].forEach(([h, cls]) => {
      add(top, el("th", cls || null, h)).rowSpan = 2;
    });
    const body = add(t, el("tbody"));
    S.forEach((s) => {
      const tr = add(body, el("tr", s.answer ? "answer" : null));
      const first = add(tr, el("td", null, short(s.load)));
      if (s.answer) add(first, el("span", "badge", "max sustainable"));
      if (s.knee) add(first, el("span", "badge knee", "knee"));
      add(tr, el("td", "name", s.role || "–"));
      const verdict = add(tr, el("td", "verdict " + verdictOf(s)[0], s.verdict || "unknown"));
      s.reasons.forEach((r) => add(verdict, el("div", "reasons", r)));
      add(tr, el("td", null, has(s.achieved_rps) ? num(s.achieved_rps, 2) : "–"));
      add(tr, el("td", null, num(s.output_tokens_per_s)));
      ["ttft_ms", "tpot_ms", "latency_ms"].forEach((k) => PCTS.forEach(([p]) => add(tr, el("td", null, fix(s[k] ? s[k][p] : null)))));
      add(tr, el("td", null, has(s.goodput_percent) ? s.goodput_percent.toFixed(1) : "–"));
      add(tr, el("td", null, has(s.duration_s) ? num(s.duration_s, 1) + " s" : "–"));
      add(tr, el("td", "name", s.stop_reason || "–"));
      add(add(tr, el("td", "name")), link(s.dir, s.href));
    });
  }

  drawPage("llmbench sweep report", [
    ["header", header], ["cards", cards], ["charts", chartsSection], ["steps", stepsTable],
    ["footer", (box) => footer(box, D.report_version, "sweep.json")],
  ]);
})();
