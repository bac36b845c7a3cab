// Spot-speed calibration (/spot-speed, cameras.write): pick a plate camera, see a current still of it
// (frame.jpg, only when the camera is online: a request bound to fail would only log an error), click
// four points of the road on it and type where each lies on the road in metres (x across, y along), the
// camera's and a plate centre's height, the limit, tolerance and class limits; save through
// POST /api/spot-cameras. The API is the judge: its 422 (three points in a line, a height out of range)
// is shown beside the form with the field named in the operator's language. Existing calibrations
// (in the caller's regions) are listed with Edit and Delete (DELETE /api/spot-cameras/{camera}).
// Picture points are fractions 0..1 of the picture's width and height, as the road watch uses them.
// The same still carries the camera's lanes (spot_lanes.js): named polygons saved with PATCH /api/cameras/{id}.

import { startApp } from "./app.js";
import { api, can, h, stateLabel, t, toast } from "./core.js";
import { plainError } from "./lawful.js";
import { picture, svgNode } from "./picture.js";
import { lanesEditor } from "./spot_lanes.js";

const CLASS_KEYS = { car: "rules.class.car", bus: "rules.class.bus", truck: "rules.class.truck", motorcycle: "rules.class.motorcycle" };
const FIELDS = {
  camera: "spot.camera",
  image_points: "spot.image_points",
  road_points: "spot.road_points",
  camera_height_m: "spot.camera_height",
  plate_height_m: "spot.plate_height",
  limit_kmh: "spot.limit",
  tolerance_kmh: "spot.tolerance",
  class_limits: "spot.class_limits",
};

const $ = (id) => document.getElementById(id);
const form = $("spot-form");
const stage = $("spot-stage");
const svg = $("spot-svg");
const still = $("spot-still");
const state = { cameras: new Map(), spots: [], points: [] };
const pic = picture(stage, svg, still, () => drawPoints());
const view = pic.view;
const lanes = lanesEditor({
  cameraName,
  onSaved: (camera) => state.cameras.set(camera.id, { ...state.cameras.get(camera.id), ...camera }),
});

function showError(message) {
  const node = $("spot-error");
  node.textContent = message || "";
  node.hidden = !message;
}

function cameraName(id) {
  const c = state.cameras.get(id);
  return c ? `${c.name} (${id})` : id;
}

// -- the picture and its four points -----------------------------------------------------------
function drawPoints() {
  const pts = state.points.map((p) => pic.px(p));
  const nodes = [];
  if (pts.length > 1) {
    const shape = pts.length === 4 ? "polygon" : "polyline";
    nodes.push(svgNode(shape, { points: pts.map((p) => p.join(",")).join(" "), class: "spot-shape" }));
  }
  pts.forEach(([x, y], i) => {
    nodes.push(svgNode("circle", { cx: x, cy: y, r: view.h / 60, class: "spot-point", "data-testid": "spot-marker" }));
    nodes.push(svgNode("text", { x: x + view.h / 40, y: y - view.h / 40, class: "spot-label", "font-size": view.h / 18 }, String(i + 1)));
  });
  svg.replaceChildren(...nodes);
  stage.dataset.points = String(state.points.length);
  renderPointRows();
}

function renderPointRows() {
  const body = $("spot-points-body");
  const keep = [...body.querySelectorAll("tr")].map((tr) => [tr.querySelector('[name="x"]').value, tr.querySelector('[name="y"]').value]);
  body.replaceChildren(
    ...[0, 1, 2, 3].map((i) => {
      const p = state.points[i];
      const where = p ? `(${(p[0] * 100).toFixed(1)} %, ${(p[1] * 100).toFixed(1)} %)` : t("spot.not_placed");
      const [x, y] = keep[i] || ["", ""];
      return h(
        "tr",
        { dataset: { testid: "spot-point-row", placed: String(!!p) } },
        h("th", { scope: "row" }, t("spot.point_n", { n: i + 1 }), h("div", { class: "muted small", "data-testid": "spot-point-where" }, where)),
        h("td", null, h("input", { class: "input", type: "number", step: "0.01", name: "x", value: x, "data-testid": "spot-road-x", "aria-label": `${t("spot.point_n", { n: i + 1 })} ${t("spot.x")}` })),
        h("td", null, h("input", { class: "input", type: "number", step: "0.01", name: "y", value: y, "data-testid": "spot-road-y", "aria-label": `${t("spot.point_n", { n: i + 1 })} ${t("spot.y")}` })),
      );
    }),
  );
}

