// The ops page: status wall (canvas, virtualised), rates, camera detail, alerts.
// Data: /api/events (SSE) for the wall and live rates; /api/report, /api/cameras/{id}[/history],
// /api/alerts for the rest. Unsafe requests carry the session's CSRF token in X-CSRF-Token.
"use strict";

const COLORS = { online: "#2e9d4f", offline: "#d9363e", fault: "#e0a020", connecting: "#6b7686" };
const $ = (id) => document.getElementById(id);
const pct = (v) => (v == null ? "–" : v.toFixed(2) + "%");
const ratio = (v) => (v == null ? "–" : (v * 100).toFixed(2) + "%");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmtTime = (s) => (s ? new Date(s).toLocaleString(lang === "en" ? "en-GB" : "zh-CN", { hour12: false }) : "–");
const fmtDur = (sec) => {
  sec = Math.round(sec);
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  return (h ? h + "h" : "") + (h || m ? m + "m" : "") + s + "s";
};

const app = {
  session: null,
  settings: { target_pct: 98, report_days: 7 },
  cams: new Map(),     // id -> wall row
  order: [],           // ids, sorted
  shown: [],           // rows passing the filter, in order
  rates: null,         // live rates (SSE)
  report: null,        // /api/report
  view: "wall",
  detailId: null,
  alertId: null,
  alerts: [],
  images: new Map(),   // id -> { img, at, loading }
  loadingImages: 0,
};

// A camera's category on the wall.
function cat(r) {
  if (r.state === "online") return r.faults && r.faults.length ? "fault" : "online";
  if (r.state === "offline") return "offline";
  return "connecting";
}
function reasonText(r) {
  if (r.state === "offline" && r.reason) return t("r_" + r.reason);
  if (r.state === "online" && r.faults && r.faults.length) return r.faults.map((f) => t("f_" + f)).join("、");
  return t("st_" + cat(r));
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (opts.method && opts.method !== "GET" && app.session) headers["X-CSRF-Token"] = app.session.csrf;
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401) { location.reload(); throw new Error("login required"); }
  return r;
}

// ---------- header, tabs, language ----------
function renderWho() {
  const s = app.session;
  if (!s) return;
  $("who").textContent = s.mode === "open" ? t("open_mode") : s.user + " · " + t("role_" + s.role);
  $("logout").hidden = s.mode !== "users";
}
function showView(v) {
  app.view = v;
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.view === v));
  ["wall", "rates", "alerts", "maint", "tickets"].forEach((n) => { $("view-" + n).hidden = n !== v; });
  if (v === "wall") resizeWall();
  if (v === "rates") loadReport();
  if (v === "alerts") loadAlerts();
  if (v === "maint") loadWindows();
  if (v === "tickets") loadTickets();
}
function relabel() {
  applyI18n();
  renderWho();
  fillFilters();
  fillAlertFilters();
  updateCounts();
  drawWall();
  renderRates();
  renderAlerts();
  if (app.detailId) renderDetail();
  if (app.alertId) renderAlertDetail();
}

// ---------- wall data ----------
function setRows(rows) {
  app.cams = new Map(rows.map((r) => [r.id, r]));
  app.order = rows.map((r) => r.id).sort();
  fillFilters();
  refilter();
  if (window.sharpeyes.firstViewMs == null) {
    paintWall();
    window.sharpeyes.firstViewMs = performance.now();
  }
}
function updateRows(rows) {
  let added = false;
  for (const r of rows) {
    if (!app.cams.has(r.id)) added = true;
    app.cams.set(r.id, r);
  }
  if (added) { app.order = [...app.cams.keys()].sort(); fillFilters(); }
  refilter();
  if (app.detailId && rows.some((r) => r.id === app.detailId)) loadDetail();
}
function removeRows(ids) {
  ids.forEach((id) => app.cams.delete(id));
  app.order = [...app.cams.keys()].sort();
  refilter();
}

function fillSelect(sel, allKey, values, label) {
  const cur = sel.value;
  sel.innerHTML = "";
  const o = document.createElement("option");
  o.value = ""; o.textContent = t(allKey); sel.appendChild(o);
  for (const v of values) {
    const e = document.createElement("option");
    e.value = v; e.textContent = label ? label(v) : v; sel.appendChild(e);
  }
  if ([...sel.options].some((x) => x.value === cur)) sel.value = cur;
}
function fillFilters() {
  const uniq = (k) => [...new Set([...app.cams.values()].map((r) => r[k]).filter((v) => v !== ""))].sort();
  fillSelect($("f-region"), "all_regions", uniq("region"));
  fillSelect($("f-unit"), "all_units", uniq("unit"));
  fillSelect($("f-class"), "all_classes", uniq("class"), (v) => t("class_n", v));
  fillSelect($("f-state"), "all_states", ["online", "offline", "fault", "connecting"], (v) => t("st_" + v));
}
function refilter() {
  const q = $("q").value.trim().toLowerCase();
  const region = $("f-region").value, unit = $("f-unit").value, cls = $("f-class").value, st = $("f-state").value;
  const out = [];
  for (const id of app.order) {
    const r = app.cams.get(id);
    if (region && r.region !== region) continue;
    if (unit && r.unit !== unit) continue;
    if (cls && r.class !== cls) continue;
    if (st && cat(r) !== st) continue;
    if (q && !r.id.toLowerCase().includes(q) && !r.name.toLowerCase().includes(q)) continue;
    out.push(r);
  }
  app.shown = out;
  updateCounts();
  layoutWall();
}
function updateCounts() {
  const n = { online: 0, offline: 0, fault: 0, connecting: 0 };
  for (const r of app.cams.values()) n[cat(r)]++;
  $("n-total").textContent = app.cams.size;
  for (const k of Object.keys(n)) $("n-" + k).textContent = n[k];
  $("n-shown").textContent = t("shown", app.shown.length, app.cams.size);
  if (app.rates) {
    $("n-rate").textContent = ratio(app.rates.online_ratio);
    $("n-intact").textContent = ratio(app.rates.intact_ratio);
  }
}

