// PTZ card of the camera page: arrows and zoom (held = continuous move, released = stop),
// presets (recall, save where it points now, remove) and patrol tours (made from the presets,
// started and stopped). The server holds the control lease: a colleague steering the camera
// answers 409 with their name, shown here; a supervisor gets a "take over" button.

import { ApiError, api, boot, can, formatNumber1, h, t, toast } from "./core.js";

const card = document.getElementById("ptz-card");
const id = boot.cameraId;
const base = `/api/cameras/${encodeURIComponent(id)}/ptz`;
const SUPERVISORS = new Set(["admin", "regional_head"]);
const HOLD_REPEAT_MS = 800;
const HOLD_TIMEOUT_S = 1.5;

const statusNode = card && card.querySelector('[data-testid="ptz-status"]');
const errorNode = card && card.querySelector('[data-testid="ptz-error"]');
const takeOverBtn = card && card.querySelector('[data-testid="ptz-take-over"]');
const presetList = card && card.querySelector('[data-testid="ptz-presets"]');
const tourList = card && card.querySelector('[data-testid="ptz-tours"]');
let takeOver = false;
let holding = null;
let presets = [];

function showError(err) {
  const conflict = err instanceof ApiError && err.status === 409;
  errorNode.textContent = err instanceof ApiError ? err.detail || err.message : String(err);
  errorNode.hidden = false;
  takeOverBtn.hidden = !(conflict && boot.user && SUPERVISORS.has(boot.user.role));
  if (conflict) {
    // say it in the operator's language: who holds the camera and until when (from the status)
    api(base)
      .then((st) => {
        renderStatus(st);
        if (!st.controlled_by) return;
        const until = st.controlled_until ? new Date(st.controlled_until).toLocaleTimeString() : "";
        errorNode.textContent = t("ptz.locked", { user: st.controlled_by, time: until });
        errorNode.dataset.holder = st.controlled_by;
      })
      .catch(() => {});
  }
}

function clearError() {
  errorNode.hidden = true;
  takeOverBtn.hidden = true;
}

function renderStatus(st) {
  if (!st) return;
  const zoomX = typeof st.zoom === "number" ? 1 + 27 * st.zoom : null;
  const parts = [];
  if (typeof st.pan === "number") {
    parts.push(t("ptz.position", { pan: formatNumber1(st.pan * 180), tilt: formatNumber1(st.tilt * 90), zoom: formatNumber1(zoomX) }));
  }
  if (st.controlled_by) {
    const until = st.controlled_until ? new Date(st.controlled_until).toLocaleTimeString() : "";
    parts.push(t("ptz.controlled_by", { user: st.controlled_by, time: until }));
  } else {
    parts.push(t("ptz.free"));
  }
  if (st.tour) parts.push(t("ptz.tour_running"));
  statusNode.textContent = parts.join(" · ");
  statusNode.dataset.controlledBy = st.controlled_by || "";
  statusNode.dataset.tour = st.tour || "";
}

async function call(path, body, method = "POST") {
  try {
    const out = await api(`${base}${path}`, { method, body });
    clearError();
    return out;
  } catch (err) {
    showError(err);
    throw err;
  }
}

