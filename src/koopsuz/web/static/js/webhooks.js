// Webhooks (administrators): the subscriptions other systems (the ministry's dispatch, SMS gateways)
// hold on alerts. Add one (name, URL, shared secret, region, minimum severity, alert kinds), test-fire
// it (one signed POST now; the receiver's answer is shown in its row), switch it off and on, remove
// it, and read its latest deliveries of real alerts (status, attempts, the receiver's answer). The
// API's refusal is shown beside the form as it says it; the secret is never shown again.

import { startApp } from "./app.js";
import { api, boot, formatDateTime, h, regionLabel, severityLabel, t, toast } from "./core.js";
import { plainError } from "./lawful.js";

const FIELD_LABELS = {
  name: "webhooks.name",
  url: "webhooks.url",
  secret: "webhooks.secret",
  region: "webhooks.region",
  min_severity: "webhooks.min_severity",
  rule_kinds: "webhooks.rule_kinds",
};
const SEVERITIES = ["low", "medium", "high", "critical"];
const form = document.getElementById("webhook-form");
const errorBox = document.getElementById("webhook-error");
const body = document.getElementById("webhooks-body");
const empty = document.getElementById("webhooks-empty");
const lastTest = new Map(); // webhook id -> the last test's result on this page
const open = new Set(); // webhook ids whose deliveries are shown
const STATUS_KEYS = { pending: "webhooks.status.pending", delivered: "webhooks.status.delivered", failed: "webhooks.status.failed" };
const DELIVERIES = 20;

function buildForm() {
  const region = document.getElementById("webhook-region");
  region.replaceChildren(
    h("option", { value: "" }, t("webhooks.all_regions")),
    ...Object.keys(boot.regions || {}).map((code) => h("option", { value: code }, regionLabel(code))),
  );
  const sev = document.getElementById("webhook-severity");
  sev.replaceChildren(...SEVERITIES.map((s) => h("option", { value: s }, severityLabel(s))));
  sev.value = "high";
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
  const ruleKinds = f.rule_kinds.value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  const payload = {
    name: f.name.value.trim(),
    url: f.url.value.trim(),
    secret: f.secret.value,
    region: f.region.value || null,
    min_severity: f.min_severity.value,
    rule_kinds: ruleKinds,
  };
  try {
    const created = await api("/api/webhooks", { method: "POST", body: payload });
    form.reset();
    f.min_severity.value = "high";
    toast(t("webhooks.added", { name: created.name }));
    await load();
  } catch (err) {
    showError(plainError(err, FIELD_LABELS));
  }
}

function testCell(w) {
  const r = lastTest.get(w.id);
  if (!r) return h("td", { dataset: { testid: "webhook-test-result" } }, "—");
  const text = r.ok
    ? t("webhooks.test_ok", { code: r.response_code, ms: r.ms })
    : t("webhooks.test_failed", { error: r.error || `HTTP ${r.response_code}` });
  return h("td", { class: r.ok ? "ok" : "bad", dataset: { testid: "webhook-test-result", ok: String(r.ok) } }, text);
}

