// Shared by the legal-basis, watchlist and face-search pages: the labels of the legal vocabularies,
// Bishkek-time form values sent as ISO 8601 with the offset, API refusals in plain words, a photo
// drop zone, and multipart uploads.

import { ApiError, TIME_ZONE, loginUrl, regionLabel, requestHeaders, t } from "./core.js";

export const BASIS_KIND_KEYS = {
  court_order: "legal.kind.court_order",
  prosecutor_sanction: "legal.kind.prosecutor_sanction",
  criminal_case: "legal.kind.criminal_case",
  missing_person: "legal.kind.missing_person",
  administrative: "legal.kind.administrative",
};
export const PURPOSE_KEYS = {
  watchlist: "legal.purpose.watchlist",
  face_search: "legal.purpose.face_search",
  plate_search: "legal.purpose.plate_search",
  export: "legal.purpose.export",
  unmask: "legal.purpose.unmask",
};
export const LIST_KIND_KEYS = {
  wanted: "watchlists.kind.wanted",
  missing: "watchlists.kind.missing",
  interest: "watchlists.kind.interest",
};

export function basisKindLabel(kind) {
  return BASIS_KIND_KEYS[kind] ? t(BASIS_KIND_KEYS[kind]) : String(kind || "");
}
export function purposeLabel(p) {
  return PURPOSE_KEYS[p] ? t(PURPOSE_KEYS[p]) : String(p || "");
}
export function listKindLabel(kind) {
  return LIST_KIND_KEYS[kind] ? t(LIST_KIND_KEYS[kind]) : String(kind || "");
}
export function regionsLabel(regions) {
  return regions && regions.length ? regions.map(regionLabel).join(", ") : t("legal.whole_country");
}
/** "MP-2026-118 · Missing-person report" for a basis select. */
export function basisOption(b) {
  return `${b.case_number} · ${basisKindLabel(b.kind)} · ${t("legal.until", { date: formatDate(b.valid_until) })}`;
}

// ---------------------------------------------------------------------------------------------
// Time: the forms take Bishkek wall-clock time and send ISO 8601 with its offset.

const partsFmt = new Intl.DateTimeFormat("en-CA", {
  timeZone: TIME_ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

function parts(date) {
  const out = {};
  for (const p of partsFmt.formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** The zone's offset at `date` as "+06:00". */
export function zoneOffset(date = new Date()) {
  const p = parts(date);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  const minutes = Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** A datetime-local value ("2026-11-25T14:05") showing `date` in Bishkek time. */
export function localInput(date) {
  const p = parts(date);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}
/** A date value ("2026-11-25") of `date` in Bishkek. */
export function localDate(date) {
  const p = parts(date);
  return `${p.year}-${p.month}-${p.day}`;
}
/** "2026-11-25T14:05" or "2026-11-25" (+ `time`) read as Bishkek time -> ISO 8601 with offset. */
export function isoFromLocal(value, time = "00:00:00") {
  if (!value) return null;
  const stamp = value.includes("T") ? (value.length === 16 ? `${value}:00` : value) : `${value}T${time}`;
  const approx = new Date(`${stamp}Z`);
  if (Number.isNaN(approx.getTime())) return null;
  return `${stamp}${zoneOffset(approx)}`;
}
const dateFmt = new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" });
export function formatDate(iso) {
  const d = iso ? new Date(iso) : null;
  return d && !Number.isNaN(d.getTime()) ? dateFmt.format(d) : "—";
}

// ---------------------------------------------------------------------------------------------
// Errors and uploads.

/**
 * The API's refusal as a sentence for the officer: pydantic's "Value error, " dropped and field
 * names replaced by the form's own labels (`labels` maps field -> catalogue key).
 */
export function plainError(err, labels = {}) {
  const text = String((err && err.message) || err || "");
  return text
    .split("; ")
    .map((part) => {
      const m = /^([a-z_]+)(?:\.\d+)?: (.*)$/s.exec(part);
      const body = (m ? m[2] : part).replace(/^Value error, /, "");
      return m && labels[m[1]] ? `${t(labels[m[1]])}: ${body}` : m ? `${m[1]}: ${body}` : body;
    })
    .join("; ");
}

/** POST multipart form data; JSON back, or an ApiError carrying the API's detail. */
export async function postForm(path, form) {
  const res = await fetch(path, { method: "POST", body: form, credentials: "same-origin", headers: requestHeaders("POST") });
  if (res.status === 401) {
    location.assign(loginUrl());
    throw new ApiError(401, t("common.session_expired"));
  }
  const data = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) {
    let detail = data && data.detail;
    if (detail && typeof detail !== "string") detail = JSON.stringify(detail);
    throw new ApiError(res.status, detail || res.statusText);
  }
  return data;
}

/** A drop zone with a file picker inside: `onFile(file)` for a dropped or picked file. */
export function bindDrop(zone, input, onFile) {
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (ev) => {
      ev.preventDefault();
      zone.classList.add("dropzone-over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("dropzone-over"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("dropzone-over");
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (file) onFile(file);
  });
  input.addEventListener("change", () => {
    const file = input.files[0];
    input.value = "";
    if (file) onFile(file);
  });
}
