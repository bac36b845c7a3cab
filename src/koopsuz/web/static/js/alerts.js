// Alerts (events of kind "alert", raised by a camera's rules) as an actionable list: severity
// colour, rule name, camera, Bishkek time, the snapshot with the box drawn, a link to the clip in
// playback, and Confirm / Dismiss buttons that store the operator's verdict through
// POST /api/events/{id}/feedback. The verdict is shown at once and comes back with the alert on
// a reload (GET /api/events carries it), so it is what the precision figures count.
// Used by the camera page (one camera's alerts) and the event feed (alerts among the events).
// A hotlist hit taken back by a later "hotlist_unconfirmed" alert is marked "not confirmed" (below).

import { api, can, cameraUrl, formatDateTime, formatNumber1, formatTime, h, kindLabel, regionLabel, severityLabel, t, toast } from "./core.js";

const VERDICT_KEYS = { confirmed: "alerts.verdict.confirmed", dismissed: "alerts.verdict.dismissed" };
const DIRECTION_KEYS = { left_to_right: "rules.direction.left_to_right", right_to_left: "rules.direction.right_to_left" };
const CLASS_KEYS = {
  person: "rules.class.person",
  bicycle: "rules.class.bicycle",
  car: "rules.class.car",
  motorcycle: "rules.class.motorcycle",
  bus: "rules.class.bus",
  truck: "rules.class.truck",
};

const COLOUR_KEYS = {
  white: "plates.colour.white",
  silver: "plates.colour.silver",
  black: "plates.colour.black",
  red: "plates.colour.red",
  orange: "plates.colour.orange",
  yellow: "plates.colour.yellow",
  green: "plates.colour.green",
  blue: "plates.colour.blue",
  purple: "plates.colour.purple",
};
export function colourLabel(c) {
  return COLOUR_KEYS[c] ? t(COLOUR_KEYS[c]) : String(c || "—");
}
export function classLabel(cls) {
  return CLASS_KEYS[cls] ? t(CLASS_KEYS[cls]) : String(cls || "");
}

/** One line saying what the rule saw: class, direction of a crossing, dwell, crowd size. */
export function alertSummary(payload) {
  const p = payload || {};
  const parts = [];
  if (p.class) parts.push(classLabel(p.class));
  if (DIRECTION_KEYS[p.direction]) parts.push(t(DIRECTION_KEYS[p.direction]));
  if (typeof p.dwell_s === "number") parts.push(t("alerts.dwell", { s: formatNumber1(p.dwell_s) }));
  if (typeof p.count === "number") parts.push(t("alerts.crowd", { n: p.count }));
  return parts.join(" · ");
}

function verdictText(fb) {
  if (!fb || !VERDICT_KEYS[fb.verdict]) return t("alerts.verdict.none");
  return t("alerts.verdict.by", { verdict: t(VERDICT_KEYS[fb.verdict]), who: fb.by || "—", when: formatTime(fb.at) });
}

/** Show a verdict on every rendering of the alert in the page (the camera page may have two). */
function showVerdict(eventId, fb) {
  for (const item of document.querySelectorAll(`[data-alert-id="${CSS.escape(eventId)}"]`)) {
    item.dataset.verdict = fb ? fb.verdict : "";
    const node = item.querySelector('[data-testid="alert-verdict"]');
    if (node) node.textContent = verdictText(fb);
    for (const btn of item.querySelectorAll("button[data-verdict]")) {
      btn.setAttribute("aria-pressed", String(!!fb && btn.dataset.verdict === fb.verdict));
    }
  }
}

