// The login form: posts JSON to /api/login, then reloads the page (the cookie is HttpOnly).
"use strict";
applyI18n();
document.getElementById("lang-toggle").addEventListener("click", () => setLang(lang === "zh" ? "en" : "zh"));
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = document.getElementById("login-error");
  err.textContent = "";
  const r = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      user: document.getElementById("login-user").value,
      password: document.getElementById("login-password").value,
    }),
  });
  if (r.ok) {
    location.reload();
  } else {
    err.textContent = t(r.status === 429 ? "login_throttled" : "login_failed");
  }
});
