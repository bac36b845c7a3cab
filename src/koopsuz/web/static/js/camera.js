// Camera page: low-latency live view of the sub stream (MJPEG in an <img>), the camera's facts
// and health (live), its alerts with the operator's verdict (live), its rules (drawn over a still
// frame; editable with cameras.write) and its recent events with snapshots (live).

import { pollHealthWithoutFeed, startApp } from "./app.js";
import {
  ApiError,
  api,
  boot,
  can,
  formatAgo,
  formatDateTime,
  formatInt,
  formatNumber1,
  formatSeconds,
  h,
  parseUtc,
  regionLabel,
  siteTypeLabel,
  stateClass,
  stateLabel,
  t,
  toast,
} from "./core.js";
import { AlertList } from "./alerts.js";
import { refreshTimes, renderEvent } from "./eventview.js";
import { RulesEditor } from "./rules_editor.js";

const RECENT = 20;
const MAX_ITEMS = 40;
const HIDDEN_STOP_MS = 10000; // a tab left in the background stops pulling video
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

const id = boot.cameraId;
const base = `/api/cameras/${encodeURIComponent(id)}`;

const img = document.getElementById("live-view");
const overlay = document.getElementById("live-overlay");
const wrap = document.getElementById("live-wrap");
const toggleBtn = document.getElementById("live-toggle");
const frameLink = document.getElementById("frame-link");
const fullBtn = document.getElementById("live-fullscreen");
const nameNode = document.querySelector('[data-testid="camera-name"]');
const stateNode = document.querySelector('[data-testid="camera-state"]');
const siteNode = document.querySelector('[data-testid="camera-site"]');
const healthNode = document.querySelector('[data-testid="camera-health"]');
const factsNode = document.querySelector('[data-testid="camera-facts"]');
const list = document.getElementById("event-list");
const emptyNote = document.getElementById("events-empty");

let camera = null;
const seen = new Set();
const alertNode = document.getElementById("alert-list");
const alerts = alertNode ? new AlertList(alertNode, document.getElementById("alerts-empty"), { camera: id, showCamera: false, max: 20 }) : null;

// ---------------------------------------------------------------------------------------------
// Live view.

const live = {
  wanted: true, // the operator has not paused it
  running: false,
  attempt: 0,
  retryTimer: null,
  hiddenTimer: null,
};

function showOverlay(key, state) {
  overlay.hidden = !key;
  overlay.textContent = key ? t(key) : "";
  overlay.dataset.state = state || "";
  wrap.dataset.state = state || "live";
}

function startStream() {
  clearTimeout(live.retryTimer);
  live.running = true;
  if (!img.src || !img.complete) showOverlay("camera.live.connecting", "connecting");
  img.src = `${base}/live.mjpeg?t=${Date.now()}`;
}

/** Close the MJPEG connection; keep a still of the moment (or nothing, for a disabled camera). */
function stopStream({ still = true } = {}) {
  clearTimeout(live.retryTimer);
  live.running = false;
  if (still && img.getAttribute("src")) img.src = `${base}/frame.jpg?t=${Date.now()}`;
  else img.removeAttribute("src");
}

img.addEventListener("load", () => {
  if (!live.running) return;
  live.attempt = 0;
  if (camera && camera.health && camera.health.state === "offline") showOverlay("camera.live.offline", "offline");
  else showOverlay("", "live");
});

img.addEventListener("error", () => {
  if (!live.running || !img.getAttribute("src")) return;
  const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** live.attempt);
  live.attempt += 1;
  showOverlay("camera.live.reconnecting", "reconnecting");
  live.retryTimer = setTimeout(() => {
    if (live.running) startStream();
  }, delay);
});

function setWanted(wanted) {
  live.wanted = wanted;
  toggleBtn.textContent = wanted ? t("camera.live.pause") : t("camera.live.resume");
  toggleBtn.setAttribute("aria-pressed", String(!wanted));
  if (wanted) startStream();
  else {
    stopStream();
    showOverlay("camera.live.paused", "paused");
  }
}

document.addEventListener("visibilitychange", () => {
  clearTimeout(live.hiddenTimer);
  if (document.visibilityState === "hidden") {
    live.hiddenTimer = setTimeout(() => {
      if (live.running) {
        stopStream();
        showOverlay("camera.live.paused", "paused");
      }
    }, HIDDEN_STOP_MS);
  } else if (live.wanted && !live.running) {
    startStream();
  }
});

// ---------------------------------------------------------------------------------------------
// Facts and health.

function dl(node, rows) {
  node.replaceChildren(...rows.flatMap(([k, v, testid]) => [h("dt", null, k), h("dd", testid ? { "data-testid": testid } : null, v ?? "—")]));
}

function yesNo(v) {
  return v ? t("common.yes") : t("common.no");
}

