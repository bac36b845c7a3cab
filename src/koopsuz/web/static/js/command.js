// Command centre: the alert queue (claim, release, escalate, open an incident), the incident list
// and one incident's detail (checklist, notes, state buttons, nearest units with distance and ETA,
// dispatch, cameras nearby), on a small Leaflet map with the incident, units and cameras.
// New alerts arrive over the WebSocket feed; claims by others and unit moves are picked up by a
// short poll (the server does not push incident changes yet).

import { startApp } from "./app.js";
import { api, boot, cameraUrl, can, formatAgo, formatTime, h, regionLabel, severityLabel, t, toast } from "./core.js";
import { withdrawnNote } from "./alerts.js";
import { AlertNotifier } from "./notify.js";

const L = window.L;
const POLL_MS = 4000;

const CATEGORY_KEYS = {
  theft: "category.theft",
  assault: "category.assault",
  traffic_accident: "category.traffic_accident",
  public_disorder: "category.public_disorder",
  missing_person: "category.missing_person",
  suspicious: "category.suspicious",
  fire: "category.fire",
  other: "category.other",
};
const STEP_KEYS = {
  verify_location: "sop.verify_location",
  review_cameras: "sop.review_cameras",
  dispatch_unit: "sop.dispatch_unit",
  secure_footage: "sop.secure_footage",
  take_statement: "sop.take_statement",
  call_ambulance: "sop.call_ambulance",
  notify_traffic_police: "sop.notify_traffic_police",
  notify_duty_officer: "sop.notify_duty_officer",
  take_description: "sop.take_description",
  call_fire_service: "sop.call_fire_service",
};
const STATE_KEYS = {
  new: "incident.state.new",
  dispatched: "incident.state.dispatched",
  on_scene: "incident.state.on_scene",
  resolved: "incident.state.resolved",
  closed: "incident.state.closed",
};
const NEXT_KEYS = { on_scene: "incident.to.on_scene", resolved: "incident.to.resolved", closed: "incident.to.closed" };
const NEXT = { new: ["resolved"], dispatched: ["on_scene", "resolved"], on_scene: ["resolved"], resolved: ["closed"], closed: [] };
const UNIT_KEYS = {
  available: "unit.status.available",
  en_route: "unit.status.en_route",
  on_scene: "unit.status.on_scene",
  off_duty: "unit.status.off_duty",
};
const SOURCE_KEYS = { alert: "incident.source.alert", call: "incident.source.call", manual: "incident.source.manual" };
const ACTION_KEYS = {
  claim: "command.action.claim",
  release: "command.action.release",
  escalate: "command.action.escalate",
  incident: "command.action.incident",
  create: "command.action.create",
  state: "command.action.state",
  sop: "command.action.sop",
  note: "command.action.note",
  evidence: "command.action.evidence",
  update: "command.action.update",
  dispatch: "command.action.dispatch",
  arrived: "command.action.arrived",
  stood_down: "command.action.stood_down",
};
const EVIDENCE_KEYS = { alert: "incident.evidence.alert", event: "incident.evidence.event", clip: "incident.evidence.clip" };
const label = (map, key) => (map[key] ? t(map[key]) : String(key || ""));

const me = boot.user || {};
const notifier = new AlertNotifier(); // tone and flashing for critical alerts until claimed
let queueLoaded = false;
const mayAct = can("incidents.manage");
const queueNode = document.getElementById("queue-list");
const incidentsNode = document.getElementById("incident-list");
const detailNode = document.getElementById("incident-detail");
const form = document.getElementById("incident-form");
let selected = null; // incident id
let formAlert = null; // alert id the form opens an incident from
let formSource = null;

// ---------------------------------------------------------------------------------------------
// Map.
const map = L.map("command-map", { zoomSnap: 0.25, attributionControl: false, minZoom: 5, maxZoom: 18 });
map.setView([41.3, 74.7], 6);
const layer = L.layerGroup().addTo(map);
let placeMarker = null;
map.on("click", (e) => {
  if (form.hidden || formSource === "alert") return;
  document.getElementById("form-lat").value = e.latlng.lat.toFixed(5);
  document.getElementById("form-lon").value = e.latlng.lng.toFixed(5);
  if (placeMarker) placeMarker.remove();
  placeMarker = L.circleMarker(e.latlng, { radius: 8, color: "#f85149" }).addTo(map);
});

