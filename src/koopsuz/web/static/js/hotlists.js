// Plate hotlists: the lists in scope (kind, priority, region, active entries), a list's plates
// (reason, legal basis, expiry, active / expired / removed). Officers with hotlists.manage create
// lists, add one plate, import a CSV file (picked or dropped; the server's report is shown: how
// many were added, which were already listed, and every refused line with its number and why)
// and remove a plate with a reason. Every change is audited by the server.
// The selected list lives in the query string (?list=...).

import { startApp } from "./app.js";
import { api, boot, can, formatDateTime, formatInt, h, regionLabel, t, toast } from "./core.js";
import { bindDrop, isoFromLocal, localDate, plainError, postForm } from "./lawful.js";

export const HOTLIST_KIND_KEYS = {
  stolen: "hotlists.kind.stolen",
  wanted: "hotlists.kind.wanted",
  unpaid_fines: "hotlists.kind.unpaid_fines",
  operation: "hotlists.kind.operation",
};
const STATUS_KEYS = { active: "hotlists.status.active", expired: "hotlists.status.expired", removed: "hotlists.status.removed" };
const STATUS_CLASS = { active: "state-online", expired: "state-disabled", removed: "state-disabled" };
const LIST_FIELDS = { name: "hotlists.name", kind: "hotlists.kind", priority: "hotlists.priority", region: "hotlists.region", description: "hotlists.description" };
const ENTRY_FIELDS = { plate: "hotlists.plate", reason: "hotlists.reason", legal_basis: "hotlists.basis", expires_at: "hotlists.expires" };
const DEFAULT_DAYS = 90;

const $ = (id) => document.getElementById(id);
const userRegion = boot.user && boot.user.region;
const state = { lists: [], list: null, entries: [] };

function kindLabel(kind) {
  return HOTLIST_KIND_KEYS[kind] ? t(HOTLIST_KIND_KEYS[kind]) : String(kind || "");
}
function showError(node, message) {
  if (!node) return;
  node.textContent = message || "";
  node.hidden = !message;
}
function entryState(e) {
  return e.removed_at ? "removed" : e.active ? "active" : "expired";
}
/** National lists are changed by national officers; a regional one within its region. */
function editable(list) {
  return !!list && can("hotlists.manage") && (list.region === null ? !userRegion : !userRegion || list.region === userRegion);
}
function setQuery() {
  const q = state.list ? `?list=${encodeURIComponent(state.list.id)}` : "";
  history.replaceState(null, "", `${location.pathname}${q}`);
}

// -- lists -------------------------------------------------------------------------------------
function renderLists() {
  $("hl-body").replaceChildren(
    ...state.lists.map((l) =>
      h(
        "tr",
        { dataset: { testid: "hl-row", listId: l.id, kind: l.kind }, class: state.list && state.list.id === l.id ? "selected" : null },
        h("td", null, h("button", { type: "button", class: "linklike", dataset: { testid: "hl-open" }, onclick: () => selectList(l.id) }, l.name)),
        h("td", { "data-testid": "hl-kind-label" }, kindLabel(l.kind)),
        h("td", { class: "num" }, String(l.priority)),
        h("td", null, l.region ? regionLabel(l.region) : t("hotlists.national")),
        h("td", { class: "num", "data-testid": "hl-count" }, formatInt(l.entries)),
      ),
    ),
  );
  $("hl-empty").hidden = state.lists.length > 0;
}

async function loadLists() {
  state.lists = await api("/api/hotlists");
  if (state.list) state.list = state.lists.find((l) => l.id === state.list.id) || null;
  renderLists();
}

function buildListForm() {
  const form = $("hl-form");
  if (!form) return;
  $("hl-kind").replaceChildren(...Object.keys(HOTLIST_KIND_KEYS).map((k) => h("option", { value: k }, kindLabel(k))));
  $("hl-priority").replaceChildren(...[1, 2, 3, 4, 5].map((p) => h("option", { value: p, selected: p === 3 }, t("hotlists.priority_n", { n: p }))));
  $("hl-region").replaceChildren(
    ...(userRegion
      ? [h("option", { value: userRegion }, regionLabel(userRegion))]
      : [h("option", { value: "" }, t("hotlists.national")), ...Object.keys(boot.regions || {}).map((c) => h("option", { value: c }, regionLabel(c)))]),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError($("hl-error"), "");
    const f = form.elements;
    const body = { name: f.name.value, kind: f.kind.value, priority: Number(f.priority.value), region: f.region.value || null, description: f.description.value };
    try {
      const l = await api("/api/hotlists", { method: "POST", body });
      toast(t("hotlists.created", { name: l.name }));
      form.reset();
      $("hl-priority").value = "3";
      await loadLists();
      await selectList(l.id);
    } catch (err) {
      showError($("hl-error"), plainError(err, LIST_FIELDS));
    }
  });
}

// -- entries -----------------------------------------------------------------------------------
async function selectList(id) {
  state.list = state.lists.find((l) => l.id === id) || null;
  setQuery();
  renderLists();
  $("he-card").hidden = !state.list;
  if (!state.list) return;
  $("he-card").dataset.listId = state.list.id;
  $("he-title").textContent = `${state.list.name} · ${kindLabel(state.list.kind)}`;
  const edit = $("he-edit");
  if (edit) edit.hidden = !editable(state.list);
  const report = $("he-report");
  if (report) report.hidden = true;
  showError($("he-import-error"), "");
  await loadEntries();
}

