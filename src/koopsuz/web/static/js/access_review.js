// Access review page: every account in the reviewer's scope with its role, region, last sign-in and
// the last use of each sensitive permission it holds (GET /api/admin/access-review), flags for
// what a reviewer should look at, and the same report as CSV.

import { startApp } from "./app.js";
import { api, formatDateTime, h, regionLabel, t, toast } from "./core.js";

const FLAG_KEYS = {
  inactive: "access.flag.inactive",
  no_sign_in: "access.flag.no_sign_in",
  no_recent_sign_in: "access.flag.no_recent_sign_in",
  unused_permissions: "access.flag.unused_permissions",
};
const daysSelect = document.getElementById("access-days");
const flaggedOnly = document.getElementById("access-flagged");
const csvLink = document.getElementById("access-csv");
let report = null;

function roleLabel(role) {
  const key = `role.${role}`;
  const text = t(key);
  return text === key ? role : text;
}

function permissionCell(account, staleDays) {
  const items = Object.entries(account.sensitive).map(([perm, use]) => {
    const unused = account.unused_permissions.includes(perm);
    const when = use.last_used ? formatDateTime(use.last_used) : t("access.never");
    return h(
      "li",
      { class: unused ? "muted" : null, dataset: { permission: perm, unused: String(unused), testid: "access-perm" },
        title: unused ? t("access.unused_for", { n: staleDays }) : null },
      h("code", null, perm),
      ` ${when}`,
      use.uses ? ` (${t("access.uses", { n: use.uses })})` : "",
    );
  });
  return h("ul", { style: { margin: 0, paddingLeft: "1em" } }, items);
}

function render() {
  if (!report) return;
  const body = document.getElementById("access-body");
  const rows = report.accounts.filter((a) => !flaggedOnly.checked || a.flags.length);
  body.replaceChildren(
    ...rows.map((a) =>
      h(
        "tr",
        { dataset: { testid: "access-row", username: a.username, flags: a.flags.join(" ") } },
        h("td", null, h("b", null, a.username), a.full_name ? h("div", { class: "muted" }, a.full_name) : null),
        h("td", null, roleLabel(a.role)),
        h("td", null, regionLabel(a.region)),
        h("td", { dataset: { testid: "access-last-sign-in" } }, a.last_sign_in ? formatDateTime(a.last_sign_in) : t("access.never")),
        h("td", { style: { whiteSpace: "normal" } }, permissionCell(a, report.stale_days)),
        h("td", { style: { whiteSpace: "normal" } }, a.flags.map((f) => h("span", { class: "badge", dataset: { flag: f } }, t(FLAG_KEYS[f] || f)))),
      ),
    ),
  );
  document.getElementById("access-empty").hidden = rows.length > 0;
}

async function load() {
  const days = daysSelect.value;
  csvLink.href = `/api/admin/access-review?format=csv&days=${encodeURIComponent(days)}`;
  try {
    report = await api(`/api/admin/access-review?days=${encodeURIComponent(days)}`);
    render();
    document.querySelector("[data-testid=access-page]").dataset.ready = "true";
  } catch (err) {
    toast(t("common.error", { detail: err.message }), { error: true });
  }
}

daysSelect.addEventListener("change", load);
flaggedOnly.addEventListener("change", render);
startApp();
load();