async function refreshStatus() {
  try {
    renderStatus(await api(base));
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------------------ moves
function velocity(dir) {
  return {
    left: { pan: -0.5 },
    right: { pan: 0.5 },
    up: { tilt: 0.5 },
    down: { tilt: -0.5 },
    "zoom-in": { zoom: 0.5 },
    "zoom-out": { zoom: -0.5 },
  }[dir];
}

async function moveOnce(dir) {
  const body = { mode: "continuous", timeout_s: HOLD_TIMEOUT_S, ...velocity(dir) };
  if (takeOver) body.take_over = true;
  renderStatus(await call("/move", body));
}

function startHold(dir) {
  stopHold(false);
  holding = { dir, timer: setInterval(() => moveOnce(dir).catch(() => stopHold(false)), HOLD_REPEAT_MS) };
  moveOnce(dir).catch(() => stopHold(false));
}

function stopHold(sendStop = true) {
  if (!holding) return;
  clearInterval(holding.timer);
  holding = null;
  if (sendStop) call("/stop").then(renderStatus).catch(() => {});
}

// ---------------------------------------------------------------------------- presets
function renderPresets() {
  presetList.replaceChildren(
    ...presets.map((p) =>
      h(
        "li",
        { "data-testid": "ptz-preset", dataset: { token: p.token } },
        h("span", { class: "ptz-preset-name" }, p.name),
        h("button", { type: "button", class: "btn btn-small", "data-testid": "ptz-preset-go", onclick: () => gotoPreset(p.token) }, t("ptz.preset_go")),
        h("button", { type: "button", class: "btn btn-small btn-ghost", "data-testid": "ptz-preset-remove", onclick: () => removePreset(p.token) }, t("ptz.preset_remove")),
      ),
    ),
  );
  card.querySelector('[data-testid="ptz-presets-empty"]').hidden = presets.length > 0;
}

async function loadPresets() {
  try {
    presets = await api(`${base}/presets`);
    renderPresets();
  } catch (err) {
    showError(err);
  }
}

async function gotoPreset(token) {
  renderStatus(await call(`/preset/${encodeURIComponent(token)}`, takeOver ? { take_over: true } : undefined));
}

async function removePreset(token) {
  await call(`/presets/${encodeURIComponent(token)}`, undefined, "DELETE");
  await loadPresets();
}

// ------------------------------------------------------------------------------ tours
async function loadTours() {
  try {
    const tours = await api(`${base}/tours`);
    tourList.replaceChildren(
      ...tours.map((tour) =>
        h(
          "li",
          { "data-testid": "ptz-tour", dataset: { id: tour.id, running: tour.running ? "1" : "" } },
          h("span", null, `${tour.name} (${tour.steps.length})`),
          h("button", { type: "button", class: "btn btn-small", "data-testid": "ptz-tour-start", onclick: () => startTour(tour.id) }, t("ptz.tour_start")),
        ),
      ),
    );
    card.querySelector('[data-testid="ptz-tours-empty"]').hidden = tours.length > 0;
  } catch (err) {
    showError(err);
  }
}

async function startTour(tourId) {
  renderStatus(await call(`/tours/${encodeURIComponent(tourId)}/start`, takeOver ? { take_over: true } : undefined));
  await loadTours();
}

// ------------------------------------------------------------------------------- wire
async function init() {
  if (!card || !can("ptz.control")) return;
  let cam;
  try {
    cam = await api(`/api/cameras/${encodeURIComponent(id)}`);
  } catch {
    return;
  }
  if (!cam.ptz || cam.owner_domain) return; // a region's camera copied to the capital is steered there
  card.hidden = false;
  for (const btn of card.querySelectorAll("[data-ptz-dir]")) {
    const dir = btn.dataset.ptzDir;
    btn.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      // the button keeps the pointer while held: a finger sliding a little off it, or the page moving
      // under a still pointer (the live picture or the alert list loading above the card), must not
      // stop the dome; letting go anywhere does (pointerup / lostpointercapture)
      if (btn.setPointerCapture) btn.setPointerCapture(e.pointerId);
      startHold(dir);
    });
    for (const ev of ["pointerup", "pointercancel", "lostpointercapture"]) btn.addEventListener(ev, () => stopHold(true));
    btn.addEventListener("pointerleave", () => {
      if (!btn.hasPointerCapture || !holding) stopHold(true); // no capture in this browser: leaving stops it
    });
    btn.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        moveOnce(dir).catch(() => {});
      }
    });
  }
  card.querySelector('[data-testid="ptz-stop"]').addEventListener("click", () => {
    stopHold(false);
    call("/stop").then(renderStatus).then(loadTours).catch(() => {});
  });
  takeOverBtn.addEventListener("click", () => {
    takeOver = true;
    clearError();
    toast(t("ptz.take_over_armed"));
  });
  card.querySelector('[data-testid="ptz-release"]').addEventListener("click", () => {
    takeOver = false;
    call("/release").then(renderStatus).catch(() => {});
  });
  card.querySelector('[data-testid="ptz-preset-form"]').addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = card.querySelector('[data-testid="ptz-preset-name"]');
    try {
      await call("/presets", { name: input.value.trim() });
      input.value = "";
      toast(t("ptz.preset_saved"));
      await loadPresets();
    } catch {
      /* shown */
    }
  });
  card.querySelector('[data-testid="ptz-tour-form"]').addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = card.querySelector('[data-testid="ptz-tour-name"]').value.trim();
    const dwell = Number(card.querySelector('[data-testid="ptz-tour-dwell"]').value || 10);
    try {
      await call("/tours", { name, steps: presets.map((p) => ({ preset: p.token, dwell_s: dwell })) });
      toast(t("ptz.tour_saved"));
      await loadTours();
    } catch {
      /* shown */
    }
  });
  card.querySelector('[data-testid="ptz-tour-stop"]').addEventListener("click", () => {
    call("/tours/stop").then(renderStatus).then(loadTours).catch(() => {});
  });
  await Promise.all([refreshStatus(), loadPresets(), loadTours()]);
  setInterval(() => {
    if (!document.hidden) refreshStatus();
  }, 2000);
}

init();
