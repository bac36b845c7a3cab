// The frame around every signed-in page: Bishkek clock, live-feed indicator, sign-out.

import { api, boot, can, formatClock, t, toast } from "./core.js";
import { liveFeed } from "./live.js";

const WS_LABELS = {
  connecting: "ws.connecting",
  open: "ws.open",
  closed: "ws.closed",
  forbidden: "ws.forbidden",
};

function startClock() {
  const node = document.querySelector('[data-testid="clock"]');
  if (!node) return;
  const tick = () => {
    node.textContent = formatClock();
  };
  tick();
  // Align ticks to the wall-clock second so the display never lags by most of a second.
  setTimeout(() => {
    tick();
    setInterval(tick, 1000);
  }, 1000 - (Date.now() % 1000));
}

function bindSignOut() {
  const btn = document.getElementById("sign-out");
  if (!btn) return;
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      await api("/api/auth/logout", { method: "POST", redirectOn401: false });
    } catch (err) {
      if (err.status !== 401) toast(t("common.error", { detail: err.message }), { error: true });
    }
    location.assign("/login");
  });
}

function bindWsStatus(feed) {
  const node = document.querySelector('[data-testid="ws-status"]');
  if (!node) return;
  let lost = false;
  const show = (state) => {
    node.dataset.state = state;
    const label = t(WS_LABELS[state] || "ws.closed");
    node.title = label;
    node.querySelector(".ws-label").textContent = label;
    if (state === "closed") lost = true;
    if (state === "open" && lost) {
      lost = false;
      toast(t("ws.restored"));
    }
  };
  show(feed.state);
  feed.on("status", show);
}

const POLL_MS = 10000;

/**
 * Roles that may not read the live feed (auditors) still see camera health: poll the cameras
 * list instead and hand each camera's health to `onHealth(id, health)`.
 */
export function pollHealthWithoutFeed(feed, onHealth, path = "/api/cameras") {
  if (feed.state !== "forbidden") return;
  setInterval(async () => {
    if (document.visibilityState !== "visible") return;
    try {
      const data = await api(path);
      for (const cam of Array.isArray(data) ? data : [data]) onHealth(cam.id, cam.health || {});
    } catch {
      // the next round tries again; the page keeps what it had
    }
  }, POLL_MS);
}

/** Start the page frame; returns the shared live feed. */
export function startApp() {
  startClock();
  bindSignOut();
  const feed = liveFeed(can("events.read"));
  bindWsStatus(feed);
  return feed;
}

export { boot };
