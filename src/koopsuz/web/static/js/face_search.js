// Face search by photo, for investigators (faces.search) with a legal basis that allows
// "face_search" in every region searched. The times are picked in Bishkek time and sent as
// ISO 8601 with the offset. After starting, the search is polled: faces seen (observations) answer
// at once, recordings are scanned in the background with a progress bar and a Cancel button;
// the hits come as a grid (face crop, camera, time, similarity, source, a link to the footage at
// that moment). Every search and every picture viewed is audited by the server. Auditors see
// everyone's searches here and start none.

import { startApp } from "./app.js";
import { api, boot, can, cameraUrl, formatDateTime, formatInt, h, regionLabel, t, toast } from "./core.js";
import { basisOption, bindDrop, isoFromLocal, localInput, plainError, postForm, regionsLabel } from "./lawful.js";

const POLL_MS = 1000;
const PLAYBACK_LEAD_S = 5; // open the footage a little before the face was seen
const STATUS_KEYS = {
  running: "faces.status.running",
  done: "faces.status.done",
  cancelled: "faces.status.cancelled",
  failed: "faces.status.failed",
};
const STATUS_CLASS = { running: "state-starting", done: "state-online", cancelled: "state-disabled", failed: "state-offline" };
const SOURCE_KEYS = { observation: "faces.source.observation", recording: "faces.source.recording" };
const FIELDS = { legal_basis_id: "faces.basis", start: "faces.start", end: "faces.end", regions: "faces.regions", threshold: "faces.threshold" };

const $ = (id) => document.getElementById(id);
const me = boot.user ? boot.user.username : "";
const userRegion = boot.user && boot.user.region;
const state = { file: null, search: null, shown: "", timer: null, cameras: new Map() };

function statusBadge(status) {
  return h("span", { class: `badge ${STATUS_CLASS[status] || "state-unknown"}`, dataset: { testid: "fs-status-badge", status } }, STATUS_KEYS[status] ? t(STATUS_KEYS[status]) : status);
}
function showError(message) {
  const node = $("fs-error");
  node.textContent = message || "";
  node.hidden = !message;
}
function cameraName(id) {
  const c = state.cameras.get(id);
  return c ? c.name : id;
}

// -- the form ----------------------------------------------------------------------------------
function pickFile(file) {
  state.file = file;
  $("fs-file-name").textContent = file.name;
  const img = $("fs-preview");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  $("fs-drop-hint").hidden = true;
  showError("");
}

async function buildForm() {
  const form = $("fs-form");
  if (!form) return;
  bindDrop($("fs-drop"), $("fs-file"), pickFile);
  const now = new Date();
  form.elements.end.value = localInput(now);
  form.elements.start.value = localInput(new Date(now.getTime() - 24 * 3600e3));
  const regions = $("fs-regions");
  if (userRegion) {
    regions.append(h("p", { class: "muted" }, t("faces.region_fixed", { region: regionLabel(userRegion) })));
  } else {
    regions.append(
      h("p", { class: "muted" }, t("faces.regions_hint")),
      ...Object.keys(boot.regions || {}).map((code) =>
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "region", value: code, dataset: { testid: `fs-region-${code}` } }), regionLabel(code)),
      ),
    );
  }
  form.addEventListener("submit", submit);
  const select = $("fs-basis");
  try {
    const bases = (await api("/api/legal-bases?valid=true")).filter((b) => b.purposes.includes("face_search"));
    select.replaceChildren(
      ...(bases.length
        ? bases.map((b) => h("option", { value: b.id, title: regionsLabel(b.regions) }, basisOption(b)))
        : [h("option", { value: "", disabled: true, selected: true }, t("faces.no_basis"))]),
    );
  } catch (err) {
    showError(plainError(err));
  }
}

async function submit(ev) {
  ev.preventDefault();
  showError("");
  const f = $("fs-form").elements;
  if (!state.file) return showError(t("faces.need_photo"));
  if (!f.legal_basis_id.value) return showError(t("faces.no_basis"));
  const start = isoFromLocal(f.start.value);
  const end = isoFromLocal(f.end.value);
  if (!start || !end) return showError(t("faces.need_range"));
  const form = new FormData();
  form.append("file", state.file, state.file.name);
  form.append("legal_basis_id", f.legal_basis_id.value);
  form.append("start", start);
  form.append("end", end);
  if (f.threshold.value) form.append("threshold", f.threshold.value);
  const regions = [...$("fs-form").querySelectorAll('input[name="region"]:checked')].map((x) => x.value);
  if (regions.length) form.append("regions", regions.join(","));
  const button = $("fs-form").querySelector('[type="submit"]');
  button.disabled = true;
  try {
    const s = await postForm("/api/faces/searches", form);
    toast(t("faces.started", { case: s.case_number }));
    await show(s);
    loadPast();
  } catch (err) {
    showError(plainError(err, FIELDS));
  } finally {
    button.disabled = false;
  }
}

// -- one search --------------------------------------------------------------------------------
function footageUrl(hit) {
  const at = new Date(hit.ts);
  const q = new URLSearchParams({ start: new Date(at.getTime() - PLAYBACK_LEAD_S * 1000).toISOString(), t: at.toISOString() });
  return `/cameras/${encodeURIComponent(hit.camera)}/playback?${q}`;
}

