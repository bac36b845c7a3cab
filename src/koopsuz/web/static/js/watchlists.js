// Face watchlists: the lists in scope, a list's entries with their status, and one entry with its
// photos. Officers with watchlist.edit add a person (with a legal basis allowing "watchlist") and
// enrol photos while the entry is pending (a photo without exactly one usable face is refused, with
// the reason shown); a second officer with watchlist.approve approves or rejects it (the page says
// so plainly when you created the entry and cannot); a person is removed with a reason.
// The selected list and entry live in the query string (?list=...&entry=...).

import { startApp } from "./app.js";
import { api, boot, can, formatDateTime, formatInt, h, regionLabel, t, toast } from "./core.js";
import { LIST_KIND_KEYS, basisOption, bindDrop, formatDate, isoFromLocal, listKindLabel, localDate, plainError, postForm } from "./lawful.js";

const STATUS_KEYS = {
  pending: "watchlists.status.pending",
  active: "watchlists.status.active",
  expired: "watchlists.status.expired",
  rejected: "watchlists.status.rejected",
  removed: "watchlists.status.removed",
};
const STATUS_CLASS = { pending: "state-starting", active: "state-online", expired: "state-disabled", rejected: "state-offline", removed: "state-disabled" };
const LIST_FIELDS = { name: "watchlists.name", kind: "watchlists.kind", priority: "watchlists.priority", threshold: "watchlists.threshold", region: "watchlists.region", description: "watchlists.description" };
const ENTRY_FIELDS = { full_name: "watchlists.full_name", birth_year: "watchlists.birth_year", notes: "watchlists.notes", legal_basis_id: "watchlists.basis", expires_at: "watchlists.expires" };

const me = boot.user ? boot.user.username : "";
const userRegion = boot.user && boot.user.region;
const params = new URLSearchParams(location.search);
const state = { lists: [], list: null, entries: [], entry: null, bases: new Map() };

const $ = (id) => document.getElementById(id);

function setQuery() {
  const q = new URLSearchParams();
  if (state.list) q.set("list", state.list.id);
  if (state.entry) q.set("entry", state.entry.id);
  history.replaceState(null, "", `${location.pathname}${q.toString() ? `?${q}` : ""}`);
}

function showError(node, message) {
  if (!node) return;
  node.textContent = message || "";
  node.hidden = !message;
}

/** What the entry is now: an approved or pending entry past its expiry reads "expired". */
function entryState(e) {
  return e.expired && (e.status === "active" || e.status === "pending") ? "expired" : e.status;
}
function statusBadge(e) {
  const s = entryState(e);
  return h("span", { class: `badge ${STATUS_CLASS[s] || "state-unknown"}`, dataset: { testid: "entry-badge", status: s } }, STATUS_KEYS[s] ? t(STATUS_KEYS[s]) : s);
}
function caseOf(basisId) {
  const b = state.bases.get(basisId);
  return b ? b.case_number : basisId;
}
function editable(list) {
  return list && (list.region === null ? !userRegion : true);
}

// -- lists -------------------------------------------------------------------------------------
function renderLists() {
  $("wl-body").replaceChildren(
    ...state.lists.map((l) =>
      h(
        "tr",
        { dataset: { testid: "wl-row", listId: l.id }, class: state.list && state.list.id === l.id ? "selected" : null },
        h("td", null, h("button", { type: "button", class: "linklike", dataset: { testid: "wl-open" }, onclick: () => selectList(l.id) }, l.name)),
        h("td", null, listKindLabel(l.kind)),
        h("td", { class: "num" }, String(l.priority)),
        h("td", { class: "num" }, l.threshold.toFixed(2)),
        h("td", null, l.region ? regionLabel(l.region) : t("watchlists.national")),
        h("td", { class: "num", "data-testid": "wl-count" }, formatInt(l.entries)),
      ),
    ),
  );
  $("wl-empty").hidden = state.lists.length > 0;
}

async function loadLists() {
  state.lists = await api("/api/watchlists");
  if (state.list) state.list = state.lists.find((l) => l.id === state.list.id) || null;
  renderLists();
}

