// A road camera's lanes on the spot calibration page (/spot-speed, cameras.write): the camera's still with its
// lanes drawn as named translucent polygons; a new lane is a typed name and points clicked on the picture,
// closed by clicking its first point again or "Close lane" (Enter in the name field does the same, "Undo
// point" takes back a misplaced click, so a keyboard or a finger can do it all); rename or delete a lane in
// the table; "Save lanes" sends the whole list with PATCH /api/cameras/{id}. The API is the judge of the
// list (duplicate names, a point outside the frame, too few points, more than 12): its 422 is shown beside
// the form. Each plate read then names the lane its plate centre was in.

import { api, h, t, toast } from "./core.js";
import { plainError } from "./lawful.js";
import { picture, svgNode } from "./picture.js";

// a click this near the first point (on screen) closes the polygon; a fingertip gets more room than a mouse
const CLOSE_PX = window.matchMedia && window.matchMedia("(pointer: coarse)").matches ? 24 : 14;
const MAX_POINTS = 32; // the API's limit per lane

const $ = (id) => document.getElementById(id);

/** Lane i's colour: hues spread apart so neighbouring lanes are told apart. */
function hue(i) {
  return (i * 137 + 200) % 360;
}

/**
 * The API's refusal in the operator's terms: "lanes.1.zone: Value error, lane point (1.2, 0.0) is outside 0..1"
 * names the lane by its name rather than its index, "lanes: Value error, lanes: each lane needs …" loses the
 * field path (the section is about lanes already). Anything else is shown as plainError shows it.
 */
export function laneError(err, lanes) {
  const text = String((err && err.message) || err || "");
  return text
    .split("; ")
    .map((part) => {
      const m = /^lanes(?:\.(\d+)[.\w]*)?: (?:Value error, )?(?:lanes: )?(.*)$/s.exec(part);
      if (!m) return plainError(part);
      if (m[1] === undefined) return m[2];
      const lane = lanes[Number(m[1])];
      return `${t("lanes.error_of", { name: lane ? lane.name : Number(m[1]) + 1 })}: ${m[2]}`;
    })
    .join("; ");
}

function centre(zone) {
  const n = zone.length || 1;
  return [zone.reduce((s, p) => s + p[0], 0) / n, zone.reduce((s, p) => s + p[1], 0) / n];
}

/**
 * The lanes editor. `cameraName(id)` labels toasts; `onSaved(camera)` hands the API's answer back so the
 * page's camera list holds the saved lanes (choosing the camera again shows them).
 */