function renderFacts(cam) {
  const pos = typeof cam.lat === "number" && typeof cam.lon === "number" ? `${cam.lat.toFixed(5)}, ${cam.lon.toFixed(5)}` : "—";
  dl(factsNode, [
    [t("camera.field.id"), cam.id],
    [t("camera.field.site"), [cam.site_name || cam.site, siteTypeLabel(cam.site_type)].filter(Boolean).join(" · ")],
    [t("camera.field.region"), regionLabel(cam.region)],
    [t("camera.field.position"), pos],
    [t("camera.field.heading"), cam.heading === null || cam.heading === undefined ? "—" : `${formatInt(cam.heading)}°`],
    [t("camera.field.fov"), cam.fov === null || cam.fov === undefined ? "—" : `${formatInt(cam.fov)}°`],
    [t("camera.field.ptz"), yesNo(cam.ptz)],
    [t("camera.field.profile"), cam.profile || "—"],
    [t("camera.field.enabled"), yesNo(cam.enabled)],
  ]);
}

function renderHealth(cam) {
  const hl = cam.health || {};
  stateNode.className = `badge ${stateClass(hl.state)}`;
  stateNode.textContent = stateLabel(hl.state);
  stateNode.dataset.state = hl.state || "unknown";
  dl(healthNode, [
    [t("health.state"), stateLabel(hl.state), "health-state"],
    [t("health.since"), hl.since ? `${formatDateTime(hl.since)} (${formatAgo(hl.since)})` : "—"],
    [t("health.fps"), formatNumber1(hl.fps), "health-fps"],
    [t("health.lag"), formatSeconds(hl.lag_s)],
    [t("health.last_frame"), hl.last_frame_at ? `${formatDateTime(hl.last_frame_at)} (${formatAgo(hl.last_frame_at)})` : "—"],
    [t("health.reconnects"), formatInt(hl.reconnects)],
    [t("health.error"), hl.error || "—"],
    [t("camera.recording"), recordingLabel(cam.recording), "health-recording"],
  ]);
}

const RECORDER_KEYS = {
  recording: "recorder.recording",
  starting: "recorder.starting",
  retrying: "recorder.retrying",
  stopped: "recorder.stopped",
  off: "recorder.off",
};

/** The recorder's state, and why it is not recording (the gap cause) when it is retrying. */
function recordingLabel(rec) {
  if (!rec || !RECORDER_KEYS[rec.state]) return "—";
  const label = t(RECORDER_KEYS[rec.state]);
  return rec.state === "retrying" && rec.detail ? `${label}: ${rec.detail}` : label;
}

function onHealth(cameraId, health) {
  if (!camera || cameraId !== camera.id || camera.owner_domain) return;
  const before = (camera.health || {}).state;
  camera.health = { ...(camera.health || {}), ...health };
  renderHealth(camera);
  const now = camera.health.state;
  if (now === "offline" && live.running) showOverlay("camera.live.offline", "offline");
  if (now === "disabled") {
    stopStream({ still: false });
    showOverlay("camera.live.disabled", "offline");
  }
  if (now === "online" && before !== "online" && live.wanted && can("live.view")) {
    // The camera is back: reconnect at once rather than waiting for the backoff.
    live.attempt = 0;
    startStream();
  }
}

// ---------------------------------------------------------------------------------------------
// Events.

function cameraMap() {
  return new Map([[camera.id, camera]]);
}

function updateEmpty() {
  emptyNote.hidden = list.children.length > 0;
}

function onEvent(ev) {
  if (!camera || !ev || ev.camera !== camera.id || seen.has(ev.id)) return;
  if (alerts) alerts.add(ev);
  seen.add(ev.id);
  list.prepend(renderEvent(ev, { cameras: cameraMap(), showCamera: false, fresh: true }));
  while (list.children.length > MAX_ITEMS) {
    seen.delete(list.lastElementChild.dataset.eventId);
    list.lastElementChild.remove();
  }
  updateEmpty();
}

async function loadEvents() {
  const events = await api(`/api/events?${new URLSearchParams({ camera: id, limit: String(RECENT) })}`);
  const frag = document.createDocumentFragment();
  for (const ev of events) {
    if (seen.has(ev.id)) continue;
    seen.add(ev.id);
    frag.append(renderEvent(ev, { cameras: cameraMap(), showCamera: false }));
  }
  list.append(frag);
  updateEmpty();
}

// ---------------------------------------------------------------------------------------------