function buildListForm() {
  const form = $("wl-form");
  if (!form) return;
  $("wl-kind").replaceChildren(...Object.keys(LIST_KIND_KEYS).map((k) => h("option", { value: k }, listKindLabel(k))));
  $("wl-priority").replaceChildren(...[1, 2, 3, 4, 5].map((p) => h("option", { value: p, selected: p === 3 }, t("watchlists.priority_n", { n: p }))));
  $("wl-threshold").placeholder = t("watchlists.threshold_auto");
  const region = $("wl-region");
  region.replaceChildren(
    ...(userRegion
      ? [h("option", { value: userRegion }, regionLabel(userRegion))]
      : [h("option", { value: "" }, t("watchlists.national")), ...Object.keys(boot.regions || {}).map((c) => h("option", { value: c }, regionLabel(c)))]),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError($("wl-error"), "");
    const f = form.elements;
    const body = { name: f.name.value, kind: f.kind.value, priority: Number(f.priority.value), region: f.region.value || null, description: f.description.value };
    if (f.threshold.value) body.threshold = Number(f.threshold.value);
    try {
      const l = await api("/api/watchlists", { method: "POST", body });
      toast(t("watchlists.created", { name: l.name }));
      form.reset();
      $("wl-priority").value = "3";
      await loadLists();
      await selectList(l.id);
    } catch (err) {
      showError($("wl-error"), plainError(err, LIST_FIELDS));
    }
  });
}

// -- entries -----------------------------------------------------------------------------------
async function selectList(id) {
  state.list = state.lists.find((l) => l.id === id) || null;
  if (!state.entry || state.entry.watchlist_id !== id) {
    state.entry = null;
    $("entry-card").hidden = true;
  }
  setQuery();
  renderLists();
  $("entries-card").hidden = !state.list;
  if (!state.list) return;
  $("entries-title").textContent = `${state.list.name} · ${listKindLabel(state.list.kind)}`;
  const add = $("entry-add");
  if (add) add.hidden = !editable(state.list);
  fillBases();
  await loadEntries();
}

async function loadEntries() {
  if (!state.list) return;
  state.entries = await api(`/api/watchlists/${encodeURIComponent(state.list.id)}/entries`);
  $("entries-body").replaceChildren(
    ...state.entries.map((e) =>
      h(
        "tr",
        { dataset: { testid: "entry-row", entryId: e.id, status: entryState(e) }, class: state.entry && state.entry.id === e.id ? "selected" : null },
        h("td", null, h("button", { type: "button", class: "linklike", dataset: { testid: "entry-open" }, onclick: () => selectEntry(e.id) }, e.full_name)),
        h("td", null, statusBadge(e)),
        h("td", null, formatDateTime(e.expires_at)),
        h("td", null, caseOf(e.legal_basis_id)),
        h("td", null, e.created_by),
      ),
    ),
  );
  $("entries-empty").hidden = state.entries.length > 0;
}

/** Bases valid now that allow "watchlist" where the selected list applies. */
function basesForList() {
  const region = state.list && state.list.region;
  return [...state.bases.values()].filter(
    (b) => b.valid_now && b.purposes.includes("watchlist") && (b.regions.length === 0 || (region && b.regions.includes(region))),
  );
}

function fillBases() {
  const select = $("entry-basis");
  if (!select) return;
  const bases = basesForList();
  select.replaceChildren(
    ...(bases.length
      ? bases.map((b) => h("option", { value: b.id, dataset: { until: b.valid_until } }, basisOption(b)))
      : [h("option", { value: "", disabled: true, selected: true }, t("watchlists.no_basis"))]),
  );
  syncExpiry();
}

function syncExpiry() {
  const select = $("entry-basis");
  const input = $("entry-form") && $("entry-form").elements.expires;
  if (!select || !input) return;
  const b = state.bases.get(select.value);
  const limit = b ? new Date(b.valid_until) : new Date(Date.now() + 366 * 86400e3);
  input.max = localDate(limit);
  const wanted = new Date(Math.min(limit.getTime(), Date.now() + 30 * 86400e3));
  if (!input.value || input.value > input.max) input.value = localDate(wanted);
}