// ---------- wall canvas (only visible rows are drawn) ----------
const wall = { tw: 0, th: 0, cols: 1, gap: 6, large: true, hover: null };
function tileSize() {
  const mode = $("f-size").value;
  const large = mode === "large" || (mode === "auto" && app.shown.length <= 240);
  wall.large = large;
  return large ? [224, 160] : [132, 42];
}
function layoutWall() {
  const sc = $("wall-scroll");
  const [w, h] = tileSize();
  const width = sc.clientWidth - 12;
  wall.cols = Math.max(1, Math.floor((width + wall.gap) / (w + wall.gap)));
  wall.tw = Math.floor((width - (wall.cols - 1) * wall.gap) / wall.cols);
  wall.th = h;
  const rows = Math.ceil(app.shown.length / wall.cols);
  $("wall-spacer").style.height = Math.max(0, rows * (wall.th + wall.gap) + 6 - sc.clientHeight) + "px";
  drawWall();
}
function resizeWall() {
  const sc = $("wall-scroll"), c = $("wall");
  const dpr = window.devicePixelRatio || 1;
  c.style.width = sc.clientWidth + "px";
  c.style.height = sc.clientHeight + "px";
  c.width = Math.round(sc.clientWidth * dpr);
  c.height = Math.round(sc.clientHeight * dpr);
  layoutWall();
}
let drawPending = false;
function drawWall() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; paintWall(); });
}
function tileOrigin(i) {
  const col = i % wall.cols, row = Math.floor(i / wall.cols);
  return [6 + col * (wall.tw + wall.gap), 6 + row * (wall.th + wall.gap)];
}
function paintWall() {
  const sc = $("wall-scroll"), c = $("wall");
  if (!c.width) return;
  const ctx = c.getContext("2d");
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, c.width, c.height);
  const top = sc.scrollTop, H = sc.clientHeight;
  const rowH = wall.th + wall.gap;
  const first = Math.max(0, Math.floor((top - 6) / rowH)) * wall.cols;
  const last = Math.min(app.shown.length, Math.ceil((top + H) / rowH + 1) * wall.cols);
  ctx.textBaseline = "top";
  const now = Date.now();
  for (let i = first; i < last; i++) {
    const r = app.shown[i];
    const [x, y0] = tileOrigin(i);
    const y = y0 - top;
    const k = cat(r);
    ctx.fillStyle = "#151d27";
    ctx.fillRect(x, y, wall.tw, wall.th);
    if (wall.large) {
      const ih = wall.th - 44;
      const im = app.images.get(r.id);
      if (r.snapshot && (!im || (!im.loading && now - im.at > 30000))) loadImage(r.id);
      if (im && im.img && im.img.complete && im.img.naturalWidth) {
        ctx.drawImage(im.img, x, y, wall.tw, ih);
      } else {
        ctx.fillStyle = "#0b1016";
        ctx.fillRect(x, y, wall.tw, ih);
      }
      if (k !== "online") { ctx.globalAlpha = 0.35; ctx.fillStyle = COLORS[k]; ctx.fillRect(x, y, wall.tw, ih); ctx.globalAlpha = 1; }
      ctx.fillStyle = COLORS[k];
      ctx.fillRect(x, y + ih, wall.tw, 44);
      ctx.fillStyle = "#fff";
      ctx.font = "bold 13px sans-serif";
      ctx.fillText(clip(ctx, r.id + " " + r.name, wall.tw - 8), x + 4, y + ih + 4);
      ctx.font = "12px sans-serif";
      ctx.fillText(clip(ctx, reasonText(r), wall.tw - 8), x + 4, y + ih + 24);
    } else {
      ctx.fillStyle = COLORS[k];
      ctx.fillRect(x, y, wall.tw, wall.th);
      ctx.fillStyle = "#fff";
      ctx.font = "bold 12px sans-serif";
      ctx.fillText(clip(ctx, r.id, wall.tw - 6), x + 3, y + 4);
      ctx.font = "11px sans-serif";
      ctx.fillText(clip(ctx, k === "online" ? r.name : reasonText(r), wall.tw - 6), x + 3, y + 22);
    }
    if (wall.hover === r.id) { ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.strokeRect(x + 1, y + 1, wall.tw - 2, wall.th - 2); }
  }
}
function clip(ctx, s, w) {
  if (ctx.measureText(s).width <= w) return s;
  while (s.length > 1 && ctx.measureText(s + "…").width > w) s = s.slice(0, -1);
  return s + "…";
}
function loadImage(id) {
  if (app.loadingImages >= 6) return;
  const prev = app.images.get(id);
  const img = new Image();
  const entry = { img: prev && prev.img, at: Date.now(), loading: true };
  app.images.set(id, entry);
  app.loadingImages++;
  img.onload = () => { entry.img = img; entry.loading = false; app.loadingImages--; drawWall(); };
  img.onerror = () => { entry.loading = false; app.loadingImages--; };
  img.src = "/api/cameras/" + encodeURIComponent(id) + "/snapshot.jpg?t=" + Date.now();
}
function tileAt(clientX, clientY) {
  const c = $("wall"), sc = $("wall-scroll");
  const b = c.getBoundingClientRect();
  const x = clientX - b.left - 6, y = clientY - b.top + sc.scrollTop - 6;
  if (x < 0 || y < 0) return null;
  const col = Math.floor(x / (wall.tw + wall.gap)), row = Math.floor(y / (wall.th + wall.gap));
  if (col >= wall.cols || x - col * (wall.tw + wall.gap) > wall.tw || y - row * (wall.th + wall.gap) > wall.th) return null;
  return app.shown[row * wall.cols + col] || null;
}
// For tests and people with a keyboard: a tile's rectangle in page coordinates (scrolled into view).
window.sharpeyes = {
  tileRect(id) {
    const i = app.shown.findIndex((r) => r.id === id);
    if (i < 0) return null;
    const sc = $("wall-scroll");
    const [x, y] = tileOrigin(i);
    if (y < sc.scrollTop || y + wall.th > sc.scrollTop + sc.clientHeight) { sc.scrollTop = y - 6; paintWall(); }
    const b = $("wall").getBoundingClientRect();
    return { x: b.left + x, y: b.top + y - sc.scrollTop, w: wall.tw, h: wall.th };
  },
  shown: () => app.shown.length,
  ready: () => app.order.length > 0,
};
function initWall() {
  const sc = $("wall-scroll");
  sc.addEventListener("scroll", drawWall, { passive: true });
  window.addEventListener("resize", resizeWall);
  const c = $("wall"), tip = $("tooltip");
  c.addEventListener("mousemove", (ev) => {
    const r = tileAt(ev.clientX, ev.clientY);
    const id = r ? r.id : null;
    if (id !== wall.hover) { wall.hover = id; drawWall(); }
    if (!r) { tip.hidden = true; return; }
    tip.hidden = false;
    tip.textContent = [r.id + "  " + r.name, r.region + " / " + r.unit + " / " + t("class_n", r.class) + (r.maintainer ? " / " + r.maintainer : ""),
      t("st_" + cat(r)) + (cat(r) === "online" ? "" : " · " + reasonText(r)), t("since") + " " + fmtTime(r.since)].join("\n");
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - 320) + "px";
    tip.style.top = ev.clientY + 14 + "px";
  });
  c.addEventListener("mouseleave", () => { tip.hidden = true; wall.hover = null; drawWall(); });
  c.addEventListener("click", (ev) => { const r = tileAt(ev.clientX, ev.clientY); if (r) openDetail(r.id); });
  for (const id of ["q", "f-region", "f-unit", "f-class", "f-state", "f-size"]) {
    $(id).addEventListener(id === "q" ? "input" : "change", () => { $("wall-scroll").scrollTop = 0; refilter(); });
  }
}

