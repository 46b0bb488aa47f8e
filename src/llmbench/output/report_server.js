/* llmbench report: the Server section (issue 17): what the --server-metrics targets said
 * during the run, on the client's time axis.
 *
 * Inlined before report.js, in the same script element; it defines one global,
 * LLMBENCH_SERVER(box, server, timeseries), which report.js calls with the report data's
 * `server` (output/server_report.py; null when nothing was scraped: no section at all)
 * and `timeseries`. Its charts take the x axis of the client's over-time chart (the
 * same range, seconds from the measured start) and are connected to it: zoom or hover
 * one and the other follows. Every string from the data (URLs, label values, error
 * messages, family names a --server-metric pattern chose) goes on screen with
 * textContent or as ECharts canvas text; tooltips esc() what they include. */
const LLMBENCH_SERVER = (function () {
  "use strict";
  const { el, add, esc, has, num, compact, chart, table, banner } = LLMBENCH;
  const GROUP = "llmbench-timeline";  // the client's over-time chart and these charts
  const PALETTE = ["#3b6fd8", "#e08a00", "#43a047", "#8e24aa", "#00838f", "#d81b60", "#6d4c41", "#5d4037"];
  const CLIENT = "#7b8494";
  // [chart key (server_families.CHARTS), title, scale, client overlay (timeseries key, name)]
  const PANELS = [
    ["running", "Requests running (server) vs in flight (client)", 1, ["in_flight", "client: in flight"]],
    ["waiting", "Requests waiting (server queue)", 1, null],
    ["kv_cache", "KV-cache use (%)", 100, null],
    ["prefix_hit", "Prefix-cache hit rate (%)", 100, null],
    ["preemptions", "Preemptions per second", 1, null],
    ["tokens", "Generated tokens/s (server) vs output/s (client)", 1, ["tokens_per_s", "client: output/s"]],
    ["gpu_util", "GPU utilization (%)", 1, null],
    ["power", "GPU power (W)", 1, null],
    ["gpu_memory", "GPU memory used (MiB)", 1, null],
  ];
  const MAX_OTHER = 6;  // panels for --server-metric families, beyond the known charts
  const VERDICT = {
    agree: "ok", server_higher: "warn", server_lower: "warn", no_data: "warn", different_units: "warn",
  };

  function arr(v) { return Array.isArray(v) ? v : []; }
  function obj(v) { return v !== null && typeof v === "object" && !Array.isArray(v) ? v : {}; }
  function numOr(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function text(v) { return typeof v === "string" ? v : ""; }
  function host(url) { const m = /^[a-z]+:\/\/([^/?#]*)/i.exec(text(url)); return m ? m[1] : text(url); }

  // A series' points: a gauge at its scrape's time, a rate (or ratio, or mean) at the
  // start of the interval it covers, so it lines up with the client's per-second
  // buckets (drawn at their start too).
  function points(target, s, scale) {
    const t = arr(target.t), v = arr(s.values), interval = s.read_as !== "gauge";
    const out = [];
    v.forEach((value, i) => {
      const x = interval ? (i > 0 ? numOr(t[i - 1]) : null) : numOr(t[i]);
      if (x !== null && numOr(value) !== null) out.push([x, value * scale]);
    });
    return out;
  }
  // Names that tell a panel's series apart: the label, the labels whose values differ
  // among them (a GPU index, an engine, a model), and the target when there are several.
  function names(items, manyTargets) {
    const keys = new Set();
    items.forEach((a) => items.forEach((b) => {
      Object.keys(obj(a.s.labels)).forEach((k) => { if (obj(a.s.labels)[k] !== obj(b.s.labels)[k]) keys.add(k); });
    }));
    const labels = new Set(items.map((it) => text(it.s.label)));
    return items.map((it) => {
      const lab = obj(it.s.labels);
      const parts = [...keys].sort().filter((k) => k in lab).map((k) => k + "=" + text(lab[k]));
      let name = labels.size > 1 || !parts.length ? text(it.s.label) || text(it.s.family) : "";
      if (parts.length) name += (name ? " " : "") + parts.join(", ");
      return manyTargets ? name + " @ " + host(it.target.url) : name;
    });
  }

  function panelsOf(S) {
    const targets = arr(S.targets), many = targets.length > 1;
    const items = [];
    targets.forEach((target) => arr(target.series).forEach((s) => items.push({ target: target, s: obj(s) })));
    const out = [];
    PANELS.forEach(([key, title, scale, overlay]) => {
      const mine = items.filter((it) => it.s.chart === key);
      if (mine.length) out.push({ title: title, scale: scale, overlay: overlay, items: mine, many: many });
    });
    const other = new Map();  // --server-metric families: one panel each
    items.filter((it) => !it.s.chart && !it.s.engine).forEach((it) => {
      const fam = text(it.s.family);
      if (!other.has(fam)) other.set(fam, []);
      other.get(fam).push(it);
    });
    [...other.entries()].slice(0, MAX_OTHER).forEach(([fam, mine]) => {
      const how = mine[0].s.read_as === "rate" ? " (per s)" : mine[0].s.read_as === "mean" ? " (mean per event)" : "";
      out.push({ title: fam + how, scale: 1, overlay: null, items: mine, many: many });
    });
    return out;
  }

  function charts(box, S, ts) {
    const panels = panelsOf(S);
    if (!panels.length) return null;
    const hasTs = ts && arr(ts.t).length;
    let lo = 0, hi = null;
    if (hasTs) { lo = ts.t[0]; hi = ts.t[ts.t.length - 1] + (ts.width_s || 1); }
    const top = 30, h = 92, gap = 40, idx = panels.map((_, i) => i);
    const series = [];
    panels.forEach((p, i) => {
      const labels = names(p.items, p.many);
      p.items.forEach((it, k) => series.push({
        name: labels[k], type: "line", xAxisIndex: i, yAxisIndex: i, showSymbol: false,
        data: points(it.target, it.s, p.scale), lineStyle: { width: 1.5 },
        itemStyle: { color: PALETTE[k % PALETTE.length] },
      }));
      if (p.overlay && hasTs) {
        const [key, name] = p.overlay, ys = arr(ts[key]);
        series.push({
          name: name, type: "line", xAxisIndex: i, yAxisIndex: i, showSymbol: false, connectNulls: true,
          data: ts.t.map((t, j) => [t, ys[j]]), itemStyle: { color: CLIENT },
          lineStyle: { width: 1.5, type: "dashed" },
        });
      }
    });
    const div = add(box, el("div", "chart tall"));
    div.style.height = (top + panels.length * (h + gap) + 30) + "px";
    const c = chart(div, {
      title: panels.map((p, i) => ({ text: p.title, left: 56, top: top + i * (h + gap) - 24, textStyle: { fontSize: 12 } })),
      grid: idx.map((i) => ({ left: 56, right: 24, top: top + i * (h + gap), height: h })),
      xAxis: idx.map((i) => ({ type: "value", gridIndex: i, min: lo, max: hi === null ? "dataMax" : hi,
        axisLabel: { formatter: (v) => v + " s" }, splitLine: { show: false } })),
      yAxis: idx.map((i) => ({ type: "value", gridIndex: i, splitNumber: 2,
        axisLabel: { formatter: compact }, splitLine: { lineStyle: { color: "#e6e9ef" } } })),
      series: series,
      tooltip: { trigger: "axis", formatter: (ps) => arr(ps).map((p) =>
        esc(p.seriesName) + ": " + (has(p.value && p.value[1]) ? num(p.value[1], 2) : "–")).join("<br>") },
      axisPointer: { link: [{ xAxisIndex: "all" }] },
      // The client's chart has the same two, in this order: a zoom on one is dispatched
      // to the other (echarts.connect) by percentage of this same x range.
      dataZoom: [
        { type: "slider", xAxisIndex: idx, bottom: 8, height: 20, filterMode: "none" },
        { type: "inside", xAxisIndex: idx, filterMode: "none" },
      ],
    });
    return c;
  }

  function link(serverChart) {  // zoom one, all follow: the client's over-time chart too
    const div = document.querySelector("#timeseries div[_echarts_instance_]");
    const client = div ? echarts.getInstanceByDom(div) : null;
    if (!client || !serverChart) return;
    client.group = GROUP;
    serverChart.group = GROUP;
    echarts.connect(GROUP);
  }


  function crossCheck(box, check) {
    if (!check || !check.verdict) return;
    const c = obj(check);
    const figures = c.verdict === "no_data" ? "" : "Server " + num(c.server_tokens_per_s, 1) +
      " generated tokens/s, client " + num(c.client_tokens_per_s, 1) + " " + (text(c.client_unit) || "tokens") +
      "/s" + (c.verdict === "different_units" ? ". " : " (ratio " + num(c.ratio, 3) + "). ");
    banner(box, VERDICT[c.verdict] || "warn", "Cross-check: " + figures + text(c.note));
  }

  function targets(box, S) {
    table(box, [{ text: "Target", cls: "text" }, "Engines", "Scrapes", "OK", "Failed", { text: "Failures", cls: "text" },
      "Scrape ms (mean / max)", { text: "First error", cls: "text" }], arr(S.targets).map((t) => {
      const failures = Object.entries(obj(t.failures)).map(([k, n]) => k + " " + num(n)).join(", ");
      const ms = obj(t.scrape_ms);
      return [{ text: text(t.url), cls: "text" }, arr(t.engines).map(text).join(", ") || "–", num(t.scrapes),
        num(t.ok), num(t.failed), { text: failures || "–", cls: "text" },
        has(ms.mean) ? num(ms.mean, 1) + " / " + num(ms.max, 1) : "–", { text: text(t.first_error) || "–", cls: "text" }];
    }));
  }

  function measured(box, S) {
    const rows = [];
    arr(S.targets).forEach((t) => arr(t.series).forEach((raw) => {
      const s = obj(raw), m = obj(s.measured);
      if (!has(m.mean)) return;
      const labels = Object.entries(obj(s.labels)).map(([k, v]) => k + "=" + text(v)).join(", ");
      const fig = (v) => (has(v) ? num(v, Math.abs(v) < 10 ? 3 : 1) : "–");
      rows.push([{ text: text(s.family), cls: "text" }, { text: labels, cls: "text" }, text(s.read_as),
        fig(m.min), fig(m.mean), fig(m.max), text(s.unit)]);
    }));
    if (!rows.length) { add(box, el("p", "empty", "No scrape fell inside the measured phase.")); return; }
    add(box, el("p", "caption", "Over the measured phase: gauges over the scrapes inside it; rates, ratios and means " +
      "over the intervals wholly inside it, the mean weighted by time (the rate of the phase as a whole)."));
    const scroll = add(box, el("div"));
    scroll.style.maxHeight = "380px";
    scroll.style.overflow = "auto";
    table(scroll, [{ text: "Family", cls: "text" }, { text: "Labels", cls: "text" }, "Read as", "Min", "Mean", "Max", "Unit"], rows);
  }

  return function draw(box, server, timeseries) {
    const S = obj(server);
    if (!arr(S.targets).length) return;  // nothing was scraped: no section at all
    add(box, el("h2", null, "Server"));
    const every = has(S.interval_s) ? num(S.interval_s, S.interval_s < 1 ? 1 : 0) + " s" : "interval";
    add(box, el("p", "caption", "Scraped every " + every + " from the server's Prometheus page (--server-metrics). " +
      "Times are seconds from the measured start, as in the client's charts above (scrapes during a ramp or warm-up " +
      "are before 0); rates are drawn at the start of the interval they cover. Dashed grey lines are the client's own " +
      "figures. Zoom either chart and the other follows."));
    crossCheck(box, S.cross_check);
    const panel = add(box, el("div", "panel"));
    const c = charts(panel, S, timeseries);
    if (c) link(c);
    else add(panel, el("p", "empty", "Nothing charted: no known family (nor a --server-metric one) was read. See the targets below."));
    add(box, el("h3", null, "Targets"));
    targets(box, S);
    add(box, el("h3", null, "Measured phase"));
    measured(box, S);
  };
})();
