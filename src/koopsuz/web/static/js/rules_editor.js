// Rule editor on the camera page. The camera's rules are drawn over a still frame (zones as
// polygons, lines with the direction that alerts) and listed; users who may change the camera
// (cameras.write, the permission of PUT /api/cameras/{id}/rules) also draw new ones, edit,
// disable and delete them. Every change PUTs the whole rule list: the API is the one validator,
// and its message is shown beside the form. Points are 0..1 of the frame (domain/rules.py), so
// a rule survives a change of resolution. Pointer events: mouse, touch and pen alike.

import { ApiError, api, can, h, severityLabel, t, toast } from "./core.js";
import { classLabel } from "./alerts.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const KIND_KEYS = {
  zone_entry: "rules.kind.zone_entry",
  line_crossing: "rules.kind.line_crossing",
  loitering: "rules.kind.loitering",
  after_hours: "rules.kind.after_hours",
  crowd: "rules.kind.crowd",
  stopped_vehicle: "rules.kind.stopped_vehicle",
};
const KIND_HINT_KEYS = {
  zone_entry: "rules.hint.zone_entry",
  line_crossing: "rules.hint.line_crossing",
  loitering: "rules.hint.loitering",
  after_hours: "rules.hint.after_hours",
  crowd: "rules.hint.crowd",
  stopped_vehicle: "rules.hint.stopped_vehicle",
};
const DIRECTION_KEYS = {
  both: "rules.direction.both",
  left_to_right: "rules.direction.left_to_right",
  right_to_left: "rules.direction.right_to_left",
};
const CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"];
const VEHICLES = ["car", "motorcycle", "bus", "truck"];
const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const CLOSE_PX = 14; // a click this close to the first point closes the zone
const DRAG_PX = 4; // a pointer that moves less than this between down and up is a click
const SNAP_PX = 8; // a point this close to the frame's edge goes onto it (objects there are cut by it)

export function kindLabel(kind) {
  return KIND_KEYS[kind] ? t(KIND_KEYS[kind]) : String(kind);
}

const isLine = (kind) => kind === "line_crossing";
const round4 = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;

// ---------------------------------------------------------------------------------------------
// Opening hours as one line of text: "mon-fri 08:00-18:00; sat 09:00-13:00" (empty: the site's).

export function formatHours(hours) {
  if (!hours) return "";
  const groups = [];
  for (const day of DAYS) {
    const spans = (hours[day] || []).join(", ");
    if (!spans) continue;
    const last = groups[groups.length - 1];
    if (last && last.spans === spans && DAYS.indexOf(last.to) === DAYS.indexOf(day) - 1) last.to = day;
    else groups.push({ from: day, to: day, spans });
  }
  return groups.map((g) => `${g.from === g.to ? g.from : `${g.from}-${g.to}`} ${g.spans}`).join("; ");
}

export function parseHours(text) {
  const src = String(text || "").trim().toLowerCase();
  if (!src) return null;
  const out = {};
  for (const part of src.split(/[;\n]+/).map((s) => s.trim()).filter(Boolean)) {
    const m = part.match(/^([a-z,\- ]+?)\s+(\d.*)$/);
    if (!m) throw new Error(t("rules.error.hours", { part }));
    const days = [];
    for (const token of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      const [a, b] = token.split("-").map((s) => s.trim());
      const i = DAYS.indexOf(a);
      const j = b === undefined ? i : DAYS.indexOf(b);
      if (i < 0 || j < 0 || j < i) throw new Error(t("rules.error.hours", { part }));
      days.push(...DAYS.slice(i, j + 1));
    }
    const spans = m[2].split(",").map((s) => s.trim()).filter(Boolean);
    for (const d of days) out[d] = [...(out[d] || []), ...spans];
  }
  return out;
}

