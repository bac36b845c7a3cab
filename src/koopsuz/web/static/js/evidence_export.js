// "Export evidence" on the playback page: a signed package of the cameras and range on screen
// (read from the page's URL, which playback.js keeps current), under a case number and a registered
// legal basis allowing "export" (with an optional note),
// with the viewing copies redacted unless the exporter unticks it.

import { api, h, t, toast } from "./core.js";
import { basisOption, regionsLabel } from "./lawful.js";

const form = document.getElementById("evidence-form");
const status = document.getElementById("evidence-status");

function onScreen() {
  const params = new URLSearchParams(location.search);
  const first = decodeURIComponent(location.pathname.split("/")[2] || "");
  const extra = (params.get("cameras") || "").split(",").filter((c) => c && c !== first);
  return { cameras: [first, ...extra], start: params.get("start"), end: params.get("end") };
}

// Redaction (on by default): the subject's face and the involved plates stay, everything else in
// the viewing copy is pixelated. Lifting it needs the exporter's approved unmask grant (server-side).
async function redaction(data) {
  if (!data.get("redact")) return { redact: false };
  const out = { redact: true };
  const photo = data.get("subject_photo");
  if (photo && photo.size) {
    const bytes = new Uint8Array(await photo.arrayBuffer());
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    out.subject_photo = btoa(bin);
  }
  const entry = String(data.get("subject_entry") || "").trim();
  if (entry) out.subject_entry = entry;
  const plates = String(data.get("involved_plates") || "").split(",").map((p) => p.trim()).filter(Boolean);
  if (plates.length) out.involved_plates = plates;
  return out;
}

// The registered legal bases valid now that allow "export": an export without one is refused.
async function loadBases() {
  const select = document.getElementById("evidence-basis-id");
  if (!select) return;
  try {
    const bases = (await api("/api/legal-bases?valid=true")).filter((b) => b.purposes.includes("export"));
    select.replaceChildren(
      ...(bases.length
        ? bases.map((b) => h("option", { value: b.id, title: regionsLabel(b.regions) }, basisOption(b)))
        : [h("option", { value: "", disabled: true, selected: true }, t("evidence.no_basis"))]),
    );
  } catch (err) {
    toast(t("common.error", { detail: err.message }), { error: true });
  }
}

if (form) {
  loadBases();
  const redact = form.querySelector("input[name=redact]");
  redact?.addEventListener("change", () => {
    for (const name of ["subject_photo", "subject_entry", "involved_plates"]) {
      form.querySelector(`input[name=${name}]`).disabled = !redact.checked;
    }
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const shown = onScreen();
    const data = new FormData(form);
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    try {
      const e = await api("/api/evidence/exports", {
        method: "POST",
        body: {
          ...shown,
          case_number: String(data.get("case_number") || "").trim(),
          legal_basis_id: String(data.get("legal_basis_id") || ""),
          legal_basis: String(data.get("legal_basis") || "").trim(),
          reason: String(data.get("reason") || "").trim(),
          ...(await redaction(data)),
        },
      });
      status.replaceChildren(
        t("evidence.export_started"),
        " ",
        h("a", { href: "/evidence", "data-testid": "evidence-link", "data-export-id": e.id }, t("nav.evidence")),
      );
    } catch (err) {
      status.textContent = "";
      toast(t("common.error", { detail: err.message }), { error: true });
    } finally {
      btn.disabled = false;
    }
  });
}
