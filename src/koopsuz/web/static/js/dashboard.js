// Accountability dashboard: a period (Bishkek days) and, for national roles, a region; the
// figures of /api/dashboard as key numbers, SVG charts (charts.js), districts, schools and
// kindergartens without a working camera, and nationally the ranking of regions. CSV and PDF
// links carry the same query (the server audits each export).

import { startApp } from "./app.js";
import { api, boot, formatDateTime, formatInt, h, hasKey, regionLabel, t } from "./core.js";
import { columnChart, hbarChart } from "./charts.js";

const DAY_MS = 86400000;
const BISHKEK_MS = 6 * 3600000;
const TOP = 20;

const form = document.getElementById("dash-form");
const fromInput = document.getElementById("dash-from");
const toInput = document.getElementById("dash-to");
const regionSelect = document.getElementById("dash-region");
const errorNode = document.getElementById("dash-error");
const national = !(boot.user && boot.user.region);

const SITE_TYPE_KEYS = { school: "site_type.school", kindergarten: "site_type.kindergarten" };
const RANK_KEYS = {
  median_dispatch_s: "dashboard.rank.median_dispatch_s",
  p90_dispatch_s: "dashboard.rank.p90_dispatch_s",
  median_on_scene_s: "dashboard.rank.median_on_scene_s",
  p90_on_scene_s: "dashboard.rank.p90_on_scene_s",
  precision: "dashboard.rank.precision",
  uptime: "dashboard.rank.uptime",
  coverage: "dashboard.rank.coverage",
  unprotected_share: "dashboard.rank.unprotected_share",
};

function bishkekDay(ms) {
  return new Date(ms + BISHKEK_MS).toISOString().slice(0, 10);
}

function categoryLabel(key) {
  return hasKey(`category.${key}`) ? t(`category.${key}`) : key;
}

function kindLabel(key) {
  return hasKey(`kind.${key}`) ? t(`kind.${key}`) : key;
}