// ---------- live updates ----------
function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => { $("conn").className = "conn ok"; $("conn").title = t("live"); });
  es.addEventListener("error", () => { $("conn").className = "conn lost"; $("conn").title = t("disconnected"); });
  es.addEventListener("wall", (e) => setRows(JSON.parse(e.data)));
  es.addEventListener("update", (e) => updateRows(JSON.parse(e.data)));
  es.addEventListener("removed", (e) => removeRows(JSON.parse(e.data)));
  es.addEventListener("rates", (e) => { app.rates = JSON.parse(e.data); updateCounts(); renderRates(); });
}

// ---------- rates ----------
async function loadReport() {
  const by = $("r-by").value;
  const days = app.settings.report_days;
  $("export-csv").href = "/api/report?days=" + days + "&by=" + by + "&format=csv";
  $("export-month").href = "/api/report/month?by=" + by + "&format=xlsx";
  try {
    const r = await api("/api/report?days=" + days + "&by=" + by);
    if (r.ok) app.report = await r.json();
  } catch (e) { /* shown as no data */ }
  renderRates();
}
function gapText(v, target) {
  if (v == null) return "";
  const g = v - target;
  return (g >= 0 ? "+" : "") + g.toFixed(2) + " pt";
}
function renderRates() {
  const target = app.settings.target_pct;
  $("c-target").textContent = target.toFixed(2) + "%";
  if (app.rates) {
    $("c-live-online").textContent = ratio(app.rates.online_ratio);
    $("c-live-intact").textContent = ratio(app.rates.intact_ratio);
  }
  const days = app.report ? app.report.days : [];
  const today = days.length ? days[days.length - 1] : null;
  const setCard = (id, gapId, v) => {
    $(id).textContent = pct(v);
    $(gapId).textContent = v == null ? t("no_data") : t("gap") + " " + gapText(v, target);
    $(gapId).className = v == null ? "muted" : v >= target ? "good" : "bad";
  };
  setCard("c-today-online", "c-gap-online", today && today.fleet.online_rate_pct);
  setCard("c-today-intact", "c-gap-intact", today && today.fleet.intact_rate_pct);
  $("trend-title").textContent = t("trend", app.settings.report_days);
  $("th-trend").textContent = t("trend", app.settings.report_days);
  renderTrend(days, target);
  renderGroups(days, target);
}
function renderTrend(days, target) {
  const svg = $("trend");
  const W = 640, H = 260, L = 44, R = 10, T = 10, B = 26;
  const vals = days.flatMap((d) => [d.fleet.online_rate_pct, d.fleet.intact_rate_pct]).filter((v) => v != null);
  const lo = Math.max(0, Math.floor(Math.min(target, ...vals, 100) - 2)), hi = 100;
  const x = (i) => L + (days.length <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (days.length - 1));
  const y = (v) => T + ((hi - v) * (H - T - B)) / (hi - lo || 1);
  let s = "";
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    s += `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#2a3542"/><text x="4" y="${y(v) + 4}" fill="#8796a8" font-size="11">${v.toFixed(0)}%</text>`;
  }
  s += `<line x1="${L}" x2="${W - R}" y1="${y(target)}" y2="${y(target)}" stroke="#d9363e" stroke-dasharray="6 4"/>`;
  const line = (key, color) => {
    const pts = days.map((d, i) => (d.fleet[key] == null ? null : [x(i), y(d.fleet[key])])).filter(Boolean);
    if (!pts.length) return "";
    return `<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${pts.map((p) => p.join(",")).join(" ")}"/>` +
      pts.map((p) => `<circle cx="${p[0]}" cy="${p[1]}" r="3.5" fill="${color}"/>`).join("");
  };
  s += line("online_rate_pct", "#2e9d4f") + line("intact_rate_pct", "#3d8bfd");
  days.forEach((d, i) => { s += `<text x="${x(i) - 16}" y="${H - 6}" fill="#8796a8" font-size="11">${esc(d.date.slice(5))}</text>`; });
  svg.innerHTML = s;
}
function renderGroups(days, target) {
  const by = $("r-by").value;
  const live = app.rates ? app.rates.groups.filter((g) => g.by === by) : [];
  const today = days.length ? days[days.length - 1] : null;
  const todayBy = new Map((today ? today.groups : []).map((g) => [g.group, g]));
  const names = [...new Set([...live.map((g) => g.group), ...todayBy.keys()])];
  const rows = names.map((name) => {
    const l = live.find((g) => g.group === name);
    const d = todayBy.get(name);
    const trend = days.map((day) => { const g = day.groups.find((x) => x.group === name); return g ? g.online_rate_pct : null; });
    return { name, l, d, trend };
  });
  // Who drags the fleet down first.
  rows.sort((a, b) => ((a.d && a.d.online_rate_pct) ?? (a.l ? a.l.online_ratio * 100 : 101)) - ((b.d && b.d.online_rate_pct) ?? (b.l ? b.l.online_ratio * 100 : 101)));
  const spark = (vals) => vals.map((v) => (v == null ? "·" : "▁▂▃▄▅▆▇█"[Math.max(0, Math.min(7, Math.floor((v - 90) / 1.26)))])).join("");
  const label = (n) => (by === "class" ? t("class_n", n) : n);
  $("groups-table").querySelector("tbody").innerHTML = rows.map((r) => {
    const todayPct = r.d ? r.d.online_rate_pct : null;
    const cls = todayPct == null ? "muted" : todayPct >= target ? "good" : "bad";
    return `<tr data-group="${esc(r.name)}"><td>${esc(label(r.name))}</td><td>${r.l ? r.l.total : r.d ? r.d.cameras : "–"}</td>` +
      `<td>${r.l ? r.l.online : "–"}</td><td>${ratio(r.l && r.l.online_ratio)}</td><td>${ratio(r.l && r.l.intact_ratio)}</td>` +
      `<td class="${cls}">${pct(todayPct)}</td><td>${pct(r.d && r.d.intact_rate_pct)}</td>` +
      `<td class="assessed">${pct(r.d && r.d.assessed_online_rate_pct)}</td><td>${pct(r.d && r.d.assessed_intact_rate_pct)}</td>` +
      `<td class="${cls}">${esc(gapText(todayPct, target))}</td>` +
      `<td class="spark" title="${esc(r.trend.map(pct).join(" "))}">${spark(r.trend)}</td></tr>`;
  }).join("");
}

