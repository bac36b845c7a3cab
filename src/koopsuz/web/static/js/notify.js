// Alert notifications in the command centre: an alert at or above the operator's level (critical by
// default, or high and critical; kept per browser in localStorage) plays a short tone made with the
// WebAudio API (no audio file is fetched) and flashes its queue row and the page title until it is
// acknowledged, i.e. claimed by an operator (or it leaves the queue). A mute button silences the
// tone; the flashing stays, so a muted centre still sees what waits.
// Alerts that arrive together (the live feed sends a busy moment's alerts as one frame) sound one
// tone, for the most severe of them, not one tone each on top of each other.
// A hotlist hit's withdrawal ("hotlist_unconfirmed") never sounds, and the hit it takes back stops flashing.
// window.koopsuzAlertSound counts the tones started (and the last severity): the browser test reads it.

import { t } from "./core.js";

const LEVEL_KEY = "koopsuz.notify.level";
const MUTE_KEY = "koopsuz.notify.muted";
const RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
const TONES = { critical: [[880, 0], [660, 0.22], [880, 0.44], [660, 0.66]], high: [[740, 0], [740, 0.3]] };

function stored(key, fallback) {
  try {
    return localStorage.getItem(key) ?? fallback;
  } catch {
    return fallback; // storage refused (private mode): defaults, not a broken page
  }
}
function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* the choice lasts for this page only */
  }
}

/** A hotlist hit's withdrawal (rule_kind "hotlist_unconfirmed"), or a hit the queue says was withdrawn:
 * neither sounds nor flashes (see alerts.js). */
function withdrawal(alert) {
  const q = alert.queue || {};
  return (alert.payload || {}).rule_kind === "hotlist_unconfirmed" || !!q.withdrawn || !!q.retracts;
}

export class AlertNotifier {
  constructor() {
    this.pending = new Map(); // alert id -> severity, until acknowledged
    this.audio = null;
    this.baseTitle = document.title;
    this.blink = null;
    this.on = false;
    this.due = null; // the severity of the tone owed to the alerts of the frame being dispatched
    window.koopsuzAlertSound = window.koopsuzAlertSound || { count: 0, last: null };
    // browsers start audio only after a gesture: the first click anywhere unlocks it
    document.addEventListener("pointerdown", () => this.context(), { once: true });
  }

  level() {
    return stored(LEVEL_KEY, "critical") === "high" ? "high" : "critical";
  }
  muted() {
    return stored(MUTE_KEY, "false") === "true";
  }
  wants(alert) {
    if (!alert || alert.kind !== "alert" || withdrawal(alert)) return false;
    return (RANK[alert.severity] ?? 0) >= RANK[this.level()];
  }

  /** The mute button and level choice, added to the queue's header. */
  mountControls(parent) {
    const mute = document.createElement("button");
    mute.type = "button";
    mute.className = "btn btn-small btn-ghost";
    mute.dataset.testid = "notify-mute";
    const paint = () => {
      mute.setAttribute("aria-pressed", String(this.muted()));
      mute.textContent = this.muted() ? t("notify.unmute") : t("notify.mute");
    };
    mute.addEventListener("click", () => {
      store(MUTE_KEY, String(!this.muted()));
      paint();
    });
    paint();
    const select = document.createElement("select");
    select.className = "input";
    select.dataset.testid = "notify-level";
    select.title = t("notify.level");
    select.setAttribute("aria-label", t("notify.level"));
    for (const [lvl, text] of [["critical", t("notify.level.critical")], ["high", t("notify.level.high")]]) {
      const o = document.createElement("option");
      o.value = lvl;
      o.textContent = text;
      select.append(o);
    }
    select.value = this.level();
    select.addEventListener("change", () => store(LEVEL_KEY, select.value));
    const label = document.createElement("label");
    label.append(`${t("notify.level")} `, select);
    const box = document.createElement("div");
    box.className = "notify-controls";
    box.append(label, mute);
    parent.append(box);
  }

  /** A new alert from the live feed: tone (unless muted) and flashing until acknowledged. */
  notice(alert) {
    if (!this.wants(alert) || this.pending.has(alert.id)) return;
    this.pending.set(alert.id, alert.severity);
    if (!this.muted()) {
      // a frame's messages are dispatched in one go: the tone waits until they all have been seen
      if (this.due === null) queueMicrotask(() => {
        const severity = this.due;
        this.due = null;
        this.tone(severity);
      });
      if (this.due === null || (RANK[alert.severity] ?? 0) > (RANK[this.due] ?? 0)) this.due = alert.severity;
    }
    this.refresh();
  }

  /** After each queue render: claimed or gone alerts stop flashing; rows still waiting flash. */
  sync(items, rows, first = false) {
    // a withdrawn hit stops flashing: nobody is to act on it any more
    const waiting = new Map(items.filter((a) => !(a.queue || {}).claimed_by && !withdrawal(a)).map((a) => [a.id, a]));
    if (first) for (const a of waiting.values()) if (this.wants(a)) this.pending.set(a.id, a.severity);
    for (const id of [...this.pending.keys()]) if (!waiting.has(id)) this.pending.delete(id);
    for (const row of rows) {
      const flash = this.pending.has(row.dataset.alertId);
      row.classList.toggle("notify-flash", flash);
      row.dataset.flashing = String(flash);
    }
    this.refresh();
  }

  context() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!this.audio) this.audio = new Ctx();
    if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
    return this.audio;
  }

  tone(severity) {
    const sound = window.koopsuzAlertSound;
    sound.count += 1;
    sound.last = severity;
    const ctx = this.context();
    if (!ctx) return;
    const now = ctx.currentTime;
    for (const [freq, at] of TONES[severity] || TONES.high) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.2, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + at);
      osc.stop(now + at + 0.2);
    }
  }

  refresh() {
    const n = this.pending.size;
    document.body.dataset.alertsWaiting = String(n);
    if (n && !this.blink) {
      this.blink = setInterval(() => {
        this.on = !this.on;
        document.title = this.on ? `⚠ ${t("notify.title", { n: this.pending.size })}` : this.baseTitle;
      }, 700);
    } else if (!n && this.blink) {
      clearInterval(this.blink);
      this.blink = null;
      this.on = false;
      document.title = this.baseTitle;
    }
  }
}
