// Camera health table: state, since, fps, lag, last frame, reconnects, detection, error; sortable by
// any column (click; again to reverse), filterable, updated live from the WebSocket health messages.
// The detection column (looks a second, the share of frames rationed or shed) is rated over the last
// poll interval from the cameras' cumulative counters: a machine short of detector shows it here.
// A region's camera copied to the capital (owner_domain set) is not ingested here: the WebSocket's
// health messages are this node's ingest's (they would say "disabled"), so its row takes the health the
// API reports (the region's last camera_offline/online, services/remote_health.py), is updated live from
// those events on the feed, and refreshed with the 5 s poll (staleness when the region's line is down).

import { pollHealthWithoutFeed, startApp } from "./app.js";
import {
  api,
  cameraUrl,
  formatAgo,
  formatDateTime,
  formatInt,
  formatNumber1,
  formatSeconds,
  formatTime,
  h,
  parseUtc,
  regionLabel,
  stateClass,
  stateLabel,
  t,
  toast,
} from "./core.js";
import { renderStateSummary } from "./summary.js";

const LAG_WARN_S = 2;
const STALE_FRAME_S = 10;
const STATE_ORDER = { offline: 0, starting: 1, online: 2, disabled: 3 };
const DETECT_POLL_MS = 5000;
const SHED_WARN = 0.05; // the share of analysed frames shed past which a camera is not kept up with
const REMOTE_KINDS = { camera_offline: "offline", camera_online: "online" };

const body = document.getElementById("health-body");
const emptyNote = document.getElementById("health-empty");
const filterInput = document.getElementById("health-filter");
const summary = document.querySelector('[data-testid="state-summary"]');
const headers = [...document.querySelectorAll("th[data-sort]")];

const cameras = new Map(); // id -> camera (with .health)
const rows = new Map(); // id -> <tr>
let sort = { key: "state", dir: 1 };
let stateFilter = "";
let renderQueued = false;

const time = (iso) => {
  const d = parseUtc(iso);
  return d ? d.getTime() : null;
};
const SORT_VALUES = {
  name: (c) => String(c.name || c.id).toLowerCase(),
  site: (c) => String(c.site_name || c.site || "").toLowerCase(),
  region: (c) => regionLabel(c.region).toLowerCase(),
  state: (c) => STATE_ORDER[c.health.state] ?? 9,
  since: (c) => time(c.health.since),
  fps: (c) => c.health.fps,
  lag: (c) => c.health.lag_s,
  last_frame: (c) => time(c.health.last_frame_at),
  reconnects: (c) => c.health.reconnects,
  detection: (c) => (c.detection ? c.detection.rationed + c.detection.shed : null),
  error: (c) => (c.health.error ? String(c.health.error).toLowerCase() : null),
};

function compare(a, b) {
  const va = SORT_VALUES[sort.key](a);
  const vb = SORT_VALUES[sort.key](b);
  // Missing values sort last in either direction.
  const na = va === null || va === undefined;
  const nb = vb === null || vb === undefined;
  if (na || nb) return na === nb ? 0 : na ? 1 : -1;
  if (va < vb) return -sort.dir;
  if (va > vb) return sort.dir;
  return 0;
}

function tieBreak(a, b) {
  return String(a.name || a.id).localeCompare(String(b.name || b.id)) || String(a.id).localeCompare(String(b.id));
}

function cell(key, content, attrs = {}) {
  return h("td", { "data-col": key, ...attrs }, content);
}

