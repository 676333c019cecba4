// embedstore serve: the page. Plain JavaScript, no framework, no build step; it uses only the JSON API.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  space: null, maxUpload: 0, reference: null, refURL: null, hits: [], hit: null,
  passage: null, map: null, colourBy: "piece", method: "pca", active: "ref", lastQuery: null,
};

// ---------------------------------------------------------------------------------------------- helpers
function fmtTime(s) {
  if (s == null || !isFinite(s)) return "";
  const m = Math.floor(s / 60), r = s - 60 * m;
  return `${m}:${r < 10 ? "0" : ""}${r.toFixed(r % 1 ? 1 : 0)}`;
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
// Two lines per recording: "title — performer", then "composer (or piece) · duration · file".
function headline(r) {
  return r.performer && !String(r.title).includes(r.performer) ? `${r.title} — ${r.performer}` : String(r.title);
}
function subline(r) {
  const parts = [];
  if (r.composer) parts.push(r.composer);
  else if (r.piece && r.piece !== r.title) parts.push(r.piece);
  if (r.duration_s) parts.push(fmtTime(Math.round(r.duration_s)));
  if (r.file_name) parts.push(r.file_name);
  return parts.join(" · ");
}
async function api(url, opts) {
  const res = await fetch(url, opts);
  let body = null;
  try { body = await res.json(); } catch (e) { body = { error: `HTTP ${res.status}` }; }
  if (!res.ok) {
    const err = new Error(body.error || `HTTP ${res.status}`);
    err.hint = body.hint; err.reason = body.reason; err.status = res.status;
    throw err;
  }
  return body;
}
function showError(target, e) {
  target.className = "status small bad";
  target.textContent = e.message + (e.hint ? ` (${e.hint})` : "");
}

// ---------------------------------------------------------------------------------------------- time maps
// The one place that says which moment of B corresponds to a moment of A (and back). The server's time map
// holds anchor pairs (ref_s[i] <-> hit_s[i]): linear between anchors, slope 1 outside them. Today the anchors
// are the matching passages' starts; an alignment path (`embedstore align`) only adds anchors.
function mapTime(t, tm, to) {
  const src = to === "hit" ? tm.ref_s : tm.hit_s, dst = to === "hit" ? tm.hit_s : tm.ref_s;
  const n = src.length;
  let y;
  if (t <= src[0]) y = dst[0] + (t - src[0]);
  else if (t >= src[n - 1]) y = dst[n - 1] + (t - src[n - 1]);
  else {
    let i = 1;
    while (src[i] < t) i++;
    const f = (t - src[i - 1]) / (src[i] - src[i - 1]);
    y = dst[i - 1] + f * (dst[i] - dst[i - 1]);
  }
  return Math.max(0, y);
}

// ---------------------------------------------------------------------------------------------- players
const refAudio = () => $("ref-audio"), nbAudio = () => $("nb-audio");

function seekWhenReady(audio, t, play) {
  const go = () => {
    const d = audio.duration;
    audio.currentTime = isFinite(d) ? Math.min(t, Math.max(0, d - 0.05)) : t;
    audio.dataset.target = String(t);
    if (play) audio.play().catch(() => {});
  };
  if (audio.readyState >= 1) go();
  else audio.addEventListener("loadedmetadata", go, { once: true });
}

function setBand(timeline, cls, a, b, duration) {
  const band = timeline.querySelector(`.band.${cls}`);
  if (a == null || b == null || !(duration > 0)) { band.hidden = true; return; }
  band.hidden = false;
  band.style.left = `${(100 * Math.max(0, a)) / duration}%`;
  band.style.width = `${(100 * Math.max(0, Math.min(b, duration) - a)) / duration}%`;
}
function refreshBands() {
  const ra = refAudio(), na = nbAudio();
  const rd = ra.duration || (state.reference && state.reference.duration_s);
  const nd = na.duration || (state.hit && state.hit.duration_s);
  const p = state.passage;
  setBand($("ref-timeline"), "sel", p && p[0], p && p[1], rd);
  const tm = state.hit && state.hit.time_map;
  setBand($("ref-timeline"), "match", tm && tm.ref_passage[0], tm && tm.ref_passage[1], rd);
  setBand($("nb-timeline"), "match", tm && tm.hit_passage[0], tm && tm.hit_passage[1], nd);
}
function tickCursor(audio, timeline) {
  const d = audio.duration;
  timeline.querySelector(".cursor").style.left = d > 0 ? `${(100 * audio.currentTime) / d}%` : "0";
}

function wireTimeline(timeline, audio, selectable) {
  let down = null;
  const at = (ev) => {
    const r = timeline.getBoundingClientRect();
    return Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width)) * (audio.duration || 0);
  };
  timeline.addEventListener("mousedown", (ev) => { down = at(ev); ev.preventDefault(); });
  window.addEventListener("mousemove", (ev) => {
    if (down == null || !selectable) return;
    const t = at(ev);
    if (Math.abs(t - down) > 0.3) { setPassage(Math.min(down, t), Math.max(down, t)); }
  });
  window.addEventListener("mouseup", (ev) => {
    if (down == null) return;
    const t = at(ev);
    if (!selectable || Math.abs(t - down) <= 0.3) audio.currentTime = t;
    down = null;
  });
}

