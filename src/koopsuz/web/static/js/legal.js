// Legal bases: the registry every sensitive act names (watchlist entries, face searches, plate
// searches, exports, unmasking). Officers with legal.manage register one (case, kind, authority,
// document, purposes, regions, validity in Bishkek dates) and revoke one with a reason; auditors
// read. The API's refusal is shown beside the form as it says it.

import { startApp } from "./app.js";
import { api, boot, can, formatDateTime, h, regionLabel, t, toast } from "./core.js";
import { BASIS_KIND_KEYS, PURPOSE_KEYS, basisKindLabel, isoFromLocal, localDate, plainError, purposeLabel, regionsLabel } from "./lawful.js";

const FIELD_LABELS = {
  case_number: "legal.case",
  kind: "legal.kind",
  authority: "legal.authority",
  document_ref: "legal.document",
  purposes: "legal.purposes",
  regions: "legal.regions",
  valid_from: "legal.valid_from",
  valid_until: "legal.valid_until",
  note: "legal.note",
};
const form = document.getElementById("legal-form");
const errorBox = document.getElementById("legal-error");
const body = document.getElementById("legal-body");
const empty = document.getElementById("legal-empty");
const userRegion = boot.user && boot.user.region;

function check(name, value, label, checked = false) {
  return h(
    "label",
    { class: "check" },
    h("input", { type: "checkbox", name, value, checked, dataset: { testid: `${name}-${value}` } }),
    label,
  );
}

function buildForm() {
  if (!form) return;
  const kind = document.getElementById("legal-kind");
  kind.replaceChildren(...Object.keys(BASIS_KIND_KEYS).map((k) => h("option", { value: k }, basisKindLabel(k))));
  document.getElementById("legal-purposes").append(...Object.keys(PURPOSE_KEYS).map((p) => check("purpose", p, purposeLabel(p))));
  const regions = document.getElementById("legal-regions");
  if (userRegion) {
    regions.append(h("p", { class: "muted", "data-testid": "legal-region-fixed" }, t("legal.region_fixed", { region: regionLabel(userRegion) })));
  } else {
    regions.append(
      h("p", { class: "muted" }, t("legal.regions_hint")),
      ...Object.keys(boot.regions || {}).map((code) => check("region", code, regionLabel(code))),
    );
  }
  const until = new Date(Date.now() + 90 * 86400e3);
  form.elements.valid_until.value = localDate(until);
  form.addEventListener("submit", submit);
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

async function submit(ev) {
  ev.preventDefault();
  showError("");
  const f = form.elements;
  const purposes = [...form.querySelectorAll('input[name="purpose"]:checked')].map((x) => x.value);
  const regions = userRegion ? [userRegion] : [...form.querySelectorAll('input[name="region"]:checked')].map((x) => x.value);
  if (!purposes.length) return showError(t("legal.need_purpose"));
  if (!f.valid_until.value) return showError(t("legal.need_until"));
  const payload = {
    case_number: f.case_number.value,
    kind: f.kind.value,
    authority: f.authority.value,
    document_ref: f.document_ref.value,
    purposes,
    regions,
    valid_until: isoFromLocal(f.valid_until.value, "23:59:59"),
    note: f.note.value,
  };
  if (f.valid_from.value) payload.valid_from = isoFromLocal(f.valid_from.value, "00:00:00");
  const button = form.querySelector('[type="submit"]');
  button.disabled = true;
  try {
    const b = await api("/api/legal-bases", { method: "POST", body: payload });
    toast(t("legal.registered", { case: b.case_number }));
    form.reset();
    form.elements.valid_until.value = localDate(new Date(Date.now() + 90 * 86400e3));
    await load();
  } catch (err) {
    showError(plainError(err, FIELD_LABELS));
  } finally {
    button.disabled = false;
  }
}

function statusOf(b) {
  if (b.revoked_at) return { key: "legal.state.revoked", cls: "state-offline", why: t("legal.revoked_by", { who: b.revoked_by, when: formatDateTime(b.revoked_at), reason: b.revoke_reason || "—" }) };
  if (b.valid_now) return { key: "legal.state.valid", cls: "state-online", why: "" };
  if (new Date(b.valid_from) > new Date()) return { key: "legal.state.not_yet", cls: "state-starting", why: t("legal.starts", { when: formatDateTime(b.valid_from) }) };
  return { key: "legal.state.expired", cls: "state-disabled", why: t("legal.expired_at", { when: formatDateTime(b.valid_until) }) };
}

async function revoke(b) {
  const reason = window.prompt(t("legal.revoke_prompt", { case: b.case_number }));
  if (reason === null) return;
  try {
    await api(`/api/legal-bases/${encodeURIComponent(b.id)}/revoke`, { method: "POST", body: { reason } });
    toast(t("legal.revoked", { case: b.case_number }));
    await load();
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

function row(b) {
  const st = statusOf(b);
  const mayRevoke = can("legal.manage") && !b.revoked_at && (!userRegion || (b.regions.length === 1 && b.regions[0] === userRegion));
  return h(
    "tr",
    { dataset: { testid: "legal-row", basisId: b.id, case: b.case_number, valid: String(b.valid_now) } },
    h("td", null, h("strong", null, b.case_number), b.note ? h("div", { class: "muted" }, b.note) : null),
    h("td", null, basisKindLabel(b.kind)),
    h("td", null, b.authority),
    h("td", null, b.document_ref),
    h("td", { "data-testid": "legal-row-purposes" }, b.purposes.map(purposeLabel).join(", ")),
    h("td", null, regionsLabel(b.regions)),
    h("td", null, `${formatDateTime(b.valid_from)} – ${formatDateTime(b.valid_until)}`),
    h(
      "td",
      { "data-testid": "legal-row-status" },
      h("span", { class: `badge ${st.cls}` }, t(st.key)),
      st.why ? h("div", { class: "muted small" }, st.why) : null,
    ),
    h(
      "td",
      null,
      mayRevoke
        ? h("button", { type: "button", class: "btn btn-ghost btn-small", dataset: { testid: "legal-revoke" }, onclick: () => revoke(b) }, t("legal.revoke"))
        : null,
    ),
  );
}

async function load() {
  try {
    const list = await api("/api/legal-bases");
    body.replaceChildren(...list.map(row));
    empty.hidden = list.length > 0;
  } catch (err) {
    toast(t("common.error", { detail: plainError(err) }), { error: true });
  }
}

startApp();
buildForm();
load();
