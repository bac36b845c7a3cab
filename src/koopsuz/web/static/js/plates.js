// Plate reads (road safety): search by exact plate, pattern ("01 ??? A*") or near miss over a
// range picked in Bishkek time (sent with its offset); a range reaching back more than 24 hours
// asks for a legal basis allowing "plate_search" and a reason (the server refuses without, and
// audits every search either way). A plate's reads are drawn as its route on an offline map
// (oblast boundaries from /api/geo/regions, no tiles): a line in time order and numbered stops.
// The Violations tab lists recent average-speed violations with both plate crops and clips.
// Each shows its review status; an officer with "violations.review" confirms it or rejects it with
// a reason, and a confirmed one links its notice (PDF).
// Leaflet (window.L) is loaded by plates.html from the vendored copy.

import { startApp } from "./app.js";
import { api, boot, can, cameraUrl, formatDateTime, h, lang, regionLabel, t, toast } from "./core.js";
import { classLabel, colourLabel } from "./alerts.js";
import { basisOption, isoFromLocal, localInput, plainError, regionsLabel } from "./lawful.js";

const SHORT_WINDOW_MS = 24 * 3600e3; // the server's limit for a search without a legal basis
const SLACK_MS = 60e3; // a form filled a minute ago still counts as "the last 24 hours"
const VIOLATIONS_MAX = 50;
const FORMAT_KEYS = {
  private: "plates.format.private",
  legal: "plates.format.legal",
  government: "plates.format.government",
  foreign: "plates.format.foreign",
  pre2016: "plates.format.pre2016",
  kz: "plates.format.kz",
  ru: "plates.format.ru",
  free: "plates.format.free",
};
const DIRECTION_KEYS = { towards: "plates.direction.towards", away: "plates.direction.away" };
const REVIEW_KEYS = { pending: "plates.vi_status.pending", confirmed: "plates.vi_status.confirmed", rejected: "plates.vi_status.rejected" };
const HINT_KEYS = { plate: "plates.hint.plate", pattern: "plates.hint.pattern", near: "plates.hint.near" };
const FIELDS = { plate: "plates.query", pattern: "plates.query", near: "plates.query", from: "plates.from", to: "plates.to", legal_basis_id: "plates.basis", max_distance: "plates.max_distance" };

const $ = (id) => document.getElementById(id);
const state = { cameras: new Map(), sections: new Map(), bases: null, last: null, map: null, routeLayer: null, violations: new Set(), review: new Map() };

export function formatLabel(f) {
  return FORMAT_KEYS[f] ? t(FORMAT_KEYS[f]) : String(f || "—");
}
function directionLabel(d) {
  return DIRECTION_KEYS[d] ? t(DIRECTION_KEYS[d]) : String(d || "—");
}
function cameraName(id) {
  const c = state.cameras.get(id);
  return c ? c.name : id;
}
function showError(message) {
  $("pl-error").textContent = message || "";
  $("pl-error").hidden = !message;
}

/** A picture that says so plainly when there is none (an old read without its crop). */
function picture(src, alt, testid, cls) {
  const img = h("img", { src, alt, loading: "lazy", decoding: "async", class: cls, "data-testid": testid });
  img.addEventListener("error", () => img.replaceWith(h("span", { class: `muted ${cls}-none`, "data-testid": `${testid}-none` }, "—")));
  return h("a", { href: src, target: "_blank", rel: "noopener" }, img);
}

// -- the form ----------------------------------------------------------------------------------
function needsBasis() {
  const start = isoFromLocal($("pl-form").elements.start.value);
  return !!start && Date.now() - new Date(start).getTime() > SHORT_WINDOW_MS + SLACK_MS;
}