async function drawRegions() {
  const geo = await api("/api/geo/regions");
  const shapes = L.geoJSON(geo, { style: { color: "#56606b", weight: 1, fillColor: "#2a3038", fillOpacity: 0.35 }, interactive: false }).addTo(map);
  map.fitBounds(shapes.getBounds());
}

// ---------------------------------------------------------------------------------------------
// Queue.
async function act(path, body) {
  try {
    return await api(path, { method: "POST", body });
  } catch (err) {
    toast(t("incident.action_failed", { detail: err.message }), { error: true });
    return null;
  }
}

function queueItem(a) {
  const q = a.queue || {};
  const p = a.payload || {};
  const mine = q.claimed_by === me.username;
  const actions = [];
  if (mayAct && !q.claimed_by) actions.push(h("button", { type: "button", class: "btn btn-small btn-primary", "data-testid": "queue-claim", onclick: () => act(`/api/alerts/${a.id}/claim`).then(loadQueue) }, t("command.claim")));
  if (mayAct && mine) {
    actions.push(h("button", { type: "button", class: "btn btn-small btn-primary", "data-testid": "queue-incident", onclick: () => openForm("alert", a) }, t("command.open_incident")));
    actions.push(h("button", { type: "button", class: "btn btn-small", "data-testid": "queue-release", onclick: () => act(`/api/alerts/${a.id}/release`).then(loadQueue) }, t("command.release")));
  }
  if (mayAct && me.region && !q.escalated_at && (!q.claimed_by || mine)) {
    actions.push(
      h("button", {
        type: "button",
        class: "btn btn-small btn-ghost",
        "data-testid": "queue-escalate",
        onclick: async () => {
          const reason = window.prompt(t("command.escalate.reason"));
          if (reason) await act(`/api/alerts/${a.id}/escalate`, { reason }).then(loadQueue);
        },
      }, t("command.escalate")),
    );
  }
  const snap = a.media && a.media.snapshot ? h("img", { src: a.media.snapshot, alt: "", loading: "lazy" }) : null;
  // a hotlist hit the decided read took back (services/alert_queue.py folds the withdrawal into it), or a
  // withdrawal whose hit has left the queue: greyed, with the decided plate, never a new alarm
  const withdrawn = q.withdrawn || (q.retracts ? { plate: p.plate, listed_plate: p.listed_plate } : null);
  const title = q.retracts ? t("alerts.withdrawn.line", { listed: p.listed_plate || "—", plate: p.plate || "—" }) : p.rule_name || p.rule || a.kind;
  return h(
    "li",
    {
      class: `cmd-item sev-${a.severity}${withdrawn ? " withdrawn" : ""}`,
      "data-testid": "queue-item",
      dataset: { alertId: a.id, claimedBy: q.claimed_by || "", withdrawn: String(!!q.withdrawn), retracts: q.retracts || "" },
    },
    snap,
    h("div", { class: "row" }, h("span", { class: "title" }, title), h("span", { class: `badge sev sev-${a.severity}` }, severityLabel(a.severity))),
    withdrawn ? withdrawnNote(withdrawn) : null,
    h("div", { class: "row muted" }, a.camera ? h("a", { href: cameraUrl(a.camera), "data-testid": "queue-live" }, a.camera) : null, ` · ${regionLabel(a.region)} · ${formatAgo(a.ts)}`),
    a.clip ? h("a", { href: a.clip.page, "data-testid": "queue-clip" }, t("events.footage")) : null,
    q.claimed_by ? h("div", { class: "row", "data-testid": "queue-holder" }, t("command.held_by", { who: q.claimed_by })) : null,
    q.escalated_by ? h("div", { class: "row muted" }, t("command.escalated_by", { who: q.escalated_by })) : null,
    h("div", { class: "actions" }, actions),
  );
}

