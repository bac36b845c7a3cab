// Evidence page: the caller's signed exports (status while building, download when ready) and a
// drop zone that checks a package against this installation's key and names exactly what was
// altered, missing or added. The check runs on the server (POST /api/evidence/verify); the same
// check runs offline with `koopsuz evidence verify`.

import { startApp } from "./app.js";
import { api, can, formatDateTime, h, requestHeaders, t, toast } from "./core.js";

const POLL_MS = 1500;
const drop = document.getElementById("verify-drop");
const fileInput = document.getElementById("verify-file");
const result = document.getElementById("verify-result");
const body = document.getElementById("exports-body");
const empty = document.getElementById("exports-empty");
let pollTimer = null;

const PROBLEM_KEYS = {
  signature_invalid: "evidence.problem.signature_invalid",
  signature_missing: "evidence.problem.signature_missing",
  manifest_missing: "evidence.problem.manifest_missing",
  manifest_unreadable: "evidence.problem.manifest_unreadable",
  key_mismatch: "evidence.problem.key_mismatch",
  file_altered: "evidence.problem.file_altered",
  file_missing: "evidence.problem.file_missing",
  unexpected_file: "evidence.problem.unexpected_file",
};

function problemLabel(kind) {
  return PROBLEM_KEYS[kind] ? t(PROBLEM_KEYS[kind]) : String(kind);
}

function showResult(r) {
  const ok = Boolean(r.ok);
  result.hidden = false;
  result.dataset.state = ok ? "ok" : "failed";
  const lines = [
    h(
      "p",
      { class: ok ? "verify-ok" : "verify-bad", "data-testid": "verify-verdict" },
      ok ? t("evidence.verified", { files: r.files_checked }) : t("evidence.not_verified"),
    ),
  ];
  if (!ok) {
    lines.push(
      h(
        "ul",
        { class: "verify-problems" },
        (r.problems || []).map((p) =>
          h(
            "li",
            { "data-testid": "verify-problem", "data-kind": p.kind, "data-path": p.path || "" },
            h("strong", null, problemLabel(p.kind)),
            p.path ? h("code", null, ` ${p.path}`) : null,
            h("span", { class: "muted" }, ` — ${p.detail}`),
          ),
        ),
      ),
    );
  }
  if (r.warning) lines.push(h("p", { class: "verify-bad", "data-testid": "verify-warning" }, r.warning));
  const facts = [];
  if (r.case) facts.push([t("evidence.case"), `${r.case.number} · ${r.case.legal_basis}`]);
  if (r.exporter) {
    const who = r.exporter.full_name ? `${r.exporter.full_name} (${r.exporter.username})` : r.exporter.username;
    facts.push([t("evidence.by"), `${who}, ${r.exporter.role}`]);
  }
  if (r.exported_at) facts.push([t("evidence.created"), formatDateTime(r.exported_at.utc)]);
  if (r.cameras && r.cameras.length)
    facts.push([t("evidence.cameras"), r.cameras.map((c) => `${c.name || c.id} (${t("evidence.gaps", { n: c.gaps })})`).join(", ")]);
  facts.push([t("evidence.key"), `${r.trusted_key_id}${r.signed_key_id && r.signed_key_id !== r.trusted_key_id ? ` ≠ ${r.signed_key_id}` : ""}`]);
  lines.push(h("dl", { class: "verify-facts" }, facts.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)])));
  result.replaceChildren(...lines);
}

async function verifyFile(file) {
  if (!file) return;
  drop.dataset.state = "checking";
  result.hidden = false;
  result.dataset.state = "checking";
  result.replaceChildren(h("p", { class: "muted" }, `${t("evidence.checking")} ${file.name}`));
  const form = new FormData();
  form.append("package", file, file.name);
  try {
    const res = await fetch("/api/evidence/verify", { method: "POST", body: form, credentials: "same-origin", headers: requestHeaders("POST") });
    const data = await res.json().catch(() => ({ detail: res.statusText }));
    if (!res.ok) throw new Error(data.detail || res.statusText);
    showResult(data);
  } catch (err) {
    result.dataset.state = "error";
    result.replaceChildren(h("p", { class: "verify-bad", "data-testid": "verify-error" }, t("common.error", { detail: err.message })));
  } finally {
    drop.dataset.state = "idle";
  }
}

function bindDrop() {
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (ev) => {
      ev.preventDefault();
      drop.classList.add("dropzone-over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("dropzone-over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("dropzone-over");
    verifyFile(ev.dataTransfer && ev.dataTransfer.files[0]);
  });
  fileInput.addEventListener("change", () => {
    verifyFile(fileInput.files[0]);
    fileInput.value = "";
  });
}

function statusCell(e) {
  if (e.status === "building") {
    const pct = Math.round(((e.progress && e.progress.done) || 0) * 100);
    return h("span", { class: "badge state-starting" }, t("evidence.status.building", { pct }));
  }
  if (e.status === "ready") return h("span", { class: "badge state-online" }, t("evidence.status.ready"));
  return h("span", { class: "badge state-offline", title: e.error || "" }, `${t("evidence.status.failed")}: ${e.error || ""}`);
}

function row(e) {
  const gaps = e.cameras.reduce((n, c) => n + (c.gaps ? c.gaps.length : 0), 0);
  return h(
    "tr",
    { "data-testid": "export-row", "data-export-id": e.id, "data-status": e.status },
    h("td", null, h("strong", null, e.case_number), h("div", { class: "muted" }, e.legal_basis)),
    h("td", null, e.cameras.map((c) => c.id).join(", "), gaps ? h("div", { class: "muted" }, t("evidence.gaps", { n: gaps })) : null),
    h("td", null, `${formatDateTime(e.start)} – ${formatDateTime(e.end)}`),
    h("td", null, e.created_by),
    h("td", null, formatDateTime(e.created_at)),
    h("td", { "data-testid": "export-status" }, statusCell(e)),
    h("td", null, e.download ? h("a", { class: "btn btn-small", href: e.download, "data-testid": "export-download" }, t("evidence.download")) : null),
  );
}

async function loadExports() {
  clearTimeout(pollTimer);
  try {
    const list = await api("/api/evidence/exports");
    body.replaceChildren(...list.map(row));
    empty.hidden = list.length > 0;
    if (list.some((e) => e.status === "building")) pollTimer = setTimeout(loadExports, POLL_MS);
  } catch (err) {
    toast(t("common.error", { detail: err.message }), { error: true });
  }
}

function main() {
  startApp();
  bindDrop();
  if (body && can("evidence.export")) loadExports();
}

main();