async function syncBasis() {
  const need = needsBasis();
  $("pl-basis-box").hidden = !need;
  if (!need || state.bases !== null) return;
  const select = $("pl-basis");
  state.bases = [];
  if (can("legal.manage") || can("audit.read")) {
    try {
      state.bases = (await api("/api/legal-bases?valid=true")).filter((b) => b.valid_now && b.purposes.includes("plate_search"));
    } catch (err) {
      showError(plainError(err));
    }
  }
  select.replaceChildren(
    ...(state.bases.length
      ? state.bases.map((b) => h("option", { value: b.id, title: regionsLabel(b.regions) }, basisOption(b)))
      : [h("option", { value: "", disabled: true, selected: true }, t("plates.no_basis"))]),
  );
}

function syncMode() {
  const mode = $("pl-mode").value;
  $("pl-distance-label").hidden = mode !== "near";
  $("pl-hint").textContent = t(HINT_KEYS[mode]);
}

function buildForm() {
  const form = $("pl-form");
  const now = new Date();
  form.elements.end.value = localInput(new Date(now.getTime() + 5 * 60e3)); // a read arriving while one looks still counts
  form.elements.start.value = localInput(new Date(now.getTime() - SHORT_WINDOW_MS + 5 * 60e3));
  $("pl-mode").addEventListener("change", syncMode);
  form.elements.start.addEventListener("change", syncBasis);
  form.elements.start.addEventListener("input", syncBasis);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    search();
  });
  syncMode();
  syncBasis();
}

/** The query of the form (or null with the reason shown). */
function query() {
  const f = $("pl-form").elements;
  const text = f.q.value.trim();
  const start = isoFromLocal(f.start.value);
  const end = isoFromLocal(f.end.value);
  let why = null;
  if (!text) why = "plates.need_query";
  else if (!start || !end) why = "plates.need_range";
  else if (needsBasis() && !f.legal_basis_id.value) why = "plates.basis_required";
  else if (needsBasis() && f.reason.value.trim().length < 3) why = "plates.reason_required";
  if (why) {
    showError(t(why));
    return null;
  }
  const q = new URLSearchParams({ [f.mode.value]: text, from: start, to: end });
  if (f.mode.value === "near") q.set("max_distance", f.max_distance.value);
  if (needsBasis()) {
    q.set("legal_basis_id", f.legal_basis_id.value);
    q.set("reason", f.reason.value.trim());
  }
  return q;
}

async function search() {
  showError("");
  const q = query();
  if (!q) return;
  const button = $("pl-form").querySelector('[type="submit"]');
  button.disabled = true;
  try {
    const found = await api(`/api/plates/reads?${q}`);
    state.last = q;
    renderReads(found.reads);
  } catch (err) {
    showError(plainError(err, FIELDS));
  } finally {
    button.disabled = false;
  }
}

function renderReads(reads) {
  $("pl-results-card").hidden = false;
  $("pl-count").textContent = t("plates.count", { n: reads.length });
  $("pl-body").replaceChildren(
    ...reads.map((r) =>
      h(
        "tr",
        { dataset: { testid: "pl-row", readId: r.id, plate: r.text, camera: r.camera } },
        h("td", null, h("time", { datetime: r.ts, "data-testid": "pl-time" }, formatDateTime(r.ts))),
        h("td", null, h("a", { href: cameraUrl(r.camera), "data-testid": "pl-camera" }, r.camera_name || r.camera)),
        h(
          "td",
          null,
          h(
            "div",
            { class: "plate-cell" },
            h("span", { class: "plate-text", "data-testid": "pl-plate" }, r.text),
            h("button", { type: "button", class: "btn btn-small", "data-testid": "pl-route", onclick: () => showRoute(r.text) }, t("plates.show_route")),
          ),
        ),
        h("td", null, formatLabel(r.format)),
        h("td", { class: "cell-wrap" }, r.plate_region ? regionLabel(r.plate_region) : "—"),
        h("td", { class: "num", "data-testid": "pl-confidence" }, typeof r.confidence === "number" ? r.confidence.toFixed(2) : "—"),
        h("td", { class: "cell-wrap" }, r.vehicle ? classLabel(r.vehicle) : "—"),
        h("td", null, colourLabel(r.colour)),
        h("td", { class: "cell-wrap" }, directionLabel(r.direction)),
        h("td", { "data-testid": "pl-lane" }, r.lane || "—"),
        h("td", null, picture(r.plate_image, t("plates.crop_alt", { plate: r.text }), "pl-crop", "plate-crop")),
        h("td", null, picture(r.snapshot, t("plates.snapshot_alt", { plate: r.text }), "pl-snapshot", "plate-snap")),
      ),
    ),
  );
  $("pl-empty").hidden = reads.length > 0;
}

