// One event as a list item (event feed and camera page): snapshot with motion boxes drawn over
// it, kind, severity, Bishkek time, camera/site/region, a one-line summary of the payload.

import { alertSummary } from "./alerts.js";
import { can, cameraUrl, formatDateTime, formatNumber1, formatTime, h, kindLabel, regionLabel, severityLabel, t } from "./core.js";

const SCALAR_SUMMARY_LIMIT = 3;

function motionSummary(payload) {
  const parts = [];
  const boxes = Array.isArray(payload.boxes) ? payload.boxes.length : 0;
  parts.push(t("events.boxes", { n: boxes }));
  if (typeof payload.area === "number") {
    const pct = payload.area <= 1 ? payload.area * 100 : payload.area;
    parts.push(t("events.area", { pct: formatNumber1(pct) }));
  }
  return parts.join(" · ");
}

function genericSummary(payload) {
  const parts = [];
  for (const [k, v] of Object.entries(payload || {})) {
    if (parts.length >= SCALAR_SUMMARY_LIMIT) break;
    if (v === null || typeof v === "object") continue;
    parts.push(`${k}: ${typeof v === "number" && !Number.isInteger(v) ? formatNumber1(v) : v}`);
  }
  return parts.join(" · ");
}

function motionEndSummary(payload) {
  const parts = [];
  if (typeof payload.duration_s === "number") parts.push(t("events.duration", { s: formatNumber1(payload.duration_s) }));
  if (typeof payload.peak_area === "number") {
    const pct = payload.peak_area <= 1 ? payload.peak_area * 100 : payload.peak_area;
    parts.push(t("events.area", { pct: formatNumber1(pct) }));
  }
  return parts.join(" · ");
}

function cameraStateSummary(payload) {
  const parts = [];
  if (payload.error) parts.push(String(payload.error));
  if (typeof payload.reconnects === "number" && payload.reconnects > 0) parts.push(t("events.reconnects", { n: payload.reconnects }));
  return parts.join(" · ");
}

/** Rule events (alerts, crossings, entries): the rule's name, then what it saw. */
function ruleSummary(payload) {
  return [payload.rule_name || payload.rule, alertSummary(payload)].filter(Boolean).join(" · ");
}

export function eventSummary(ev) {
  const payload = ev.payload || {};
  if (ev.kind === "alert" || ev.kind === "track_crossed" || ev.kind === "track_entered") return ruleSummary(payload);
  if (ev.kind === "motion") return motionSummary(payload);
  if (ev.kind === "motion_end") return motionEndSummary(payload);
  if (ev.kind === "camera_offline" || ev.kind === "camera_online") return cameraStateSummary(payload);
  return genericSummary(payload);
}

/** Boxes given in 0..1 frame coordinates, drawn as percentages over the snapshot. */
function boxOverlay(boxes) {
  const layer = h("div", { class: "boxes", "aria-hidden": "true" });
  for (const b of boxes) {
    if (!Array.isArray(b) || b.length < 4) continue;
    const [x, y, w, hgt] = b.map(Number);
    if (![x, y, w, hgt].every(Number.isFinite)) continue;
    layer.append(
      h("span", {
        class: "box",
        style: { left: `${x * 100}%`, top: `${y * 100}%`, width: `${w * 100}%`, height: `${hgt * 100}%` },
      }),
    );
  }
  return layer;
}

function snapshotThumb(ev) {
  const src = ev.media && ev.media.snapshot;
  if (!src) return h("div", { class: "thumb thumb-empty", "data-testid": "event-no-snapshot" }, t("events.no_snapshot"));
  const img = h("img", {
    src,
    alt: t("events.snapshot_alt", { kind: kindLabel(ev.kind) }),
    loading: "lazy",
    decoding: "async",
    "data-testid": "event-snapshot",
  });
  const link = h("a", { class: "thumb", href: src, target: "_blank", rel: "noopener", title: t("events.open_snapshot") }, img);
  const boxes = ev.payload && Array.isArray(ev.payload.boxes) ? ev.payload.boxes : [];
  if (boxes.length) link.append(boxOverlay(boxes));
  img.addEventListener("load", () => {
    if (img.naturalWidth && img.naturalHeight) link.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
  });
  img.addEventListener("error", () => {
    link.replaceWith(h("div", { class: "thumb thumb-empty" }, t("events.no_snapshot")));
  });
  return link;
}

/** A link to the recorded footage around the event (its clip), for those who may play back. */
function footageLink(ev) {
  if (!ev.clip || !can("playback.view")) return null;
  return h("a", { class: "event-footage", href: ev.clip.page, "data-testid": "event-footage" }, t("events.footage"));
}

/**
 * Render one event. `cameras` maps camera id -> camera (for its name); `showCamera` false on
 * the camera page, where every event is that camera's.
 */
export function renderEvent(ev, { cameras = new Map(), showCamera = true, fresh = false } = {}) {
  const cam = cameras.get(ev.camera);
  const sev = ev.severity || "info";
  const when = h("time", { datetime: ev.ts, title: formatDateTime(ev.ts), "data-testid": "event-time" }, formatTime(ev.ts));
  const where = [];
  if (showCamera && ev.camera) {
    where.push(h("a", { href: cameraUrl(ev.camera), "data-testid": "event-camera" }, cam ? cam.name : ev.camera));
  }
  const site = (cam && cam.site_name) || ev.site;
  if (site) where.push(h("span", null, site));
  if (ev.region) where.push(h("span", { class: "muted" }, regionLabel(ev.region)));
  const summary = eventSummary(ev);
  return h(
    "li",
    {
      class: `event sev-${sev}${fresh ? " fresh" : ""}`,
      "data-testid": "event-item",
      dataset: { eventId: ev.id, kind: ev.kind, camera: ev.camera || "" },
    },
    snapshotThumb(ev),
    h(
      "div",
      { class: "event-body" },
      h(
        "div",
        { class: "event-head" },
        h("span", { class: "event-kind", "data-testid": "event-kind" }, kindLabel(ev.kind)),
        h("span", { class: `badge sev sev-${sev}` }, severityLabel(sev)),
        h("span", { class: "spacer" }),
        when,
      ),
      where.length ? h("div", { class: "event-where" }, ...where.flatMap((n, i) => (i ? [" · ", n] : [n]))) : null,
      footageLink(ev),
      summary ? h("div", { class: "event-summary muted" }, summary) : null,
    ),
  );
}

/** Refresh the relative/clock text of rendered times (e.g. after midnight the date appears). */
export function refreshTimes(root) {
  for (const node of root.querySelectorAll('time[data-testid="event-time"]')) {
    node.textContent = formatTime(node.getAttribute("datetime"));
  }
}