function setPassage(a, b) {
  state.passage = a == null ? null : [Math.round(a * 10) / 10, Math.round(b * 10) / 10];
  $("p-start").value = state.passage ? state.passage[0] : "";
  $("p-end").value = state.passage ? state.passage[1] : "";
  refreshBands();
}

function switchAB() {
  const tm = state.hit && state.hit.time_map;
  if (!tm) return;
  const ra = refAudio(), na = nbAudio();
  if (state.active === "ref") {
    ra.pause(); seekWhenReady(na, mapTime(ra.currentTime, tm, "hit"), true); state.active = "nb";
  } else {
    na.pause(); seekWhenReady(ra, mapTime(na.currentTime, tm, "ref"), true); state.active = "ref";
  }
  showPlaying();
}
function showPlaying() {
  $("ref-player").classList.toggle("playing", state.active === "ref");
  $("nb-player").classList.toggle("playing", state.active === "nb");
  $("now-playing").textContent = state.hit ? `now on ${state.active === "ref" ? "A (reference)" : "B (neighbour)"}` : "";
}

// ---------------------------------------------------------------------------------------------- reference
function setReference(ref, audioURL) {
  state.reference = ref; state.hit = null; state.hits = []; setPassage(null);
  $("empty").hidden = true; $("players").hidden = false;
  $("ref-title").textContent = ref.upload ? ref.title : headline(ref);
  $("ref-sub").textContent = ref.upload ? "your file" : subline(ref);
  if (state.refURL) { URL.revokeObjectURL(state.refURL); state.refURL = null; }
  if (audioURL && audioURL.startsWith("blob:")) state.refURL = audioURL;
  refAudio().src = audioURL || "";
  nbAudio().removeAttribute("src"); nbAudio().load();
  $("nb-title").textContent = "click a performance below"; $("nb-sub").textContent = "";
  $("switch").disabled = true; state.active = "ref"; showPlaying();
  document.querySelectorAll("#rec-list li").forEach((li) => li.classList.toggle("active", li.dataset.id === ref.recording_id));
  if (ref.recording_id) history.replaceState(null, "", `#id=${encodeURIComponent(ref.recording_id)}`);
  refreshBands(); drawMap();
}

function selectRecording(rec) {
  setReference(rec, `/api/audio/${encodeURIComponent(rec.recording_id)}`);
  state.lastQuery = { id: rec.recording_id };
  runSearch();
}

// ---------------------------------------------------------------------------------------------- search
function searchParams() {
  const p = new URLSearchParams();
  p.set("k", $("k").value);
  p.set("mode", $("mode").value);
  const scope = $("scope").value;
  p.set("any_piece", scope === "any" ? "true" : "false");
  const w = $("where").value.trim();
  if (w) p.set("where", w);
  if (state.space) p.set("space", state.space);
  if (state.passage) { p.set("start", state.passage[0]); p.set("end", state.passage[1]); }
  return p;
}

async function runSearch() {
  const q = state.lastQuery;
  if (!q) return;
  const status = $("search-status");
  status.className = "status small"; status.textContent = "searching…";
  $("hits").innerHTML = "";
  const p = searchParams();
  try {
    let res;
    if (q.file) {
      const form = new FormData();
      form.append("file", q.file, q.file.name);
      for (const [k, v] of p) form.append(k, v);
      res = await api("/api/search", { method: "POST", body: form });
    } else {
      p.set("id", q.id);
      res = await api(`/api/search?${p}`);
    }
    showHits(res);
  } catch (e) { state.hits = []; state.hit = null; showError(status, e); drawMap(); }
}