function result(s, hit, i) {
  return h(
    "figure",
    { class: "result", dataset: { testid: "fs-result", source: hit.source, camera: hit.camera } },
    h("img", { src: `/api/faces/searches/${encodeURIComponent(s.id)}/${i}.jpg`, alt: t("faces.hit_alt", { camera: cameraName(hit.camera) }), loading: "lazy" }),
    h(
      "figcaption",
      null,
      h("div", { class: "result-head" }, h("strong", { "data-testid": "fs-result-similarity" }, hit.similarity.toFixed(3)), h("span", { class: "badge" }, t(SOURCE_KEYS[hit.source] || "faces.source.recording"))),
      h("a", { href: cameraUrl(hit.camera), "data-testid": "fs-result-camera" }, cameraName(hit.camera)),
      h("time", { datetime: hit.ts, "data-testid": "fs-result-time" }, formatDateTime(hit.ts)),
      can("playback.view") ? h("a", { href: footageUrl(hit), "data-testid": "fs-result-footage" }, t("faces.footage")) : null,
    ),
  );
}

function render(s) {
  const card = $("fs-current");
  card.hidden = false;
  card.dataset.searchId = s.id;
  card.dataset.status = s.status;
  $("fs-status").replaceChildren(statusBadge(s.status));
  const pct = Math.round((s.progress || 0) * 100);
  const bar = $("fs-progress");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.firstElementChild.style.width = `${pct}%`;
  bar.dataset.state = s.status;
  const d = s.detail || {};
  const parts = [t("faces.progress", { pct })];
  if (d.observations_compared !== undefined) parts.push(t("faces.compared", { n: formatInt(d.observations_compared) }));
  if (d.segments_total) parts.push(t("faces.segments", { done: formatInt(d.segments_done), total: formatInt(d.segments_total) }));
  if (s.error) parts.push(s.error);
  $("fs-detail").textContent = parts.join(" · ");
  $("fs-cancel").hidden = !(s.status === "running" && s.created_by === me);
  if ($("fs-probe").dataset.searchId !== s.id) {
    $("fs-probe").src = `/api/faces/searches/${encodeURIComponent(s.id)}/probe.jpg`;
    $("fs-probe").dataset.searchId = s.id;
  }
  $("fs-facts").replaceChildren(
    ...[
      [t("faces.case"), s.case_number],
      [t("faces.range"), `${formatDateTime(s.start)} – ${formatDateTime(s.end)}`],
      [t("faces.regions"), regionsLabel(s.regions)],
      [t("faces.threshold"), s.threshold.toFixed(2)],
      [t("faces.by"), `${s.created_by} · ${formatDateTime(s.created_at)}`],
    ].flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)]),
  );
  // Pictures are fetched (and audited) again on every render: only when the hits changed.
  const key = `${s.id}:${s.status}:${s.results.length}`;
  if (key !== state.shown) {
    state.shown = key;
    $("fs-results").replaceChildren(...s.results.map((hit, i) => result(s, hit, i)));
  }
  $("fs-none").hidden = !(s.status === "done" && s.results.length === 0);
}

async function show(s) {
  clearTimeout(state.timer);
  state.search = s;
  const q = new URLSearchParams({ search: s.id });
  history.replaceState(null, "", `${location.pathname}?${q}`);
  render(s);
  if (s.status === "running") state.timer = setTimeout(poll, POLL_MS);
}

async function poll() {
  const s = state.search;
  if (!s) return;
  try {
    const fresh = await api(`/api/faces/searches/${encodeURIComponent(s.id)}`);
    state.search = fresh;
    render(fresh);
    if (fresh.status === "running") state.timer = setTimeout(poll, POLL_MS);
    else loadPast();
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
    state.timer = setTimeout(poll, POLL_MS * 5);
  }
}

async function cancel() {
  const s = state.search;
  if (!s) return;
  $("fs-cancel").disabled = true;
  try {
    await api(`/api/faces/searches/${encodeURIComponent(s.id)}/cancel`, { method: "POST" });
    toast(t("faces.cancelling"));
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  } finally {
    $("fs-cancel").disabled = false;
  }
}

// -- past searches -----------------------------------------------------------------------------
async function loadPast() {
  try {
    const list = await api("/api/faces/searches");
    $("fs-past-body").replaceChildren(
      ...list.map((s) =>
        h(
          "tr",
          { dataset: { testid: "fs-past-row", searchId: s.id, status: s.status }, class: state.search && state.search.id === s.id ? "selected" : null },
          h("td", null, h("button", { type: "button", class: "linklike", dataset: { testid: "fs-past-open" }, onclick: () => show(s) }, formatDateTime(s.created_at))),
          h("td", null, s.case_number),
          h("td", null, `${formatDateTime(s.start)} – ${formatDateTime(s.end)}`),
          h("td", null, regionsLabel(s.regions)),
          h("td", null, s.created_by),
          h("td", null, statusBadge(s.status)),
          h("td", { class: "num" }, formatInt(s.results.length)),
        ),
      ),
    );
    $("fs-past-empty").hidden = list.length > 0;
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

async function main() {
  startApp();
  $("fs-cancel").addEventListener("click", cancel);
  try {
    const cams = await api("/api/cameras");
    state.cameras = new Map(cams.map((c) => [c.id, c]));
  } catch {
    // names fall back to ids
  }
  await buildForm();
  await loadPast();
  const wanted = new URLSearchParams(location.search).get("search");
  if (wanted) {
    try {
      await show(await api(`/api/faces/searches/${encodeURIComponent(wanted)}`));
    } catch (err) {
      toast(t("common.error", { detail: plainError(err) }), { error: true });
    }
  }
}

main();