function setRoadPoints(road) {
  const rows = $("spot-points-body").querySelectorAll("tr");
  rows.forEach((tr, i) => {
    tr.querySelector('[name="x"]').value = road && road[i] ? road[i][0] : "";
    tr.querySelector('[name="y"]').value = road && road[i] ? road[i][1] : "";
  });
}

svg.addEventListener("click", (ev) => {
  if (state.points.length >= 4) return; // "Clear points" starts again
  const p = pic.at(ev);
  if (!p) return;
  state.points.push(p);
  drawPoints();
});
$("spot-clear").addEventListener("click", () => {
  state.points = [];
  drawPoints();
});

function loadStill() {
  const id = form.elements.camera.value;
  const note = $("spot-still-note");
  const cam = state.cameras.get(id);
  pic.blank();
  lanes.blank();
  if (!cam) {
    note.hidden = true;
    return;
  }
  const health = cam.health || {};
  const noStill = () => {
    note.textContent = t("spot.no_still", { state: stateLabel(health.state) });
    note.hidden = false;
  };
  if (!can("live.view") || cam.enabled === false || health.state !== "online") return noStill();
  note.hidden = true;
  const src = `/api/cameras/${encodeURIComponent(id)}/frame.jpg?t=${Date.now()}`;
  pic.show(src, noStill);
  lanes.show(src); // the same URL: the browser fetches it once
}
$("spot-refresh").addEventListener("click", loadStill);

// -- the form ------------------------------------------------------------------------------------
function buildClassInputs() {
  $("spot-classes").replaceChildren(
    ...Object.entries(CLASS_KEYS).map(([cls, key]) =>
      h("label", null, t(key), h("input", { class: "input", type: "number", step: "1", min: "6", max: "200", name: `class_${cls}`, "data-testid": `spot-class-${cls}` })),
    ),
  );
}

function fillForm(spot) {
  const f = form.elements;
  showError("");
  $("spot-form-title").textContent = spot ? t("spot.editing", { camera: cameraName(spot.camera) }) : t("spot.title");
  f.camera_height_m.value = spot ? spot.camera_height_m : "";
  f.plate_height_m.value = spot ? spot.plate_height_m : "0.45";
  f.limit_kmh.value = spot ? spot.limit_kmh : "";
  f.tolerance_kmh.value = spot ? spot.tolerance_kmh : "3";
  f.enabled.checked = spot ? spot.enabled : true;
  for (const cls of Object.keys(CLASS_KEYS)) f[`class_${cls}`].value = spot && spot.class_limits[cls] !== undefined ? spot.class_limits[cls] : "";
  state.points = spot ? spot.image_points.map((p) => [p[0], p[1]]) : [];
  drawPoints();
  setRoadPoints(spot ? spot.road_points : null);
}

function selectCamera(id) {
  if (id !== lanes.cameraId()) {
    if (lanes.keepsUnsaved()) {
      form.elements.camera.value = lanes.cameraId(); // the operator stays on the camera with unsaved lanes
      return;
    }
    lanes.setCamera(state.cameras.get(id) || null);
  }
  form.elements.camera.value = id;
  fillForm(state.spots.find((s) => s.camera === id) || null);
  loadStill();
}

function buildCameraSelect() {
  const select = form.elements.camera;
  const ids = [...state.cameras.values()].filter((c) => c.profile === "plates").map((c) => c.id);
  for (const s of state.spots) if (!ids.includes(s.camera)) ids.push(s.camera);
  ids.sort((a, b) => cameraName(a).localeCompare(cameraName(b)));
  select.replaceChildren(h("option", { value: "" }, t("spot.pick_camera")), ...ids.map((id) => h("option", { value: id }, cameraName(id))));
}
form.elements.camera.addEventListener("change", () => selectCamera(form.elements.camera.value));

