// "Export evidence" on the playback page: a signed package of the cameras and range on screen
// (read from the page's URL, which playback.js keeps current), under a case number and legal basis.

import { api, h, t, toast } from "./core.js";

const form = document.getElementById("evidence-form");
const status = document.getElementById("evidence-status");

function onScreen() {
  const params = new URLSearchParams(location.search);
  const first = decodeURIComponent(location.pathname.split("/")[2] || "");
  const extra = (params.get("cameras") || "").split(",").filter((c) => c && c !== first);
  return { cameras: [first, ...extra], start: params.get("start"), end: params.get("end") };
}

if (form) {
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
          legal_basis: String(data.get("legal_basis") || "").trim(),
          reason: String(data.get("reason") || "").trim(),
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