// ---------- maintenance windows (报备) ----------
async function loadWindows() {
  const operator = app.session && app.session.role === "operator";
  $("m-form").hidden = !operator;
  let list = [];
  try {
    const r = await api("/api/maintenance");
    if (r.ok) list = await r.json();
  } catch (e) { /* shown empty */ }
  const scope = (w) => (w.cameras ? w.cameras.join(", ") : t("dim_" + w.group.by) + ": " + w.group.value);
  $("m-table").querySelector("tbody").innerHTML = list.map((w) =>
    `<tr data-window="${w.id}"><td>${w.id}</td><td>${esc(scope(w))}</td><td>${esc(fmtTime(w.start))}</td><td>${esc(fmtTime(w.end))}</td>` +
    `<td>${esc(w.reason)}</td><td>${esc(w.declared_by)}</td><td>${w.late ? `<span class="bad">${esc(t("m_late"))}</span>` : ""}</td>` +
    `<td>${operator ? `<button class="m-delete" data-id="${w.id}">${esc(t("m_delete"))}</button>` : ""}</td></tr>`).join("") ||
    `<tr><td colspan="8" class="muted">${esc(t("m_none"))}</td></tr>`;
  document.querySelectorAll(".m-delete").forEach((b) => b.addEventListener("click", async () => {
    await api("/api/maintenance/" + b.dataset.id, { method: "DELETE" });
    loadWindows();
  }));
}
async function declareWindow(ev) {
  ev.preventDefault();
  const kind = $("m-scope").value, target = $("m-target").value.trim();
  const body = {
    start: new Date($("m-start").value).toISOString(),
    end: new Date($("m-end").value).toISOString(),
    reason: $("m-reason").value,
  };
  if (kind === "cameras") body.cameras = target.split(/[,，\s]+/).filter(Boolean);
  else body.group = { by: kind, value: target };
  $("m-error").textContent = "";
  const r = await api("/api/maintenance", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!r.ok) { $("m-error").textContent = (await r.json()).error || r.status; return; }
  $("m-reason").value = "";
  loadWindows();
}

