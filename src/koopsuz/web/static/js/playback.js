// Playback of recorded footage: up to four cameras in sync, one wall-clock timeline showing what
// was recorded, every gap with its cause, and the cameras' events. Each camera plays an HLS VOD
// playlist of its range (hls.js over the stored fMP4 segments, nothing re-encoded). hls.js stamps
// every fragment with its EXT-X-PROGRAM-DATE-TIME, which maps wall-clock time to media time and
// back across gaps; the first camera is the master clock and the others follow it.

import Hls from "/static/vendor/hls/hls.min.mjs";
import { startApp } from "./app.js";
import { basisOption } from "./lawful.js";
import { ApiError, api, boot, can, formatDateTime, formatTime, h, kindLabel, parseUtc, t, toast } from "./core.js";

const MAX_CAMERAS = 4;
const SYNC_MS = 250;
const DRIFT_S = 0.4; // a follower further off than this is re-seeked
const EVENT_CONTEXT_S = 600; // opened from an event: show this much around it
const CAUSE_KEYS = {
  stream_lost: "gap.cause.stream_lost",
  recorder_crashed: "gap.cause.recorder_crashed",
  disk_full: "gap.cause.disk_full",
  invalid_stream: "gap.cause.invalid_stream",
  stopped: "gap.cause.stopped",
  system_down: "gap.cause.system_down",
  camera_disabled: "gap.cause.camera_disabled",
  retention: "gap.cause.retention",
};

const grid = document.getElementById("playback-grid");
const timeline = document.getElementById("timeline");
const axis = document.getElementById("tl-axis");
const clockNode = document.querySelector('[data-testid="playback-clock"]');
const rangeNode = document.getElementById("playback-range");
const reasonInput = document.getElementById("playback-reason");
const basisInput = document.getElementById("playback-basis"); // only for those who may export
const addSelect = document.getElementById("playback-add");
const eventList = document.getElementById("event-list");
const gapList = document.getElementById("gap-list");

const params = new URLSearchParams(location.search);
const state = {
  ids: (boot.cameraIds || []).slice(0, MAX_CAMERAS),
  start: null,
  end: null,
  focus: null, // wall-clock ms to open at
  tiles: [],
  cameras: new Map(),
};

function causeLabel(cause) {
  return CAUSE_KEYS[cause] ? t(CAUSE_KEYS[cause]) : String(cause || "");
}

function isoParam(ms) {
  return new Date(ms).toISOString();
}

/** A time from the query string; a "+" of an offset that arrived unencoded reads as a space. */
function timeParam(name) {
  const v = params.get(name);
  return v ? parseUtc(v.trim().replace(/ (\d\d:?\d\d)$/, "+$1")) : null;
}

function initialRange() {
  const now = Date.now();
  const at = timeParam("t");
  const start = timeParam("start");
  const end = timeParam("end");
  if (at) {
    // from an event: its clip start, with the minutes around it on the timeline
    state.focus = start ? start.getTime() : at.getTime() - (boot.clipPreS || 5) * 1000;
    state.start = at.getTime() - EVENT_CONTEXT_S * 1000;
    state.end = Math.min(now, at.getTime() + EVENT_CONTEXT_S * 1000);
  } else if (start && end && start < end) {
    state.start = start.getTime();
    state.end = end.getTime();
    state.focus = state.start;
  } else {
    state.end = now;
    state.start = now - 3600 * 1000;
  }
  if (state.end <= state.start) state.end = state.start + 60 * 1000;
}

// ---------------------------------------------------------------------------------------------
// Wall clock <-> media time, from the fragments hls.js parsed out of the playlist.

function wallToMedia(tile, wall) {
  for (const f of tile.frags) {
    if (wall >= f.pdt && wall < f.pdt + f.duration * 1000) return f.start + (wall - f.pdt) / 1000;
  }
  return null;
}

function mediaToWall(tile, media) {
  for (const f of tile.frags) {
    if (media >= f.start && media < f.start + f.duration + 0.05) return f.pdt + (media - f.start) * 1000;
  }
  return null;
}

/** The first recorded moment at or after `wall` (for a click that lands in a gap). */
function nextRecorded(tile, wall) {
  const f = tile.frags.find((x) => x.pdt + x.duration * 1000 > wall);
  return f ? Math.max(wall, f.pdt) : null;
}