function number(v) {
  return v === "" || v === null || v === undefined ? null : Number(v);
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError("");
  const f = form.elements;
  if (!f.camera.value) return showError(t("spot.need_camera"));
  if (state.points.length !== 4) return showError(t("spot.need_points"));
  const road = [...$("spot-points-body").querySelectorAll("tr")].map((tr) => [number(tr.querySelector('[name="x"]').value), number(tr.querySelector('[name="y"]').value)]);
  const classLimits = {};
  for (const cls of Object.keys(CLASS_KEYS)) {
    const v = number(f[`class_${cls}`].value);
    if (v !== null) classLimits[cls] = v;
  }
  const body = {
    camera: f.camera.value,
    image_points: state.points,
    road_points: road,
    camera_height_m: number(f.camera_height_m.value),
    plate_height_m: number(f.plate_height_m.value),
    limit_kmh: number(f.limit_kmh.value),
    tolerance_kmh: number(f.tolerance_kmh.value),
    class_limits: classLimits,
    enabled: f.enabled.checked,
  };
  try {
    const saved = await api("/api/spot-cameras", { method: "POST", body });
    toast(t("spot.saved", { camera: cameraName(saved.camera) }));
    await loadSpots();
    fillForm(saved);
  } catch (err) {
    showError(plainError(err, FIELDS));
  }
});

// -- the list ------------------------------------------------------------------------------------
async function remove(spot) {
  if (!window.confirm(t("spot.delete_confirm", { camera: cameraName(spot.camera) }))) return;
  try {
    await api(`/api/spot-cameras/${encodeURIComponent(spot.camera)}`, { method: "DELETE" });
    toast(t("spot.deleted", { camera: cameraName(spot.camera) }));
    await loadSpots();
    if (form.elements.camera.value === spot.camera) fillForm(null);
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

function renderSpots() {
  $("spot-body").replaceChildren(
    ...state.spots.map((s) =>
      h(
        "tr",
        { dataset: { testid: "spot-row", camera: s.camera, enabled: String(s.enabled) } },
        h("td", null, cameraName(s.camera)),
        h(
          "td",
          null,
          h("span", { "data-testid": "spot-row-limit" }, t("spot.limit_value", { limit: s.limit_kmh, tolerance: s.tolerance_kmh })),
          ...Object.entries(s.class_limits || {}).map(([cls, lim]) => h("div", { class: "muted small", "data-testid": "spot-row-class" }, `${CLASS_KEYS[cls] ? t(CLASS_KEYS[cls]) : cls}: ${lim}`)),
        ),
        h("td", null, t("spot.heights_value", { camera: s.camera_height_m, plate: s.plate_height_m })),
        h("td", null, h("span", { class: `badge ${s.enabled ? "state-online" : "state-disabled"}` }, t(s.enabled ? "spot.on" : "spot.off"))),
        h(
          "td",
          { class: "spot-actions" },
          h("button", { type: "button", class: "btn btn-small", "data-testid": "spot-edit", onclick: () => selectCamera(s.camera) }, t("spot.edit")),
          h("button", { type: "button", class: "btn btn-small btn-ghost", "data-testid": "spot-delete", onclick: () => remove(s) }, t("spot.delete")),
        ),
      ),
    ),
  );
  $("spot-empty").hidden = state.spots.length > 0;
}

async function loadSpots() {
  state.spots = await api("/api/spot-cameras");
  renderSpots();
}

async function main() {
  startApp();
  buildClassInputs();
  renderPointRows();
  const [cameras] = await Promise.all([api("/api/cameras"), loadSpots()]);
  state.cameras = new Map(cameras.map((c) => [c.id, c]));
  buildCameraSelect();
  renderSpots(); // camera names now known
  const wanted = new URLSearchParams(location.search).get("camera");
  if (wanted && state.cameras.has(wanted)) selectCamera(wanted);
  drawPoints();
  document.querySelector('[data-testid="spot-page"]').dataset.ready = "true";
}

main().catch((err) => toast(t("common.error", { detail: err.message }), { error: true }));