export function lanesEditor({ cameraName, onSaved }) {
  const card = $("lanes-card");
  const form = $("lanes-form");
  const stage = $("lanes-stage");
  const nameInput = $("lanes-name");
  const pic = picture(stage, $("lanes-svg"), $("lanes-still"), () => draw());
  const state = { camera: null, lanes: [], draft: [], dirty: false };

  function showError(message) {
    const node = $("lanes-error");
    node.textContent = message || "";
    node.hidden = !message;
  }

  function setDirty(dirty) {
    state.dirty = dirty;
    $("lanes-dirty").hidden = !dirty;
    card.dataset.dirty = String(dirty);
  }

  function draw() {
    const v = pic.view;
    const nodes = [];
    state.lanes.forEach((lane, i) => {
      const pts = lane.zone.map((p) => pic.px(p).join(",")).join(" ");
      const colour = `hsl(${hue(i)} 80% 60%)`;
      nodes.push(svgNode("polygon", { points: pts, class: "lane-shape", style: `fill: ${colour}; stroke: ${colour}`, "data-testid": "lane-shape", "data-name": lane.name }));
      const [cx, cy] = pic.px(centre(lane.zone));
      nodes.push(svgNode("text", { x: cx, y: cy, class: "lane-label", "font-size": v.h / 20, "text-anchor": "middle", "dominant-baseline": "middle", "data-testid": "lane-label" }, lane.name));
    });
    const draft = state.draft.map((p) => pic.px(p));
    if (draft.length > 1) nodes.push(svgNode("polyline", { points: draft.map((p) => p.join(",")).join(" "), class: "lane-draft" }));
    draft.forEach(([x, y], i) => {
      const first = i === 0 && draft.length >= 3; // the one to click to close
      nodes.push(svgNode("circle", { cx: x, cy: y, r: v.h / (first ? 40 : 70), class: first ? "lane-draft-point lane-draft-first" : "lane-draft-point", "data-testid": "lane-draft-point" }));
    });
    pic.svg.replaceChildren(...nodes);
    stage.dataset.draft = String(state.draft.length);
    stage.dataset.lanes = String(state.lanes.length);
  }

  function renderRows() {
    $("lanes-rows").replaceChildren(
      ...state.lanes.map((lane, i) =>
        h(
          "tr",
          { dataset: { testid: "lane-row", name: lane.name } },
          h(
            "td",
            null,
            h("span", { class: "lane-swatch", style: { background: `hsl(${hue(i)} 80% 60%)` } }),
            h("input", {
              class: "input",
              name: "rename",
              value: lane.name,
              maxlength: "16",
              "data-testid": "lane-rename",
              "aria-label": t("lanes.rename", { name: lane.name }),
              onchange: (ev) => {
                lane.name = ev.target.value.trim();
                ev.target.closest("tr").dataset.name = lane.name;
                setDirty(true);
                draw();
              },
            }),
          ),
          h("td", null, String(lane.zone.length)),
          h(
            "td",
            null,
            h("button", { type: "button", class: "btn btn-small btn-ghost", "data-testid": "lane-delete", onclick: () => removeLane(i) }, t("lanes.delete")),
          ),
        ),
      ),
    );
    $("lanes-empty").hidden = state.lanes.length > 0;
  }

  function render() {
    draw();
    renderRows();
  }

  function removeLane(i) {
    state.lanes.splice(i, 1);
    setDirty(true);
    render();
  }

  function closeDraft() {
    const name = nameInput.value.trim();
    if (state.draft.length < 3) return showError(t("lanes.need_points"));
    if (!name) {
      nameInput.focus();
      return showError(t("lanes.need_name"));
    }
    showError("");
    state.lanes.push({ name, zone: state.draft });
    state.draft = [];
    nameInput.value = "";
    setDirty(true);
    render();
  }

  pic.svg.addEventListener("click", (ev) => {
    if (!state.camera) return;
    const p = pic.at(ev);
    if (!p) return;
    if (state.draft.length >= 3 && pic.screenDistance(p, state.draft[0]) <= CLOSE_PX) return closeDraft();
    if (state.draft.length >= MAX_POINTS) return showError(t("lanes.too_many_points", { n: MAX_POINTS }));
    showError("");
    state.draft.push(p);
    draw();
  });
  $("lanes-close").addEventListener("click", closeDraft);
  $("lanes-undo").addEventListener("click", () => {
    state.draft.pop();
    draw();
  });
  $("lanes-cancel").addEventListener("click", () => {
    state.draft = [];
    showError("");
    draw();
  });
  nameInput.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault(); // not "save": Enter ends the lane being drawn
    if (state.draft.length) closeDraft();
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!state.camera) return;
    if (state.draft.length) return showError(t("lanes.finish_first"));
    showError("");
    const id = state.camera.id;
    const sent = JSON.stringify(state.lanes);
    try {
      const saved = await api(`/api/cameras/${encodeURIComponent(id)}`, { method: "PATCH", body: { lanes: state.lanes } });
      if (!state.camera || state.camera.id !== id) return; // another camera chosen meanwhile
      if (JSON.stringify(state.lanes) !== sent) {
        // changed while the save was on its way: keep the operator's newer lanes, still unsaved
        onSaved(saved);
        return;
      }
      state.camera = saved;
      state.lanes = (saved.lanes || []).map((l) => ({ name: l.name, zone: l.zone.map((p) => [p[0], p[1]]) }));
      setDirty(false);
      render();
      onSaved(saved);
      toast(t("lanes.saved", { camera: cameraName(id) }));
    } catch (err) {
      showError(laneError(err, state.lanes));
    }
  });

  window.addEventListener("beforeunload", (ev) => {
    if (state.dirty || state.draft.length) ev.preventDefault(); // the browser asks before drawn lanes are lost
  });

  return {
    cameraId: () => (state.camera ? state.camera.id : ""),
    /** True when unsaved lanes (or one being drawn) are there and the operator chose to keep them. */
    keepsUnsaved: () => (state.dirty || state.draft.length > 0) && !window.confirm(t("lanes.discard_confirm")),
    /** Show `camera`'s saved lanes (null: none chosen, the editor is hidden); an unsaved draft is dropped. */
    setCamera(camera) {
      state.camera = camera;
      state.lanes = camera ? (camera.lanes || []).map((l) => ({ name: l.name, zone: l.zone.map((p) => [p[0], p[1]]) })) : [];
      state.draft = [];
      nameInput.value = "";
      showError("");
      setDirty(false);
      card.dataset.camera = camera ? camera.id : "";
      $("lanes-title").textContent = camera ? t("lanes.title_of", { camera: cameraName(camera.id) }) : t("lanes.title");
      $("lanes-pick").hidden = !!camera;
      $("lanes-body").hidden = !camera;
      render();
    },
    blank: () => pic.blank(),
    show: (src) => pic.show(src),
  };
}