/** The API's message in plain words: "rules.2: Value error, x" -> "«Rule name»: x". */
export function plainError(detail, rules) {
  return String(detail || "")
    .split("; ")
    .map((msg) =>
      msg
        .replace(/^rules\.(\d+)(?:\.([a-z_]+))?[^:]*:\s*/, (_, i, field) => {
          const r = rules[Number(i)];
          const name = r ? `«${r.name || r.id}»` : `#${Number(i) + 1}`;
          return field ? `${name}, ${field}: ` : `${name}: `;
        })
        .replace(/^(.*?)Value error, /, "$1")
        .replace(/\ba ([a-z_]+) rule\b/g, (m0, kind) => (KIND_KEYS[kind] ? `«${kindLabel(kind)}»` : m0)),
    )
    .join("\n");
}

// ---------------------------------------------------------------------------------------------

export class RulesEditor {
  /**
   * `liveView`: the page's MJPEG <img>; its current frame is the picture the rules go on.
   * `still`: whether a still may be fetched when there is no live view (not for a camera that
   * is disabled or a user without live.view: the request could only fail).
   */
  constructor(root, cameraId, { liveView = null, still = true } = {}) {
    this.root = root;
    this.liveView = liveView;
    this.still = still && can("live.view");
    this.cameraId = cameraId;
    this.base = `/api/cameras/${encodeURIComponent(cameraId)}`;
    this.mayEdit = can("cameras.write");
    this.rules = [];
    this.defaults = false;
    this.selected = null; // rule id highlighted
    this.draft = null; // the rule being drawn or edited (a copy), with `index` (-1: new)
    this.drawing = false; // clicks add points to the draft
    this.hover = null; // pointer position while drawing (rubber band)
    this.drag = null; // {index, moved} while a vertex is dragged
    this.down = null;
    this.size = { w: 640, h: 360 }; // the frame's pixels; the SVG's view box
    const q = (testid) => root.querySelector(`[data-testid="${testid}"]`);
    this.stage = q("rules-stage");
    this.frame = q("rules-frame");
    this.svg = q("rules-canvas");
    this.hint = q("rules-hint");
    this.list = q("rule-list");
    this.empty = q("rules-empty");
    this.defaultsNote = q("rules-defaults");
    this.form = this.mayEdit ? q("rule-form") : null;
    this.newBtn = this.mayEdit ? q("rule-new") : null;
  }

  async start() {
    this.bindCanvas();
    q$(this.root, "rules-frame-refresh")?.addEventListener("click", () => this.loadFrame());
    if (this.form) this.bindForm();
    else {
      // Without the permission there is nothing to edit with, even if the page kept controls.
      this.root.querySelectorAll("[data-edit-control]").forEach((n) => n.remove());
    }
    this.newBtn?.addEventListener("click", () => this.openForm(null));
    if (this.liveView) {
      // The first frame of the live view is the picture; later ones only on "refresh".
      const first = () => {
        if (this.stage.dataset.frame !== "loaded") this.loadFrame();
      };
      this.liveView.addEventListener("load", first);
    }
    this.loadFrame();
    await this.reload();
  }

  /**
   * Copy the live view's current frame onto the canvas. Only when no live view runs is the still
   * fetched from frame.jpg: a second request for the frame the MJPEG stream is encoding costs
   * the server a second conversion of the same picture at the same moment.
   */
  loadFrame() {
    const live = this.liveView;
    if (live && live.getAttribute("src") && live.complete && live.naturalWidth > 0) {
      this.paint(live);
      return;
    }
    if (!this.still || (live && /\.mjpeg/.test(live.src) && !live.complete)) return; // the live view's load event paints
    const img = new Image();
    img.addEventListener("load", () => this.paint(img));
    img.addEventListener("error", () => {
      this.stage.dataset.frame = "error";
    });
    img.src = `${this.base}/frame.jpg?t=${Date.now()}`;
  }