// -- the route ---------------------------------------------------------------------------------
async function ensureMap() {
  if (state.map) return state.map;
  const L = window.L;
  const map = L.map("route-map", { zoomSnap: 0.25, minZoom: 5, maxZoom: 18, attributionControl: true });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(t("map.attribution"));
  map.setView([41.3, 74.7], 6.5);
  state.map = map;
  try {
    const geo = await api("/api/geo/regions");
    L.geoJSON(geo, {
      style: () => ({ color: "#56606b", weight: 1, fillColor: "#2a3038", fillOpacity: 0.45 }),
      onEachFeature: (f, lyr) => lyr.bindTooltip(f.properties[`name_${lang}`] || f.properties.name_en || "", { sticky: true, className: "region-tip" }),
    }).addTo(map);
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
  return map;
}

async function showRoute(plate) {
  const q = new URLSearchParams(state.last || "");
  for (const k of ["pattern", "near", "max_distance"]) q.delete(k);
  q.set("plate", plate);
  let found;
  try {
    found = await api(`/api/plates/route?${q}`);
  } catch (err) {
    showError(plainError(err, FIELDS));
    return;
  }
  const card = $("pl-route-card");
  card.hidden = false;
  card.dataset.plate = plate;
  $("pl-route-title").textContent = t("plates.route_of", { plate, n: found.reads.length });
  const map = await ensureMap();
  map.invalidateSize();
  const L = window.L;
  if (state.routeLayer) state.routeLayer.remove();
  const layer = L.featureGroup();
  const stops = found.reads.filter((r) => typeof r.lat === "number" && typeof r.lon === "number");
  if (stops.length > 1) L.polyline(stops.map((r) => [r.lat, r.lon]), { color: "#f0883e", weight: 3, className: "route-line" }).addTo(layer);
  const markers = stops.map((r, i) => {
    const icon = L.divIcon({ className: "route-marker", html: `<span>${i + 1}</span>`, iconSize: [22, 22], iconAnchor: [11, 11] });
    return L.marker([r.lat, r.lon], { icon, title: `${i + 1}. ${r.camera_name || r.camera}` })
      .bindTooltip(`${i + 1}. ${r.camera_name || r.camera} · ${formatDateTime(r.ts)}`)
      .addTo(layer);
  });
  layer.addTo(map);
  state.routeLayer = layer;
  markers.forEach((m, i) => {
    const el = m.getElement();
    if (el) Object.assign(el.dataset, { testid: "route-marker", n: String(i + 1), camera: stops[i].camera });
  });
  if (stops.length) map.fitBounds(layer.getBounds().pad(0.3), { maxZoom: 13, animate: false });
  $("route-stops").replaceChildren(
    ...found.reads.map((r) =>
      h(
        "li",
        { dataset: { testid: "route-stop", camera: r.camera } },
        h("time", { datetime: r.ts }, formatDateTime(r.ts)),
        " · ",
        h("a", { href: cameraUrl(r.camera) }, r.camera_name || r.camera),
        typeof r.lat === "number" ? null : h("span", { class: "muted" }, ` (${t("plates.no_position")})`),
      ),
    ),
  );
  card.dataset.ready = "true";
  card.scrollIntoView({ block: "nearest" });
}

// -- violations --------------------------------------------------------------------------------
function playbackUrl(camera, interval, at) {
  const [start, end] = String(interval || "").split("/");
  if (!start || !end) return null;
  const q = new URLSearchParams({ start, end, t: at });
  return `/cameras/${encodeURIComponent(camera)}/playback?${q}`;
}

function passageSide(ev, side, label) {
  const p = ev.payload || {};
  const s = p[side] || {};
  const media = ev.media || {};
  const crop = media[`${side}_plate`];
  const clip = side === "exit" ? ev.clip && ev.clip.page : playbackUrl(s.camera, s.clip, s.ts);
  return h(
    "div",
    { class: "vi-side", dataset: { testid: `vi-${side}` } },
    h("div", { class: "muted small" }, label),
    crop ? picture(crop, t("plates.crop_alt", { plate: p.plate || "" }), `vi-${side}-plate`, "vi-crop") : h("span", { class: "muted", "data-testid": `vi-${side}-plate-none` }, t("events.no_snapshot")),
    h("time", { datetime: s.ts, "data-testid": `vi-${side}-time` }, formatDateTime(s.ts)),
    h("a", { href: cameraUrl(s.camera || ev.camera) }, cameraName(s.camera || ev.camera)),
    clip && can("playback.view") ? h("a", { href: clip, "data-testid": `vi-${side}-clip` }, t("plates.clip")) : null,
  );
}

/** Status, clock note and, for a reviewer, confirm / reject (with a reason) or the notice link. */
function reviewPanel(id) {
  const v = state.review.get(id);
  const status = v && REVIEW_KEYS[v.status] ? v.status : "pending"; // a fresh one from the feed is pending
  const box = h(
    "div",
    { class: "vi-review", dataset: { testid: "vi-review", status } },
    h("span", { class: `badge vi-status vi-${status}`, "data-testid": "vi-status" }, t(REVIEW_KEYS[status])),
  );
  if (v && v.clock_trusted === false) box.append(h("span", { class: "muted small", "data-testid": "vi-clock" }, t("plates.vi_clock_untrusted")));
  else if (v && v.clock_trusted === null && status !== "rejected") box.append(h("span", { class: "muted small", "data-testid": "vi-clock" }, t("plates.vi_clock_unknown")));
  if (v && v.reviewed_by) box.append(h("span", { class: "muted small" }, t("plates.vi_reviewed_by", { who: v.reviewed_by })));
  if (status === "rejected") box.append(h("span", { class: "small", "data-testid": "vi-reason" }, v.reason || ""));
  if (status === "confirmed" && v.notice && can("violations.review")) {
    box.append(h("a", { href: v.notice, download: "", "data-testid": "vi-notice" }, t("plates.vi_notice")));
  }
  if (status === "pending" && can("violations.review")) {
    const reason = h("input", { type: "text", maxlength: 1000, placeholder: t("plates.vi_reason"), "aria-label": t("plates.vi_reason"), "data-testid": "vi-reason-input" });
    const confirm = h("button", { type: "button", class: "btn primary", "data-testid": "vi-confirm" }, t("plates.vi_confirm"));
    const reject = h("button", { type: "button", class: "btn", "data-testid": "vi-reject" }, t("plates.vi_reject"));
    confirm.addEventListener("click", () => review(id, "confirm", {}, box));
    reject.addEventListener("click", () => {
      if (reason.value.trim().length < 3) {
        toast(t("plates.vi_reason_required"), { error: true });
        reason.focus();
        return;
      }
      review(id, "reject", { reason: reason.value.trim() }, box);
    });
    box.append(reason, confirm, reject);
  }
  return box;
}

async function review(id, act, body, box) {
  for (const b of box.querySelectorAll("button")) b.disabled = true;
  try {
    const v = await api(`/api/violations/${encodeURIComponent(id)}/${act}`, { method: "POST", body });
    state.review.set(id, v);
    box.replaceWith(reviewPanel(id));
    toast(t(act === "confirm" ? "plates.vi_confirmed" : "plates.vi_rejected"));
  } catch (err) {
    for (const b of box.querySelectorAll("button")) b.disabled = false;
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

function renderViolation(ev, fresh = false) {
  const p = ev.payload || {};
  const sec = state.sections.get(p.section);
  const speed = typeof p.speed_kmh === "number" ? p.speed_kmh.toFixed(1) : "—";
  const over = typeof p.over_kmh === "number" ? p.over_kmh.toFixed(1) : "—";
  const spot = p.method === "spot"; // one calibrated camera: shown as the weaker evidence it is
  return h(
    "li",
    { class: `violation${fresh ? " fresh" : ""}`, dataset: { testid: "vi-item", eventId: ev.id, plate: p.plate || "" } },
    h(
      "div",
      { class: "vi-head" },
      h("span", { class: "plate-text", "data-testid": "vi-plate" }, p.plate || "—"),
      h("span", { class: "vi-speed", "data-testid": "vi-speed" }, t("plates.speed_vs_limit", { speed, limit: p.limit_kmh ?? "—" })),
      h("span", { class: "badge sev sev-high", "data-testid": "vi-over" }, t("plates.over", { over })),
      spot
        ? h("span", { class: "badge", "data-testid": "vi-method", dataset: { method: "spot" } }, t("plates.vi_spot"))
        : h("span", { class: "muted", "data-testid": "vi-section" }, sec ? sec.name : p.section || "—"),
      spot && p.length_m
        ? h("span", { class: "muted small" }, t("plates.vi_spot_facts", { m: p.length_m.toFixed(1), s: p.seconds ?? "—" }))
        : p.length_m ? h("span", { class: "muted small" }, t("plates.section_facts", { km: (p.length_m / 1000).toFixed(2), s: p.seconds ?? "—" })) : null,
      // a vehicle-class limit applied (trucks 70 where cars 90): which class, and the general limit
      p.limit_class
        ? h("span", { class: "muted small", "data-testid": "vi-class-limit" },
          t("plates.vi_class_limit", { cls: t(`rules.class.${p.limit_class}`), limit: p.limit_kmh, general: p.section_limit_kmh ?? "—" }))
        : null,
    ),
    h("div", { class: "vi-sides" }, passageSide(ev, "entry", t("plates.entry")), passageSide(ev, "exit", t("plates.exit"))),
    reviewPanel(ev.id),
  );
}

async function loadViolations(feed) {
  try {
    const [events, sections] = await Promise.all([
      api(`/api/events?kind=speed_violation&limit=${VIOLATIONS_MAX}`),
      api("/api/sections").catch(() => []),
    ]);
    for (const s of sections) state.sections.set(s.id, s);
    if (events.length) {
      // the review state of every violation listed: from just before the oldest one shown
      const oldest = Math.min(...events.map((ev) => Date.parse(ev.ts)));
      const q = new URLSearchParams({ from: new Date(oldest - 1000).toISOString() });
      const reviews = await api(`/api/violations?${q}`).catch(() => ({ violations: [] }));
      for (const v of reviews.violations) state.review.set(v.id, v);
    }
    for (const ev of events) state.violations.add(ev.id);
    $("vi-list").replaceChildren(...events.map((ev) => renderViolation(ev)));
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
  $("vi-empty").hidden = $("vi-list").children.length > 0;
  feed.on("event", (ev) => {
    if (!ev || ev.kind !== "speed_violation" || state.violations.has(ev.id)) return;
    state.violations.add(ev.id);
    $("vi-list").prepend(renderViolation(ev, true));
    $("vi-empty").hidden = true;
  });
  $("tab-violations").dataset.ready = "true";
}

function showTab() {
  const tab = new URLSearchParams(location.search).get("tab") === "violations" ? "violations" : "search";
  $("tab-search").hidden = tab !== "search";
  $("tab-violations").hidden = tab !== "violations";
  for (const a of document.querySelectorAll(".road-tabs a[data-tab]")) {
    if (a.dataset.tab === tab) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function main() {
  const feed = startApp();
  showTab();
  buildForm();
  try {
    for (const c of await api("/api/cameras")) state.cameras.set(c.id, c);
  } catch {
    // names fall back to ids
  }
  $("pl-form").dataset.ready = "true";
  const start = new URLSearchParams(location.search).get("plate");
  if (start && boot.user) {
    $("pl-q").value = start;
    search();
  }
  loadViolations(feed);
}

main();