function buildEntryForm() {
  const form = $("entry-form");
  if (!form) return;
  $("entry-basis").addEventListener("change", syncExpiry);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError($("entry-error"), "");
    const f = form.elements;
    if (!f.legal_basis_id.value) return showError($("entry-error"), t("watchlists.no_basis"));
    const basis = state.bases.get(f.legal_basis_id.value);
    let expires = isoFromLocal(f.expires.value, "23:59:59");
    if (expires && basis && new Date(expires) > new Date(basis.valid_until)) expires = basis.valid_until; // the basis's last moment
    const body = { full_name: f.full_name.value, notes: f.notes.value, legal_basis_id: f.legal_basis_id.value, expires_at: expires };
    if (f.birth_year.value) body.birth_year = Number(f.birth_year.value);
    try {
      const e = await api(`/api/watchlists/${encodeURIComponent(state.list.id)}/entries`, { method: "POST", body });
      toast(t("watchlists.entry_added", { name: e.full_name }));
      form.reset();
      $("entry-add").open = false;
      await Promise.all([loadLists(), loadEntries()]);
      await selectEntry(e.id);
    } catch (err) {
      showError($("entry-error"), plainError(err, ENTRY_FIELDS));
    }
  });
}

// -- one entry ---------------------------------------------------------------------------------
async function selectEntry(id) {
  try {
    state.entry = await api(`/api/watchlist-entries/${encodeURIComponent(id)}`);
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
    return;
  }
  setQuery();
  showError($("photo-error"), "");
  renderEntry();
  for (const tr of $("entries-body").children) tr.classList.toggle("selected", tr.dataset.entryId === id);
}

function fact(label, value, testid) {
  return [h("dt", null, label), h("dd", { dataset: testid ? { testid } : undefined }, value)];
}

function renderEntry() {
  const e = state.entry;
  const card = $("entry-card");
  card.hidden = !e;
  if (!e) return;
  card.dataset.entryId = e.id;
  card.dataset.status = entryState(e);
  $("entry-title").textContent = e.full_name;
  $("entry-status").replaceChildren(statusBadge(e));
  const facts = [
    fact(t("watchlists.birth_year"), e.birth_year || "—"),
    fact(t("watchlists.notes"), e.notes || "—"),
    fact(t("watchlists.basis"), caseOf(e.legal_basis_id), "entry-basis-case"),
    fact(t("watchlists.expires"), formatDateTime(e.expires_at)),
    fact(t("watchlists.created_by"), `${e.created_by} · ${formatDateTime(e.created_at)}`, "entry-created-by"),
  ];
  if (e.decided_by) {
    const line = `${e.decided_by} · ${formatDateTime(e.decided_at)}${e.decision_note ? ` · ${e.decision_note}` : ""}`;
    facts.push(fact(t("watchlists.decided_by"), line, "entry-decided-by"));
  }
  $("entry-facts").replaceChildren(...facts.flat());
  const photos = e.photos || [];
  $("entry-photos").replaceChildren(
    ...(photos.length
      ? photos.map((p) =>
          h(
            "figure",
            { class: "photo", dataset: { testid: "entry-photo", photoId: p.id } },
            h("img", { src: `/api/watchlist-entries/${encodeURIComponent(e.id)}/photos/${p.id}`, alt: t("watchlists.photo_alt", { name: e.full_name }), loading: "lazy" }),
            h("figcaption", { class: "muted" }, t("watchlists.quality", { q: Math.round(p.quality * 100) })),
          ),
        )
      : [h("p", { class: "muted", "data-testid": "entry-no-photos" }, t("watchlists.no_photos"))]),
  );
  const drop = $("photo-drop");
  if (drop) drop.hidden = !(e.status === "pending" && !e.expired && editable(state.list));
  renderDecision(e, photos.length);
}