function row(w) {
  const filters = [
    t("webhooks.from_severity", { severity: severityLabel(w.min_severity) }),
    w.rule_kinds.length ? w.rule_kinds.join(", ") : t("webhooks.every_kind"),
  ].join(" · ");
  const test = h("button", { type: "button", class: "btn btn-small", dataset: { testid: "webhook-test" } }, t("webhooks.test"));
  test.addEventListener("click", async () => {
    test.disabled = true;
    try {
      lastTest.set(w.id, await api(`/api/webhooks/${encodeURIComponent(w.id)}/test`, { method: "POST" }));
      await load();
    } catch (err) {
      toast(plainError(err), { error: true });
      test.disabled = false;
    }
  });
  const toggle = h(
    "button",
    { type: "button", class: "btn btn-small btn-ghost", "aria-pressed": String(w.enabled), dataset: { testid: "webhook-toggle" } },
    w.enabled ? t("webhooks.disable") : t("webhooks.enable"),
  );
  toggle.addEventListener("click", async () => {
    try {
      await api(`/api/webhooks/${encodeURIComponent(w.id)}`, { method: "PATCH", body: { enabled: !w.enabled } });
      await load();
    } catch (err) {
      toast(plainError(err), { error: true });
    }
  });
  const remove = h("button", { type: "button", class: "btn btn-small btn-ghost", dataset: { testid: "webhook-remove" } }, t("webhooks.remove"));
  remove.addEventListener("click", async () => {
    if (!window.confirm(t("webhooks.remove_confirm", { name: w.name }))) return;
    try {
      await api(`/api/webhooks/${encodeURIComponent(w.id)}`, { method: "DELETE" });
      lastTest.delete(w.id);
      toast(t("webhooks.removed", { name: w.name }));
      await load();
    } catch (err) {
      toast(plainError(err), { error: true });
    }
  });
  const log = h(
    "button",
    { type: "button", class: "btn btn-small btn-ghost", "aria-expanded": String(open.has(w.id)), dataset: { testid: "webhook-log" } },
    t("webhooks.deliveries"),
  );
  log.addEventListener("click", async () => {
    if (open.has(w.id)) open.delete(w.id);
    else open.add(w.id);
    await load();
  });
  const tr = h(
    "tr",
    { dataset: { testid: "webhook-row", webhookId: w.id, enabled: String(w.enabled) } },
    h("td", null, h("strong", null, w.name), h("div", { class: "muted" }, t("webhooks.created", { by: w.created_by, at: formatDateTime(w.created_at) }))),
    h("td", { class: "mono" }, w.url),
    h("td", null, w.region ? regionLabel(w.region) : t("webhooks.all_regions")),
    h("td", null, filters),
    h("td", { dataset: { testid: "webhook-state" } }, w.enabled ? t("webhooks.on") : t("webhooks.off")),
    testCell(w),
    h("td", { class: "actions" }, test, " ", toggle, " ", log, " ", remove),
  );
  return open.has(w.id) ? [tr, deliveriesRow(w)] : [tr];
}

function deliveriesRow(w) {
  const cell = h("td", { colspan: 7 }, h("p", { class: "muted" }, t("webhooks.loading")));
  api(`/api/webhooks/${encodeURIComponent(w.id)}/deliveries?limit=${DELIVERIES}`).then(
    (items) => {
      if (!items.length) {
        cell.replaceChildren(h("p", { class: "muted", dataset: { testid: "webhook-deliveries-empty" } }, t("webhooks.no_deliveries")));
        return;
      }
      cell.replaceChildren(
        h(
          "table",
          { class: "grid", dataset: { testid: "webhook-deliveries" } },
          h(
            "thead",
            null,
            h("tr", null, ...["webhooks.d_time", "webhooks.d_kind", "webhooks.region", "webhooks.d_status", "webhooks.d_attempts", "webhooks.d_answer"].map((k) => h("th", { scope: "col" }, t(k)))),
          ),
          h(
            "tbody",
            null,
            ...items.map((d) =>
              h(
                "tr",
                { dataset: { testid: "webhook-delivery", status: d.status, eventId: d.event_id } },
                h("td", null, formatDateTime(d.updated_at)),
                h("td", null, d.kind),
                h("td", null, d.region ? regionLabel(d.region) : "—"),
                h("td", null, t(STATUS_KEYS[d.status] || "webhooks.status.pending")),
                h("td", { class: "num" }, String(d.attempts)),
                h("td", null, d.last_error || (d.response_code ? `HTTP ${d.response_code}` : "—")),
              ),
            ),
          ),
        ),
      );
    },
    (err) => cell.replaceChildren(h("p", { class: "form-error" }, plainError(err))),
  );
  return h("tr", { class: "webhook-deliveries-row", dataset: { testid: "webhook-deliveries-row", webhookId: w.id } }, cell);
}

async function load() {
  const hooks = await api("/api/webhooks");
  body.replaceChildren(...hooks.flatMap(row));
  empty.hidden = hooks.length > 0;
  document.querySelector('[data-testid="webhooks-page"]').dataset.ready = "true";
}

startApp();
buildForm();
load().catch((err) => toast(plainError(err), { error: true }));