// A busy feed brings many alerts a second: the queue is reloaded once for all that arrived while a
// reload was in flight, not once per alert.
let queueReload = null;
let queueAgain = false;
function reloadQueueSoon() {
  if (queueReload) {
    queueAgain = true;
    return;
  }
  queueReload = loadQueue()
    .catch((err) => console.warn("queue reload failed; the next poll retries", err))
    .finally(() => {
      queueReload = null;
      if (queueAgain) {
        queueAgain = false;
        reloadQueueSoon();
      }
    });
}

async function loadQueue() {
  const escalated = document.getElementById("escalated-only").checked;
  const items = await api(`/api/alerts/queue${escalated ? "?escalated=true" : ""}`);
  queueNode.replaceChildren(...items.map(queueItem));
  notifier.sync(items, queueNode.children, !queueLoaded);
  queueLoaded = true;
  document.querySelector('[data-testid="queue-count"]').textContent = String(items.length);
  document.getElementById("queue-empty").hidden = items.length > 0;
}

// ---------------------------------------------------------------------------------------------
// The incident form: from an alert, a 102 call, or by hand.
function openForm(source, alert) {
  formSource = source;
  formAlert = alert ? alert.id : null;
  const titles = { alert: "incident.form.title_alert", call: "incident.form.title_call", manual: "incident.form.title_manual" };
  document.getElementById("form-title").textContent = t(titles[source]);
  document.getElementById("form-caller").hidden = source !== "call";
  document.getElementById("form-place").hidden = source === "alert";
  document.getElementById("form-error").hidden = true;
  form.reset();
  form.hidden = false;
  document.getElementById("form-category").focus();
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const val = (id) => document.getElementById(id).value.trim();
  const body = { source: formSource, category: val("form-category"), description: val("form-description") };
  if (formSource === "alert") body.alerts = [formAlert];
  if (formSource === "call") Object.assign(body, { caller_name: val("form-caller-name") || null, caller_phone: val("form-caller-phone") || null });
  if (formSource !== "alert") {
    body.lat = val("form-lat") === "" ? null : Number(val("form-lat"));
    body.lon = val("form-lon") === "" ? null : Number(val("form-lon"));
  }
  try {
    const inc = await api("/api/incidents", { method: "POST", body });
    form.hidden = true;
    if (placeMarker) placeMarker.remove();
    toast(t("incident.created"));
    selected = inc.id;
    await Promise.all([loadQueue(), loadIncidents()]);
    showDetail(inc);
  } catch (err) {
    const node = document.getElementById("form-error");
    node.textContent = err.message;
    node.hidden = false;
  }
});
document.getElementById("form-cancel").addEventListener("click", () => {
  form.hidden = true;
  if (placeMarker) placeMarker.remove();
});
document.getElementById("new-call").addEventListener("click", () => openForm("call"));
document.getElementById("new-manual").addEventListener("click", () => openForm("manual"));
document.getElementById("new-call").hidden = !mayAct;
document.getElementById("new-manual").hidden = !mayAct;
document.getElementById("escalated-only").addEventListener("change", loadQueue);

// ---------------------------------------------------------------------------------------------
// Incidents.
function stateBadge(state) {
  return h("span", { class: `badge-state st-${state}`, "data-testid": "incident-state-badge" }, label(STATE_KEYS, state));
}

async function loadIncidents() {
  const items = await api("/api/incidents");
  incidentsNode.replaceChildren(
    ...items.map((inc) =>
      h(
        "li",
        {
          class: `cmd-item incident-item${inc.id === selected ? " selected" : ""}`,
          "data-testid": "incident-item",
          dataset: { incidentId: inc.id, state: inc.state },
          onclick: () => select(inc.id),
        },
        h(
          "div",
          { class: "row" },
          h("span", { class: "title" }, label(CATEGORY_KEYS, inc.category)),
          inc.escalated_at ? h("span", { class: "badge-state", "data-testid": "incident-escalated", title: t("incident.escalated") }, "↑") : null,
          stateBadge(inc.state),
        ),
        h("div", { class: "row muted" }, [regionLabel(inc.region), label(SOURCE_KEYS, inc.source), formatTime(inc.created_at), `${inc.sop_done}/${inc.sop_total}`].join(" · ")),
      ),
    ),
  );
  document.querySelector('[data-testid="incident-count"]').textContent = String(items.length);
  document.getElementById("incidents-empty").hidden = items.length > 0;
}