// ---------- repair tickets (工单) ----------
async function loadTickets() {
  const role = app.session && app.session.role;
  const canAck = role === "operator" || role === "maintainer";
  const st = $("t-state").value;
  let list = [], kpis = [];
  try {
    const [a, b] = await Promise.all([api("/api/tickets" + (st ? "?state=" + st : "")), api("/api/tickets/kpis")]);
    if (a.ok) list = await a.json();
    if (b.ok) kpis = await b.json();
  } catch (e) { /* shown empty */ }
  const breach = (x) => [x.respond_breached ? t("t_respond_late") : "", x.repair_breached ? t("t_repair_late") : ""].filter(Boolean).join(" ");
  $("t-table").querySelector("tbody").innerHTML = list.map((x) =>
    `<tr data-ticket="${x.id}"><td>${x.id}${x.major ? ` <span class="bad">${esc(t("t_major"))}</span>` : ""}</td><td>${esc(x.camera_id)}</td><td>${esc(x.maintainer)}</td>` +
    `<td>${esc(x.reason === "picture_fault" ? t("t_picture") : t("r_" + x.reason))}</td><td>${esc(t("t_" + x.state))}</td>` +
    `<td>${esc(fmtTime(x.opened_at))}</td><td>${esc(fmtTime(x.respond_by))}</td><td>${esc(fmtTime(x.repair_by))}</td>` +
    `<td class="bad">${esc(breach(x))}</td>` +
    `<td>${canAck && !x.acked_at && (x.state === "open") ? `<button class="t-ack" data-id="${x.id}">${esc(t("t_ack"))}</button>` : esc(x.acked_by || "")}</td></tr>`).join("") ||
    `<tr><td colspan="10" class="muted">${esc(t("t_none"))}</td></tr>`;
  const num = (v) => (v == null ? "–" : v.toFixed(1));
  $("t-kpis").querySelector("tbody").innerHTML = kpis.map((k) =>
    `<tr><td>${esc(k.maintainer)}</td><td>${k.opened}</td><td>${k.outstanding}</td><td>${num(k.mean_ack_min)}</td>` +
    `<td>${num(k.mean_repair_min)}</td><td>${k.breached}</td><td>${k.breach_rate == null ? "–" : (k.breach_rate * 100).toFixed(1) + "%"}</td></tr>`).join("") ||
    `<tr><td colspan="7" class="muted">${esc(t("no_data"))}</td></tr>`;
  document.querySelectorAll(".t-ack").forEach((b) => b.addEventListener("click", async () => {
    const r = await api("/api/tickets/" + b.dataset.id + "/ack", { method: "POST" });
    $("t-error").textContent = r.ok ? "" : (await r.json()).error || r.status;
    loadTickets();
  }));
}