async function judge(ev, verdict, buttons) {
  for (const b of buttons) b.disabled = true;
  try {
    const fb = await api(`/api/events/${encodeURIComponent(ev.id)}/feedback`, { method: "POST", body: { verdict } });
    ev.feedback = fb;
    showVerdict(ev.id, fb);
  } catch (err) {
    toast(t("alerts.feedback_failed", { detail: err.message }), { error: true });
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

function thumb(ev) {
  const src = ev.media && ev.media.snapshot;
  if (!src) return h("div", { class: "thumb thumb-empty" }, t("events.no_snapshot"));
  const img = h("img", {
    src,
    alt: t("events.snapshot_alt", { kind: kindLabel(ev.kind) }),
    loading: "lazy",
    decoding: "async",
    "data-testid": "alert-snapshot",
  });
  img.addEventListener("error", () => img.parentElement?.replaceWith(h("div", { class: "thumb thumb-empty" }, t("events.no_snapshot"))));
  return h("a", { class: "thumb", href: src, target: "_blank", rel: "noopener", title: t("events.open_snapshot") }, img);
}

// A face-match alert (rule_kind "face_match", raised by analytics/face_stage.py) carries the face
// seen (`snapshot`) and the enrolled photo it matched (`enrolled`): shown side by side, with the
// person, the list kind and the similarity, so the operator confirms or dismisses by eye.
const FACE_LIST_KEYS = { wanted: "alerts.face.list.wanted", missing: "alerts.face.list.missing", interest: "alerts.face.list.interest" };

function facePicture(src, label, testid) {
  const body = src
    ? h("img", { src, alt: label, loading: "lazy", decoding: "async", "data-testid": testid })
    : h("div", { class: "thumb-empty", "data-testid": testid }, t("events.no_snapshot"));
  return h("figure", { class: "face-pic" }, src ? h("a", { href: src, target: "_blank", rel: "noopener" }, body) : body, h("figcaption", null, label));
}

function facePair(ev) {
  const media = ev.media || {};
  return h(
    "div",
    { class: "face-pair", "data-testid": "alert-face-pair" },
    facePicture(media.snapshot, t("alerts.face.seen"), "alert-face-probe"),
    facePicture(media.enrolled, t("alerts.face.enrolled"), "alert-face-enrolled"),
  );
}

function faceSummary(p) {
  const list = FACE_LIST_KEYS[p.list_kind] ? t(FACE_LIST_KEYS[p.list_kind]) : String(p.list_kind || "");
  const sim = typeof p.similarity === "number" ? p.similarity.toFixed(3) : "—";
  const thr = typeof p.threshold === "number" ? p.threshold.toFixed(2) : "—";
  return h(
    "div",
    { class: "face-summary", "data-testid": "alert-face" },
    h("strong", { "data-testid": "alert-face-name" }, p.full_name || p.entry || "—"),
    h("span", { class: "badge face-list", "data-testid": "alert-face-list", dataset: { kind: p.list_kind || "" } }, list),
    h("span", { "data-testid": "alert-face-similarity", title: t("alerts.face.threshold", { t: thr }) }, t("alerts.face.similarity", { s: sim, t: thr })),
    p.notes ? h("div", { class: "muted face-notes" }, p.notes) : null,
  );
}

// A hotlist hit (rule_kind "hotlist_hit", raised by services/road_watch.py) carries the read's
// pictures: the plate crop is shown large under the plate text, with the list's kind, priority and
// the reason the plate is listed, so the operator compares the crop with the listed plate by eye.
const HOTLIST_KIND_KEYS = { stolen: "hotlists.kind.stolen", wanted: "hotlists.kind.wanted", unpaid_fines: "hotlists.kind.unpaid_fines", operation: "hotlists.kind.operation" };

function hotlistPlate(ev) {
  const p = ev.payload || {};
  const src = ev.media && ev.media.plate;
  const pic = src
    ? h("a", { href: src, target: "_blank", rel: "noopener" }, h("img", { src, alt: t("alerts.hotlist.crop", { plate: p.plate || "" }), decoding: "async", "data-testid": "alert-hotlist-crop" }))
    : h("div", { class: "thumb-empty", "data-testid": "alert-hotlist-crop" }, t("events.no_snapshot"));
  return h("figure", { class: "hotlist-plate" }, pic, h("figcaption", { class: "plate-text", "data-testid": "alert-hotlist-plate" }, p.plate || "—"));
}

function hotlistSummary(ev) {
  const p = ev.payload || {};
  const kind = HOTLIST_KIND_KEYS[p.list_kind] ? t(HOTLIST_KIND_KEYS[p.list_kind]) : String(p.list_kind || "");
  const snapshot = ev.media && ev.media.snapshot;
  return h(
    "div",
    { class: "face-summary hotlist-summary", "data-testid": "alert-hotlist" },
    h("span", { class: "badge face-list", "data-testid": "alert-hotlist-kind", dataset: { kind: p.list_kind || "" } }, kind),
    typeof p.priority === "number" ? h("span", { class: "muted" }, t("alerts.hotlist.priority", { n: p.priority })) : null,
    h("span", { "data-testid": "alert-hotlist-reason" }, p.reason || "—"),
    p.legal_basis ? h("span", { class: "muted small" }, t("alerts.hotlist.basis", { basis: p.legal_basis })) : null,
    p.class || p.colour ? h("span", { class: "muted" }, [p.class ? classLabel(p.class) : null, p.colour ? colourLabel(p.colour) : null].filter(Boolean).join(" · ")) : null,
    snapshot ? h("a", { href: snapshot, target: "_blank", rel: "noopener", "data-testid": "alert-hotlist-snapshot" }, t("alerts.hotlist.vehicle")) : null,
  );
}

// A hit raised on a provisional read is taken back when the vehicle's decided read is another plate:
// the road watch then sends an alert with rule_kind "hotlist_unconfirmed" and `retracts: <hit id>`.
// It is not a new alarm: the hit it names is marked "not confirmed" (struck and greyed, with the decided
// plate and why) wherever it is shown, and the withdrawal itself is a small muted line. Withdrawals are
// remembered by hit id, so a hit rendered after its withdrawal (a page of events loads newest first)
// is marked as it is drawn.
const withdrawals = new Map(); // hit id -> the hotlist_unconfirmed alert

/** The id of the hit this alert takes back, or null. */
export function retractsId(ev) {
  const p = (ev && ev.payload) || {};
  return ev && ev.kind === "alert" && p.rule_kind === "hotlist_unconfirmed" && p.retracts ? String(p.retracts) : null;
}

/** What the operator reads on a withdrawn hit: the decided plate, the listed one, and why. */
export function withdrawnNote(info) {
  return h(
    "div",
    { class: "alert-withdrawn-note", "data-testid": "alert-withdrawn", role: "status" },
    h("strong", null, t("alerts.withdrawn.title")),
    " ",
    h("span", { "data-testid": "alert-withdrawn-plate" }, t("alerts.withdrawn.decided", { plate: info.plate || "—", listed: info.listed_plate || "—" })),
    h("div", { class: "muted small" }, t("alerts.withdrawn.reason")),
  );
}

function markWithdrawn(item, back) {
  if (item.dataset.withdrawn === "true") return;
  const p = back.payload || {};
  item.dataset.withdrawn = "true";
  item.dataset.withdrawnBy = back.id;
  item.classList.add("withdrawn");
  item.classList.remove("fresh");
  const body = item.querySelector(".event-body") || item;
  body.append(withdrawnNote({ plate: p.plate, listed_plate: p.listed_plate }));
}

/** Note a withdrawal and mark its hit wherever the page shows it; true when the hit was on the page. */
export function applyWithdrawal(back) {
  const hit = retractsId(back);
  if (!hit) return false;
  withdrawals.set(hit, back);
  const items = document.querySelectorAll(`[data-alert-id="${CSS.escape(hit)}"]`);
  for (const item of items) markWithdrawn(item, back);
  return items.length > 0;
}

function renderWithdrawal(ev) {
  const p = ev.payload || {};
  return h(
    "li",
    { class: "event alert alert-withdrawal muted", "data-testid": "alert-withdrawal", dataset: { eventId: ev.id, retracts: p.retracts, kind: ev.kind } },
    h(
      "div",
      { class: "event-body" },
      h(
        "div",
        { class: "event-head" },
        h("span", { class: "event-kind" }, t("alerts.withdrawn.line", { listed: p.listed_plate || "—", plate: p.plate || "—" })),
        h("span", { class: "spacer" }),
        h("time", { datetime: ev.ts, title: formatDateTime(ev.ts), "data-testid": "event-time" }, formatTime(ev.ts)),
      ),
    ),
  );
}

/**
 * Render one alert. `cameras` maps camera id -> camera (for its name); `showCamera` false on
 * the camera page, where every alert is that camera's. A withdrawal (see above) is drawn as a muted
 * line, and marks the hit it takes back.
 */
export function renderAlert(ev, { cameras = new Map(), showCamera = true, fresh = false } = {}) {
  if (retractsId(ev)) {
    applyWithdrawal(ev);
    return renderWithdrawal(ev);
  }
  const p = ev.payload || {};
  const sev = ev.severity || "medium";
  const cam = cameras.get(ev.camera);
  const where = [];
  if (!showCamera) {
    // one camera's own list: camera, site and region are the page's; nothing to repeat
  } else if (ev.camera) where.push(h("a", { href: cameraUrl(ev.camera), "data-testid": "alert-camera" }, cam ? cam.name : ev.camera));
  const site = (cam && cam.site_name) || ev.site;
  if (showCamera && site) where.push(h("span", null, site));
  if (showCamera && ev.region) where.push(h("span", { class: "muted" }, regionLabel(ev.region)));
  const mayJudge = can("events.read");
  const buttons = mayJudge
    ? [
        h("button", { type: "button", class: "btn btn-small alert-confirm", "data-testid": "alert-confirm", dataset: { verdict: "confirmed" } }, t("alerts.confirm")),
        h("button", { type: "button", class: "btn btn-small alert-dismiss", "data-testid": "alert-dismiss", dataset: { verdict: "dismissed" } }, t("alerts.dismiss")),
      ]
    : [];
  for (const b of buttons) b.addEventListener("click", () => judge(ev, b.dataset.verdict, buttons));
  const footage = ev.clip && can("playback.view") ? h("a", { class: "event-footage", href: ev.clip.page, "data-testid": "alert-footage" }, t("events.footage")) : null;
  const summary = alertSummary(p);
  const isFace = p.rule_kind === "face_match";
  const isHotlist = p.rule_kind === "hotlist_hit";
  const item = h(
    "li",
    {
      class: `event alert sev-${sev}${isFace ? " face-alert" : ""}${isHotlist ? " hotlist-alert" : ""}${fresh ? " fresh" : ""}`,
      "data-testid": "alert-item",
      dataset: { eventId: ev.id, alertId: ev.id, kind: ev.kind, camera: ev.camera || "", rule: p.rule || "", verdict: "" },
    },
    isFace ? facePair(ev) : isHotlist ? hotlistPlate(ev) : thumb(ev),
    h(
      "div",
      { class: "event-body" },
      h(
        "div",
        { class: "event-head" },
        h("span", { class: "event-kind", "data-testid": "alert-rule", title: p.rule || "" }, p.rule_name || p.rule || kindLabel(ev.kind)),
        h("span", { class: `badge sev sev-${sev}`, "data-testid": "alert-severity" }, severityLabel(sev)),
        h("span", { class: "spacer" }),
        h("time", { datetime: ev.ts, title: formatDateTime(ev.ts), "data-testid": "event-time" }, formatTime(ev.ts)),
      ),
      where.length ? h("div", { class: "event-where" }, ...where.flatMap((n, i) => (i ? [" · ", n] : [n]))) : null,
      isFace ? faceSummary(p) : null,
      isHotlist ? hotlistSummary(ev) : null,
      summary && !isFace && !isHotlist ? h("div", { class: "event-summary muted", "data-testid": "alert-summary" }, summary) : null,
      h(
        "div",
        { class: "alert-actions" },
        ...buttons,
        footage,
        h("span", { class: "alert-verdict muted", "data-testid": "alert-verdict", role: "status" }, verdictText(ev.feedback)),
      ),
    ),
  );
  if (ev.feedback) {
    item.dataset.verdict = ev.feedback.verdict;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.verdict === ev.feedback.verdict));
  }
  const back = withdrawals.get(ev.id);
  if (back) markWithdrawn(item, back);
  return item;
}

