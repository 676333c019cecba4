// embedstore serve: the map of the collection (one point per recording; loaded after app.js's helpers).
"use strict";

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#86bcb6", "#d37295", "#8cd17d"];
function colourOf(value, cats) {
  const i = cats.indexOf(value);
  if (i < 0) return "#999";
  return i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 137.5) % 360}, 55%, 52%)`;
}
let mapGeom = null;

async function loadMap() {
  if (!state.space) return;
  const status = $("map-status");
  status.className = "muted small";
  status.textContent = state.method === "pca" ? "computing the map…" :
    "computing the map (the first UMAP / t-SNE of a space can take a minute; then it is cached)…";
  try {
    state.map = await api(`/api/map?space=${encodeURIComponent(state.space)}&method=${state.method}`);
    const m = state.map;
    if (!state.colourChosen) {  // many pieces: colour by composer, which stays readable
      state.colourChosen = true;
      const pieces = new Set(m.points.map((p) => p.piece)).size;
      if (state.colourBy === "piece" && pieces > PALETTE.length && [...$("colour").options].some((o) => o.value === "composer")) {
        state.colourBy = "composer"; $("colour").value = "composer";
      }
    }
    status.textContent = `${m.points.length} recordings · ${m.method_used.toUpperCase()}` +
      (m.method_used !== m.method ? ` (too few recordings for ${m.method})` : "") +
      (m.status === "cache" ? " · from cache" : " · computed now, cached");
    drawMap();
  } catch (e) { showError(status, e); }
}

function drawMap() {
  const cv = $("map"), m = state.map;
  if (!m) return;
  const dpr = window.devicePixelRatio || 1, w = cv.clientWidth || 420, h = cv.clientHeight || w;
  cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
  const ctx = cv.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const pts = m.points;
  const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pad = 22, span = Math.max(x1 - x0, y1 - y0, 1e-9), s = (Math.min(w, h) - 2 * pad) / span;
  const ox = (w - s * (x1 - x0)) / 2, oy = (h - s * (y1 - y0)) / 2;
  const key = state.colourBy;
  const cats = [...new Set(pts.map((p) => p[key]).filter((v) => v != null))].sort();
  mapGeom = pts.map((p) => ({ p, x: ox + s * (p.x - x0), y: h - (oy + s * (p.y - y0)) }));
  const refId = state.reference && state.reference.recording_id;
  const hitRank = new Map(state.hits.map((hh) => [hh.recording_id, hh.rank]));
  for (const g of mapGeom) {
    ctx.beginPath(); ctx.arc(g.x, g.y, 5, 0, 2 * Math.PI);
    ctx.fillStyle = colourOf(g.p[key], cats); ctx.fill();
    ctx.lineWidth = 1; ctx.strokeStyle = "#fff"; ctx.stroke();
  }
  for (const g of mapGeom) {
    const r = hitRank.get(g.p.recording_id);
    if (r != null) {
      const sel = state.hit && state.hit.recording_id === g.p.recording_id;
      ctx.beginPath(); ctx.arc(g.x, g.y, sel ? 10 : 8, 0, 2 * Math.PI);
      ctx.lineWidth = sel ? 3 : 2; ctx.strokeStyle = "#e0712c"; ctx.stroke();
      ctx.fillStyle = "#a04a14"; ctx.font = "10px system-ui, sans-serif"; ctx.fillText(String(r), g.x + 9, g.y - 7);
    }
    if (g.p.recording_id === refId) {
      ctx.beginPath(); ctx.arc(g.x, g.y, 10, 0, 2 * Math.PI);
      ctx.lineWidth = 3; ctx.strokeStyle = "#1d232b"; ctx.stroke();
    }
  }
  cv.dataset.points = String(mapGeom.length);
  const legend = $("legend");
  legend.innerHTML = "";
  cats.slice(0, 24).forEach((c) => {
    const sp = el("span"); const dot = el("i"); dot.style.background = colourOf(c, cats);
    sp.appendChild(dot); sp.appendChild(document.createTextNode(c)); legend.appendChild(sp);
  });
  if (cats.length > 24) legend.appendChild(el("span", "muted", `+ ${cats.length - 24} more`));
}

function pointAt(ev) {
  if (!mapGeom) return null;
  const r = $("map").getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
  let best = null, bd = 81;
  for (const g of mapGeom) {
    const d = (g.x - x) ** 2 + (g.y - y) ** 2;
    if (d < bd) { bd = d; best = g; }
  }
  return best;
}

function initMap() {
  const cv = $("map"), tip = $("tip");
  cv.addEventListener("mousemove", (ev) => {
    const g = pointAt(ev);
    if (!g) { tip.hidden = true; return; }
    tip.hidden = false;
    tip.innerHTML = "";
    tip.appendChild(el("div", null, headline(g.p))).style.fontWeight = "600";
    for (const k of ["piece", "performer", "composer"]) if (g.p[k]) tip.appendChild(el("div", null, `${k}: ${g.p[k]}`));
    tip.style.left = `${Math.min(g.x + 12, cv.clientWidth - 200)}px`; tip.style.top = `${g.y + 12}px`;
  });
  cv.addEventListener("mouseleave", () => { tip.hidden = true; });
  cv.addEventListener("click", (ev) => { const g = pointAt(ev); if (g) selectRecording(g.p); });
  $("method").addEventListener("change", () => { state.method = $("method").value; loadMap(); });
  $("colour").addEventListener("change", () => { state.colourBy = $("colour").value; drawMap(); });
  window.addEventListener("resize", drawMap);
}