function showHits(res) {
  state.hits = res.hits;
  if (state.reference && state.reference.upload && res.reference && res.reference.recording_id) {
    $("ref-sub").textContent = `your file (in the store: ${headline(res.reference)})`;
  }
  const q = res.query, what = q.start_s != null ? `passage ${fmtTime(q.start_s)}–${fmtTime(q.end_s)}` : "whole recording";
  $("search-status").className = "status small";
  $("search-status").textContent = `${res.hits.length} most similar to the ${what}` +
    (q.mode === "interpretation" ? ", by interpretation" : "") + ` · ${Math.round(res.timings_ms.server_total)} ms`;
  $("search-whole").hidden = q.start_s == null;
  const list = $("hits");
  list.innerHTML = "";
  const top = Math.max(1e-6, ...res.hits.map((h) => h.score));
  res.hits.forEach((h, i) => {
    const li = el("li");
    li.dataset.id = h.recording_id;
    li.dataset.start = String(h.start_s);
    li.appendChild(el("span", "rank", String(h.rank)));
    const sc = el("span", "score");
    const bar = el("span", "bar"); bar.style.width = `${Math.max(4, 60 * Math.max(0, h.score) / top)}px`;
    sc.appendChild(bar); sc.appendChild(el("span", null, h.score.toFixed(3)));
    li.appendChild(sc);
    const txt = el("div");
    txt.appendChild(el("div", "t", headline(h)));
    txt.appendChild(el("div", "s", subline(h)));
    li.appendChild(txt);
    li.appendChild(el("button", "play-passage", `▶ ${fmtTime(h.start_s)}–${fmtTime(h.end_s)}`));
    li.title = "Play this performance's matching passage";
    li.addEventListener("click", () => selectHit(i));
    list.appendChild(li);
  });
  if (!res.hits.length) $("search-status").textContent = "no similar performances (check the filter)";
  drawMap();
}

function selectHit(i) {
  const h = state.hits[i];
  state.hit = h;
  document.querySelectorAll("#hits li").forEach((li, j) => li.classList.toggle("active", j === i));
  $("nb-title").textContent = headline(h); $("nb-title").classList.remove("muted");
  $("nb-sub").textContent = `score ${h.score.toFixed(3)} · matching passage ${fmtTime(h.start_s)}–${fmtTime(h.end_s)}`;
  const na = nbAudio();
  na.src = `/api/audio/${encodeURIComponent(h.recording_id)}`;
  refAudio().pause();
  seekWhenReady(refAudio(), h.time_map.ref_s[0], false);
  seekWhenReady(na, h.start_s, true);
  state.active = "nb"; $("switch").disabled = false;
  showPlaying(); refreshBands(); drawMap();
}

// ---------------------------------------------------------------------------------------------- recordings list
let findTimer = null;
async function findRecordings() {
  const q = $("q").value.trim();
  try {
    const res = await api(`/api/recordings?limit=300&q=${encodeURIComponent(q)}`);
    const list = $("rec-list");
    list.innerHTML = "";
    for (const r of res.recordings) {
      const li = el("li");
      li.dataset.id = r.recording_id;
      li.appendChild(el("div", "t", headline(r)));
      li.appendChild(el("div", "s", subline(r)));
      if (state.reference && state.reference.recording_id === r.recording_id) li.classList.add("active");
      li.addEventListener("click", () => selectRecording(r));
      list.appendChild(li);
    }
    $("rec-count").textContent = `${res.total} recording${res.total === 1 ? "" : "s"}` +
      (res.total > res.recordings.length ? ` (first ${res.recordings.length} shown)` : "") + (q ? ` matching “${q}”` : "");
  } catch (e) { showError($("rec-count"), e); }
}

// ---------------------------------------------------------------------------------------------- upload
function useFile(file) {
  if (!file) return;
  if (state.maxUpload && file.size > state.maxUpload) {
    showError($("search-status"), new Error(`${file.name} is larger than ${Math.round(state.maxUpload / 2 ** 20)} MB`));
    return;
  }
  setReference({ recording_id: null, title: file.name, upload: true }, URL.createObjectURL(file));
  state.lastQuery = { file };
  runSearch();
}

