// Shared by every page: boot data, translations, Asia/Bishkek time formatting, the JSON API
// client and small DOM helpers. No framework; plain ES modules.

function readJson(id) {
  const node = document.getElementById(id);
  try {
    return node ? JSON.parse(node.textContent) : {};
  } catch {
    return {};
  }
}

export const boot = readJson("koopsuz-boot");
const catalogue = readJson("koopsuz-i18n");
export const lang = boot.lang || document.documentElement.lang || "ru";
export const TIME_ZONE = boot.timeZone || "Asia/Bishkek";

/** Whether the signed-in user's role has `permission` (unknown permissions list: assume yes). */
export function can(permission) {
  const perms = boot.user && boot.user.permissions;
  return !Array.isArray(perms) || perms.includes(permission);
}

/** Translate `key`, filling `{name}` placeholders from `params`. A missing key shows itself. */
export function t(key, params) {
  let text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
  if (params) {
    for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

/** The suffixes of every key that starts with `prefix` (e.g. the known event kinds). */
export function keysWithPrefix(prefix) {
  return Object.keys(catalogue)
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length));
}

/** Whether the active catalogue has `key` (for open-ended families such as event kinds). */
export function hasKey(key) {
  return Object.prototype.hasOwnProperty.call(catalogue, key);
}

// ---------------------------------------------------------------------------------------------
// Labels of closed vocabularies (written out so the i18n test can see every key).

const STATE_KEYS = {
  online: "state.online",
  offline: "state.offline",
  starting: "state.starting",
  disabled: "state.disabled",
};
export const STATES = Object.keys(STATE_KEYS);
export function stateLabel(state) {
  return t(STATE_KEYS[state] || "state.unknown");
}
export function stateClass(state) {
  return `state-${STATE_KEYS[state] ? state : "unknown"}`;
}

const SEVERITY_KEYS = {
  info: "severity.info",
  low: "severity.low",
  medium: "severity.medium",
  high: "severity.high",
  critical: "severity.critical",
};
export function severityLabel(sev) {
  return SEVERITY_KEYS[sev] ? t(SEVERITY_KEYS[sev]) : String(sev || "");
}

/** Event kinds are open-ended: known ones are translated (`kind.<kind>`), others show raw. */
export function kindLabel(kind) {
  return hasKey(`kind.${kind}`) ? t(`kind.${kind}`) : String(kind);
}
export function siteTypeLabel(type) {
  if (!type) return "";
  return hasKey(`site_type.${type}`) ? t(`site_type.${type}`) : String(type);
}
export function regionLabel(code) {
  if (!code) return t("header.national");
  const names = (boot.regions || {})[code];
  return names ? names[lang] || names.en : code;
}

// ---------------------------------------------------------------------------------------------
// Time: stored in UTC, shown in Asia/Bishkek.

const LOCALES = { en: "en-GB", ru: "ru-RU", ky: "ky-KG" };
function pickLocale() {
  const wanted = LOCALES[lang] || lang;
  try {
    return Intl.DateTimeFormat.supportedLocalesOf([wanted]).length ? wanted : "ru-RU";
  } catch {
    return "ru-RU";
  }
}
export const locale = pickLocale();

const fmtDateTime = new Intl.DateTimeFormat(locale, {
  timeZone: TIME_ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const fmtTimeOnly = new Intl.DateTimeFormat(locale, {
  timeZone: TIME_ZONE,
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const fmtDay = new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" });
const fmtNumber1 = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const fmtInt = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });

/** Parse an ISO timestamp from the API; one without an offset is UTC (the store keeps UTC). */
export function parseUtc(iso) {
  if (iso === null || iso === undefined || iso === "") return null;
  if (iso instanceof Date) return iso;
  let s = String(iso).trim();
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(s)) s += "Z";
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Full date and time in Asia/Bishkek; today's times drop the date. */
export function formatTime(iso, { full = false } = {}) {
  const d = parseUtc(iso);
  if (!d) return "—";
  if (!full && fmtDay.format(d) === fmtDay.format(new Date())) return fmtTimeOnly.format(d);
  return fmtDateTime.format(d);
}
export function formatDateTime(iso) {
  const d = parseUtc(iso);
  return d ? fmtDateTime.format(d) : "—";
}
export function formatClock(date = new Date()) {
  return fmtTimeOnly.format(date);
}

/**
 * "5 min ago" style, from the browser clock. From the catalogue rather than
 * Intl.RelativeTimeFormat: browsers' ICU often lacks Kyrgyz and would answer in another language.
 */
export function formatAgo(iso, now = Date.now()) {
  const d = parseUtc(iso);
  if (!d) return "—";
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000)); // a clock a little ahead reads "now"
  if (s < 3) return t("time.now");
  if (s < 60) return t("time.seconds_ago", { n: s });
  if (s < 3600) return t("time.minutes_ago", { n: Math.floor(s / 60) });
  if (s < 86400) return t("time.hours_ago", { n: Math.floor(s / 3600) });
  return t("time.days_ago", { n: Math.floor(s / 86400) });
}
export function formatNumber1(x) {
  return x === null || x === undefined || Number.isNaN(Number(x)) ? "—" : fmtNumber1.format(Number(x));
}
export function formatInt(x) {
  return x === null || x === undefined || Number.isNaN(Number(x)) ? "—" : fmtInt.format(Number(x));
}
export function formatSeconds(x) {
  return x === null || x === undefined ? "—" : t("common.seconds", { n: formatNumber1(x) });
}

// ---------------------------------------------------------------------------------------------
// JSON API.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

export function loginUrl() {
  return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/** The session's CSRF token: the koopsuz_csrf cookie set at sign-in (else the one the page was rendered with). */
export function csrfToken() {
  const m = /(?:^|;\s*)koopsuz_csrf=([^;]*)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]) : boot.csrf || "";
}

/** Headers every same-origin request needs; unsafe methods carry X-CSRF-Token (the API refuses them without). */
export function requestHeaders(method = "GET", extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (!["GET", "HEAD", "OPTIONS"].includes(String(method).toUpperCase())) headers["X-CSRF-Token"] = csrfToken();
  return headers;
}

/** fetch() JSON from the API with the session cookie; 401 on a signed-in page goes to sign-in. */
export async function api(path, { method = "GET", body, signal, redirectOn401 = true } = {}) {
  const init = { method, credentials: "same-origin", headers: requestHeaders(method), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401 && redirectOn401 && boot.page !== "login") {
    location.assign(loginUrl());
    throw new ApiError(401, t("common.session_expired"));
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    let detail = data && typeof data === "object" ? data.detail : data;
    if (detail && typeof detail !== "string") detail = JSON.stringify(detail);
    throw new ApiError(res.status, detail || res.statusText);
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// DOM helpers.

/** h("div", {class: "x", dataset: {testid: "y"}, onclick}, child, "text", ...) */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "style" && typeof v === "object") Object.assign(node.style, v);
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

let toastTimer = null;
/** A short message at the bottom of the screen (errors, connection notices). */
export function toast(message, { error = false, ms = 5000 } = {}) {
  const node = document.getElementById("toast");
  if (!node) return;
  node.textContent = message;
  node.classList.toggle("toast-error", error);
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    node.hidden = true;
  }, ms);
}

/** A camera's page URL. */
export function cameraUrl(id) {
  return `/cameras/${encodeURIComponent(id)}`;
}