async function select(id) {
  selected = id;
  for (const li of incidentsNode.children) li.classList.toggle("selected", li.dataset.incidentId === id);
  showDetail(await api(`/api/incidents/${id}`));
}

async function refreshDetail() {
  if (selected) showDetail(await api(`/api/incidents/${selected}`));
}

async function incidentAct(path, body, method = "POST") {
  try {
    const inc = await api(path, { method, body });
    showDetail(inc);
    loadIncidents();
  } catch (err) {
    toast(t("incident.action_failed", { detail: err.message }), { error: true });
  }
}

async function showDetail(inc) {
  const base = `/api/incidents/${inc.id}`;
  const open = inc.state !== "closed";
  const sop = h(
    "ol",
    { "data-testid": "sop-list" },
    inc.sop.map((s, i) => {
      const first = inc.sop.findIndex((x) => !x.done) === i;
      return h(
        "li",
        { class: `sop-step${s.done ? " done" : ""}`, "data-testid": "sop-step", dataset: { step: s.step, done: String(s.done) } },
        label(STEP_KEYS, s.step),
        s.done ? h("span", { class: "when", "data-testid": "sop-when" }, `${formatTime(s.at)} · ${s.by}`) : null,
        !s.done && first && open && mayAct ? h("button", { type: "button", class: "btn btn-small", "data-testid": "sop-tick", onclick: () => incidentAct(`${base}/sop/${s.step}`) }, t("incident.sop.tick")) : null,
      );
    }),
  );
  const stateButtons = mayAct
    ? (NEXT[inc.state] || []).map((st) => h("button", { type: "button", class: "btn btn-small", "data-testid": `state-${st}`, onclick: () => incidentAct(`${base}/state`, { state: st }) }, label(NEXT_KEYS, st)))
    : [];
  if (mayAct && me.region && !inc.escalated_at && open) {
    stateButtons.push(
      h("button", {
        type: "button",
        class: "btn btn-small btn-ghost",
        "data-testid": "incident-escalate",
        onclick: () => {
          const reason = window.prompt(t("command.escalate.reason"));
          if (reason) incidentAct(`${base}/escalate`, { reason });
        },
      }, t("command.escalate")),
    );
  }
  const noteInput = h("input", { class: "input", "data-testid": "note-input", placeholder: t("incident.note.placeholder"), maxlength: "4000" });
  const notes = h(
    "div",
    null,
    h("ul", { "data-testid": "notes" }, inc.notes.map((n) => h("li", null, `${formatTime(n.at)} · ${n.by}: `, n.text))),
    mayAct && open
      ? h("div", { class: "row" }, noteInput, h("button", { type: "button", class: "btn btn-small", "data-testid": "note-add", onclick: () => noteInput.value.trim() && incidentAct(`${base}/notes`, { text: noteInput.value.trim() }) }, t("incident.note.add")))
      : null,
  );
  const sug = await api(`${base}/suggestions`).catch(() => ({ units: [], cameras: [], assumed_speed_kmh: 40, cameras_within_m: 2000 }));
  const unitsList = h(
    "ul",
    { "data-testid": "unit-suggestions" },
    sug.units.length
      ? sug.units.map((u) =>
          h(
            "li",
            { "data-testid": "unit-suggestion", dataset: { unit: u.id } },
            h("strong", null, u.call_sign),
            " ",
            t("incident.units.eta", { km: (u.distance_m / 1000).toFixed(1), min: Math.round(u.eta_s / 60), speed: sug.assumed_speed_kmh }),
            " ",
            mayAct && ["new", "dispatched", "on_scene"].includes(inc.state)
              ? h("button", { type: "button", class: "btn btn-small btn-primary", "data-testid": "unit-dispatch", onclick: () => incidentAct(`${base}/dispatch`, { unit: u.id }) }, t("incident.dispatch"))
              : null,
          ),
        )
      : [h("li", { class: "muted" }, t("incident.units.none"))],
  );
  const sent = h(
    "ul",
    { "data-testid": "dispatched-units" },
    inc.dispatches.map((d) => {
      const u = inc.units.find((x) => x.id === d.unit);
      // where the unit's tablet last reported it, and how far that is from the incident (it moves as reports come in)
      const at = u && u.lat !== null && u.lon !== null ? { lat: String(u.lat), lon: String(u.lon), distance: String(Math.round(metresBetween(u.lat, u.lon, inc.lat, inc.lon))) } : {};
      const away = at.distance && u.status === "en_route" ? ` · ${t("incident.units.eta", { km: (Number(at.distance) / 1000).toFixed(1), min: Math.round(Number(at.distance) / (sug.assumed_speed_kmh / 3.6) / 60), speed: sug.assumed_speed_kmh })}` : "";
      return h("li", { dataset: { unit: d.unit, status: u ? u.status : "", ...at } }, `${d.unit} · ${formatTime(d.sent_at)} · ${d.sent_by}`, u ? ` · ${label(UNIT_KEYS, u.status)}` : "", away);
    }),
  );
  const cams = h(
    "ul",
    { "data-testid": "near-cameras" },
    sug.cameras.length
      ? sug.cameras.map((c) => h("li", { "data-testid": "near-camera" }, h("a", { href: cameraUrl(c.id) }, c.name), " · ", t("incident.cameras.distance", { m: Math.round(c.distance_m) })))
      : [h("li", { class: "muted" }, t("incident.cameras.none", { m: sug.cameras_within_m }))],
  );
  const evidence = h(
    "ul",
    { "data-testid": "evidence" },
    inc.evidence.map((e) => {
      const d = e.detail || {};
      let link = null;
      if (e.kind === "clip" && d.camera) link = `/cameras/${encodeURIComponent(d.camera)}/playback?${new URLSearchParams({ start: d.start, end: d.end })}`;
      else if (d.camera && d.ts) link = `/cameras/${encodeURIComponent(d.camera)}/playback?${new URLSearchParams({ t: d.ts })}`;
      const text = `${label(EVIDENCE_KEYS, e.kind)} · ${d.camera || ""} · ${formatTime(d.ts || d.start)}`;
      return h(
        "li",
        { "data-testid": "evidence-item", class: e.withdrawn ? "withdrawn" : "", dataset: { kind: e.kind, ref: e.ref, withdrawn: String(!!e.withdrawn) } },
        link && can("playback.view") ? h("a", { href: link }, text) : text,
        e.withdrawn ? withdrawnNote(e.withdrawn) : null,
      );
    }),
  );
  const officerInput = h("input", { class: "input", "data-testid": "officer-input", placeholder: t("incident.officer.placeholder"), maxlength: "64", value: inc.officer || "" });
  const officer = mayAct && open
    ? h("div", { class: "row" }, officerInput, h("button", { type: "button", class: "btn btn-small", "data-testid": "officer-assign", onclick: () => officerInput.value.trim() && incidentAct(base, { officer: officerInput.value.trim() }, "PATCH") }, t("incident.officer.assign")))
    : null;
  const history = h("ol", { "data-testid": "history" }, inc.history.map((x) => h("li", null, `${formatTime(x.at)} · ${x.by} · ${label(ACTION_KEYS, x.action)}`, x.detail && x.detail.to ? ` → ${label(STATE_KEYS, x.detail.to)}` : "", x.detail && x.detail.reason ? ` (${x.detail.reason})` : "")));
  // replaceChildren would print a null as "null": optional parts are dropped first
  const parts = [
    h("div", { class: "row" }, h("h3", null, label(CATEGORY_KEYS, inc.category)), h("span", { "data-testid": "incident-state", dataset: { state: inc.state } }, stateBadge(inc.state))),
    h(
      "div",
      { class: "cmd-kv" },
      h("span", { class: "muted" }, t("incident.state")), h("span", null, label(STATE_KEYS, inc.state)),
      h("span", { class: "muted" }, t("camera.field.region")), h("span", null, regionLabel(inc.region)),
      h("span", { class: "muted" }, t("incident.officer")), h("span", null, inc.officer || "—"),
      inc.caller_name ? h("span", { class: "muted" }, t("incident.caller")) : null,
      inc.caller_name ? h("span", null, `${inc.caller_name} · ${inc.caller_phone || ""}`) : null,
      inc.escalated_at ? h("span", { class: "muted" }, t("incident.escalated")) : null,
      inc.escalated_at ? h("span", null, `${inc.escalated_by} · ${formatTime(inc.escalated_at)}`) : null,
    ),
    // opened on a hotlist hit that the decided read took back: said before anything else is done
    ...inc.evidence.filter((e) => e.withdrawn).map((e) => h("div", { class: "incident-withdrawn", "data-testid": "incident-withdrawn" }, withdrawnNote(e.withdrawn))),
    inc.description ? h("p", null, inc.description) : null,
    officer,
    h("div", { class: "actions row" }, stateButtons),
    h("h3", null, t("incident.sop")), sop,
    h("h3", null, t("incident.units")), unitsList,
    h("h3", null, t("incident.dispatched_units")), sent,
    h("h3", null, t("incident.cameras")), cams,
    h("h3", null, t("incident.evidence")), evidence,
    h("h3", null, t("incident.notes")), notes,
    h("h3", null, t("incident.history")), history,
  ];
  detailNode.replaceChildren(...parts.filter((x) => x !== null && x !== undefined));
  drawIncident(inc, sug);
}

