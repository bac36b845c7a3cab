// Small SVG bar charts drawn here, with no library and nothing fetched: horizontal bars (one row
// per item, label left, value right) and columns (e.g. 24 hours). Every bar is a <rect
// class="chart-bar"> with a <title> (the browser's tooltip, and what a screen reader reads).

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function clip(text, max) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Horizontal bars. items: [{label, value, text, title, series}]; `max` fixes the scale (1 for
 * shares), else the largest value. A null value draws no bar and shows "—".
 */
export function hbarChart(
  items,
  { max = null, width = 520, row = 20, labelWidth = 190, valueWidth = 70, empty = "—", testid } = {},
) {
  const barWidth = width - labelWidth - valueWidth;
  const top = max ?? Math.max(0, ...items.map((i) => Number(i.value) || 0));
  const height = Math.max(1, items.length) * row + 4;
  const svg = el("svg", {
    class: "chart chart-h",
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    "data-testid": testid,
    preserveAspectRatio: "xMinYMin meet",
  });
  if (!items.length) {
    svg.append(el("text", { x: 4, y: row - 6, class: "chart-empty" }, empty));
    return svg;
  }
  items.forEach((item, i) => {
    const y = i * row + 2;
    const v = item.value === null || item.value === undefined ? null : Number(item.value);
    const w = v === null || top <= 0 ? 0 : Math.max(v > 0 ? 1 : 0, (barWidth * Math.min(v, top)) / top);
    const g = el("g", { class: "chart-row" });
    g.append(el("text", { x: 0, y: y + row * 0.65, class: "chart-label" }, clip(item.label, 30)));
    g.append(el("rect", { x: labelWidth, y: y + 3, width: barWidth, height: row - 8, class: "chart-track" }));
    const bar = el("rect", {
      x: labelWidth,
      y: y + 3,
      width: w.toFixed(1),
      height: row - 8,
      class: `chart-bar${item.series ? ` chart-bar-${item.series}` : ""}`,
      "data-testid": "chart-bar",
      "data-value": v === null ? "" : v,
    });
    bar.append(el("title", {}, item.title || `${item.label}: ${item.text ?? v ?? empty}`));
    g.append(bar);
    g.append(
      el("text", { x: width - 2, y: y + row * 0.65, class: "chart-value", "text-anchor": "end" }, item.text ?? v ?? empty),
    );
    svg.append(g);
  });
  return svg;
}

/** Columns: items [{label, value, title}] side by side, the value above each bar. */
export function columnChart(items, { width = 520, height = 150, testid } = {}) {
  const base = height - 16;
  const top = Math.max(1, ...items.map((i) => Number(i.value) || 0));
  const step = width / Math.max(1, items.length);
  const svg = el("svg", {
    class: "chart chart-v",
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    "data-testid": testid,
  });
  svg.append(el("line", { x1: 0, x2: width, y1: base, y2: base, class: "chart-axis" }));
  items.forEach((item, i) => {
    const v = Number(item.value) || 0;
    const h = ((base - 14) * v) / top;
    const x = i * step + step * 0.15;
    const bar = el("rect", {
      x: x.toFixed(1),
      y: (base - h).toFixed(1),
      width: (step * 0.7).toFixed(1),
      height: h.toFixed(1),
      class: "chart-bar",
      "data-testid": "chart-bar",
      "data-value": v,
    });
    bar.append(el("title", {}, item.title || `${item.label}: ${v}`));
    svg.append(bar);
    if (v) {
      svg.append(el("text", { x: x + step * 0.35, y: base - h - 2, class: "chart-value", "text-anchor": "middle" }, v));
    }
    svg.append(el("text", { x: x + step * 0.35, y: height - 3, class: "chart-label", "text-anchor": "middle" }, item.label));
  });
  return svg;
}