  paint(img) {
    const w = img.naturalWidth;
    const hh = img.naturalHeight;
    if (!w || !hh) return;
    try {
      this.frame.width = w;
      this.frame.height = hh;
      this.frame.getContext("2d").drawImage(img, 0, 0, w, hh);
    } catch {
      this.stage.dataset.frame = "error";
      return;
    }
    this.size = { w, h: hh };
    this.stage.style.aspectRatio = `${w} / ${hh}`;
    this.stage.dataset.frame = "loaded";
    this.draw();
  }

  async reload() {
    const data = await api(`${this.base}/rules`);
    this.apply(data);
  }

  apply(data) {
    this.rules = Array.isArray(data.rules) ? data.rules : [];
    this.defaults = !!data.defaults;
    this.root.dataset.defaults = String(this.defaults);
    this.root.dataset.count = String(this.rules.length);
    if (this.selected && !this.rules.some((r) => r.id === this.selected)) this.selected = null;
    this.renderList();
    this.draw();
  }

  // -- list -------------------------------------------------------------------------------
  renderList() {
    this.defaultsNote.hidden = !(this.defaults && this.rules.length);
    this.empty.hidden = this.rules.length > 0;
    this.empty.textContent = this.defaults ? t("rules.empty_defaults") : t("rules.empty");
    this.list.replaceChildren(...this.rules.map((r, i) => this.ruleItem(r, i)));
  }