function fillRow(tr, c) {
  const hl = c.health;
  const lagWarn = typeof hl.lag_s === "number" && hl.lag_s > LAG_WARN_S;
  const lastMs = time(hl.last_frame_at);
  const stale = hl.state === "online" && lastMs !== null && Date.now() - lastMs > STALE_FRAME_S * 1000;
  tr.dataset.state = hl.state || "unknown";
  tr.className = `${stateClass(hl.state)}${stale ? " stale" : ""}`;
  const state = [h("span", { class: `badge ${stateClass(hl.state)}`, "data-testid": "health-state" }, stateLabel(hl.state))];
  if (c.owner_domain && hl.stale) {
    const hint = t("health.stale_hint", { state: stateLabel(hl.last_state) });
    state.push(" ", h("span", { class: "badge sev sev-medium", "data-testid": "health-stale", title: hint }, t("health.stale")));
  }
  const region = [regionLabel(c.region)];
  if (c.owner_domain) {
    const marker = { class: "badge", "data-testid": "health-regional", title: t("health.regional_hint", { domain: c.owner_domain }) };
    region.push(" ", h("span", marker, t("health.regional", { domain: c.owner_domain })));
  }
  tr.dataset.remote = c.owner_domain || "";
  tr.replaceChildren(
    cell("name", h("a", { href: cameraUrl(c.id) }, c.name || c.id)),
    cell("site", c.site_name || c.site || "—"),
    cell("region", region),
    cell("state", state),
    cell("since", hl.since ? [formatTime(hl.since), h("span", { class: "rel" }, formatAgo(hl.since))] : "—", {
      title: hl.since ? formatDateTime(hl.since) : "",
    }),
    cell("fps", formatNumber1(hl.fps), { class: "num" }),
    cell("lag", formatSeconds(hl.lag_s), { class: `num${lagWarn ? " warn" : ""}` }),
    cell("last_frame", hl.last_frame_at ? formatAgo(hl.last_frame_at) : "—", {
      title: hl.last_frame_at ? formatDateTime(hl.last_frame_at) : "",
      class: stale ? "warn" : "",
    }),
    cell("reconnects", formatInt(hl.reconnects), { class: "num" }),
    detectionCell(c.detection),
    cell("error", hl.error || "", { class: "error-cell", title: hl.error || "" }),
  );
}

function detectionCell(d) {
  if (!d) return cell("detection", "—", { class: "num", "data-testid": "health-detection" });
  const parts = [t("health.looks_s", { n: formatNumber1(d.looks_s) })];
  if (d.rationed > 0) parts.push(t("health.rationed", { n: Math.round(100 * d.rationed) }));
  if (d.shed > 0) parts.push(t("health.shed", { n: Math.round(100 * d.shed) }));
  return cell("detection", parts.join(" · "), {
    class: `num${d.shed > SHED_WARN ? " warn" : ""}`,
    "data-testid": "health-detection",
    title: t("health.detection_hint"),
  });
}

/** Rates over the interval between two readings of a camera's detection counters (null before two). */
function detectionRates(prev, now) {
  if (!prev || !now || now.frames < prev.frames) return null; // first reading, or the camera restarted
  const dt = (now.at - prev.at) / 1000;
  const frames = now.frames - prev.frames;
  if (dt <= 0) return null;
  return {
    looks_s: (now.looks - prev.looks) / dt,
    rationed: frames > 0 ? (now.rationed - prev.rationed) / frames : 0,
    shed: frames > 0 ? (now.shed - prev.shed) / frames : 0,
  };
}

const detectPrev = new Map(); // id -> the last reading

function readDetection(c) {
  const d = c.analytics && c.analytics.detect;
  if (!d) return;
  const now = { at: Date.now(), frames: d.frames || 0, looks: d.detect_frames || 0, rationed: d.rationed || 0, shed: d.skipped || 0 };
  const rates = detectionRates(detectPrev.get(c.id), now);
  detectPrev.set(c.id, now);
  if (rates) c.detection = rates;
}

async function pollDetection() {
  try {
    for (const fresh of await api("/api/cameras")) {
      const c = cameras.get(fresh.id);
      if (!c) continue;
      c.analytics = fresh.analytics;
      const hl = fresh.health || {};
      const older = hl.since && c.health.since && time(hl.since) < time(c.health.since); // an event overtook it
      if (c.owner_domain && !older) applyHealth(c.id, hl); // the region's, as the capital hears it now
      readDetection(c);
      fillRow(rows.get(c.id), c);
    }
    if (sort.key === "detection") queueRender();
  } catch {
    /* the next poll tries again; the rest of the table lives on the feed */
  }
}

/** Only the clock-driven cells: relative times and staleness. */
function tickRow(tr, c) {
  const hl = c.health;
  const rel = tr.querySelector('td[data-col="since"] .rel');
  if (rel && hl.since) rel.textContent = formatAgo(hl.since);
  const last = tr.querySelector('td[data-col="last_frame"]');
  if (last && hl.last_frame_at) {
    last.textContent = formatAgo(hl.last_frame_at);
    const stale = hl.state === "online" && Date.now() - time(hl.last_frame_at) > STALE_FRAME_S * 1000;
    last.classList.toggle("warn", stale);
    tr.classList.toggle("stale", stale);
  }
}

