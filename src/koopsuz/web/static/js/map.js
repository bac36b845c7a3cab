// Map of Kyrgyzstan: oblast boundaries drawn from GeoJSON (no tiles, works offline), the
// operator's regions highlighted, one marker per camera coloured by health, updated live.
// Leaflet (window.L) is loaded by map.html from the vendored copy.

import { pollHealthWithoutFeed, startApp } from "./app.js";
import { ptzPopupSection } from "./ptz_popup.js";
import {
  api,
  cameraUrl,
  formatAgo,
  formatDateTime,
  formatNumber1,
  formatSeconds,
  h,
  lang,
  regionLabel,
  siteTypeLabel,
  stateClass,
  stateLabel,
  t,
  toast,
} from "./core.js";
import { renderStateSummary } from "./summary.js";

const L = window.L;
const STATE_ORDER = { offline: 0, starting: 1, online: 2, disabled: 3 };
const CITY_RADIUS_M = 9000; // regions with no polygon of their own (Osh city) drawn as a disc

const listNode = document.getElementById("camera-list");
const filterInput = document.getElementById("camera-filter");
const countNode = document.querySelector('[data-testid="camera-count"]');
const summaryNode = document.querySelector('[data-testid="state-summary"]');

const cameras = new Map(); // id -> camera
const markers = new Map(); // id -> L.Marker
const items = new Map(); // id -> <li>
let stateFilter = "";
let summaryQueued = false;

const map = L.map("map", {
  zoomSnap: 0.25,
  zoomDelta: 0.5,
  minZoom: 5,
  maxZoom: 18,
  worldCopyJump: false,
  attributionControl: true,
  preferCanvas: false,
});
map.attributionControl.setPrefix(false);
map.attributionControl.addAttribution(t("map.attribution"));
map.setView([41.3, 74.7], 6.5); // the whole country until the data arrives
map.createPane("regions").style.zIndex = 350;

// ---------------------------------------------------------------------------------------------
// Oblasts.

function regionName(r) {
  return r ? r[`name_${lang}`] || r.name_en : "";
}

function drawRegions(geo, regions) {
  const byCode = new Map(regions.map((r) => [r.code, r]));
  const scoped = new Set(regions.filter((r) => r.in_scope).map((r) => r.code));
  const drawn = new Set();
  const layer = L.geoJSON(geo, {
    pane: "regions",
    style: (f) => {
      const inScope = scoped.has(f.properties.iso_3166_2);
      return {
        className: `oblast ${inScope ? "oblast-scope" : "oblast-other"}`,
        color: inScope ? "#58a6ff" : "#56606b",
        weight: inScope ? 2 : 1,
        fillColor: inScope ? "#1f6feb" : "#2a3038",
        fillOpacity: inScope ? 0.22 : 0.45,
      };
    },
    onEachFeature: (f, lyr) => {
      const code = f.properties.iso_3166_2;
      drawn.add(code);
      const r = byCode.get(code);
      lyr.feature.properties.in_scope = scoped.has(code);
      lyr.bindTooltip(regionName(r) || f.properties[`name_${lang}`] || f.properties.name_en, { sticky: true, className: "region-tip" });
    },
  }).addTo(map);
  for (const el of layer.getLayers()) {
    const path = el.getElement && el.getElement();
    if (path) {
      path.dataset.testid = "oblast";
      path.dataset.region = el.feature.properties.iso_3166_2;
      path.dataset.inScope = String(scoped.has(el.feature.properties.iso_3166_2));
    }
  }
  // Regions that the boundary data does not separate (Osh city lies inside Osh region there).
  for (const r of regions) {
    if (drawn.has(r.code) || !Array.isArray(r.centre)) continue;
    const inScope = scoped.has(r.code);
    L.circle(r.centre, {
      pane: "regions",
      radius: CITY_RADIUS_M,
      color: inScope ? "#58a6ff" : "#56606b",
      weight: inScope ? 2 : 1,
      fillColor: inScope ? "#1f6feb" : "#2a3038",
      fillOpacity: inScope ? 0.3 : 0.45,
    })
      .bindTooltip(regionName(r), { sticky: true, className: "region-tip" })
      .addTo(map);
  }
  // Names at the centres, quiet, under the markers.
  for (const r of regions) {
    if (!Array.isArray(r.centre)) continue;
    L.tooltip({ permanent: true, direction: "center", className: `region-label${scoped.has(r.code) ? " in-scope" : ""}`, interactive: false })
      .setLatLng(r.centre)
      .setContent(regionName(r))
      .addTo(map);
  }
  const all = layer.getBounds();
  const scopedLayers = layer.getLayers().filter((l) => scoped.has(l.feature.properties.iso_3166_2));
  let focus = scopedLayers.length ? L.featureGroup(scopedLayers).getBounds() : all;
  for (const r of regions) {
    if (scoped.has(r.code) && !drawn.has(r.code) && Array.isArray(r.centre)) {
      focus = focus.isValid() ? focus.extend(L.latLng(r.centre).toBounds(CITY_RADIUS_M * 4)) : L.latLng(r.centre).toBounds(CITY_RADIUS_M * 4);
    }
  }
  if (all.isValid()) map.setMaxBounds(all.pad(0.6));
  return focus.isValid() ? focus : all;
}

