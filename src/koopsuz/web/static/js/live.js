// The live feed: one WebSocket per page to /api/ws/events (session cookie), reconnecting with
// exponential backoff and jitter when it drops. Each frame is a JSON array of messages (the server
// sends whatever waited for this socket as one frame); each message is dispatched to subscribers:
//   {"type": "event", "event": {...}}  -> on("event", fn(event))
//   {"type": "health", "camera": id, "health": {...}} -> on("health", fn(cameraId, health))
// and the connection state to on("status", fn(state)) with state "connecting" | "open" | "closed"
// | "forbidden" (the role may not read the feed: no retries).

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;

export class LiveFeed {
  constructor(path = "/api/ws/events") {
    this.path = path;
    this.handlers = { event: new Set(), health: new Set(), status: new Set(), message: new Set() };
    this.ws = null;
    this.state = "closed";
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.onVisible = () => {
      // Reconnect at once when the operator comes back to a tab whose socket has dropped.
      if (document.visibilityState === "visible" && this.state === "closed" && !this.stopped) {
        this.attempt = 0;
        this.connect();
      }
    };
    document.addEventListener("visibilitychange", this.onVisible);
    window.addEventListener("online", this.onVisible);
  }

  on(type, fn) {
    this.handlers[type].add(fn);
    return () => this.handlers[type].delete(fn);
  }

  emit(type, ...args) {
    for (const fn of this.handlers[type]) {
      try {
        fn(...args);
      } catch (err) {
        console.error("live feed handler failed", err);
      }
    }
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit("status", state);
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}${this.path}`;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  connect() {
    clearTimeout(this.timer);
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    this.setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setState("open");
    };
    ws.onmessage = (msg) => {
      let data;
      try {
        data = JSON.parse(msg.data);
      } catch {
        return;
      }
      for (const m of Array.isArray(data) ? data : [data]) this.dispatch(m);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState("closed");
      if (ev.code === 4403) {
        this.stopped = true;
        this.setState("forbidden");
        return;
      }
      // 4401/1008: the server refused the session; the page's API calls will send us to sign-in.
      if (ev.code === 4401 || ev.code === 1008) {
        fetch("/api/auth/me", { credentials: "same-origin" }).then((r) => {
          if (r.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
        }, () => {});
      }
      if (!this.stopped) this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  dispatch(data) {
    this.emit("message", data);
    if (data && data.type === "event" && data.event) this.emit("event", data.event);
    else if (data && data.type === "health" && data.camera !== undefined) this.emit("health", data.camera, data.health || {});
  }

  scheduleReconnect() {
    clearTimeout(this.timer);
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

let shared = null;
/** The page's one live feed (started on first use unless `allowed` is false). */
export function liveFeed(allowed = true) {
  if (!shared) {
    shared = new LiveFeed();
    if (allowed) shared.start();
    else {
      shared.stopped = true;
      shared.state = "forbidden";
    }
  }
  return shared;
}