// ---------- camera detail ----------
async function openDetail(id) {
  app.detailId = id;
  $("detail").hidden = false;
  await loadDetail();
}
async function loadDetail() {
  const id = app.detailId;
  if (!id) return;
  const e = encodeURIComponent(id);
  try {
    const [c, h] = await Promise.all([api("/api/cameras/" + e), api("/api/cameras/" + e + "/history?hours=24")]);
    if (id !== app.detailId) return;
    app.detail = c.ok ? await c.json() : null;
    app.history = h.ok ? await h.json() : null;
  } catch (err) { return; }
  renderDetail();
}
function renderDetail() {
  const c = app.detail;
  if (!c) return;
  const k = cat({ state: c.state, faults: c.quality && !c.quality.ok ? c.quality.faults : [] });
  $("d-title").textContent = c.id + " " + c.name;
  const cnt = c.counters;
  const stateLine = `<span class="state-${k}">${esc(t("st_" + k))}</span>` +
    (c.state === "offline" && c.reason ? " · " + esc(t("r_" + c.reason)) : "") +
    (c.quality && !c.quality.ok ? " · " + esc(c.quality.faults.map((f) => t("f_" + f)).join("、")) : "");
  const snap = c.snapshot
    ? `<img id="d-snap" alt="snapshot" src="/api/cameras/${encodeURIComponent(c.id)}/snapshot.jpg?t=${Date.now()}">`
    : `<p class="muted">${esc(t("no_snapshot"))}</p>`;
  const outages = (app.history ? app.history.intervals : []).filter((i) => i.state === "offline").reverse();
  $("d-body").innerHTML = `${snap}
    <dl class="kv">
      <dt>${esc(t("state"))}</dt><dd id="d-state">${stateLine}</dd>
      <dt>${esc(t("since"))}</dt><dd>${esc(fmtTime(c.since))}</dd>
      ${c.detail ? `<dt>${esc(t("reason"))}</dt><dd>${esc(c.detail)}</dd>` : ""}
      <dt>${esc(t("region"))}</dt><dd>${esc(c.region)}</dd><dt>${esc(t("unit"))}</dt><dd>${esc(c.unit)}</dd>
      <dt>${esc(t("class"))}</dt><dd>${esc(t("class_n", c.class))}</dd><dt>${esc(t("maintainer"))}</dt><dd>${esc(c.maintainer || "–")}</dd><dt>${esc(t("url"))}</dt><dd>${esc(c.url)}</dd>
      <dt>${esc(t("mode"))}</dt><dd>${esc(c.mode)}</dd><dt>${esc(t("codec"))}</dt><dd>${esc(c.codec || "–")}</dd>
    </dl>
    <h3>${esc(t("history"))}</h3>
    <svg class="timeline" id="d-timeline" viewBox="0 0 1000 34" preserveAspectRatio="none"></svg>
    <h3>${esc(t("outages"))}</h3>
    <table class="grid" id="d-outages"><thead><tr><th>${esc(t("start"))}</th><th>${esc(t("end"))}</th><th>${esc(t("duration"))}</th><th>${esc(t("reason"))}</th></tr></thead>
      <tbody>${outages.map((o) => `<tr><td>${esc(fmtTime(o.start))}</td><td>${esc(fmtTime(o.end))}</td><td>${esc(fmtDur((new Date(o.end) - new Date(o.start)) / 1000))}</td><td class="state-offline">${esc(o.reason ? t("r_" + o.reason) : "–")}</td></tr>`).join("") || `<tr><td colspan="4" class="muted">${esc(t("no_data"))}</td></tr>`}</tbody></table>
    <h3>${esc(t("counters"))}</h3>
    <dl class="kv">
      <dt>${esc(t("frames"))}</dt><dd>${cnt.frames}</dd><dt>${esc(t("keyframes"))}</dt><dd>${cnt.keyframes}</dd>
      <dt>${esc(t("bytes"))}</dt><dd>${cnt.bytes}</dd><dt>${esc(t("attempts"))}</dt><dd>${cnt.attempts}</dd>
      <dt>${esc(t("reconnects"))}</dt><dd>${cnt.reconnects}</dd><dt>${esc(t("last_frame"))}</dt><dd>${esc(fmtTime(cnt.last_frame_at))}</dd>
      <dt>${esc(t("gop"))}</dt><dd>${cnt.gop_frames ?? "–"}</dd><dt>${esc(t("setup"))}</dt><dd>${cnt.setup_seconds ?? "–"}</dd>
      <dt>${esc(t("clock_offset"))}</dt><dd id="d-clock" class="${cnt.clock_offset_seconds != null && Math.abs(cnt.clock_offset_seconds) > 60 ? "bad" : ""}">${cnt.clock_offset_seconds == null ? "–" : (cnt.clock_offset_seconds > 0 ? "+" : "") + cnt.clock_offset_seconds.toFixed(1) + " s"}</dd>
    </dl>`;
  renderTimeline();
}
function renderTimeline() {
  const h = app.history, svg = $("d-timeline");
  if (!h || !svg) return;
  const from = new Date(h.from).getTime(), to = new Date(h.to).getTime();
  const x = (s) => ((new Date(s).getTime() - from) * 1000) / (to - from);
  const color = (i) => (i.state === "online" ? COLORS.online : i.state === "offline" ? COLORS.offline : COLORS.connecting);
  svg.innerHTML = h.intervals.map((i) => `<rect x="${x(i.start)}" y="0" width="${Math.max(1, x(i.end) - x(i.start))}" height="22" fill="${color(i)}"><title>${esc(t("st_" + i.state) + (i.reason ? " · " + t("r_" + i.reason) : "") + " " + fmtTime(i.start) + " – " + fmtTime(i.end))}</title></rect>`).join("") +
    h.quality.filter((q) => !q.ok).map((q) => `<rect x="${x(q.start)}" y="24" width="${Math.max(1, x(q.end) - x(q.start))}" height="10" fill="${COLORS.fault}"><title>${esc(q.faults.map((f) => t("f_" + f)).join("、"))}</title></rect>`).join("");
}

