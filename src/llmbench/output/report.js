/* llmbench report: draws the page from the JSON document in #llmbench-data.
 *
 * Every string that comes from the run (server replies, config, error messages) is put
 * on screen with textContent or as ECharts canvas text, never parsed as HTML. ECharts
 * inserts tooltip formatter output as HTML, so formatters escape what they include. */
(function () {
  "use strict";
  const { el, add, esc, has, num, fix, ms, compact, chart, heading, meta, table, banner, card, footer, drawPage } =
    LLMBENCH;
  const D = JSON.parse(document.getElementById("llmbench-data").textContent);
  const C = {
    ok: "#3b6fd8", good: "#43a047", bad: "#c62828", muted: "#7b8494",
    p50: "#2e7d32", p95: "#e08a00", p99: "#c62828", grid: "#e6e9ef",
  };
  const FAIL = ["#c62828", "#e08a00", "#8e24aa", "#6d4c41", "#d81b60", "#f4511e", "#00838f", "#5d4037"];
  // No prototype: a key from the data such as "constructor" must not find anything here.
  const LABELS = Object.assign(Object.create(null), D.labels || {});

  // One colour per failure kind across the page, in the order of requests.by_status.
  const kindColors = new Map();
  function kindColor(kind) {
    if (kind === "ok") return C.good;
    if (!kindColors.has(kind)) kindColors.set(kind, FAIL[kindColors.size % FAIL.length]);
    return kindColors.get(kind);
  }
  Object.keys((D.requests || {}).by_status || {}).forEach(kindColor);

  // ---- small helpers (the rest are report_common.js's) ----------------------------
  function pct(f) {  // a share: never "0.0 %" for something that happened, nor "100 %" short of it
    if (!has(f)) return "–";
    if (f === 0 || f === 1) return 100 * f + " %";
    if (f < 0.001) return "<0.1 %";
    if (f > 0.99999) return ">99.999 %";
    return (100 * f).toFixed(f > 0.999 ? 3 : f > 0.99 ? 2 : 1) + " %";
  }

  // ---- header ----------------------------------------------------------------------
  function loadText(cfg) {
    const parts = [];
    if (has(cfg.rps)) {
      let s = "open loop, " + num(cfg.rps, cfg.rps < 10 ? 2 : 0) + " req/s " + (cfg.arrival || "");
      if (cfg.arrival === "gamma") s += " (burstiness " + cfg.burstiness + ")";
      if (cfg.burst > 1) s += ", burst " + cfg.burst;
      parts.push(s + ", at most " + num(cfg.concurrency) + " in flight");
    } else if (has(cfg.concurrency)) {
      parts.push("closed loop, " + num(cfg.concurrency) + " concurrent");
    }
    if (cfg.ramp_up_s > 0) parts.push("ramp-up " + cfg.ramp_up_s + " s");
    if (cfg.warmup_requests > 0) parts.push("warm-up " + cfg.warmup_requests + " requests");
    if (cfg.warmup_s > 0) parts.push("warm-up " + cfg.warmup_s + " s");
    return parts.join("; ");
  }
  function stopText(cfg, run) {
    const parts = [];
    if (has(cfg.requests)) parts.push(num(cfg.requests) + " requests");
    if (has(cfg.duration_s)) parts.push(cfg.duration_s + " s");
    let s = parts.join(" or ");
    if (run.stop_reason) s += (s ? "; " : "") + "stopped: " + run.stop_reason;
    return s;
  }
  // Where a request's token count came from (tokens.sources), in words.
  const SOURCES = { usage: "the server's usage", tokenizer: "a local tokenizer",
    estimate: "an estimate from the text's length", chars: "the text's characters", none: "nothing (no count)" };
  function tokenText() {
    const run = D.run || {}, tok = D.tokens || {}, unit = run.token_unit || "tokens";
    const sources = Object.entries(tok.sources || {}).filter(([, v]) => v > 0).map(([k, v]) =>
      (Object.prototype.hasOwnProperty.call(SOURCES, k) ? SOURCES[k] : k) + " (" + num(v) + (v === 1 ? " request)" : " requests)"));
    const what = unit === "chars" ? "Characters (not tokens)" : unit.charAt(0).toUpperCase() + unit.slice(1);
    if (!sources.length) return what;
    return what + " counted from " + (sources.length > 1 ? sources.slice(0, -1).join(", ") + " and " + sources[sources.length - 1] : sources[0]);
  }
  function duration(s) {
    if (!has(s)) return null;
    if (s < 120) return num(s, 2) + " s";
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    return (h ? h + " h " : "") + m + " min " + sec + " s (" + num(s, 1) + " s)";
  }
  function header(h) {
    const run = D.run || {}, cfg = D.config || {}, client = D.client || {}, req = D.requests || {};
    heading(h, "llmbench report", "llmbench",
      { provider: cfg.provider, model: cfg.model, url: cfg.url, started_at: run.started_at });
    const cpu = has(client.cpu_pct) ? "CPU " + client.cpu_pct + " %" : "";
    const lag = client.loop_lag_ms ? "loop lag p99 " + ms(client.loop_lag_ms.p99) : "";
    meta(h, [
      ["Load", loadText(cfg)], ["Stop rule", stopText(cfg, run)],
      ["Started", run.started_at], ["Measured duration", duration(run.wall_time_s)],
      ["Workload", D.workload], ["Token count", tokenText()], ["Endpoint", cfg.endpoint],
      ["Client", [cpu, lag].filter(Boolean).join(", ")],
      ["llmbench", (run.llmbench_version || "?") + (cfg.transport ? " (" + cfg.transport + " transport)" : "")],
    ]);
    if (run.recovered) {
      banner(h, "bad", "Recovered from results.jsonl: the run ended without writing summary.json (killed or crashed). " +
        "The figures cover the requests it recorded; its config is unknown and there is no ITL (see run.recovery in summary.json).");
    } else if (run.interrupted) {
      banner(h, "bad", "Interrupted (" + (run.stop_reason || "signal") + "): the figures cover only the requests that finished before the stop.");
    }
    if (run.error_rate_stop) {
      const e = run.error_rate_stop;
      banner(h, "bad", "Stopped early: " + pct(e.observed) + " of the last " + num(e.window) +
        " requests failed, over --max-error-rate " + pct(e.threshold) + ". The server was failing; the figures cover only the requests before the stop.");
    }
    const tokens = D.tokens || {};
    if (tokens.unit && tokens.unit !== "tokens" && tokens.mode !== "chars") {
      banner(h, "warn", "Output counts are " + (tokens.mixed ? "of mixed units" : tokens.unit) +
        ", not tokens: TPOT and the tok/s figures are in that unit. Give --tokenizer, or let the server send usage.");
    }
    if (client.saturated) {
      const why = (client.saturation_reasons || []).join("; ");
      banner(h, "warn", "The client was saturated (" + why + "): latency figures include delay added by the load generator itself.");
    }
    if (cfg.stream === false) {
      banner(h, "warn", "Non-streaming requests (--no-stream): the whole response arrives at once, so TTFT is the whole response (about the latency), and TPOT and ITL say nothing about generation speed.");
    }
    if (!req.ok) banner(h, "bad", "No request succeeded: nothing was measured.");
    else if (req.total && req.failed / req.total > 0.5) {
      banner(h, "bad", "Failures dominate: " + pct(req.failed / req.total) + " of " + num(req.total) +
        " measured requests failed (see Outcomes); the latency figures describe only the " + num(req.ok) + " that succeeded.");
    }
    if (D.slo && D.slo.checks) {
      const failed = D.slo.checks.filter((c) => !c.passed).map((c) => c.expr);
      if (failed.length) banner(h, "bad", "SLO failed: " + failed.join(", "));
      else banner(h, "ok", "All " + D.slo.checks.length + " SLOs passed");
    }
  }

  // ---- cards -----------------------------------------------------------------------
  function trio(parent, label, stats) {
    const c = add(parent, el("div", "card wide"));
    add(c, el("div", "label", label));
    const row = add(c, el("div", "trio"));
    ["p50", "p95", "p99"].forEach((p) => {
      const cell = add(row, el("div"));
      add(cell, el("div", "value", ms(stats ? stats[p] : null)));
      add(cell, el("div", "note", p));
    });
  }
  function cards(box) {
    const r = D.requests || {}, t = D.throughput || {}, s = D.stats || {}, unit = (D.run || {}).token_unit || "tokens";
    card(box, "Requests", num(r.total), null, num(r.ok) + " ok · " + num(r.failed) + " failed");
    const rate = r.total ? r.ok / r.total : null;
    const cls = rate === null ? null : rate === 1 ? "good" : rate >= 0.99 ? "warn" : "bad";
    card(box, "Success rate", pct(rate), null, "of measured requests", cls);
    const offered = t.offered_rps === undefined || t.offered_rps === null ? ""
      : " · offered " + num(t.offered_rps, 2) + " req/s";
    const ramp = D.ramp ? " · ramp " + num(D.ramp.duration_s, 1) + " s not measured" : "";
    card(box, "Throughput", num(t.requests_per_s, 2), "req/s", "successful requests per second" + offered + ramp);
    card(box, "Output", num(t.output_tokens_per_s, 0), unit + "/s",
      "input + output: " + num(t.total_tokens_per_s, 0) + " /s");
    if (D.goodput) {
      const g = D.goodput, crit = Object.entries(g.criteria || {}).map(([k, v]) => (LABELS[k] || k) + " ≤ " + ms(v));
      card(box, "Goodput", num(g.requests_per_s, 2), "req/s", pct(g.ratio) + " met " + crit.join(", "));
    }
    trio(box, "TTFT", s.ttft_ms);
    trio(box, "Latency (E2E)", s.latency_ms);
    card(box, "TPOT p50", ms(s.tpot_ms ? s.tpot_ms.p50 : null), null, "per output token after the first");
  }

  // ---- distributions ---------------------------------------------------------------
  function sameReadNote(h) {  // gaps of 0: tokens that arrived in one read, counted apart
    return num(h.same_read) + " same-read gaps (" + pct(h.same_read / h.total) + ", 0 ms: tokens that arrived in one read) not drawn";
  }
  function histOption(name, h) {
    const lo = h.edges[0], hi = h.edges[h.edges.length - 1];
    const log = h.log;
    // ECharts drops a mark line that sits on the axis maximum (p99 = max in small runs).
    const edge = log ? hi / 1.003 : hi - (hi - lo) * 0.003;
    const marks = [];
    const subtitle = [];
    [["p50", C.p50], ["p95", C.p95], ["p99", C.p99]].forEach(([p, color], i) => {
      const v = h.marks[p];
      if (!has(v)) return;
      subtitle.push(p.toUpperCase() + " " + ms(v));
      if (v < lo) return;  // among the same-read gaps, left of the axis: named above only
      marks.push({
        xAxis: Math.min(Math.max(v, lo), edge), lineStyle: { color: color, type: "dashed", width: 1.5 },
        label: { formatter: p.toUpperCase(), color: color, position: "end", distance: [0, 2 + 13 * i] },
      });
    });
    const sub = subtitle.join("   ") + (h.same_read ? "\n" + sameReadNote(h) : "");
    return {
      title: { text: LABELS[name] || name, subtext: sub, left: 8, top: 2,
        textStyle: { fontSize: 13 }, subtextStyle: { fontSize: 11, lineHeight: 14, color: C.muted } },
      grid: { left: 56, right: 22, top: h.same_read ? 100 : 86, bottom: 30 },  // room for the note
      tooltip: { trigger: "item", formatter: (p) => ms(p.value[0]) + " – " + ms(p.value[1]) + "<br>" +
        num(p.value[2]) + " (" + pct(p.value[2] / h.total) + ")" },
      xAxis: { type: log ? "log" : "value", logBase: hi / lo > 1000 ? 10 : 2, min: lo, max: hi,
        axisLabel: { formatter: (v) => ms(v), hideOverlap: true }, splitLine: { show: false } },
      yAxis: { type: "value", axisLabel: { formatter: compact }, splitLine: { lineStyle: { color: C.grid } } },
      series: [{
        type: "custom", encode: { x: [0, 1], y: 2 },
        data: h.counts.map((c, i) => [h.edges[i], h.edges[i + 1], c]),
        renderItem: (params, api) => {
          const a = api.coord([api.value(0), 0]), b = api.coord([api.value(1), api.value(2)]);
          return { type: "rect", shape: { x: a[0], y: b[1], width: Math.max(1, b[0] - a[0] - 0.5), height: a[1] - b[1] },
            style: { fill: C.ok } };
        },
        markLine: { symbol: "none", silent: true, data: marks },
      }],
    };
  }
  function histograms(box) {
    const H = D.histograms || {};
    const names = Object.keys(H);  // in the metric table's order
    if (!names.length) { add(box, el("p", "empty", "No distributions: no request succeeded.")); return; }
    // Every panel first: a chart takes its container's width when it is created, and a
    // lone first panel would span the whole row until its neighbours arrive.
    const divs = names.map(() => add(add(box, el("div", "panel")), el("div", "chart")));
    names.forEach((n, i) => {
      if (H[n].counts.length) { chart(divs[i], histOption(n, H[n])); return; }
      divs[i].className = "empty";  // every gap was a same-read gap: nothing to draw
      divs[i].textContent = (LABELS[n] || n) + ": all " + sameReadNote(H[n]);
    });
  }

  // ---- over time -------------------------------------------------------------------
  function timeseries(box) {
    const ts = D.timeseries;
    if (!ts || !ts.t.length) { add(box, el("p", "empty", "No time series in summary.json.")); return; }
    const w = ts.width_s, per = w > 1 ? " (" + w + " s buckets)" : "";
    const panels = [
      ["In flight (max" + (w > 1 ? " per bucket)" : " per second)"), ts.in_flight, C.muted],
      ["Requests/s (successful)" + per, ts.rps, C.ok],
      ["Output " + ((D.run || {}).token_unit || "tokens") + "/s" + per, ts.tokens_per_s, "#00897b"],
      ["TTFT p50 (ms)" + per, ts.ttft_p50_ms, "#6a1b9a"],
      ["Errors/s" + per, ts.errors_per_s, C.bad],
    ];
    const top = 30, h = 92, gap = 40, idx = panels.map((_, i) => i), xMax = ts.t[ts.t.length - 1] + w;
    const div = add(box, el("div", "chart tall"));
    div.style.height = (top + panels.length * (h + gap) + 30) + "px";
    chart(div, {
      title: panels.map((p, i) => ({ text: p[0], left: 56, top: top + i * (h + gap) - 24, textStyle: { fontSize: 12 } })),
      grid: idx.map((i) => ({ left: 56, right: 24, top: top + i * (h + gap), height: h })),
      xAxis: idx.map((i) => ({ type: "value", gridIndex: i, min: ts.t[0], max: xMax,
        axisLabel: { formatter: (v) => v + " s" }, splitLine: { show: false } })),
      yAxis: idx.map((i) => ({ type: "value", gridIndex: i, splitNumber: 2,
        axisLabel: { formatter: compact }, splitLine: { lineStyle: { color: C.grid } } })),
      series: panels.map((p, i) => ({
        name: p[0], type: "line", xAxisIndex: i, yAxisIndex: i,
        showSymbol: ts.t.length <= 30, symbolSize: 4,
        data: ts.t.map((t, j) => [t, p[1][j]]), itemStyle: { color: p[2] }, lineStyle: { width: 1.5 },
        // Filled: in flight (a level) and errors (any red at all should catch the eye).
        areaStyle: i === 0 || i === 4 ? { opacity: 0.2 } : undefined, connectNulls: i === 0,
      })),
      tooltip: { trigger: "axis" },
      axisPointer: { link: [{ xAxisIndex: "all" }] },
      dataZoom: [
        { type: "slider", xAxisIndex: idx, bottom: 8, height: 20, filterMode: "none" },
        { type: "inside", xAxisIndex: idx, filterMode: "none" },
      ],
    });
  }

  // ---- scatter ---------------------------------------------------------------------
  function scatter(box) {
    const S = D.scatter;
    if (!S || (!S.ok.length && !S.failed.length)) { add(box, el("p", "empty", "No per-request results (results.jsonl missing or empty).")); return; }
    let lo = Infinity, hi = 0;
    S.ok.concat(S.failed).forEach((p) => { if (has(p[1]) && p[1] > 0) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); } });
    if (!isFinite(lo)) { lo = 1; hi = 10; }
    const log = hi / lo > 50;
    // progressive: 0 draws every point at once: a chart half drawn is a chart that lies.
    const series = [{ name: "ok", type: "scatter", data: S.ok, symbolSize: S.ok.length > 2000 ? 3 : 5,
      large: S.ok.length > 5000,
      progressive: 0, itemStyle: { color: C.ok, opacity: 0.55 } }];
    S.kinds.forEach((kind, k) => series.push({
      name: kind, type: "scatter", symbol: "triangle", symbolSize: 7, progressive: 0,
      itemStyle: { color: kindColor(kind) },
      data: S.failed.filter((p) => p[2] === k).map((p) => (has(p[1]) && p[1] > 0 ? [p[0], p[1], 1] : [p[0], lo, 0])),
    }));
    // One origin for the page: seconds from the measured start, as the over-time charts.
    const ts = D.timeseries, xEnd = S.ok.concat(S.failed).reduce((m, p) => Math.max(m, p[0]), 0);
    const xMax = ts && ts.t.length ? Math.max(ts.t[ts.t.length - 1] + ts.width_s, xEnd) : null;
    const div = add(box, el("div", "chart mid"));
    chart(div, {
      legend: { top: 4, right: 24 },
      grid: { left: 64, right: 24, top: 40, bottom: 46 },
      tooltip: { trigger: "item", formatter: (p) => esc(p.seriesName) + " · started at " + num(p.value[0], 3) + " s<br>" +
        (p.seriesName === "ok" || p.value[2] ? "latency " + ms(p.value[1]) : "no duration recorded") },
      xAxis: { type: "value", name: "request start (s from the measured start)", nameLocation: "middle", nameGap: 26,
        min: 0, max: xMax, axisLabel: { formatter: (v) => v + " s" }, splitLine: { show: false } },
      yAxis: { type: log ? "log" : "value", name: "latency", scale: true,
        axisLabel: { formatter: (v) => ms(v) }, splitLine: { lineStyle: { color: C.grid } } },
      dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "none" }],
      series: series,
    });
    const shown = S.ok.length < S.ok_total
      ? "Successful requests: " + num(S.ok.length) + " of " + num(S.ok_total) + " shown (a uniform sample plus the slowest). "
      : "All " + num(S.ok_total) + " successful requests shown. ";
    const failed = S.failed_total === 0 ? "No failures."
      : (S.failed.length < S.failed_total ? num(S.failed.length) + " of " + num(S.failed_total) + " failures shown (sampled)"
        : "All " + num(S.failed_total) + " failures shown") + "; failures with no duration sit on the bottom edge.";
    const origin = S.origin_from === "first request"
      ? " Time 0 is the first measured request's start (this summary does not record the measured start)."
      : "";
    add(box, el("p", "caption", shown + failed + origin + " Scroll to zoom."));
  }

  // ---- workload: turns, shared prefixes, sessions, input lengths (issue 16) --------
  // From summary.json's turns, prefixes, sessions and input_lengths blocks, which may be
  // hand-made: numbers are used only when they are numbers (asNum), objects only when
  // they are objects (asObj), and the tooltip escapes what it includes.
  function asObj(v) { return v !== null && typeof v === "object" && !Array.isArray(v) ? v : {}; }
  function asRows(v) { return Array.isArray(v) ? v.map(asObj) : []; }
  function asNum(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function statOf(block, key) { return asNum(asObj(block)[key]); }
  function asLabel(v) { return typeof v === "number" || typeof v === "string" ? String(v) : "?"; }
  function tokenFigure(v) { return has(asNum(v)) ? num(v, v % 1 ? 1 : 0) : "–"; }

  // ---- turns -------------------------------------------------------------------------
  function turnChart(parent, rows) {
    const names = rows.map((r) => asLabel(r.turn));
    const series = [["TTFT p50", "p50", C.p50], ["TTFT p99", "p99", C.p99]].map(([name, key, color]) => ({
      name: name, type: "line", data: rows.map((r) => statOf(r.ttft_ms, key)), itemStyle: { color: color },
      showSymbol: true, symbolSize: 6, connectNulls: true,
    }));
    chart(add(add(parent, el("div", "panel")), el("div", "chart short")), {
      title: { text: "TTFT by turn", subtext: "turn 1 sends the prompt fresh; later turns repeat the history a prefix cache can reuse",
        left: 8, top: 2, textStyle: { fontSize: 13 }, subtextStyle: { fontSize: 11, color: C.muted } },
      legend: { top: 4, right: 16 },
      grid: { left: 64, right: 22, top: 64, bottom: 36 },
      tooltip: { trigger: "axis", formatter: (ps) => "turn " + esc(ps.length ? ps[0].name : "") +
        ps.map((p) => "<br>" + esc(p.seriesName) + " " + esc(ms(p.value))).join("") },
      xAxis: { type: "category", data: names, name: "turn", nameLocation: "middle", nameGap: 24 },
      yAxis: { type: "value", axisLabel: { formatter: (v) => (v >= 1000 ? v / 1000 + " s" : v + " ms") },
        splitLine: { lineStyle: { color: C.grid } } },
      series: series,
    });
  }
  function turnRow(r) {
    const t = r.ttft_ms, l = r.latency_ms;
    const from = r.input_tokens_from === "token count" ? " (counted)" : "";
    return [asLabel(r.turn), num(asNum(r.requests)), num(asNum(r.ok)), fix(statOf(t, "p50")), fix(statOf(t, "p90")),
      fix(statOf(t, "p99")), fix(statOf(t, "mean")), fix(statOf(l, "p50")), fix(statOf(l, "p99")),
      tokenFigure(r.input_tokens_mean) + from];
  }
  function turnsPart(box, block) {
    const rows = asRows(block.rows);
    if (!rows.length) return;
    add(box, el("h3", null, "Per turn"));
    turnChart(box, rows);
    const later = block.later ? [asObj(block.later)] : [];
    const t = table(add(box, el("div", "scroll")), ["Turn", "Requests", "OK", "TTFT p50", "p90", "p99", "mean",
      "Latency p50", "p99", "Input tokens (mean)"], rows.concat(later).map(turnRow));
    if (later.length) t.querySelector("tbody").lastChild.className = "total";
    add(box, el("p", "caption", "Milliseconds, successful requests. Turns after " + num(asNum(block.kept)) +
      " share one row; \"2+\" is every turn after the first. Input tokens: the server's usage count, " +
      "or the run's own count where the server gave none (marked)."));
  }

  // ---- prefixes ----------------------------------------------------------------------
  function groupRow(name, g) {
    const t = g.ttft_ms;
    return [name, num(asNum(g.requests)), num(asNum(g.ok)), fix(statOf(t, "p50")), fix(statOf(t, "p90")),
      fix(statOf(t, "p99")), fix(statOf(t, "mean"))];
  }
  const GROUP_HEAD = ["Requests", "OK", "TTFT p50", "p90", "p99", "mean"];
  function prefixesPart(box, block) {
    add(box, el("h3", null, "Shared prefixes"));
    const first = asObj(block.first_use), reuse = asObj(block.reuse);
    table(box, ["Prefix"].concat(GROUP_HEAD), [groupRow("first use", first), groupRow("reuse", reuse)]);
    const a = statOf(first.ttft_ms, "p50"), b = statOf(reuse.ttft_ms, "p50");
    const ratio = has(a) && has(b) && a > 0 ? " Reuse TTFT p50 is " + num(100 * b / a, 0) + " % of first use." : "";
    add(box, el("p", "caption", "First use: the run's first request to send a prefix (no server can have cached it); " +
      "reuse: every later one." + ratio));
    const groups = asRows(block.groups);
    if (!groups.length) return;
    table(add(box, el("div", "scroll")), ["Group"].concat(GROUP_HEAD), groups.map((g) => groupRow(asLabel(g.group), g)));
    add(box, el("p", "caption", num(groups.length) + (groups.length === 1 ? " group" : " groups") +
      "; groups numbered from " + num(asNum(block.kept)) + " up share the row \"other\". Milliseconds, successful requests."));
  }

  // ---- sessions ----------------------------------------------------------------------
  function sessionsPart(box, block) {
    add(box, el("h3", null, "Sessions"));
    const ended = asObj(block.ended), turns = asObj(block.turns), per = block.turns_ok_per_session, dur = block.duration_s;
    const cards = add(box, el("div", "cards"));
    card(cards, "Sessions", num(asNum(block.total)), null, num(asNum(ended.completed)) + " completed · " +
      num(asNum(ended.failed)) + " failed · " + num(asNum(ended.stopped)) + " stopped");
    card(cards, "Turns sent", num(asNum(turns.sent)), null, "of " + num(asNum(turns.planned)) + " planned · " +
      num(asNum(turns.unsent)) + " not sent · " + num(asNum(turns.ok)) + " ok");
    card(cards, "Turns ok per session", has(statOf(per, "mean")) ? num(statOf(per, "mean"), 1) : "–", null,
      "p50 " + num(statOf(per, "p50")) + " · max " + num(statOf(per, "max")));
    const s = (v) => (has(v) ? num(v, v < 10 ? 2 : 1) + " s" : "–");
    card(cards, "Session duration p50", s(statOf(dur, "p50")), null,
      "p90 " + s(statOf(dur, "p90")) + " · p99 " + s(statOf(dur, "p99")) + " · completed sessions");
  }

  // ---- input lengths -----------------------------------------------------------------
  function askedText(asked) {
    const a = asObj(asked), parts = [];
    [["input_tokens", "--input-tokens"], ["prefix_tokens", "--prefix-tokens"]].forEach(([k, flag]) => {
      const v = a[k];
      if (typeof v !== "number" && typeof v !== "string") return;
      const [mean, sd] = String(v).split(":");
      parts.push(flag + " " + mean + (sd ? " ± " + sd : ""));
    });
    return parts.join(" + ") || "–";
  }
  function inputLengthsPart(box, block) {
    add(box, el("h3", null, "Input lengths (as the server counted them)"));
    const cols = ["min", "mean", "p50", "p90", "p99", "max"];
    table(box, ["Source", "Requests", "Without a count"].concat(cols, [{ text: "Asked", cls: "text" }]), [
      [asLabel(block.source), num(asNum(block.requests)), num(asNum(block.requests_without))]
        .concat(cols.map((c) => tokenFigure(block[c])), [{ text: askedText(block.asked), cls: "text" }])]);
    add(box, el("p", "caption", "Prompt tokens from the server's usage, over measured requests that reported it. " +
      "With shared prefixes the asked length is prefix + unique part; a later turn of a session also carries the history."));
  }

  function workload(box) {
    const B = asObj(D.breakdowns);
    const names = ["turns", "prefixes", "sessions", "input_lengths"].filter((k) => Object.keys(asObj(B[k])).length);
    if (!names.length) return;  // a plain run without usage: no section at all
    add(box, el("h2", null, "Workload"));
    if (names.includes("turns")) turnsPart(box, asObj(B.turns));
    if (names.includes("prefixes")) prefixesPart(box, asObj(B.prefixes));
    if (names.includes("sessions")) sessionsPart(box, asObj(B.sessions));
    if (names.includes("input_lengths")) inputLengthsPart(box, asObj(B.input_lengths));
  }

  // ---- outcomes, SLOs, percentiles, samples, definitions -------------------------
  function pie(box) {
    const r = D.requests || {};
    const by = r.by_status || { ok: r.ok, failed: r.failed };
    const data = Object.entries(by).filter(([, v]) => v > 0).map(([name, v]) =>
      ({ name: name, value: v, itemStyle: { color: kindColor(name) } }));
    if (!data.length) { add(box, el("p", "empty", "No measured requests.")); return; }
    const total = data.reduce((a, d) => a + d.value, 0), ok = by.ok || 0;
    chart(add(box, el("div", "chart")), {
      title: [{ text: "Success / failure", left: 8, top: 2, textStyle: { fontSize: 13 } },
        { text: pct(ok / total), subtext: "succeeded", left: "34%", top: "46%", textAlign: "center",
          textStyle: { fontSize: 18, color: ok === total ? C.good : C.bad }, subtextStyle: { color: C.muted } }],
      tooltip: { trigger: "item", formatter: (p) => esc(p.name) + ": " + num(p.value) + " (" + p.percent + " %)" },
      legend: { orient: "vertical", right: 8, top: "middle", formatter: (name) => name + "  " + num(by[name]) },
      series: [{ type: "pie", radius: ["45%", "70%"], center: ["34%", "56%"], data: data, minShowLabelAngle: 12,
        label: { formatter: (p) => p.name + " " + p.percent + " %" } }],
    });
  }
  function errors(box) {
    const rows = D.errors || [], total = (D.requests || {}).total || 0;
    if (!rows.length) { add(box, el("p", "empty", total ? "No failed requests." : "No measured requests.")); return; }
    table(box, ["Kind", "HTTP", "Count", "Share", { text: "First example", cls: "text" }], rows.map((e) =>
      [e.kind, has(e.http_status) ? e.http_status : "–", num(e.count), total ? pct(e.count / total) : "–",
        { text: has(e.example) ? e.example : "", cls: "text" }]));
  }
  function slo(box) {
    if (!D.slo || !D.slo.checks || !D.slo.checks.length) return;
    add(box, el("h2", null, "SLOs"));
    table(box, [{ text: "Check", cls: "text" }, "Measured", "Result"], D.slo.checks.map((c) => [
      { text: c.expr, cls: "text" }, has(c.measured) ? num(c.measured, 3) + " " + (c.unit || "") : "no value",
      { text: c.passed ? "pass" : "FAIL", cls: c.passed ? "pass" : "fail" }]));
  }
  function percentiles(box) {
    const stats = D.stats || {};
    const order = Object.keys(LABELS).filter((k) => stats[k]).concat(Object.keys(stats).filter((k) => !LABELS[k]));
    if (!order.length) { add(box, el("p", "empty", "No latency figures: no request succeeded.")); return; }
    const cols = ["p50", "p75", "p90", "p95", "p99", "p99_9", "max"];
    table(box, ["Metric", "Count", "Mean"].concat(cols.map((c) => c.replace("_", "."))), order.map((k) =>
      [LABELS[k] || k, num(stats[k].count), fix(stats[k].mean)].concat(cols.map((c) => fix(stats[k][c])))));
  }
  function samples(box) {
    const s = D.samples || {};
    [["First content frame", s.first_frame], ["Final frame", s.last_frame]].forEach(([label, text]) => {
      add(box, el("div", "caption", label));
      add(box, el("pre", "sample", has(text) ? text : "(none recorded)"));
    });
  }
  function definitions(box) {
    const defs = D.definitions || {};
    const dl = add(box, el("dl", "defs"));
    Object.entries(defs).forEach(([k, v]) => {
      add(dl, el("dt", null, (LABELS[k] ? LABELS[k] + " · " : "") + k));
      add(dl, el("dd", null, v));
    });
    if (!Object.keys(defs).length) add(box, el("p", "empty", "No definitions in summary.json."));
  }

  drawPage("llmbench report", [
    ["header", header], ["cards", cards], ["histograms", histograms], ["timeseries", timeseries],
    ["server", (box) => LLMBENCH_SERVER(box, D.server, D.timeseries)],  // report_server.js
    ["scatter", scatter], ["workload", workload], ["pie", pie], ["errors", errors], ["slo", slo], ["percentiles", percentiles],
    ["samples", samples], ["definitions", definitions],
    ["footer", (box) => footer(box, D.report_version, "summary.json and results.jsonl")],
  ]);
})();
