// Storage page: the media volume against its budget, recent retention runs, the retention days,
// and the evidence locks in force, each with an unlock button (the reason is asked and audited).

import { startApp } from "./app.js";
import { api, can, cameraUrl, formatDateTime, formatInt, formatNumber1, h, siteTypeLabel, t, toast } from "./core.js";

const TRIGGER_KEYS = {
  schedule: "storage.trigger.schedule",
  manual: "storage.trigger.manual",
  disk_full: "storage.trigger.disk_full",
};
const STATE_KEYS = { ok: "storage.state.ok", warn: "storage.state.warn", over: "storage.state.over" };
const CLASS_KEYS = {
  video: "storage.class.video",
  event_clip: "storage.class.event_clip",
  snapshot: "storage.class.snapshot",
};

function bytes(n) {
  if (n === null || n === undefined) return "—";
  if (n >= 1e9) return t("storage.gb", { n: formatNumber1(n / 1e9) });
  if (n >= 1e6) return t("storage.mb", { n: formatNumber1(n / 1e6) });
  return t("storage.kb", { n: formatNumber1(n / 1e3) });
}

function fact(label, value, testid) {
  return [h("dt", null, label), h("dd", { dataset: testid ? { testid } : undefined }, value)];
}

function renderVolumes(volumes) {
  const box = document.getElementById("volumes");
  box.replaceChildren(
    ...volumes.map((v) => {
      const share = v.budget_bytes ? Math.min(1, v.used_bytes / v.budget_bytes) : null;
      const bar = h(
        "div",
        { class: `usage-bar state-${v.state}`, role: "meter", "aria-valuemin": 0, "aria-valuemax": 100,
          "aria-valuenow": share === null ? 0 : Math.round(share * 100), dataset: { testid: "usage-bar" } },
        h("span", { style: { width: `${share === null ? 0 : share * 100}%` } }),
        share === null ? null : h("i", { style: { left: `${v.warn_fraction * 100}%` } }),
      );
      return h(
        "div",
        { class: "volume", dataset: { state: v.state } },
        h("div", { class: "muted" }, v.path),
        bar,
        h(
          "dl",
          { class: "volume-facts" },
          fact(t("storage.used"), bytes(v.used_bytes), "volume-used"),
          fact(t("storage.budget"), v.budget_bytes ? bytes(v.budget_bytes) : t("storage.no_budget"), "volume-budget"),
          fact(t("storage.free"), bytes(v.free_bytes)),
          fact(t("storage.oldest"), formatDateTime(v.oldest_kept)),
          fact(t("storage.status"), t(STATE_KEYS[v.state] || "storage.state.ok"), "volume-state"),
        ),
      );
    }),
  );
}

function renderRuns(runs) {
  const body = document.getElementById("runs-body");
  body.replaceChildren(
    ...runs.map((r) =>
      h(
        "tr",
        { dataset: { run: r.id } },
        h("td", null, formatDateTime(r.started_at)),
        h("td", null, TRIGGER_KEYS[r.trigger] ? t(TRIGGER_KEYS[r.trigger]) : r.trigger),
        h("td", { class: "num" }, `${formatInt(r.deleted_segments)} · ${bytes(r.deleted_bytes)}`),
        h("td", { class: "num" }, formatInt(r.spared_locked)),
        h("td", null, formatDateTime(r.report && r.report.oldest_kept)),
      ),
    ),
  );
  document.getElementById("runs-empty").hidden = runs.length > 0;
}

function renderPolicy(policy) {
  const body = document.getElementById("policy-body");
  const classes = Object.keys(CLASS_KEYS);
  const head = h("tr", null, h("th", null, ""), ...classes.map((c) => h("th", { class: "num" }, t(CLASS_KEYS[c]))));
  const rows = Object.entries(policy).map(([type, days]) =>
    h("tr", null, h("td", null, siteTypeLabel(type)), ...classes.map((c) => h("td", { class: "num" }, formatInt(days[c])))),
  );
  body.replaceChildren(head, ...rows);
}

async function unlock(lock) {
  const reason = window.prompt(t("storage.unlock_prompt", { id: lock.id, case: lock.case_number }));
  if (reason === null) return;
  if (!reason.trim()) {
    toast(t("storage.reason_required"), { error: true });
    return;
  }
  try {
    await api(`/api/evidence/locks/${lock.id}/unlock`, { method: "POST", body: { reason } });
    toast(t("storage.unlocked", { id: lock.id }));
    await loadLocks();
  } catch (err) {
    toast(`${t("common.error")}: ${err.message}`, { error: true });
  }
}

function renderLocks(locks) {
  const body = document.getElementById("locks-body");
  const mayUnlock = can("evidence.lock");
  body.replaceChildren(
    ...locks.map((lk) =>
      h(
        "tr",
        { dataset: { lock: lk.id, testid: "lock-row" } },
        h("td", null, lk.case_number),
        h("td", null, h("a", { href: cameraUrl(lk.camera) }, lk.camera)),
        h("td", null, `${formatDateTime(lk.start)} – ${formatDateTime(lk.end)}`),
        h("td", null, `${lk.locked_by} · ${formatDateTime(lk.locked_at)}`),
        h("td", null, lk.reason || "—"),
        h(
          "td",
          null,
          mayUnlock
            ? h("button", { type: "button", class: "btn btn-ghost", dataset: { testid: "unlock" }, onclick: () => unlock(lk) },
                t("storage.unlock"))
            : null,
        ),
      ),
    ),
  );
  document.getElementById("locks-empty").hidden = locks.length > 0;
}

async function loadLocks() {
  renderLocks(await api("/api/evidence/locks?active=true"));
}

async function load() {
  try {
    if (can("storage.read")) {
      const s = await api("/api/storage");
      renderVolumes(s.volumes);
      renderRuns(s.runs);
      renderPolicy(s.policy);
    }
    await loadLocks();
  } catch (err) {
    toast(`${t("common.error")}: ${err.message}`, { error: true });
  }
}

startApp();
load();
setInterval(load, 30000);