// ---------- alerts ----------
function fillAlertFilters() {
  fillSelect($("a-kind"), "all_kinds", ["crowding", "uncovered_truck", "video_loss", "video_abnormal"], (v) => t("k_" + v));
  fillSelect($("a-state"), "all_states", ["open", "ended"], (v) => t("s_" + v));
  fillSelect($("a-acked"), "all_acked", ["false", "true"], (v) => t(v === "true" ? "acked_yes" : "acked_no"));
}
async function loadAlerts() {
  const p = new URLSearchParams({ limit: "200" });
  for (const [k, id] of [["kind", "a-kind"], ["state", "a-state"], ["acked", "a-acked"], ["camera", "a-camera"]]) {
    const v = $(id).value.trim();
    if (v) p.set(k, v);
  }
  try {
    const r = await api("/api/alerts?" + p);
    app.alertsError = r.ok ? null : t("alerts_unavailable");
    app.alerts = r.ok ? await r.json() : [];
  } catch (e) { app.alertsError = t("alerts_unavailable"); }
  renderAlerts();
  if (app.alertId) {
    const a = app.alerts.find((x) => x.id === app.alertId);
    if (a) { app.alert = a; renderAlertDetail(false); }
  }
}
function renderAlerts() {
  const tb = $("alerts-table").querySelector("tbody");
  tb.innerHTML = app.alerts.map((a) => `<tr data-alert="${esc(a.id)}" class="${a.id === app.alertId ? "selected" : ""}">
    <td>${esc(fmtTime(a.started_at))}</td><td>${esc(a.camera.id)} ${esc(a.camera.name)}</td><td>${esc(t("k_" + a.kind))}</td>
    <td><span class="badge ${esc(a.severity)}">${esc(t("sev_" + a.severity))}</span></td>
    <td><span class="badge ${esc(a.state)}">${esc(t("s_" + a.state))}</span></td>
    <td>${a.acked_at ? `<span class="badge acked">${esc(t("acked_yes"))}</span>` : esc(t("acked_no"))}</td></tr>`).join("");
  $("alerts-empty").textContent = app.alertsError || (app.alerts.length ? "" : t("no_alerts"));
}
function selectAlert(id) {
  app.alertId = id;
  app.alert = app.alerts.find((a) => a.id === id);
  renderAlerts();
  renderAlertDetail(true);
}
function renderAlertDetail(reloadImage) {
  const a = app.alert, box = $("alert-detail");
  if (!a) return;
  const operator = app.session && app.session.role === "operator";
  const note = $("ack-note") ? $("ack-note").value : "";
  box.innerHTML = `<h3>${esc(t("k_" + a.kind))} · ${esc(a.camera.id)} ${esc(a.camera.name)}</h3>
    <canvas id="alert-canvas" class="alert-canvas" width="${a.evidence.frame_width || 640}" height="${a.evidence.frame_height || 360}"></canvas>
    <dl class="kv">
      <dt>${esc(t("state"))}</dt><dd><span class="badge ${esc(a.state)}">${esc(t("s_" + a.state))}</span> · ${esc(t("p_" + a.phase))} · ${esc(t("seq"))} ${a.seq}</dd>
      <dt>${esc(t("severity"))}</dt><dd>${esc(t("sev_" + a.severity))} · ${esc(a.rule)}</dd>
      <dt>${esc(t("started"))}</dt><dd>${esc(fmtTime(a.started_at))}</dd>
      <dt>${esc(t("updated"))}</dt><dd>${esc(fmtTime(a.updated_at))}</dd>
      <dt>${esc(t("ended"))}</dt><dd>${esc(a.ended_at ? fmtTime(a.ended_at) : t("now"))}</dd>
      <dt>${esc(t("count"))}</dt><dd>${a.evidence.count ?? "–"}</dd>
      <dt>${esc(t("region"))}</dt><dd>${esc(a.camera.region)} / ${esc(a.camera.unit)}</dd>
      <dt>GB/T 28181</dt><dd>${esc(a.gb28181 ? a.gb28181.alarm_method + " / " + a.gb28181.alarm_type : "–")}</dd>
      ${a.acked_at ? `<dt>${esc(t("acked_by"))}</dt><dd id="acked-by">${esc(a.acked_by)}</dd><dt>${esc(t("acked_at"))}</dt><dd>${esc(fmtTime(a.acked_at))}${a.ack_note ? " · " + esc(a.ack_note) : ""}</dd>` : ""}
    </dl>
    ${a.acked_at ? "" : `<div class="toolbar"><input id="ack-note" data-i18n-ph="ack_note" placeholder="${esc(t("ack_note"))}" value="${esc(note)}">
      <button id="ack-btn" ${operator ? "" : "disabled"} title="${esc(operator ? "" : t("operators_only"))}">${esc(t("ack"))}</button>
      ${operator ? "" : `<span class="muted">${esc(t("operators_only"))}</span>`}<span id="ack-error" class="error"></span></div>`}`;
  const btn = $("ack-btn");
  if (btn) btn.addEventListener("click", () => ackAlert(a.id));
  drawAlert(a, reloadImage);
}
function drawAlert(a, reloadImage) {
  const c = $("alert-canvas");
  const ctx = c.getContext("2d");
  const paint = (img) => {
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, c.width, c.height);
    if (img) ctx.drawImage(img, 0, 0, c.width, c.height);
    ctx.lineWidth = Math.max(2, c.width / 400);
    ctx.font = `${Math.max(14, c.width / 60)}px sans-serif`;
    for (const o of a.evidence.objects || []) {
      const [x1, y1, x2, y2] = o.box;
      ctx.strokeStyle = "#ff3b30"; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      const label = o.class + " " + (o.score * 100).toFixed(0) + "%";
      ctx.fillStyle = "#ff3b30"; ctx.fillRect(x1, Math.max(0, y1 - 20), ctx.measureText(label).width + 8, 20);
      ctx.fillStyle = "#fff"; ctx.fillText(label, x1 + 4, Math.max(15, y1 - 5));
    }
  };
  if (!a.snapshot_url) { paint(null); return; }
  if (!reloadImage && app.alertImg && app.alertImg.id === a.id) { paint(app.alertImg.img); return; }
  const img = new Image();
  img.onload = () => { app.alertImg = { id: a.id, img }; if (app.alertId === a.id) paint(img); };
  img.onerror = () => paint(null);
  img.src = a.snapshot_url;
}
async function ackAlert(id) {
  const note = $("ack-note") ? $("ack-note").value : "";
  const r = await api("/api/alerts/" + encodeURIComponent(id) + "/ack", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(note ? { note } : {}),
  });
  if (r.ok) {
    const rec = await r.json();
    app.alerts = app.alerts.map((x) => (x.id === id ? rec : x));
    app.alert = rec;
    renderAlerts();
    renderAlertDetail(false);
  } else {
    const e = $("ack-error");
    if (e) e.textContent = t("ack_failed") + " (" + r.status + ")";
  }
}
function initAlerts() {
  fillAlertFilters();
  for (const id of ["a-kind", "a-state", "a-acked"]) $(id).addEventListener("change", loadAlerts);
  $("a-camera").addEventListener("change", loadAlerts);
  $("a-refresh").addEventListener("click", loadAlerts);
  $("alerts-table").addEventListener("click", (ev) => { const tr = ev.target.closest("tr[data-alert]"); if (tr) selectAlert(tr.dataset.alert); });
  setInterval(() => { if (app.view === "alerts") loadAlerts(); }, 5000);
}

// ---------- start ----------
async function main() {
  applyI18n();
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
  $("m-form").addEventListener("submit", declareWindow);
  $("t-refresh").addEventListener("click", loadTickets);
  $("t-state").addEventListener("change", loadTickets);
  $("lang-toggle").addEventListener("click", () => { setLang(lang === "zh" ? "en" : "zh"); relabel(); });
  $("logout").addEventListener("click", async () => { await api("/api/logout", { method: "POST" }); location.reload(); });
  $("d-close").addEventListener("click", () => { app.detailId = null; $("detail").hidden = true; });
  $("r-by").addEventListener("change", loadReport);
  initWall();
  initAlerts();
  resizeWall();
  connect();
  const [s, st] = await Promise.all([api("/api/session"), api("/api/settings")]);
  app.session = await s.json();
  if (st.ok) app.settings = await st.json();
  renderWho();
  setInterval(() => { if (app.view === "rates") loadReport(); }, 60000);
  setInterval(() => { if (app.detailId) loadDetail(); }, 5000);
  const hash = location.hash.replace("#", "");
  if (["rates", "alerts", "maint", "tickets"].includes(hash)) showView(hash);
}
main();
