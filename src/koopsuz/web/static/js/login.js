// Sign-in: POST /api/auth/login, then go where the operator was heading.

import { ApiError, api, boot, t } from "./core.js";

const form = document.getElementById("login-form");
const error = form.querySelector('[data-testid="login-error"]');
const submit = form.querySelector('[data-testid="login-submit"]');

function showError(message) {
  error.textContent = message;
  error.hidden = !message;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    showError(t("login.missing"));
    return;
  }
  showError("");
  submit.disabled = true;
  submit.textContent = t("login.busy");
  try {
    await api("/api/auth/login", { method: "POST", body: { username, password }, redirectOn401: false });
    location.assign(boot.next || "/");
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) showError(t("login.failed"));
    else if (err instanceof ApiError && err.status === 429) showError(t("login.throttled"));
    else showError(t("common.error", { detail: err.message }));
    form.elements.password.select();
  } finally {
    submit.disabled = false;
    submit.textContent = t("login.submit");
  }
});