// ---------------------------------------------------------------------------------------------
// Players.

function playlistUrl(id) {
  const q = new URLSearchParams({ start: isoParam(state.start), end: isoParam(state.end) });
  if (reasonInput.value.trim()) q.set("reason", reasonInput.value.trim());
  return `/api/cameras/${encodeURIComponent(id)}/playback.m3u8?${q}`;
}

// A masked tile's download is the masked copy taken away: an export like any other (same basis).
function exportUrl(tile) {
  const masked = tile.maskedRange;
  const q = new URLSearchParams({
    start: isoParam(masked ? masked.start : state.start),
    end: isoParam(masked ? masked.end : state.end),
  });
  if (reasonInput.value.trim()) q.set("reason", reasonInput.value.trim());
  if (basisInput && basisInput.value.trim()) q.set("legal_basis_id", basisInput.value.trim());
  if (masked) q.set("download", "true");
  return `/api/cameras/${encodeURIComponent(tile.id)}/${masked ? "masked" : "export"}.mp4?${q}`;
}

// A clip download is an export of footage: it needs a registered legal basis allowing "export"
// (the server refuses without one). The link stays visible but says so until one is given.
function exportReady() {
  return !basisInput || basisInput.value.trim() !== "";
}

function refreshExportLinks() {
  for (const tile of state.tiles) {
    if (!tile.exportLink) continue;
    tile.exportLink.href = exportUrl(tile);
    tile.exportLink.setAttribute("aria-disabled", exportReady() ? "false" : "true");
    tile.exportLink.title = exportReady() ? "" : t("playback.basis_needed");
  }
}

// The bases valid now that allow export, as suggestions (those who may read the registry: heads,
// investigators); anyone may type an id the case's investigator gave them.
async function fillBases() {
  const list = document.getElementById("playback-bases");
  if (!basisInput || !list) return;
  try {
    const bases = (await api("/api/legal-bases?valid=true")).filter((b) => b.purposes.includes("export"));
    list.replaceChildren(...bases.map((b) => h("option", { value: b.id }, basisOption(b))));
  } catch {
    /* no read access to the registry: the id is typed */
  }
}

function setOverlay(tile, key) {
  tile.overlay.hidden = !key;
  tile.overlay.textContent = key ? t(key) : "";
  tile.node.dataset.state = key ? "idle" : "playing";
}

function buildTile(id, index) {
  const video = h("video", { class: "playback-video", playsinline: true, muted: index > 0, "data-testid": "playback-video" });
  video.muted = index > 0;
  video.controls = index === 0;
  const overlay = h("div", { class: "playback-overlay", "data-testid": "playback-overlay" }, t("playback.loading"));
  const title = h("a", { href: `/cameras/${encodeURIComponent(id)}`, class: "playback-name" }, id);
  const exportLink = can("playback.export")
    ? h("a", { class: "btn btn-ghost btn-small", "data-testid": "export-link", download: "" }, t("playback.export"))
    : null;
  const remove = index > 0 ? h("button", { type: "button", class: "btn btn-ghost btn-small" }, t("playback.remove")) : null;
  const node = h(
    "div",
    { class: "playback-tile", "data-testid": "playback-tile", dataset: { camera: id } },
    h("div", { class: "panel-head" }, title, h("span", { class: "spacer" }), exportLink, remove),
    h("div", { class: "playback-wrap" }, video, overlay),
  );
  if (exportLink) {
    exportLink.addEventListener("click", (ev) => {
      if (node.dataset.masked === "true" || exportReady()) return;
      ev.preventDefault();
      toast(t("playback.basis_needed"), { error: true });
      basisInput.focus();
    });
  }
  const tile = { id, node, video, overlay, title, exportLink, hls: null, frags: [], ready: false, timeline: null };
  if (remove) remove.addEventListener("click", () => removeCamera(id));
  return tile;
}