/** Great-circle distance in metres (the server ranks units the same way, domain/geo.py). */
function metresBetween(lat1, lon1, lat2, lon2) {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

async function drawIncident(inc, sug) {
  layer.clearLayers();
  const pts = [[inc.lat, inc.lon]];
  L.circleMarker([inc.lat, inc.lon], { radius: 9, color: "#f85149", fillOpacity: 0.7 }).bindTooltip(label(CATEGORY_KEYS, inc.category)).addTo(layer);
  const units = await api("/api/units").catch(() => []);
  for (const u of units) {
    if (u.lat === null || u.lon === null) continue;
    const m = L.circleMarker([u.lat, u.lon], { radius: 6, color: u.status === "available" ? "#2ea043" : "#58a6ff", fillOpacity: 0.8 });
    m.bindTooltip(`${u.call_sign} · ${label(UNIT_KEYS, u.status)}`).addTo(layer);
    if (sug.units.some((s) => s.id === u.id) || inc.units.some((s) => s.id === u.id)) pts.push([u.lat, u.lon]);
  }
  for (const c of sug.cameras) {
    L.circleMarker([c.lat, c.lon], { radius: 4, color: "#d29922" }).bindTooltip(c.name).on("click", () => location.assign(cameraUrl(c.id))).addTo(layer);
  }
  map.fitBounds(L.latLngBounds(pts).pad(0.3), { maxZoom: 14 });
  document.getElementById("command-map").dataset.ready = "true";
}

// ---------------------------------------------------------------------------------------------
async function main() {
  const feed = startApp();
  notifier.mountControls(document.querySelector('[data-testid="queue"] .cmd-head'));
  feed.on("event", (ev) => {
    if (ev && ev.kind === "alert") {
      notifier.notice(ev);
      reloadQueueSoon();
    }
  });
  const sop = await api("/api/sop");
  document.getElementById("form-category").replaceChildren(...Object.keys(sop.categories).map((c) => h("option", { value: c }, label(CATEGORY_KEYS, c))));
  await Promise.all([drawRegions(), loadQueue(), loadIncidents()]);
  setInterval(() => {
    if (document.hidden) return;
    loadQueue();
    loadIncidents();
    if (selected && !detailNode.contains(document.activeElement)) refreshDetail();
  }, POLL_MS);
  document.querySelector('[data-testid="command-map"]').dataset.ready = "true";
}

main().catch((err) => toast(err.message, { error: true }));