async function loadEntries() {
  if (!state.list) return;
  state.entries = await api(`/api/hotlists/${encodeURIComponent(state.list.id)}/entries`);
  const mayRemove = editable(state.list);
  $("he-body").replaceChildren(
    ...state.entries.map((e) => {
      const s = entryState(e);
      return h(
        "tr",
        { dataset: { testid: "he-row", entryId: e.id, plate: e.plate, status: s } },
        h("td", null, h("span", { class: "plate-text", "data-testid": "he-plate-text" }, e.plate)),
        h("td", null, e.reason),
        h("td", null, e.legal_basis),
        h("td", null, formatDateTime(e.expires_at)),
        h(
          "td",
          null,
          h("span", { class: `badge ${STATUS_CLASS[s]}`, "data-testid": "he-status" }, t(STATUS_KEYS[s])),
          e.removed_by ? h("div", { class: "muted small" }, `${e.removed_by} · ${formatDateTime(e.removed_at)}`) : null,
        ),
        h("td", null, mayRemove && s !== "removed" ? h("button", { type: "button", class: "btn btn-ghost btn-small", "data-testid": "he-remove", onclick: () => removeEntry(e) }, t("hotlists.remove")) : null),
      );
    }),
  );
  $("he-empty").hidden = state.entries.length > 0;
}

function buildEntryForm() {
  const form = $("he-form");
  if (!form) return;
  form.elements.expires.value = localDate(new Date(Date.now() + DEFAULT_DAYS * 86400e3));
  form.elements.expires.min = localDate(new Date(Date.now() + 86400e3));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError($("he-error"), "");
    const f = form.elements;
    const body = { plate: f.plate.value, reason: f.reason.value, legal_basis: f.legal_basis.value, expires_at: isoFromLocal(f.expires.value, "23:59:59") };
    try {
      const e = await api(`/api/hotlists/${encodeURIComponent(state.list.id)}/entries`, { method: "POST", body });
      toast(t("hotlists.entry_added", { plate: e.plate }));
      const keep = f.expires.value;
      form.reset();
      f.expires.value = keep;
      await Promise.all([loadLists(), loadEntries()]);
    } catch (err) {
      showError($("he-error"), plainError(err, ENTRY_FIELDS));
    }
  });
}

async function removeEntry(e) {
  const reason = window.prompt(t("hotlists.remove_prompt", { plate: e.plate }));
  if (reason === null) return;
  try {
    await api(`/api/hotlists/${encodeURIComponent(state.list.id)}/entries/${e.id}/remove`, { method: "POST", body: { reason } });
    toast(t("hotlists.removed", { plate: e.plate }));
    await Promise.all([loadLists(), loadEntries()]);
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

// -- CSV import --------------------------------------------------------------------------------
function renderReport(file, report) {
  const node = $("he-report");
  const rejected = report.rejected || [];
  const already = report.already_listed || [];
  const parts = [
    h("p", { "data-testid": "he-report-summary" }, t("hotlists.report", { file: file.name, added: report.added, already: already.length, rejected: rejected.length })),
    already.length ? h("p", { class: "muted small", "data-testid": "he-report-already" }, t("hotlists.already_listed", { plates: already.join(", ") })) : null,
    rejected.length
      ? h(
          "table",
          { class: "grid wrap", "data-testid": "he-rejected" },
          h("thead", null, h("tr", null, h("th", { scope: "col", class: "num" }, t("hotlists.line")), h("th", { scope: "col" }, t("hotlists.line_text")), h("th", { scope: "col" }, t("hotlists.why")))),
          h(
            "tbody",
            null,
            ...rejected.map((r) =>
              h(
                "tr",
                { dataset: { testid: "he-rejected-row", line: String(r.line) } },
                h("td", { class: "num", "data-testid": "he-rejected-line" }, String(r.line)),
                h("td", null, h("code", null, r.text)),
                h("td", { "data-testid": "he-rejected-reason" }, plainError(r.reason, ENTRY_FIELDS)),
              ),
            ),
          ),
        )
      : null,
  ];
  node.replaceChildren(...parts.filter(Boolean));
  node.dataset.added = String(report.added);
  node.dataset.rejected = String(rejected.length);
  node.hidden = false;
}

async function importCsv(file) {
  if (!state.list) return;
  showError($("he-import-error"), "");
  $("he-report").hidden = true;
  const drop = $("he-drop");
  drop.dataset.state = "checking";
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const report = await postForm(`/api/hotlists/${encodeURIComponent(state.list.id)}/import`, form);
    renderReport(file, report);
    toast(t("hotlists.imported", { file: file.name, n: report.added }));
    await Promise.all([loadLists(), loadEntries()]);
  } catch (err) {
    showError($("he-import-error"), `${file.name}: ${plainError(err)}`);
  } finally {
    drop.dataset.state = "idle";
  }
}

async function main() {
  startApp();
  buildListForm();
  buildEntryForm();
  const drop = $("he-drop");
  if (drop) bindDrop(drop, $("he-file"), importCsv);
  try {
    await loadLists();
    const wanted = new URLSearchParams(location.search).get("list");
    if (wanted) await selectList(wanted);
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
  document.querySelector('[data-testid="hotlists-page"]').dataset.ready = "true";
}

main();