// ---------------------------------------------------------------------------------------------- start
async function init() {
  wireTimeline($("ref-timeline"), refAudio(), true);
  wireTimeline($("nb-timeline"), nbAudio(), false);
  for (const [a, t] of [[refAudio(), $("ref-timeline")], [nbAudio(), $("nb-timeline")]]) {
    a.addEventListener("timeupdate", () => tickCursor(a, t));
    a.addEventListener("seeked", () => { tickCursor(a, t); a.dataset.seeked = String(a.currentTime); });
    a.addEventListener("loadedmetadata", refreshBands);
    a.addEventListener("play", () => {
      const other = a === refAudio() ? nbAudio() : refAudio();
      other.pause(); state.active = a === refAudio() ? "ref" : "nb"; showPlaying();
    });
  }
  $("switch").addEventListener("click", switchAB);
  document.addEventListener("keydown", (ev) => {
    if ((ev.key === "s" || ev.key === "S") && !/INPUT|SELECT|TEXTAREA/.test(ev.target.tagName)) switchAB();
  });
  $("q").addEventListener("input", () => { clearTimeout(findTimer); findTimer = setTimeout(findRecordings, 150); });
  $("q").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { const li = document.querySelector("#rec-list li"); if (li) li.click(); }
  });
  $("mark-start").addEventListener("click", () => {
    const t = refAudio().currentTime, e = state.passage ? state.passage[1] : t + 10;
    setPassage(t, Math.max(e, t + 1));
  });
  $("mark-end").addEventListener("click", () => {
    const t = refAudio().currentTime;
    let s = state.passage ? state.passage[0] : Math.max(0, t - 10);
    if (t <= s) s = Math.max(0, t - 10);
    setPassage(s, Math.max(t, s + 1));
  });
  for (const id of ["p-start", "p-end"]) {
    $(id).addEventListener("change", () => {
      const a = parseFloat($("p-start").value), b = parseFloat($("p-end").value);
      if (isFinite(a) && isFinite(b) && b > a) setPassage(a, b);
    });
  }
  $("search-passage").addEventListener("click", () => {
    if (!state.passage) { showError($("search-status"), new Error("select a passage first: drag on A's bar, type start and end, or use 'from now' / 'to now'")); return; }
    runSearch();
  });
  $("search-whole").addEventListener("click", () => { setPassage(null); runSearch(); });
  $("mode").addEventListener("change", () => {
    $("scope").value = $("mode").value === "interpretation" ? "same" : "any"; runSearch();
  });
  for (const id of ["scope", "k"]) $(id).addEventListener("change", runSearch);
  $("options").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch(); });
  $("where").addEventListener("change", runSearch);
  $("upload").addEventListener("change", (ev) => useFile(ev.target.files[0]));
  const drop = $("drop");
  for (const t of [document.body, drop]) {
    t.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
    t.addEventListener("dragleave", () => drop.classList.remove("over"));
    t.addEventListener("drop", (ev) => {
      ev.preventDefault(); drop.classList.remove("over");
      if (ev.dataTransfer.files.length) useFile(ev.dataTransfer.files[0]);
    });
  }
  initMap();

  try {
    const [info, spaces] = await Promise.all([api("/api/info"), api("/api/spaces")]);
    state.maxUpload = info.server.max_upload_bytes;
    const name = info.store.split(/[\\/]/).pop();
    $("store-summary").textContent = `${name} · ${info.recordings} recordings · ${(info.total_duration_s / 60).toFixed(1)} min of audio`;
    const sel = $("space");
    for (const s of spaces.spaces) {
      const o = el("option", null, `${s.setup} · layer ${s.layer_name} · ${s.pooling}`);
      o.value = s.space_id; sel.appendChild(o);
    }
    state.space = spaces.default; sel.value = spaces.default || "";
    sel.addEventListener("change", () => { state.space = sel.value; loadMap(); runSearch(); });
    const colour = $("colour");
    for (const c of spaces.colour_by) { const o = el("option", null, c); o.value = c; colour.appendChild(o); }
    state.colourBy = spaces.colour_by[0] || "piece";
    if (!spaces.colour_by.includes("piece")) $("scope").querySelector('[value="same"]').disabled = true;
  } catch (e) { showError($("store-summary"), e); return; }
  await findRecordings();
  loadMap();
  const m = /#id=([^&]+)/.exec(location.hash);
  if (m) {
    try { selectRecording(await api(`/api/recordings/${m[1]}`)); } catch (e) { /* a stale link: ignore */ }
  }
}

document.addEventListener("DOMContentLoaded", init);