// ---------------------------------------------------------------------------------------------
// Cameras.

function markerHtml(cam) {
  const heading = Number(cam.heading);
  const fov = Math.max(10, Math.min(Number(cam.fov) || 60, 160));
  let wedge = "";
  if (Number.isFinite(heading) && cam.heading !== null) {
    // A field-of-view cone pointing along the heading (degrees clockwise from north).
    const r = 17;
    const a = ((fov / 2) * Math.PI) / 180;
    const x = (r * Math.sin(a)).toFixed(1);
    const y = (-r * Math.cos(a)).toFixed(1);
    wedge = `<svg class="cam-fov" viewBox="-18 -18 36 36" aria-hidden="true"><path d="M0 0 L${-x} ${y} A${r} ${r} 0 0 1 ${x} ${y} Z" transform="rotate(${heading})"/></svg>`;
  }
  return `${wedge}<span class="cam-dot${cam.ptz ? " ptz" : ""}"></span>`;
}

const DOT = 16; // px; the marker's clickable area is the dot, the view cone ignores the pointer
const spread = new Map(); // camera id -> [dx, dy] screen offset for cameras sharing a spot

/** Cameras at (nearly) the same spot, e.g. several on one pole, fan out in a small ring. */
function computeSpread(cams) {
  const groups = new Map();
  for (const cam of cams) {
    if (typeof cam.lat !== "number" || typeof cam.lon !== "number") continue;
    const key = `${cam.lat.toFixed(4)},${cam.lon.toFixed(4)}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(cam);
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    group.sort((a, b) => String(a.id).localeCompare(String(b.id)));
    const r = Math.max(11, (group.length * (DOT + 3)) / (2 * Math.PI));
    group.forEach((cam, i) => {
      const a = (2 * Math.PI * i) / group.length - Math.PI / 2;
      spread.set(cam.id, [Math.round(r * Math.cos(a)), Math.round(r * Math.sin(a))]);
    });
  }
}

function markerIcon(cam) {
  const [dx, dy] = spread.get(cam.id) || [0, 0];
  return L.divIcon({
    className: "cam-marker",
    html: markerHtml(cam),
    iconSize: [DOT, DOT],
    iconAnchor: [DOT / 2 - dx, DOT / 2 - dy],
    popupAnchor: [0, -DOT / 2],
  });
}

function popupContent(cam) {
  const hl = cam.health || {};
  const rows = [
    [t("camera.field.site"), [cam.site_name || cam.site, siteTypeLabel(cam.site_type)].filter(Boolean).join(" · ")],
    [t("camera.field.region"), regionLabel(cam.region)],
    [t("health.since"), hl.since ? `${formatDateTime(hl.since)} (${formatAgo(hl.since)})` : "—"],
  ];
  if (hl.state === "online") rows.push([t("health.fps"), `${formatNumber1(hl.fps)} · ${t("health.lag")} ${formatSeconds(hl.lag_s)}`]);
  if (hl.error) rows.push([t("health.error"), hl.error]);
  return h(
    "div",
    { class: "cam-popup", "data-testid": "camera-popup", dataset: { camera: cam.id } },
    h("div", { class: "cam-popup-head" }, h("b", null, cam.name || cam.id), h("span", { class: `badge ${stateClass(hl.state)}`, "data-testid": "popup-state" }, stateLabel(hl.state))),
    h("dl", { class: "facts compact" }, ...rows.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v || "—")])),
    h("a", { class: "btn btn-primary btn-small", href: cameraUrl(cam.id), "data-testid": "popup-camera-link" }, t("map.open_camera")),
    ptzPopupSection(cam),
  );
}

function paintMarker(cam) {
  const m = markers.get(cam.id);
  if (!m) return;
  const el = m.getElement();
  if (!el) return;
  const state = (cam.health && cam.health.state) || "unknown";
  el.dataset.state = state;
  el.classList.remove("state-online", "state-offline", "state-starting", "state-disabled", "state-unknown");
  el.classList.add(stateClass(state));
  el.classList.toggle("dimmed", Boolean(stateFilter) && state !== stateFilter);
  el.title = `${cam.name || cam.id} · ${stateLabel(state)}`;
  m.setZIndexOffset(state === "offline" ? 1000 : 0);
  if (m.isPopupOpen()) m.getPopup().update();
}

function addMarker(cam) {
  if (typeof cam.lat !== "number" || typeof cam.lon !== "number") return;
  const m = L.marker([cam.lat, cam.lon], { icon: markerIcon(cam), keyboard: true, riseOnHover: true, alt: cam.name || cam.id });
  m.bindPopup(() => popupContent(cameras.get(cam.id)), { minWidth: 220, maxWidth: 320 });
  m.addTo(map);
  markers.set(cam.id, m);
  const el = m.getElement();
  el.dataset.testid = "camera-marker";
  el.dataset.camera = cam.id;
  paintMarker(cam);
}

function listItem(cam) {
  const hl = cam.health || {};
  const hasPos = markers.has(cam.id);
  const li = h(
    "li",
    { class: `cam-item ${stateClass(hl.state)}`, "data-testid": "camera-list-item", dataset: { camera: cam.id, state: hl.state || "unknown" }, tabindex: "0" },
    h("i", { class: `dot ${stateClass(hl.state)}` }),
    h("span", { class: "cam-item-main" }, h("a", { href: cameraUrl(cam.id), class: "cam-item-name" }, cam.name || cam.id), h("span", { class: "muted" }, [cam.site_name || cam.site, regionLabel(cam.region)].filter(Boolean).join(" · "))),
    h("span", { class: "cam-item-state" }, hasPos ? stateLabel(hl.state) : t("map.no_location")),
  );
  const focus = () => {
    const m = markers.get(cam.id);
    if (!m) return;
    map.flyTo(m.getLatLng(), Math.max(map.getZoom(), 12), { duration: 0.6 });
    m.openPopup();
  };
  li.addEventListener("click", (ev) => {
    if (ev.target.closest("a")) return;
    focus();
  });
  li.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") focus();
  });
  return li;
}

function matchesFilter(cam) {
  if (stateFilter && (cam.health || {}).state !== stateFilter) return false;
  const q = filterInput.value.trim().toLowerCase();
  if (!q) return true;
  return [cam.id, cam.name, cam.site_name, cam.site, regionLabel(cam.region)].filter(Boolean).some((v) => String(v).toLowerCase().includes(q));
}

function renderList() {
  const list = [...cameras.values()].sort(
    (a, b) => (STATE_ORDER[(a.health || {}).state] ?? 9) - (STATE_ORDER[(b.health || {}).state] ?? 9) || String(a.name).localeCompare(String(b.name)),
  );
  const frag = document.createDocumentFragment();
  for (const cam of list) {
    if (!matchesFilter(cam)) continue;
    let li = items.get(cam.id);
    if (!li) items.set(cam.id, (li = listItem(cam)));
    frag.append(li);
  }
  listNode.replaceChildren(frag);
  countNode.textContent = String(cameras.size);
  renderStateSummary(summaryNode, cameras.values(), { active: stateFilter, onPick: pickState });
}

function pickState(state) {
  stateFilter = stateFilter === state ? "" : state;
  for (const cam of cameras.values()) paintMarker(cam);
  renderList();
}

function queueSummary() {
  if (summaryQueued) return;
  summaryQueued = true;
  requestAnimationFrame(() => {
    summaryQueued = false;
    renderList();
  });
}

function onHealth(cameraId, health) {
  const cam = cameras.get(cameraId);
  if (!cam) return;
  cam.health = { ...(cam.health || {}), ...health };
  paintMarker(cam);
  const old = items.get(cameraId);
  if (old) items.set(cameraId, listItem(cam));
  if (old && old.isConnected) old.replaceWith(items.get(cameraId));
  queueSummary();
}

function onEvent(ev) {
  // A short pulse on the camera that saw something.
  const m = ev && markers.get(ev.camera);
  const el = m && m.getElement();
  if (!el) return;
  el.classList.remove("pulse");
  void el.offsetWidth;
  el.classList.add("pulse");
}

async function main() {
  const feed = startApp();
  const pending = [];
  let ready = false;
  feed.on("health", (id, hl) => (ready ? onHealth(id, hl) : pending.push([id, hl])));
  feed.on("event", onEvent);
  filterInput.addEventListener("input", renderList);
  try {
    const [regions, geo, cams] = await Promise.all([api("/api/regions"), api("/api/geo/regions"), api("/api/cameras")]);
    const focus = drawRegions(geo, regions);
    computeSpread(cams);
    for (const cam of cams) {
      cam.health = cam.health || {};
      cameras.set(cam.id, cam);
      addMarker(cam);
    }
    renderList();
    if (focus && focus.isValid()) map.fitBounds(focus, { padding: [24, 24], animate: false });
  } catch (err) {
    toast(t("common.error", { detail: err.message }), { error: true });
  }
  ready = true;
  for (const [id, hl] of pending) onHealth(id, hl);
  pollHealthWithoutFeed(feed, onHealth);
  document.getElementById("map").dataset.ready = "true";
}

main();
