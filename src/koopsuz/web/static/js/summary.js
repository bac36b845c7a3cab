// Counts of cameras per health state, as chips that filter by state when clicked.

import { STATES, formatInt, h, stateClass, stateLabel } from "./core.js";

export function countStates(cameras) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const c of cameras) {
    const s = (c.health && c.health.state) || "offline";
    counts[s] = (counts[s] || 0) + 1;
  }
  return counts;
}

export function renderStateSummary(container, cameras, { active = "", onPick = null } = {}) {
  if (!container) return;
  const counts = countStates(cameras);
  container.replaceChildren(
    ...STATES.map((s) =>
      h(
        "button",
        {
          type: "button",
          class: `chip ${stateClass(s)}${active === s ? " active" : ""}`,
          "data-testid": `state-count-${s}`,
          "aria-pressed": String(active === s),
          disabled: onPick ? null : true,
          onclick: onPick ? () => onPick(s) : null,
        },
        h("i", { class: `dot ${stateClass(s)}` }),
        stateLabel(s),
        " ",
        h("b", null, formatInt(counts[s])),
      ),
    ),
  );
}