function startPlayer(tile) {
  if (tile.hls) tile.hls.destroy();
  tile.maskedRange = null;
  tile.frags = [];
  tile.ready = false;
  if (tile.exportLink) {
    tile.exportLink.href = exportUrl(tile);
    tile.exportLink.setAttribute("aria-disabled", exportReady() ? "false" : "true");
  }
  if (!Hls.isSupported()) {
    setOverlay(tile, "playback.unsupported");
    return;
  }
  const hls = new Hls({ enableWorker: false, maxBufferLength: 20, backBufferLength: 30 });
  tile.hls = hls;
  hls.on(Hls.Events.LEVEL_LOADED, (_e, data) => {
    tile.frags = data.details.fragments.map((f) => ({ start: f.start, duration: f.duration, pdt: f.programDateTime }));
    tile.ready = true;
    setOverlay(tile, "");
    tile.node.dataset.ready = "true";
    if (tile === state.tiles[0] && state.focus !== null) seekAll(state.focus, { play: false });
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (!data.fatal) return;
    const code = data.response && data.response.code;
    if (code === 404) setOverlay(tile, "playback.nothing");
    else if (code === 403) setOverlay(tile, "playback.forbidden");
    else if (code === 410) setOverlay(tile, "playback.damaged");
    else {
      setOverlay(tile, "playback.failed");
      toast(t("common.error", { detail: data.details || data.type }), { error: true });
    }
    tile.node.dataset.error = String(code || data.details || "error");
    hls.destroy();
    tile.hls = null;
  });
  hls.loadSource(playlistUrl(tile.id));
  hls.attachMedia(tile.video);
}

function seekAll(wall, { play = true } = {}) {
  const master = state.tiles[0];
  if (!master || !master.ready) {
    state.focus = wall;
    return;
  }
  let target = wall;
  if (wallToMedia(master, target) === null) {
    const next = nextRecorded(master, target);
    if (next === null) {
      toast(t("playback.not_recorded"));
      return;
    }
    target = next;
  }
  state.focus = null;
  for (const tile of state.tiles) {
    const media = tile.ready ? wallToMedia(tile, target) : null;
    if (media === null) continue;
    tile.video.currentTime = media;
  }
  timeline.dataset.seekedTo = String(target);
  if (play) master.video.play().catch(() => {});
}

