/* llmbench report pages: the helpers both page scripts use (report.js, sweep_report.js).
 *
 * Inlined before the page's own script, with its own hash in the page's CSP; it defines
 * one frozen global, LLMBENCH, and nothing else. The pages' rules hold here: every string
 * goes on screen with textContent (el) or as ECharts canvas text, never parsed as HTML;
 * ECharts inserts a tooltip formatter's output as HTML, so formatters esc() what they
 * include. */
const LLMBENCH = (function () {
  "use strict";
  const charts = [];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  }
  function has(v) { return v !== null && v !== undefined && !(typeof v === "number" && !isFinite(v)); }
  function num(v, digits) {
    if (!has(v)) return "–";
    const d = digits || 0;
    return Number(v).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function fix(v) {  // a millisecond figure in a table: 3 significant digits or more
    if (!has(v)) return "–";
    return v >= 1000 ? num(v, 0) : v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
  }
  function ms(v) {
    if (!has(v)) return "–";
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 1 : 2) + " s";
    return fix(v) + " ms";
  }
  function compact(v) {
    const a = Math.abs(v);
    return a >= 1e6 ? (v / 1e6).toFixed(1) + "M" : a >= 1e4 ? (v / 1e3).toFixed(0) + "k" : String(+v.toFixed(2));
  }
  function chart(div, option) {
    const c = echarts.init(div, null, { renderer: "canvas" });
    c.setOption(Object.assign({ animation: false, textStyle: { fontFamily: "system-ui, sans-serif" } }, option));
    charts.push(c);
    new ResizeObserver(() => c.resize()).observe(div);  // layout changes, not only the window
    return c;
  }

  // ---- page parts --------------------------------------------------------------------
  function heading(h, name, tab, target) {  // the title, what was measured, the tab's title
    const title = add(h, el("h1", null, name + " "));
    const who = [target.provider, target.model].filter(Boolean).join(" · ");
    if (who) add(title, el("span", "sub", "· " + who));
    add(h, el("div", "target", target.url || "(no URL recorded)"));
    document.title = tab + " · " + (target.model || target.provider || "report") + " · " + (target.started_at || "");
  }
  function meta(h, rows) {  // [label, text or Node] pairs; an empty one is left out
    const dl = add(h, el("dl", "meta"));
    rows.forEach(([k, v]) => {
      if (!has(v) || v === "") return;
      const d = add(dl, el("div"));
      add(d, el("dt", null, k));
      const dd = add(d, el("dd"));
      if (v instanceof Node) add(dd, v); else dd.textContent = String(v);
    });
  }
  function table(parent, headers, rows) {  // headers and cells: text, or {text, cls}
    const t = add(parent, el("table"));
    const hr = add(add(t, el("thead")), el("tr"));
    headers.forEach((h) => add(hr, el("th", h.cls || null, h.text || h)));
    const body = add(t, el("tbody"));
    rows.forEach((row) => {
      const tr = add(body, el("tr"));
      row.forEach((cell) => {
        const obj = cell !== null && typeof cell === "object";
        add(tr, el("td", obj ? cell.cls : null, obj ? cell.text : cell));
      });
    });
    return t;
  }
  function banner(parent, cls, text) { add(parent, el("div", "banner " + cls, text)); }
  function card(parent, label, value, unit, note, cls) {
    const c = add(parent, el("div", "card" + (cls ? " " + cls : "")));
    add(c, el("div", "label", label));
    const v = add(c, el("div", "value", value));
    if (unit) add(v, el("small", null, " " + unit));
    if (note) add(c, el("div", "note", note));
    return c;
  }
  function footer(box, version, sources) {
    box.textContent = "Built by llmbench " + (version || "?") + " from " + sources + ". " +
      "Charts: Apache ECharts " + echarts.version + " (Apache-2.0), embedded; this page loads nothing from the network.";
  }
  // One broken part (a section, a chart) must not blank the whole page: it says why.
  function guarded(box, where, what, draw) {
    try { draw(box); } catch (err) {
      console.error(where + ": " + err);
      add(box, el("p", "empty", "This " + what + " could not be drawn: " + err));
    }
  }
  function drawPage(page, sections) {  // [element id, draw] in page order, then ready
    sections.forEach(([id, draw]) => guarded(document.getElementById(id), page + ": " + id, "section", draw));
    // The page has its final layout (and scrollbar) only now: size every chart to it.
    charts.forEach((c) => c.resize());
    document.documentElement.dataset.ready = "1";
  }

  return Object.freeze({
    el, add, esc, has, num, fix, ms, compact, chart,
    heading, meta, table, banner, card, footer, guarded, drawPage,
  });
})();
