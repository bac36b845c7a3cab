// Event feed: newest first, snapshot thumbnails, filter by camera and kind (kept in the URL),
// new events prepended live from the WebSocket; older ones paged in with ?before=<id>.
// While the operator reads further down (or pauses), new events wait behind a "N new" button.
// Alerts are shown with their rule, clip link and Confirm / Dismiss buttons (alerts.js); the
// "alerts only" switch is the kind filter set to "alert".

import { startApp } from "./app.js";
import { api, can, h, keysWithPrefix, kindLabel, t, toast } from "./core.js";
import { renderAlert } from "./alerts.js";
import { refreshTimes, renderEvent } from "./eventview.js";

const PAGE = 50;
const MAX_ITEMS = 500; // keep the DOM small in a long shift; older events are a click away
const HOLD_SCROLL_PX = 160;

const list = document.getElementById("event-list");
const empty = document.getElementById("events-empty");
const moreBtn = document.getElementById("load-more");
const endNote = document.getElementById("feed-end");
const selCamera = document.getElementById("filter-camera");
const selKind = document.getElementById("filter-kind");
const pauseBtn = document.getElementById("feed-pause");
const newBtn = document.getElementById("feed-new");
const alertsBtn = document.getElementById("alerts-only");

const params = new URLSearchParams(location.search);
const filter = { camera: params.get("camera") || "", kind: params.get("kind") || "" };
const cameras = new Map();
const seen = new Set(); // event ids in the list or waiting
let waiting = []; // live events held back, newest last
let paused = false;
let loading = false;
let generation = 0; // bumps when the filter changes; stale responses are dropped

function render(ev, opts) {
  return ev.kind === "alert" ? renderAlert(ev, opts) : renderEvent(ev, opts);
}

function matches(ev) {
  return (!filter.camera || ev.camera === filter.camera) && (!filter.kind || ev.kind === filter.kind);
}

function updateEmpty() {
  empty.hidden = list.children.length > 0;
}

function addKindOption(kind) {
  if (!kind || [...selKind.options].some((o) => o.value === kind)) return;
  selKind.append(h("option", { value: kind }, kindLabel(kind)));
}

function fillFilters() {
  const kinds = new Set(keysWithPrefix("kind."));
  if (filter.kind) kinds.add(filter.kind);
  for (const k of [...kinds].sort((a, b) => kindLabel(a).localeCompare(kindLabel(b)))) addKindOption(k);
  const cams = [...cameras.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  for (const c of cams) selCamera.append(h("option", { value: c.id }, `${c.name}${c.site_name ? ` · ${c.site_name}` : ""}`));
  if (filter.camera && !cameras.has(filter.camera)) selCamera.append(h("option", { value: filter.camera }, filter.camera));
  selCamera.value = filter.camera;
  selKind.value = filter.kind;
  alertsBtn.setAttribute("aria-pressed", String(filter.kind === "alert"));
}

function trim() {
  while (list.children.length > MAX_ITEMS) {
    const last = list.lastElementChild;
    seen.delete(last.dataset.eventId);
    last.remove();
    moreBtn.hidden = false;
    endNote.hidden = true;
  }
}

function prepend(events) {
  // `events` oldest first, so the newest ends up on top.
  for (const ev of events) list.prepend(render(ev, { cameras, fresh: true }));
  trim();
  updateEmpty();
}

function updateNewButton() {
  newBtn.hidden = waiting.length === 0;
  newBtn.textContent = t("events.new_count", { n: waiting.length });
}

function holding() {
  return paused || window.scrollY > HOLD_SCROLL_PX;
}

function flush() {
  if (!waiting.length) return;
  const batch = waiting;
  waiting = [];
  prepend(batch);
  updateNewButton();
}

function onLiveEvent(ev) {
  if (!ev || !ev.id || seen.has(ev.id)) return;
  addKindOption(ev.kind);
  if (!matches(ev)) return;
  seen.add(ev.id);
  waiting.push(ev);
  if (holding() || loading) updateNewButton();
  else flush();
}

async function loadPage({ before = null } = {}) {
  const gen = generation;
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (filter.camera) q.set("camera", filter.camera);
  if (filter.kind) q.set("kind", filter.kind);
  if (before) q.set("before", before);
  loading = true;
  moreBtn.disabled = true;
  try {
    const events = await api(`/api/events?${q}`);
    if (gen !== generation) return;
    const frag = document.createDocumentFragment();
    for (const ev of events) {
      if (seen.has(ev.id)) continue;
      seen.add(ev.id);
      addKindOption(ev.kind);
      frag.append(render(ev, { cameras }));
    }
    list.append(frag);
    const more = events.length >= PAGE;
    moreBtn.hidden = !more;
    endNote.hidden = more || list.children.length === 0;
  } catch (err) {
    if (gen === generation) toast(t("common.error", { detail: err.message }), { error: true });
  } finally {
    if (gen === generation) {
      loading = false;
      moreBtn.disabled = false;
      updateEmpty();
      if (!holding()) flush();
    }
  }
}

function applyFilter() {
  filter.camera = selCamera.value;
  filter.kind = selKind.value;
  const q = new URLSearchParams();
  if (filter.camera) q.set("camera", filter.camera);
  if (filter.kind) q.set("kind", filter.kind);
  history.replaceState(null, "", q.toString() ? `?${q}` : location.pathname);
  alertsBtn.setAttribute("aria-pressed", String(filter.kind === "alert"));
  generation += 1;
  list.replaceChildren();
  seen.clear();
  waiting = waiting.filter(matches);
  for (const ev of waiting) seen.add(ev.id);
  updateNewButton();
  loadPage();
}

async function main() {
  const feed = startApp();
  if (!can("events.read")) {
    empty.textContent = t("events.forbidden");
    empty.hidden = false;
    return;
  }
  feed.on("event", onLiveEvent); // subscribe before the first page so nothing falls in between
  selCamera.addEventListener("change", applyFilter);
  selKind.addEventListener("change", applyFilter);
  alertsBtn.addEventListener("click", () => {
    addKindOption("alert");
    selKind.value = filter.kind === "alert" ? "" : "alert";
    applyFilter();
  });
  moreBtn.addEventListener("click", () => {
    const last = list.lastElementChild;
    if (last) loadPage({ before: last.dataset.eventId });
  });
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    pauseBtn.setAttribute("aria-pressed", String(paused));
    pauseBtn.textContent = paused ? t("events.resume") : t("events.pause");
    if (!paused && !holding()) flush();
  });
  newBtn.addEventListener("click", () => {
    window.scrollTo({ top: 0 });
    flush();
  });
  window.addEventListener(
    "scroll",
    () => {
      if (!holding()) flush();
    },
    { passive: true },
  );
  setInterval(() => refreshTimes(list), 60000);
  try {
    for (const c of await api("/api/cameras")) cameras.set(c.id, c);
  } catch (err) {
    toast(t("common.error", { detail: err.message }), { error: true });
  }
  fillFilters();
  await loadPage();
}

main();