function visible(c) {
  if (stateFilter && c.health.state !== stateFilter) return false;
  const q = filterInput.value.trim().toLowerCase();
  if (!q) return true;
  return [c.id, c.name, c.site_name, c.site, regionLabel(c.region), c.health.error]
    .filter(Boolean)
    .some((v) => String(v).toLowerCase().includes(q));
}

function render() {
  renderQueued = false;
  const list = [...cameras.values()].filter(visible).sort((a, b) => compare(a, b) || tieBreak(a, b));
  const frag = document.createDocumentFragment();
  for (const c of list) frag.append(rows.get(c.id)); // moves existing rows; no rebuild
  body.replaceChildren(frag);
  emptyNote.hidden = list.length > 0;
  for (const th of headers) {
    th.setAttribute("aria-sort", th.dataset.sort === sort.key ? (sort.dir > 0 ? "ascending" : "descending") : "none");
  }
  renderStateSummary(summary, cameras.values(), { active: stateFilter, onPick: pickState });
}

function queueRender() {
  if (!renderQueued) {
    renderQueued = true;
    requestAnimationFrame(render);
  }
}

function pickState(state) {
  stateFilter = stateFilter === state ? "" : state;
  render();
}

function upsert(c) {
  c.health = c.health || {};
  readDetection(c);
  cameras.set(c.id, c);
  let tr = rows.get(c.id);
  if (!tr) {
    tr = h("tr", { "data-testid": "health-row", dataset: { camera: c.id } });
    rows.set(c.id, tr);
  }
  fillRow(tr, c);
}

/** A health message from the feed: this node's ingest's, so not for a region's copy (see the top). */
function onHealth(cameraId, health) {
  const c = cameras.get(cameraId);
  if (c && !c.owner_domain) applyHealth(cameraId, health);
}

/** A region's camera_offline/online reaching the feed: the copy's new state, since the event's time. */
function onEvent(ev) {
  const c = ev && cameras.get(ev.camera);
  const state = ev && REMOTE_KINDS[ev.kind];
  if (!c || !c.owner_domain || !state) return;
  const since = time(c.health.since);
  if (since !== null && time(ev.ts) < since) return; // an older event arriving late
  const error = state === "offline" ? (ev.payload && ev.payload.error) || null : null;
  // heard from the region just now: it is not stale (the next poll says so if the line drops again)
  applyHealth(c.id, { state, since: ev.ts, last_state: state, stale: false, error });
}

function applyHealth(cameraId, health) {
  const c = cameras.get(cameraId);
  if (!c) return; // not in this operator's scope (or added later: the next reload shows it)
  const before = c.health.state;
  c.health = { ...c.health, ...health };
  const tr = rows.get(cameraId);
  fillRow(tr, c);
  if (before !== c.health.state) {
    tr.classList.remove("flash");
    void tr.offsetWidth; // restart the animation
    tr.classList.add("flash");
  }
  queueRender();
}

async function main() {
  const feed = startApp();
  const pending = [];
  let ready = false;
  feed.on("health", (id, hl) => (ready ? onHealth(id, hl) : pending.push([id, hl])));
  const early = []; // events before the list came: applied after it (an older one is skipped by its ts)
  feed.on("event", (ev) => (ready ? onEvent(ev) : early.push(ev)));
  for (const th of headers) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      sort = sort.key === key ? { key, dir: -sort.dir } : { key, dir: 1 };
      render();
    });
  }
  filterInput.addEventListener("input", render);
  // Relative times ("12 s ago") and staleness tick without server traffic.
  setInterval(() => {
    for (const c of cameras.values()) tickRow(rows.get(c.id), c);
  }, 5000);
  try {
    for (const c of await api("/api/cameras")) upsert(c);
  } catch (err) {
    toast(t("common.error", { detail: err.message }), { error: true });
  }
  ready = true;
  for (const [id, hl] of pending) onHealth(id, hl);
  for (const ev of early) onEvent(ev);
  render();
  pollHealthWithoutFeed(feed, applyHealth); // the API's health: a copy's is the region's, so every row takes it
  setInterval(pollDetection, DETECT_POLL_MS);
}

main();