function renderDecision(e, photoCount) {
  const box = $("entry-decision");
  const parts = [];
  const pending = e.status === "pending" && !e.expired;
  if (pending && can("watchlist.approve")) {
    let why = null;
    if (e.created_by === me) why = h("p", { class: "notice", "data-testid": "entry-own" }, t("watchlists.own_entry"));
    else if (!photoCount) why = h("p", { class: "notice", "data-testid": "entry-needs-photo" }, t("watchlists.needs_photo"));
    const note = h("input", { class: "input", type: "text", maxlength: 1000, placeholder: t("watchlists.note"), "data-testid": "entry-note" });
    const approve = h("button", { type: "button", class: "btn btn-primary", "data-testid": "entry-approve", disabled: !!why }, t("watchlists.approve"));
    const reject = h("button", { type: "button", class: "btn", "data-testid": "entry-reject" }, t("watchlists.reject"));
    approve.addEventListener("click", () => decide(e, true, note.value));
    reject.addEventListener("click", () => {
      if (!note.value.trim()) {
        toast(t("watchlists.reject_needs_note"), { error: true });
        note.focus();
        return;
      }
      decide(e, false, note.value);
    });
    const own = e.created_by === me; // the creator may not decide: only a disabled Approve, and why
    parts.push(why, h("div", { class: "decision-row" }, own ? null : note, approve, own ? null : reject));
  } else if (pending) {
    parts.push(h("p", { class: "notice", "data-testid": "entry-waiting" }, t("watchlists.waiting")));
  }
  if (e.status !== "removed" && (can("watchlist.edit") || can("watchlist.approve")) && editable(state.list)) {
    parts.push(h("button", { type: "button", class: "btn btn-ghost btn-small", "data-testid": "entry-remove", onclick: () => removeEntry(e) }, t("watchlists.remove")));
  }
  box.replaceChildren(...parts.filter(Boolean));
}

async function afterChange(e) {
  state.entry = e;
  renderEntry();
  await Promise.all([loadLists(), loadEntries()]);
}

async function decide(e, approve, note) {
  try {
    const out = await api(`/api/watchlist-entries/${encodeURIComponent(e.id)}/${approve ? "approve" : "reject"}`, { method: "POST", body: { note } });
    toast(t(approve ? "watchlists.approved" : "watchlists.rejected", { name: e.full_name }));
    await afterChange(out);
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

async function removeEntry(e) {
  const reason = window.prompt(t("watchlists.remove_prompt", { name: e.full_name }));
  if (reason === null) return;
  try {
    const out = await api(`/api/watchlist-entries/${encodeURIComponent(e.id)}/remove`, { method: "POST", body: { reason } });
    toast(t("watchlists.removed", { name: e.full_name }));
    await afterChange(out);
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

async function enrol(file) {
  const e = state.entry;
  const drop = $("photo-drop");
  if (!e || !drop) return;
  showError($("photo-error"), "");
  drop.dataset.state = "checking";
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const out = await postForm(`/api/watchlist-entries/${encodeURIComponent(e.id)}/photos`, form);
    toast(t("watchlists.photo_enrolled", { file: file.name }));
    state.entry = out;
    renderEntry();
  } catch (err) {
    showError($("photo-error"), `${file.name}: ${plainError(err)}`);
  } finally {
    drop.dataset.state = "idle";
  }
}

async function main() {
  startApp();
  buildListForm();
  buildEntryForm();
  const drop = $("photo-drop");
  if (drop) bindDrop(drop, $("photo-file"), enrol);
  try {
    const [, bases] = await Promise.all([
      loadLists(),
      can("legal.manage") || can("audit.read") ? api("/api/legal-bases") : Promise.resolve([]),
    ]);
    state.bases = new Map(bases.map((b) => [b.id, b]));
    const wanted = params.get("list");
    if (wanted && state.lists.some((l) => l.id === wanted)) await selectList(wanted);
    else if (state.lists.length === 1) await selectList(state.lists[0].id);
    const entry = params.get("entry");
    if (entry && state.list) await selectEntry(entry);
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

main();