function syncFollowers() {
  const master = state.tiles[0];
  if (!master || !master.ready) return;
  const wall = mediaToWall(master, master.video.currentTime);
  if (wall === null) return;
  clockNode.textContent = formatDateTime(new Date(wall).toISOString());
  clockNode.dataset.wall = String(Math.round(wall));
  placeCursor(wall);
  master.node.dataset.wall = String(Math.round(wall));
  for (const tile of state.tiles.slice(1)) {
    if (!tile.ready) continue;
    const own = mediaToWall(tile, tile.video.currentTime);
    if (own !== null) tile.node.dataset.wall = String(Math.round(own));
    const media = wallToMedia(tile, wall);
    if (media === null) {
      if (!tile.video.paused) tile.video.pause();
      setOverlay(tile, "playback.not_recorded");
      continue;
    }
    setOverlay(tile, "");
    if (Math.abs(tile.video.currentTime - media) > DRIFT_S) tile.video.currentTime = media;
    if (master.video.paused !== tile.video.paused) {
      if (master.video.paused) tile.video.pause();
      else tile.video.play().catch(() => {});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Timeline.

function pct(ms) {
  return ((ms - state.start) / (state.end - state.start)) * 100;
}

function placeCursor(wall) {
  for (const c of timeline.querySelectorAll(".tl-cursor")) {
    c.style.left = `${Math.max(0, Math.min(100, pct(wall)))}%`;
    c.hidden = false;
  }
}

function bar(cls, a, b, attrs = {}) {
  const left = Math.max(0, pct(a));
  const right = Math.min(100, pct(b));
  return h("span", { class: cls, style: { left: `${left}%`, width: `${Math.max(0.2, right - left)}%` }, ...attrs });
}

function drawAxis() {
  axis.replaceChildren();
  const span = state.end - state.start;
  const steps = [5e3, 10e3, 30e3, 60e3, 300e3, 600e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3];
  const step = steps.find((s) => span / s <= 8) || steps[steps.length - 1];
  for (let tick = Math.ceil(state.start / step) * step; tick <= state.end; tick += step) {
    axis.append(h("span", { class: "tl-tick", style: { left: `${pct(tick)}%` } }, formatTime(new Date(tick).toISOString())));
  }
}

function drawRow(tile) {
  const data = tile.timeline;
  const track = h("div", { class: "tl-track", dataset: { camera: tile.id } });
  const now = Date.now();
  for (const s of data.spans) track.append(bar("tl-span", parseUtc(s.start).getTime(), parseUtc(s.end).getTime(), { "data-testid": "tl-span" }));
  for (const g of data.gaps) {
    const a = parseUtc(g.start).getTime();
    const b = g.end ? parseUtc(g.end).getTime() : now;
    const title = `${causeLabel(g.cause)}: ${formatDateTime(g.start)} – ${g.end ? formatDateTime(g.end) : t("gap.open")}\n${g.detail || ""}`;
    track.append(bar("tl-gap", a, b, { title, "data-testid": "tl-gap", dataset: { cause: g.cause } }));
  }
  for (const e of data.events) {
    const at = parseUtc(e.ts).getTime();
    const mark = h("button", {
      type: "button",
      class: `tl-event sev-${e.severity}`,
      style: { left: `${pct(at)}%` },
      title: `${kindLabel(e.kind)} · ${formatDateTime(e.ts)}`,
      "data-testid": "tl-event",
      dataset: { eventId: e.id },
    });
    mark.addEventListener("click", (ev) => {
      ev.stopPropagation();
      seekAll(at - (boot.clipPreS || 5) * 1000);
    });
    track.append(mark);
  }
  track.append(h("span", { class: "tl-cursor", hidden: true }));
  track.addEventListener("click", (ev) => {
    const r = track.getBoundingClientRect();
    seekAll(state.start + ((ev.clientX - r.left) / r.width) * (state.end - state.start));
  });
  const row = h("div", { class: "tl-row", "data-testid": "timeline-row", dataset: { camera: tile.id } }, h("span", { class: "tl-label" }, tile.title.textContent), track);
  timeline.querySelector(`.tl-row[data-camera="${CSS.escape(tile.id)}"]`)?.remove();
  timeline.append(row);
}

function drawLists() {
  const events = state.tiles.flatMap((tl) => (tl.timeline ? tl.timeline.events.map((e) => ({ ...e, tile: tl })) : []));
  events.sort((a, b) => (a.ts < b.ts ? -1 : 1));
  eventList.replaceChildren(
    ...events.map((e) => {
      const at = parseUtc(e.ts).getTime();
      const item = h(
        "li",
        { "data-testid": "playback-event", dataset: { eventId: e.id } },
        h("button", { type: "button", class: "linklike" }, `${formatTime(e.ts)} · ${kindLabel(e.kind)}`),
        state.tiles.length > 1 ? h("span", { class: "muted" }, ` · ${e.tile.title.textContent}`) : null,
      );
      item.querySelector("button").addEventListener("click", () => seekAll(at - (boot.clipPreS || 5) * 1000));
      return item;
    }),
  );
  document.getElementById("events-empty").hidden = events.length > 0;
  const gaps = state.tiles.flatMap((tl) => (tl.timeline ? tl.timeline.gaps.map((g) => ({ ...g, tile: tl })) : []));
  gapList.replaceChildren(
    ...gaps.map((g) =>
      h(
        "li",
        { "data-testid": "gap-item", dataset: { cause: g.cause }, title: g.detail || "" },
        h("strong", null, causeLabel(g.cause)),
        ` · ${formatTime(g.start)} – ${g.end ? formatTime(g.end) : t("gap.open")}`,
        state.tiles.length > 1 ? ` · ${g.tile.title.textContent}` : "",
        g.detail ? h("div", { class: "muted" }, g.detail) : null,
      ),
    ),
  );
  document.getElementById("gaps-empty").hidden = gaps.length > 0;
}

// ---------------------------------------------------------------------------------------------

async function loadTile(tile) {
  const q = new URLSearchParams({ start: isoParam(state.start), end: isoParam(state.end) });
  try {
    const [cam, data] = await Promise.all([
      state.cameras.get(tile.id) || api(`/api/cameras/${encodeURIComponent(tile.id)}`),
      api(`/api/cameras/${encodeURIComponent(tile.id)}/timeline?${q}`),
    ]);
    state.cameras.set(tile.id, cam);
    tile.title.textContent = cam.name || tile.id;
    tile.timeline = data;
  } catch (err) {
    const key = err instanceof ApiError && err.status === 403 ? "playback.forbidden" : err instanceof ApiError && err.status === 404 ? "camera.not_found" : "playback.failed";
    setOverlay(tile, key);
    tile.node.dataset.error = String(err.status || "error");
    return;
  }
  drawRow(tile);
  if (tile.timeline.spans.length === 0) setOverlay(tile, "playback.nothing");
  else if (tile.timeline.privacy && tile.timeline.privacy.masked) startMasked(tile);
  else startPlayer(tile);
}

// A camera with privacy masks, for a viewer without an unmask grant: the raw playlist is refused
// (403), so the tile plays the masked copy (masks burnt in, re-encoded on request) of the last
// recorded minutes of the range, at most privacy.masked_max_minutes.
function startMasked(tile) {
  if (tile.hls) tile.hls.destroy();
  tile.hls = null;
  const spans = tile.timeline.spans.map((s) => [Date.parse(s.start), Date.parse(s.end)]);
  const end = Math.min(state.end, Math.max(...spans.map((s) => s[1])));
  const start = Math.max(state.start, end - tile.timeline.privacy.masked_max_minutes * 60000);
  const first = spans.filter((s) => s[1] > start).map((s) => Math.max(s[0], start))[0] ?? start;
  const q = new URLSearchParams({ start: isoParam(start), end: isoParam(end) });
  if (reasonInput.value.trim()) q.set("reason", reasonInput.value.trim());
  const url = `/api/cameras/${encodeURIComponent(tile.id)}/masked.mp4?${q}`;
  tile.maskedRange = { start, end };
  refreshExportLinks();
  tile.frags = [{ start: 0, duration: (end - first) / 1000, pdt: first }];
  tile.node.dataset.masked = "true";
  setOverlay(tile, "playback.masked");
  tile.video.addEventListener(
    "loadeddata",
    () => {
      tile.ready = true;
      tile.node.dataset.ready = "true";
      setOverlay(tile, "");
      tile.overlay.title = t("playback.masked");
    },
    { once: true },
  );
  tile.video.addEventListener("error", () => setOverlay(tile, "playback.failed"), { once: true });
  tile.video.src = url;
}

async function reload() {
  rangeNode.textContent = `${formatDateTime(isoParam(state.start))} – ${formatDateTime(isoParam(state.end))}`;
  drawAxis();
  for (const row of timeline.querySelectorAll(".tl-row")) row.remove();
  await Promise.all(state.tiles.map(loadTile));
  drawLists();
  const q = new URLSearchParams({ start: isoParam(state.start), end: isoParam(state.end) });
  if (state.tiles.length > 1) q.set("cameras", state.ids.slice(1).join(","));
  history.replaceState(null, "", `${location.pathname}?${q}`);
}

function setCameras(ids) {
  for (const tile of state.tiles) tile.hls?.destroy();
  state.ids = ids.slice(0, MAX_CAMERAS);
  state.tiles = state.ids.map(buildTile);
  grid.replaceChildren(...state.tiles.map((tl) => tl.node));
  grid.dataset.count = String(state.tiles.length);
}

function removeCamera(id) {
  setCameras(state.ids.filter((x) => x !== id));
  reload();
}

function shiftRange(direction) {
  const span = state.end - state.start;
  state.start += direction * span;
  state.end = Math.min(Date.now(), state.start + span);
  reload();
}

async function fillCameraPicker() {
  try {
    const cams = await api("/api/cameras");
    for (const c of cams) state.cameras.set(c.id, c);
    addSelect.append(...cams.map((c) => h("option", { value: c.id }, c.name || c.id)));
  } catch {
    addSelect.disabled = true;
  }
}

function main() {
  startApp();
  initialRange();
  setCameras(state.ids);
  for (const btn of document.querySelectorAll("[data-range]")) {
    btn.addEventListener("click", () => {
      state.end = Date.now();
      state.start = state.end - Number(btn.dataset.range) * 1000;
      reload();
    });
  }
  document.getElementById("range-earlier").addEventListener("click", () => shiftRange(-1));
  document.getElementById("range-later").addEventListener("click", () => shiftRange(1));
  document.getElementById("playback-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const add = addSelect.value;
    if (add && !state.ids.includes(add) && state.ids.length < MAX_CAMERAS) setCameras([...state.ids, add]);
    addSelect.value = "";
    reload();
  });
  if (basisInput) basisInput.addEventListener("input", refreshExportLinks);
  setInterval(syncFollowers, SYNC_MS);
  fillCameraPicker();
  fillBases();
  reload();
}

main();