// A camera of this node: its health, rules editor and live view.
function startLocal(feed) {
  renderHealth(camera);
  pollHealthWithoutFeed(feed, onHealth, base);
  const rulesCard = document.querySelector('[data-testid="rules-card"]');
  const still = camera.enabled !== false && camera.health.state !== "disabled";
  new RulesEditor(rulesCard, id, { liveView: img, still }).start().catch((err) => {
    rulesCard.dataset.error = String(err.status || "error");
    toast(t("common.error", { detail: err.message }), { error: true });
  });
  if (camera.enabled === false || camera.health.state === "disabled") {
    // Nothing to pull; a health message saying "online" starts the view (see onHealth).
    live.running = false;
    showOverlay("camera.live.disabled", "offline");
  } else if (can("live.view")) startStream();
  else {
    live.wanted = false;
    toggleBtn.hidden = true;
    frameLink.hidden = true;
    fullBtn.hidden = true;
    showOverlay("camera.live.forbidden", "error");
  }
}

async function main() {
  const feed = startApp();
  const pending = [];
  feed.on("event", (ev) => (camera ? onEvent(ev) : pending.push(ev)));
  feed.on("health", onHealth);
  frameLink.href = `${base}/frame.jpg`;
  const playbackLink = document.getElementById("playback-link");
  if (playbackLink) playbackLink.href = `/cameras/${encodeURIComponent(id)}/playback`;
  document.getElementById("camera-events-link").href = `/events?camera=${encodeURIComponent(id)}`;
  toggleBtn.addEventListener("click", () => setWanted(!live.wanted));
  fullBtn.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else wrap.requestFullscreen?.();
  });
  setInterval(() => {
    if (camera) renderHealth(camera);
    refreshTimes(list);
    if (alertNode) refreshTimes(alertNode);
  }, 5000);

  try {
    camera = await api(base);
  } catch (err) {
    const key = err instanceof ApiError && err.status === 403 ? "camera.forbidden" : err instanceof ApiError && err.status === 404 ? "camera.not_found" : null;
    nameNode.textContent = key ? t(key) : t("common.error", { detail: err.message });
    showOverlay(key || "camera.live.error", "error");
    document.querySelector('[data-testid="camera-page"]').dataset.error = String(err.status || "error");
    document.querySelector('[data-testid="rules-card"]').hidden = true;
    return;
  }
  camera.health = camera.health || {};
  document.title = `${camera.name || camera.id} · ${t("app.name")}`;
  nameNode.textContent = camera.name || camera.id;
  siteNode.textContent = [camera.site_name || camera.site, regionLabel(camera.region)].filter(Boolean).join(" · ");
  renderFacts(camera);
  if (camera.owner_domain) {
    // A regional centre's camera copied to the capital: its stream, recordings, rules and ONVIF address
    // stay in the region (the API answers 409); say where to go instead of showing a dead picture.
    live.wanted = false;
    live.running = false;
    for (const node of [toggleBtn, frameLink, fullBtn, document.getElementById("playback-link")]) {
      if (node) node.hidden = true;
    }
    showOverlay("camera.regional_copy", "offline");
    overlay.textContent = t("camera.regional_copy", { domain: camera.owner_domain });
    document.querySelector('[data-testid="camera-page"]').dataset.regionalCopy = camera.owner_domain;
    document.querySelector('[data-testid="rules-card"]').hidden = true;
    // Its health is what the capital last heard from the region (the API's, services/remote_health.py);
    // the feed's health messages are this node's ingest's, so its camera_offline/online events move it,
    // and a poll catches the region's line going down (stale) or coming back.
    const showCopyHealth = (hl) => {
      camera.health = hl;
      renderHealth(camera);
      stateNode.dataset.stale = hl.stale ? "true" : "false";
      stateNode.title = hl.stale ? t("health.stale_hint", { state: stateLabel(hl.last_state) }) : "";
    };
    const newer = (since) => {
      const now = parseUtc(camera.health.since);
      return !now || !since || parseUtc(since) >= now; // an event may overtake a poll's answer
    };
    showCopyHealth(camera.health);
    const REMOTE = { camera_offline: "offline", camera_online: "online" };
    feed.on("event", (ev) => {
      const state = ev && ev.camera === camera.id && REMOTE[ev.kind];
      if (!state || !newer(ev.ts)) return;
      const error = state === "offline" ? (ev.payload && ev.payload.error) || null : null;
      showCopyHealth({ ...camera.health, state, since: ev.ts, last_state: state, stale: false, error });
    });
    setInterval(async () => {
      try {
        const fresh = (await api(base)).health || {};
        if (newer(fresh.since)) showCopyHealth(fresh);
      } catch {
        /* the next round tries again */
      }
    }, 10000);
  } else startLocal(feed);
  if (!can("events.read")) {
    document.querySelector(".camera-events").hidden = true;
    return;
  }
  try {
    await Promise.all([loadEvents(), alerts ? alerts.load() : null]);
  } catch (err) {
    toast(t("common.error", { detail: err.message }), { error: true });
  }
  for (const ev of pending) onEvent(ev); // arrival order: the newest ends on top
}

main();