/**
 * A live list of alerts: the newest from the API, then every alert the feed brings (newest on
 * top, at most `max`). `camera` limits it to one camera.
 */
export class AlertList {
  constructor(list, empty, { cameras = new Map(), camera = null, showCamera = true, max = 30 } = {}) {
    this.list = list;
    this.empty = empty;
    this.cameras = cameras;
    this.camera = camera;
    this.showCamera = showCamera;
    this.max = max;
    this.seen = new Set();
  }

  accepts(ev) {
    return ev && ev.kind === "alert" && (!this.camera || ev.camera === this.camera);
  }

  /** An alert from the live feed (ignored if it is not one of ours or already listed). */
  add(ev) {
    if (!this.accepts(ev) || this.seen.has(ev.id)) return;
    this.seen.add(ev.id);
    if (retractsId(ev) && applyWithdrawal(ev)) return; // shown on the hit it takes back: no new item
    this.list.prepend(renderAlert(ev, { cameras: this.cameras, showCamera: this.showCamera, fresh: true }));
    while (this.list.children.length > this.max) {
      this.seen.delete(this.list.lastElementChild.dataset.eventId);
      this.list.lastElementChild.remove();
    }
    this.updateEmpty();
  }

  async load() {
    const q = new URLSearchParams({ kind: "alert", limit: String(this.max) });
    if (this.camera) q.set("camera", this.camera);
    const events = await api(`/api/events?${q}`);
    const frag = document.createDocumentFragment();
    const listed = new Set(events.map((ev) => ev.id));
    for (const ev of events) {
      if (this.seen.has(ev.id)) continue;
      this.seen.add(ev.id);
      const hit = retractsId(ev);
      if (hit && (listed.has(hit) || this.list.querySelector(`[data-alert-id="${CSS.escape(hit)}"]`))) {
        applyWithdrawal(ev); // its hit is (or will be) listed: marked there, not listed again
        continue;
      }
      frag.append(renderAlert(ev, { cameras: this.cameras, showCamera: this.showCamera }));
    }
    this.list.append(frag);
    this.updateEmpty();
  }

  updateEmpty() {
    if (this.empty) this.empty.hidden = this.list.children.length > 0;
  }
}