  ruleItem(rule, index) {
    const facts = [kindLabel(rule.kind)];
    if (rule.kind === "loitering" || rule.kind === "stopped_vehicle") facts.push(t("common.seconds", { n: rule.seconds }));
    if (rule.kind === "crowd") facts.push(t("rules.more_than", { n: rule.count }));
    if (isLine(rule.kind)) facts.push(t(DIRECTION_KEYS[rule.direction] || DIRECTION_KEYS.both));
    const classes = rule.classes || CLASSES;
    if (classes.length < CLASSES.length) facts.push(classes.map(classLabel).join(", "));
    const item = h(
      "li",
      {
        class: `rule-item sev-${rule.severity}${rule.enabled === false ? " rule-off" : ""}`,
        "data-testid": "rule-item",
        dataset: { ruleId: rule.id, kind: rule.kind, enabled: String(rule.enabled !== false), selected: String(this.selected === rule.id) },
        tabindex: "0",
      },
      h(
        "div",
        { class: "rule-head" },
        h("span", { class: "rule-name", "data-testid": "rule-item-name" }, rule.name),
        h("span", { class: `badge sev sev-${rule.severity}` }, severityLabel(rule.severity)),
        this.defaults ? h("span", { class: "badge rule-default", "data-testid": "rule-default-badge" }, t("rules.default_badge")) : null,
        rule.enabled === false ? h("span", { class: "badge rule-off-badge", "data-testid": "rule-off-badge" }, t("rules.off")) : null,
      ),
      h("div", { class: "rule-facts muted" }, facts.join(" · ")),
    );
    item.addEventListener("click", (e) => {
      if (e.target.closest("button")) return;
      this.select(rule.id);
    });
    item.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.target === item) this.select(rule.id);
    });
    if (this.mayEdit) {
      const del = h("button", { type: "button", class: "btn btn-small btn-ghost", "data-testid": "rule-delete" }, t("rules.delete"));
      let armed = null;
      del.addEventListener("click", () => {
        if (!armed) {
          // A second click within a few seconds deletes: no modal dialog in a control room.
          del.textContent = t("rules.delete_confirm");
          del.classList.add("armed");
          armed = setTimeout(() => {
            armed = null;
            del.textContent = t("rules.delete");
            del.classList.remove("armed");
          }, 4000);
          return;
        }
        clearTimeout(armed);
        this.save(this.rules.filter((_, i) => i !== index), t("rules.deleted", { name: rule.name }));
      });
      item.append(
        h(
          "div",
          { class: "rule-actions" },
          h("button", { type: "button", class: "btn btn-small", "data-testid": "rule-edit", onclick: () => this.openForm(index) }, t("rules.edit")),
          h(
            "button",
            {
              type: "button",
              class: "btn btn-small btn-ghost",
              "data-testid": "rule-toggle",
              onclick: () => {
                const next = this.rules.map((r, i) => (i === index ? { ...r, enabled: r.enabled === false } : r));
                this.save(next, t(rule.enabled === false ? "rules.enabled_msg" : "rules.disabled_msg", { name: rule.name }));
              },
            },
            rule.enabled === false ? t("rules.enable") : t("rules.disable"),
          ),
          del,
        ),
      );
    }
    return item;
  }

  select(id) {
    this.selected = this.selected === id ? null : id;
    for (const li of this.list.children) li.dataset.selected = String(li.dataset.ruleId === this.selected);
    this.draw();
  }

  // -- saving -----------------------------------------------------------------------------
  /** PUT the whole list; on success adopt the server's copy, else show why beside the form. */
  async save(rules, message) {
    this.showError("");
    try {
      const data = await api(`${this.base}/rules`, { method: "PUT", body: { rules } });
      this.apply(data);
      toast(message || t("rules.saved"));
      return true;
    } catch (err) {
      const text = err instanceof ApiError ? plainError(err.detail || err.message, rules) : err.message;
      if (this.form && !this.form.hidden) this.showError(text);
      else toast(t("rules.save_failed", { detail: text }), { error: true });
      return false;
    }
  }

  showError(text) {
    if (!this.form) return;
    const node = q$(this.form, "rule-error");
    node.textContent = text ? `${t("rules.not_saved")} ${text}` : "";
    node.hidden = !text;
  }

  // -- form -------------------------------------------------------------------------------
  bindForm() {
    const f = this.form;
    const kindSel = q$(f, "rule-kind");
    kindSel.replaceChildren(...Object.keys(KIND_KEYS).map((k) => h("option", { value: k }, kindLabel(k))));
    q$(f, "rule-severity").replaceChildren(...SEVERITIES.map((s) => h("option", { value: s }, severityLabel(s))));
    q$(f, "rule-direction").replaceChildren(...Object.keys(DIRECTION_KEYS).map((d) => h("option", { value: d }, t(DIRECTION_KEYS[d]))));
    q$(f, "rule-classes").replaceChildren(
      ...CLASSES.map((c) =>
        h("label", { class: "check" }, h("input", { type: "checkbox", value: c, "data-testid": `rule-class-${c}` }), classLabel(c)),
      ),
    );
    kindSel.addEventListener("change", () => {
      const was = this.draft.kind;
      this.draft.kind = kindSel.value;
      if (isLine(was) !== isLine(this.draft.kind)) {
        this.draft.points = [];
        this.draft.closed = false;
        this.drawing = true;
      }
      if (this.draft.kind === "stopped_vehicle" && was !== "stopped_vehicle") this.setClasses(VEHICLES);
      this.syncForm();
    });
    q$(f, "rule-direction").addEventListener("change", (e) => {
      this.draft.direction = e.target.value;
      this.draw();
    });
    q$(f, "rule-direction-switch").addEventListener("click", () => {
      const order = Object.keys(DIRECTION_KEYS);
      this.draft.direction = order[(order.indexOf(this.draft.direction) + 1) % order.length];
      q$(f, "rule-direction").value = this.draft.direction;
      this.draw();
    });
    q$(f, "rule-redraw").addEventListener("click", () => {
      this.draft.points = [];
      this.draft.closed = false;
      this.drawing = true;
      this.syncForm();
    });
    q$(f, "rule-close").addEventListener("click", () => this.closeZone());
    q$(f, "rule-name").addEventListener("input", () => this.draw());
    q$(f, "rule-cancel").addEventListener("click", () => this.closeForm());
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    document.addEventListener("keydown", (e) => {
      if (!this.draft || !this.drawing) return;
      if (e.key === "Escape") this.closeForm();
      else if (e.key === "Enter" && !isLine(this.draft.kind) && e.target === document.body) this.closeZone();
      else if (e.key === "Backspace" && e.target === document.body && this.draft.points.length) {
        e.preventDefault();
        this.draft.points.pop();
        this.syncForm();
      }
    });
  }

  setClasses(classes) {
    for (const box of this.form.querySelectorAll('[data-testid="rule-classes"] input')) box.checked = classes.includes(box.value);
  }

  openForm(index) {
    const src = index === null ? null : this.rules[index];
    const kind = src ? src.kind : "zone_entry";
    const shape = src ? (isLine(kind) ? src.line : src.zone) || [] : [];
    this.draft = {
      index: index === null ? -1 : index,
      kind,
      points: shape.map(([x, y]) => [x, y]),
      closed: !isLine(kind) && shape.length >= 3,
      direction: (src && src.direction) || "both",
    };
    this.drawing = shape.length === 0;
    this.selected = src ? src.id : null;
    const f = this.form;
    f.hidden = false;
    f.dataset.mode = src ? "edit" : "new";
    q$(f, "rule-form-title").textContent = src ? t("rules.edit_title", { name: src.name }) : t("rules.new_title");
    q$(f, "rule-name").value = src ? src.name : "";
    q$(f, "rule-kind").value = kind;
    q$(f, "rule-direction").value = this.draft.direction;
    q$(f, "rule-severity").value = src ? src.severity : "medium";
    q$(f, "rule-min-height").value = src ? String(Math.round((src.min_height || 0) * 1000) / 10) : "0";
    q$(f, "rule-seconds").value = src && src.seconds ? String(src.seconds) : "30";
    q$(f, "rule-count").value = src && src.count ? String(src.count) : "5";
    q$(f, "rule-hours").value = src ? formatHours(src.hours) : "";
    q$(f, "rule-enabled").checked = src ? src.enabled !== false : true;
    this.setClasses(src ? src.classes : ["person"]);
    this.showError("");
    this.root.dataset.editing = "true";
    if (this.newBtn) this.newBtn.disabled = true;
    this.syncForm();
    this.renderList();
    q$(f, "rule-name").focus({ preventScroll: true });
    this.stage.scrollIntoView({ block: "nearest" });
  }

  closeForm() {
    this.draft = null;
    this.drawing = false;
    this.hover = null;
    if (this.form) this.form.hidden = true;
    if (this.newBtn) this.newBtn.disabled = false;
    this.root.dataset.editing = "false";
    this.showError("");
    this.draw();
  }

  /** Show the fields the kind takes and what the drawing needs next. */
  syncForm() {
    const f = this.form;
    const kind = this.draft.kind;
    f.dataset.kind = kind;
    for (const node of f.querySelectorAll("[data-kinds]")) node.hidden = !node.dataset.kinds.split(" ").includes(kind);
    q$(f, "rule-kind-hint").textContent = t(KIND_HINT_KEYS[kind]);
    const n = this.draft.points.length;
    const status = isLine(kind)
      ? n >= 2
        ? t("rules.shape.line_done")
        : t("rules.shape.line_points", { n })
      : this.draft.closed
        ? t("rules.shape.zone_done", { n })
        : t("rules.shape.zone_points", { n });
    const statusNode = q$(f, "rule-shape-status");
    statusNode.textContent = status;
    statusNode.dataset.points = String(n);
    q$(f, "rule-close").hidden = isLine(kind) || this.draft.closed;
    q$(f, "rule-close").disabled = n < 3;
    this.draw();
  }

  closeZone() {
    if (!this.draft || isLine(this.draft.kind) || this.draft.points.length < 3) return;
    this.draft.closed = true;
    this.drawing = false;
    this.hover = null;
    this.syncForm();
  }

  /** The rule the form describes, in the API's model; hours text errors are thrown. */
  collect() {
    const f = this.form;
    const d = this.draft;
    const src = d.index >= 0 ? this.rules[d.index] : null;
    const kind = d.kind;
    const pts = d.points.map(([x, y]) => [round4(x), round4(y)]);
    const rule = {
      id: src ? src.id : newId(kind, this.rules),
      name: q$(f, "rule-name").value.trim(),
      kind,
      zone: isLine(kind) ? null : pts,
      line: isLine(kind) ? pts : null,
      direction: isLine(kind) ? d.direction : "both",
      classes: [...f.querySelectorAll('[data-testid="rule-classes"] input:checked')].map((b) => b.value),
      min_height: Math.round(Number(q$(f, "rule-min-height").value || 0) * 10) / 1000,
      severity: q$(f, "rule-severity").value,
      enabled: q$(f, "rule-enabled").checked,
      seconds: kind === "loitering" || kind === "stopped_vehicle" ? Number(q$(f, "rule-seconds").value) : null,
      count: kind === "crowd" ? Number(q$(f, "rule-count").value) : null,
      still: src && src.still ? src.still : 0.02,
      hours: kind === "after_hours" ? parseHours(q$(f, "rule-hours").value) : null,
    };
    return rule;
  }

  async submit() {
    let rule;
    try {
      rule = this.collect();
    } catch (err) {
      this.showError(err.message);
      return;
    }
    const d = this.draft;
    const next = d.index >= 0 ? this.rules.map((r, i) => (i === d.index ? rule : r)) : [...this.rules, rule];
    const btn = q$(this.form, "rule-save");
    btn.disabled = true;
    try {
      if (await this.save(next, t("rules.saved_name", { name: rule.name }))) {
        this.selected = rule.id;
        this.closeForm();
        this.renderList();
      }
    } finally {
      btn.disabled = false;
    }
  }

  // -- canvas -----------------------------------------------------------------------------
  bindCanvas() {
    const svg = this.svg;
    svg.addEventListener("pointerdown", (e) => this.onDown(e));
    svg.addEventListener("pointermove", (e) => this.onMove(e));
    svg.addEventListener("pointerup", (e) => this.onUp(e));
    svg.addEventListener("pointercancel", () => {
      this.drag = null;
      this.down = null;
    });
    svg.addEventListener("pointerleave", () => {
      if (this.drawing && !this.drag) {
        this.hover = null;
        this.draw();
      }
    });
    svg.addEventListener("dblclick", (e) => {
      e.preventDefault();
      this.closeZone();
    });
    new ResizeObserver(() => this.draw()).observe(this.stage);
  }

  /** Pointer position in 0..1 of the frame, snapped onto an edge it is within SNAP_PX of. */
  norm(e) {
    const r = this.svg.getBoundingClientRect();
    const snap = (v, size) => (v < SNAP_PX ? 0 : v > size - SNAP_PX ? 1 : v / size);
    return [round4(snap(e.clientX - r.left, r.width)), round4(snap(e.clientY - r.top, r.height))];
  }

  /** Distance in screen pixels between two 0..1 points. */
  screenDist(a, b) {
    const r = this.svg.getBoundingClientRect();
    return Math.hypot((a[0] - b[0]) * r.width, (a[1] - b[1]) * r.height);
  }

  onDown(e) {
    if (!this.draft || e.button > 0) return;
    const handle = e.target.closest("[data-vertex]");
    this.down = { x: e.clientX, y: e.clientY };
    if (handle && !(this.drawing && Number(handle.dataset.vertex) === 0 && this.draft.points.length >= 3)) {
      this.drag = { index: Number(handle.dataset.vertex), moved: false };
    }
    this.svg.setPointerCapture?.(e.pointerId);
    e.preventDefault();
  }

  onMove(e) {
    if (!this.draft) return;
    const p = this.norm(e);
    if (this.drag) {
      if (this.down && Math.hypot(e.clientX - this.down.x, e.clientY - this.down.y) >= DRAG_PX) this.drag.moved = true;
      if (this.drag.moved) {
        this.draft.points[this.drag.index] = p;
        this.draw();
      }
      return;
    }
    if (this.drawing) {
      this.hover = p;
      this.draw();
    }
  }

  onUp(e) {
    if (!this.draft) return;
    this.svg.releasePointerCapture?.(e.pointerId);
    const drag = this.drag;
    this.drag = null;
    const down = this.down;
    this.down = null;
    if (drag && drag.moved) {
      this.syncForm();
      return;
    }
    if (!this.drawing || !down || Math.hypot(e.clientX - down.x, e.clientY - down.y) >= DRAG_PX * 2) return;
    const p = this.norm(e);
    const pts = this.draft.points;
    if (isLine(this.draft.kind)) {
      if (pts.length >= 2) return;
      if (pts.length === 1 && this.screenDist(pts[0], p) < CLOSE_PX) return; // a line needs length
      pts.push(p);
      if (pts.length === 2) {
        this.drawing = false;
        this.hover = null;
      }
    } else if (pts.length >= 3 && this.screenDist(pts[0], p) < CLOSE_PX) {
      this.closeZone();
      return;
    } else {
      pts.push(p);
    }
    this.syncForm();
  }

  draw() {
    const { w, h: hh } = this.size;
    const svg = this.svg;
    svg.setAttribute("viewBox", `0 0 ${w} ${hh}`);
    svg.dataset.drawing = String(this.drawing);
    const r = svg.getBoundingClientRect();
    const unit = r.width > 0 ? w / r.width : 1; // view-box units per screen pixel: strokes stay crisp
    const nodes = [];
    const editing = this.draft ? (this.draft.index >= 0 ? this.rules[this.draft.index]?.id : "__new") : null;
    for (const rule of this.rules) {
      if (editing && rule.id === editing) continue; // the draft stands in for it
      const shape = isLine(rule.kind) ? rule.line : rule.zone;
      if (!shape) continue;
      nodes.push(
        this.shape(rule.id, rule.kind, shape, {
          closed: !isLine(rule.kind),
          direction: rule.direction,
          label: rule.name,
          cls: `rule-shape sev-${rule.severity}${rule.enabled === false ? " off" : ""}${this.selected === rule.id ? " selected" : ""}${editing ? " dim" : ""}`,
          unit,
        }),
      );
    }
    if (this.draft) {
      const d = this.draft;
      const pts = this.drawing && this.hover ? [...d.points, this.hover] : d.points;
      nodes.push(
        this.shape("draft", d.kind, pts, {
          closed: !isLine(d.kind) && (d.closed || (this.drawing && pts.length >= 3)),
          open: this.drawing,
          direction: d.direction,
          label: this.form ? q$(this.form, "rule-name").value : "",
          cls: "rule-shape draft",
          unit,
          handles: d.points.length,
        }),
      );
    }
    svg.replaceChildren(...nodes);
    if (this.hint) {
      const key = this.draft && this.drawing ? (isLine(this.draft.kind) ? "rules.draw.line" : "rules.draw.zone") : null;
      this.hint.hidden = !key;
      this.hint.textContent = key ? t(key) : "";
    }
  }

  /** One rule as SVG: polygon or line (with direction arrows), its name, and vertex handles. */
  shape(id, kind, points, { closed, open = false, direction = "both", label = "", cls, unit, handles = 0 }) {
    const { w, h: hh } = this.size;
    const px = points.map(([x, y]) => [x * w, y * hh]);
    const g = svgEl("g", { class: cls, "data-testid": id === "draft" ? "rule-draft" : "rule-shape", "data-rule-id": id, "data-kind": kind });
    const attr = px.map((p) => p.join(",")).join(" ");
    if (px.length >= 2 || (px.length === 1 && !isLine(kind))) {
      if (closed && !open) g.append(svgEl("polygon", { points: attr, "stroke-width": 2 * unit }));
      else g.append(svgEl("polyline", { points: closed ? `${attr} ${px[0].join(",")}` : attr, "stroke-width": 2 * unit }));
    }
    if (isLine(kind) && px.length === 2) {
      g.append(...arrows(px[0], px[1], direction, unit));
      g.append(svgEl("text", { x: px[0][0] + 6 * unit, y: px[0][1] - 6 * unit, class: "end", "font-size": 12 * unit }, "A"));
      g.append(svgEl("text", { x: px[1][0] + 6 * unit, y: px[1][1] - 6 * unit, class: "end", "font-size": 12 * unit }, "B"));
    }
    if (label && px.length) {
      // Zones: over their top corner; lines: beside their middle, clear of the A and B marks.
      const at = isLine(kind) && px.length === 2 ? [(px[0][0] + px[1][0]) / 2 + 30 * unit, (px[0][1] + px[1][1]) / 2] : px.reduce((a, b) => (b[1] < a[1] ? b : a));
      g.append(svgEl("text", { x: Math.min(at[0], w - 40 * unit), y: Math.max(14 * unit, at[1] - 8 * unit), class: "label", "font-size": 13 * unit }, label));
    }
    for (let i = 0; i < handles; i += 1) {
      g.append(
        svgEl("circle", {
          cx: px[i][0],
          cy: px[i][1],
          r: (i === 0 && open && !isLine(kind) ? 8 : 6) * unit,
          class: `vertex${i === 0 ? " first" : ""}`,
          "data-vertex": String(i),
          "data-testid": "rule-vertex",
          "stroke-width": 1.5 * unit,
        }),
      );
    }
    return g;
  }
}