const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)} %`);
function dur(s) {
  if (s === null || s === undefined) return "—";
  return s >= 600 ? t("dashboard.minutes", { n: (s / 60).toFixed(1) }) : t("common.seconds", { n: Math.round(s) });
}

function query() {
  const q = new URLSearchParams({ from: fromInput.value, to: toInput.value });
  if (national && regionSelect.value) q.set("region", regionSelect.value);
  return q.toString();
}

function kpi(label, value, testid, sub) {
  return h("div", { class: "dash-kpi", dataset: { testid } }, h("span", { class: "dash-kpi-label" }, label),
    h("strong", { class: "dash-kpi-value" }, value), sub ? h("span", { class: "dash-kpi-sub muted" }, sub) : null);
}

function place(id, node) {
  const box = document.getElementById(id);
  box.replaceChildren(node);
}

function bucketLabels(edges) {
  const mins = edges.map((e) => e / 60);
  return [`≤ ${mins[0]}`, ...mins.slice(1).map((m, i) => `${mins[i]}–${m}`), `> ${mins[mins.length - 1]}`].map(
    (x) => t("dashboard.minutes", { n: x }),
  );
}

function render(report) {
  const f = report.summary;
  const title = report.region ? regionLabel(report.region) : t("dashboard.whole_country");
  document.getElementById("dash-title").textContent = `${t("dashboard.title")}: ${title}`;
  document.getElementById("dash-period").textContent = `${formatDateTime(report.from)} — ${formatDateTime(report.to)}`;
  document.getElementById("dash-csv").href = `/api/dashboard.csv?${query()}`;
  document.getElementById("dash-pdf").href = `/api/dashboard.pdf?${query()}`;

  const td = f.time_to_dispatch;
  const ts = f.time_to_on_scene;
  document.getElementById("dash-kpis").replaceChildren(
    kpi(t("dashboard.kpi.incidents"), formatInt(f.incidents), "kpi-incidents"),
    kpi(t("dashboard.kpi.dispatch"), dur(td.median_s), "kpi-dispatch", t("dashboard.p90", { v: dur(td.p90_s), n: td.n })),
    kpi(t("dashboard.kpi.on_scene"), dur(ts.median_s), "kpi-on-scene", t("dashboard.p90", { v: dur(ts.p90_s), n: ts.n })),
    kpi(t("dashboard.kpi.precision"), pct(f.precision), "kpi-precision", t("dashboard.reviewed", { n: f.alerts_reviewed })),
    kpi(t("dashboard.kpi.uptime"), pct(f.uptime), "kpi-uptime",
      t("dashboard.cameras_working", { w: f.cameras_working, n: f.cameras_enabled })),
    kpi(t("dashboard.kpi.coverage"), pct(f.coverage), "kpi-coverage"),
    kpi(t("dashboard.kpi.unprotected"), `${f.unprotected_sites.length} / ${f.protected_sites}`, "kpi-unprotected"),
  );

  const empty = t("dashboard.no_data");
  place("chart-category", hbarChart(
    Object.entries(f.by_category).map(([k, n]) => ({ label: categoryLabel(k), value: n })),
    { empty, testid: "svg-category" },
  ));
  place("chart-hour", columnChart(
    f.by_hour.map((n, hour) => ({ label: String(hour).padStart(2, "0"), value: n })),
    { testid: "svg-hour" },
  ));
  const labels = bucketLabels(f.response_histogram.edges_s);
  const rows = [];
  labels.forEach((label, i) => {
    rows.push({ label: `${t("dashboard.series.dispatch")} ${label}`, value: f.response_histogram.dispatch[i], series: "a" });
    rows.push({ label: `${t("dashboard.series.on_scene")} ${label}`, value: f.response_histogram.on_scene[i], series: "b" });
  });
  place("chart-response", hbarChart(rows, { row: 16, empty, testid: "svg-response" }));
  const rules = [...f.precision_by_rule]
    .sort((a, b) => b.confirmed + b.dismissed - (a.confirmed + a.dismissed))
    .slice(0, TOP);
  place("chart-precision", hbarChart(
    rules.map((r) => ({
      label: `${r.camera || "—"}: ${r.kind === r.label ? kindLabel(r.kind) : r.label}`,
      value: r.precision,
      text: `${pct(r.precision)} (${r.confirmed}/${r.confirmed + r.dismissed})`,
    })),
    { max: 1, empty, valueWidth: 100, testid: "svg-precision" },
  ));
  const cams = [...f.camera_uptime].sort((a, b) => (a.uptime ?? -1) - (b.uptime ?? -1)).slice(0, TOP);
  place("chart-uptime", hbarChart(
    cams.map((c) => ({ label: `${c.camera} ${c.name}`, value: c.uptime, text: c.enabled ? pct(c.uptime) : t("state.disabled") })),
    { max: 1, empty, testid: "svg-uptime" },
  ));
  const cov = [...f.camera_uptime].sort((a, b) => (a.coverage ?? -1) - (b.coverage ?? -1)).slice(0, TOP);
  place("chart-coverage", hbarChart(
    cov.map((c) => ({ label: `${c.camera} ${c.name}`, value: c.coverage, text: pct(c.coverage) })),
    { max: 1, empty, testid: "svg-coverage" },
  ));

  renderRanking(report.ranking);
  renderDistricts(report.districts);
  const list = document.getElementById("unprotected-list");
  list.replaceChildren(...f.unprotected_sites.map((s) => h("li", { dataset: { testid: "unprotected-site" } },
    h("strong", {}, s.name), " · ", SITE_TYPE_KEYS[s.type] ? t(SITE_TYPE_KEYS[s.type]) : s.type,
    s.district ? ` · ${s.district_name || s.district}` : "", " · ", t("dashboard.cameras_n", { n: s.cameras }))));
  document.getElementById("unprotected-none").hidden = f.unprotected_sites.length > 0;
}

function cells(tag, values) {
  return h("tr", {}, ...values.map((v, i) => h(tag, { class: i ? "num" : null }, v)));
}

function renderRanking(ranking) {
  const card = document.getElementById("dash-ranking-card");
  card.hidden = !ranking;
  if (!ranking) return;
  place("chart-ranking", hbarChart(
    ranking.filter((r) => r.score !== null).map((r) => ({
      label: `${r.rank}. ${regionLabel(r.region)}`,
      value: 10 - r.score,
      text: t("dashboard.score", { s: r.score.toFixed(2) }),
    })),
    { max: 9, valueWidth: 140, empty: t("dashboard.no_data"), testid: "svg-ranking" },
  ));
  const table = document.getElementById("ranking-table");
  const figs = Object.keys(RANK_KEYS);
  table.replaceChildren(
    h("thead", {}, cells("th", [t("dashboard.region"), t("dashboard.rank"), ...figs.map((k) => t(RANK_KEYS[k]))])),
    h("tbody", {}, ...ranking.map((r) => {
      const show = (k) => {
        const v = r.figures[k];
        const text = k.endsWith("_s") ? dur(v) : pct(v);
        return r.ranks[k] ? `${text} (#${r.ranks[k]})` : text;
      };
      return cells("td", [regionLabel(r.region), r.rank ?? "—", ...figs.map(show)]);
    })),
  );
}

function renderDistricts(districts) {
  const card = document.getElementById("dash-districts-card");
  card.hidden = !districts.length;
  const table = document.getElementById("districts-table");
  table.replaceChildren(
    h("thead", {}, cells("th", [t("dashboard.district"), t("dashboard.kpi.incidents"), t("dashboard.kpi.dispatch"),
      t("dashboard.kpi.on_scene"), t("dashboard.kpi.precision"), t("dashboard.kpi.uptime"), t("dashboard.kpi.coverage"),
      t("dashboard.kpi.unprotected")])),
    h("tbody", {}, ...districts.map((d) => {
      const f = d.figures;
      return cells("td", [d.name || t("dashboard.no_district"), f.incidents, dur(f.time_to_dispatch.median_s),
        dur(f.time_to_on_scene.median_s), pct(f.precision), pct(f.uptime), pct(f.coverage),
        `${f.unprotected_sites.length} / ${f.protected_sites}`]);
    })),
  );
}

async function load() {
  errorNode.hidden = true;
  try {
    const report = await api(`/api/dashboard?${query()}`);
    render(report);
    document.body.dataset.dashboard = "ready";
  } catch (err) {
    errorNode.textContent = t("common.error", { detail: err.message });
    errorNode.hidden = false;
  }
}

function init() {
  const now = Date.now();
  toInput.value = bishkekDay(now);
  fromInput.value = bishkekDay(now - 6 * DAY_MS);
  if (national) {
    document.getElementById("dash-region-label").hidden = false;
    for (const code of Object.keys(boot.regions || {})) {
      regionSelect.append(h("option", { value: code }, regionLabel(code)));
    }
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load();
  });
  load();
}

startApp();
init();