/** Arrows across the middle of a->b pointing the way crossings alert (both ways for "both"). */
function arrows(a, b, direction, unit) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const len = Math.hypot(dx, dy) || 1;
  // The right-hand side of a->b (y grows downwards), as in domain/rules.py: normal (-dy, dx).
  const n = [-dy / len, dx / len];
  const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const size = 22 * unit;
  const out = [];
  const one = (sign) => {
    // From the left side to the right side (sign 1) or back (sign -1).
    const from = [mid[0] - sign * n[0] * size, mid[1] - sign * n[1] * size];
    const to = [mid[0] + sign * n[0] * size, mid[1] + sign * n[1] * size];
    const head = [
      [to[0] - sign * n[0] * 8 * unit + (dx / len) * 6 * unit, to[1] - sign * n[1] * 8 * unit + (dy / len) * 6 * unit],
      [to[0] - sign * n[0] * 8 * unit - (dx / len) * 6 * unit, to[1] - sign * n[1] * 8 * unit - (dy / len) * 6 * unit],
    ];
    const g = svgEl("g", { class: "arrow", "data-testid": "rule-arrow", "data-direction": sign > 0 ? "left_to_right" : "right_to_left" });
    g.append(svgEl("line", { x1: from[0], y1: from[1], x2: to[0], y2: to[1], "stroke-width": 2.5 * unit }));
    g.append(svgEl("polygon", { points: `${to.join(",")} ${head[0].join(",")} ${head[1].join(",")}` }));
    return g;
  };
  if (direction !== "right_to_left") out.push(one(1));
  if (direction !== "left_to_right") out.push(one(-1));
  return out;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function q$(root, testid) {
  return root.querySelector(`[data-testid="${testid}"]`);
}

/** A fresh rule id (the API wants a slug, unique on the camera): kind and a time stamp. */
function newId(kind, rules) {
  const taken = new Set(rules.map((r) => r.id));
  let id;
  do {
    id = `${kind.replace(/_/g, "-")}-${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;
  } while (taken.has(id));
  return id;
}
