"use strict";
// The doodle page: a small paint program over a label map (one region index per
// pixel, drawn without anti-aliasing so every pixel is exactly a palette colour).
// Every change is sent to POST /api/render; the newest answer is shown, older
// ones are dropped, and the server keeps only our newest waiting request.

const MAX_UNDO = 40;
const BRUSH_SIZES = [4, 8, 16, 24, 48, 96];
const LIVE_INTERVAL_MS = 200; // while drawing: at most one render request per interval
const MAX_SIDE = 1024;

const $ = (id) => document.getElementById(id);

const state = {
  styles: [],
  style: null,
  region: 0,
  tool: "brush",
  brush: 24,
  width: 512,
  height: 384,
  labels: null, // Uint8Array(width * height): region of every pixel
  image: null, // ImageData of the canvas, kept in step with labels
  colourToRegion: new Map(), // 0xRRGGBB of every palette colour (members too) -> region
  undo: [],
  redo: [],
  version: 0, // bumped on every change of the map
  drawing: false,
  last: null,
  lastSent: 0,
  liveTimer: null,
  seq: 0, // render requests sent
  shownSeq: 0, // the request whose answer is on screen
  inFlight: 0,
  renderUrl: null, // object URL of the painting on screen
  renderBlob: null, // its PNG bytes
  client: randomId(),
};

const canvas = $("map");
const ctx = canvas.getContext("2d", { willReadFrequently: true });

// ---------- helpers ----------

function randomId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomSeed() {
  return Math.floor(Math.random() * 1e6); // short enough to note down
}

function hex([r, g, b]) {
  return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
}

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function errorOf(response) {
  try {
    return (await response.json()).error || response.statusText;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function saveBlob(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function renderSize() {
  return $("render-size").value;
}

function seed() {
  const value = parseInt($("seed").value, 10);
  return Number.isFinite(value) && value >= 0 ? value : 0;
}

// What the painting on screen should depict; tests wait for the image's data-key to equal it.
function currentKey() {
  return `${state.style.id}|${state.version}|${seed()}|${renderSize()}`;
}

// ---------- the map ----------

function setSize(width, height) {
  state.width = width;
  state.height = height;
  canvas.width = width;
  canvas.height = height;
  state.labels = new Uint8Array(width * height);
  state.image = ctx.createImageData(width, height);
  $("map-info").textContent = `${width} × ${height}`;
  // An uploaded map may have a size the menu lacks: list it while it is the canvas.
  const select = $("canvas-size");
  select.querySelector("option[data-custom]")?.remove();
  const value = `${width}x${height}`;
  if (!select.querySelector(`option[value="${value}"]`)) {
    const option = new Option(`${width} × ${height}`, value);
    option.dataset.custom = "";
    select.append(option);
  }
  select.value = value;
}

function paintRect(x0, y0, x1, y1) {
  // Repaint the pixels [x0, x1) x [y0, y1) from the labels.
  const { labels, image, width } = state;
  const colours = state.style.palette;
  const data = image.data;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * width + x;
      const c = colours[labels[i]];
      data[4 * i] = c[0];
      data[4 * i + 1] = c[1];
      data[4 * i + 2] = c[2];
      data[4 * i + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0, x0, y0, x1 - x0, y1 - y0);
}

function paintAll() {
  paintRect(0, 0, state.width, state.height);
}

function stamp(cx, cy, dirty) {
  // A filled disc of the brush's diameter in the current region.
  const r = state.brush / 2;
  const { width, height, labels } = state;
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(width, Math.ceil(cx + r) + 1);
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(height, Math.ceil(cy + r) + 1);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= r * r) labels[y * width + x] = state.region;
    }
  }
  dirty.x0 = Math.min(dirty.x0, x0);
  dirty.y0 = Math.min(dirty.y0, y0);
  dirty.x1 = Math.max(dirty.x1, x1);
  dirty.y1 = Math.max(dirty.y1, y1);
}

function strokeTo(from, to) {
  const dirty = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
  const step = Math.max(1, state.brush / 4);
  const n = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / step));
  for (let i = 1; i <= n; i++) {
    stamp(from.x + ((to.x - from.x) * i) / n, from.y + ((to.y - from.y) * i) / n, dirty);
  }
  if (dirty.x1 > dirty.x0 && dirty.y1 > dirty.y0) paintRect(dirty.x0, dirty.y0, dirty.x1, dirty.y1);
}

function fill(x, y) {
  // Flood-fill the 4-connected area under (x, y) with the current region (scanline stack).
  const { width, height, labels, region } = state;
  const target = labels[y * width + x];
  if (target === region) return false;
  const stack = [[x, y]];
  while (stack.length) {
    const [sx, sy] = stack.pop();
    let left = sx;
    while (left > 0 && labels[sy * width + left - 1] === target) left--;
    let right = sx;
    while (right < width - 1 && labels[sy * width + right + 1] === target) right++;
    for (let i = left; i <= right; i++) labels[sy * width + i] = region;
    for (const ny of [sy - 1, sy + 1]) {
      if (ny < 0 || ny >= height) continue;
      let inRun = false;
      for (let i = left; i <= right; i++) {
        const same = labels[ny * width + i] === target;
        if (same && !inRun) stack.push([i, ny]);
        inRun = same;
      }
    }
  }
  paintAll();
  return true;
}

// ---------- history ----------

function snapshot() {
  return { width: state.width, height: state.height, labels: state.labels.slice() };
}

function pushUndo() {
  state.undo.push(snapshot());
  if (state.undo.length > MAX_UNDO) state.undo.shift();
  state.redo = [];
  updateHistoryButtons();
}

function restore(snap) {
  if (snap.width !== state.width || snap.height !== state.height) setSize(snap.width, snap.height);
  state.labels.set(snap.labels);
  wrapLabels(); // the snapshot may come from a style with more regions
  paintAll();
  changed(true);
}

function undo() {
  if (!state.undo.length) return;
  state.redo.push(snapshot());
  restore(state.undo.pop());
}

function redo() {
  if (!state.redo.length) return;
  state.undo.push(snapshot());
  restore(state.redo.pop());
}

function updateHistoryButtons() {
  $("undo").disabled = !state.undo.length;
  $("redo").disabled = !state.redo.length;
}

// A change of the map: render now (stroke end, fill, undo...) or throttled (while drawing).
function changed(now) {
  state.version++;
  updateHistoryButtons();
  if (now) {
    renderNow();
  } else if (performance.now() - state.lastSent >= LIVE_INTERVAL_MS) {
    renderNow();
  } else if (!state.liveTimer) {
    state.liveTimer = setTimeout(renderNow, LIVE_INTERVAL_MS - (performance.now() - state.lastSent));
  }
}

// ---------- rendering ----------

function renderNow() {
  clearTimeout(state.liveTimer);
  state.liveTimer = null;
  state.lastSent = performance.now();
  const key = currentKey();
  const seq = ++state.seq;
  const form = new FormData();
  form.append("style", state.style.id);
  form.append("seed", String(seed()));
  if (renderSize()) form.append("size", renderSize());
  form.append("client", state.client);
  // toBlob copies the canvas now, so later strokes cannot leak into this request.
  canvas.toBlob((blob) => {
    form.append("map", blob, "map.png");
    send(form, key, seq);
  }, "image/png");
}

async function send(form, key, seq) {
  const started = performance.now();
  state.inFlight++;
  $("busy").hidden = false;
  try {
    const response = await fetch("/api/render", { method: "POST", body: form });
    if (response.status === 409) return; // replaced by our newer request while it waited
    if (!response.ok) {
      if (seq > state.shownSeq) say(await errorOf(response), true);
      return;
    }
    const blob = await response.blob();
    if (seq <= state.shownSeq) return; // a newer painting is already on screen
    // Decoded off-screen: the image on screen is only touched below, at once, by the
    // newest answer. Decoding it in place let an older answer overwrite a newer one
    // mid-decode (and the interrupted decode read as a lost server).
    const url = URL.createObjectURL(blob);
    const decoded = new Image();
    decoded.src = url;
    try {
      await decoded.decode();
    } catch (error) {
      URL.revokeObjectURL(url);
      if (seq > state.shownSeq) say(`the server's painting could not be decoded (${error.message}); draw again`, true);
      return;
    }
    if (seq <= state.shownSeq) {
      URL.revokeObjectURL(url); // a newer painting got on screen while this one decoded
      return;
    }
    state.shownSeq = seq;
    const img = $("render");
    img.src = url;
    if (state.renderUrl) URL.revokeObjectURL(state.renderUrl);
    state.renderUrl = url;
    state.renderBlob = blob;
    img.dataset.key = key;
    const server = 1000 * parseFloat(response.headers.get("X-Render-Seconds"));
    $("render-info").textContent =
      `${img.naturalWidth} × ${img.naturalHeight} · seed ${response.headers.get("X-Seed")} · ` +
      `server ${server.toFixed(0)} ms · round trip ${(performance.now() - started).toFixed(0)} ms`;
    say(`style ${state.style.id}: K=${state.style.k}, step ${state.style.step}, ${state.style.loss_net}`);
  } catch (error) {
    say(`cannot reach the doodle server (${error.message}); is it still running?`, true);
  } finally {
    state.inFlight--;
    $("busy").hidden = state.inFlight === 0;
  }
}

// ---------- loading maps (random, upload) ----------

async function loadMapBlob(blob) {
  // A PNG in the exact region colours (from the server) becomes the labels.
  const bitmap = await createImageBitmap(blob);
  const scratch = document.createElement("canvas");
  scratch.width = bitmap.width;
  scratch.height = bitmap.height;
  const scratchCtx = scratch.getContext("2d", { willReadFrequently: true });
  scratchCtx.drawImage(bitmap, 0, 0);
  const data = scratchCtx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  pushUndo();
  setSize(bitmap.width, bitmap.height);
  for (let i = 0; i < state.labels.length; i++) {
    const rgb = (data[4 * i] << 16) | (data[4 * i + 1] << 8) | data[4 * i + 2];
    state.labels[i] = state.colourToRegion.get(rgb) ?? nearestRegion(data[4 * i], data[4 * i + 1], data[4 * i + 2]);
  }
  paintAll();
  changed(true);
}

function nearestRegion(r, g, b) {
  let best = 0, bestDistance = Infinity;
  state.style.members.forEach((colours, region) => {
    for (const [cr, cg, cb] of colours) {
      const d = (r - cr) ** 2 + (g - cg) ** 2 + (b - cb) ** 2;
      if (d < bestDistance) [best, bestDistance] = [region, d];
    }
  });
  return best;
}

async function randomMap(mapSeed = randomSeed()) {
  const query = new URLSearchParams({ style: state.style.id, width: state.width, height: state.height, seed: mapSeed });
  const response = await fetch(`/api/random-map?${query}`);
  if (!response.ok) return say(await errorOf(response), true);
  await loadMapBlob(await response.blob());
}

async function paintingMap() {
  // The painting's own layout (its hand-made map, or `doodle map`'s), to repaint.
  if (!state.style.painting_map) return say(`style ${state.style.id} has no map of its painting`, true);
  const response = await fetch(state.style.painting_map);
  if (!response.ok) return say(await errorOf(response), true);
  await loadMapBlob(await response.blob());
}

async function upload(file) {
  let longest;
  try {
    const bitmap = await createImageBitmap(file);
    longest = Math.max(bitmap.width, bitmap.height);
  } catch {
    return say(`${file.name} is not an image this browser can read; upload a PNG`, true);
  }
  const form = new FormData();
  form.append("style", state.style.id);
  if (longest > MAX_SIDE) form.append("size", String(MAX_SIDE));
  form.append("map", file, "upload.png");
  const response = await fetch("/api/map", { method: "POST", body: form });
  if (!response.ok) return say(`${file.name}: ${await errorOf(response)}`, true);
  await loadMapBlob(await response.blob());
  say(`loaded ${file.name}`);
}

function resample(width, height) {
  // The same drawing at another canvas size (nearest neighbour).
  const old = snapshot();
  pushUndo();
  setSize(width, height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(old.height - 1, Math.floor(((y + 0.5) * old.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(old.width - 1, Math.floor(((x + 0.5) * old.width) / width));
      state.labels[y * width + x] = old.labels[sy * old.width + sx];
    }
  }
  paintAll();
  changed(true);
}

// ---------- styles and palette ----------

function selectStyle(id) {
  const style = state.styles.find((s) => s.id === id);
  state.style = style;
  state.colourToRegion = new Map();
  style.members.forEach((colours, region) => {
    for (const [r, g, b] of colours) {
      const rgb = (r << 16) | (g << 8) | b;
      if (!state.colourToRegion.has(rgb)) state.colourToRegion.set(rgb, region);
    }
  });
  document.querySelectorAll(".style-card").forEach((card) => card.classList.toggle("active", card.dataset.style === id));
  buildPalette();
  $("painting-map").disabled = !style.painting_map;
  if (state.labels) {
    wrapLabels();
    paintAll();
    changed(true);
  }
}

// Keep the drawing across styles: regions the current style lacks wrap around its palette.
function wrapLabels() {
  const k = state.style.k;
  for (let i = 0; i < state.labels.length; i++) if (state.labels[i] >= k) state.labels[i] %= k;
}

function buildPalette() {
  const palette = $("palette");
  palette.replaceChildren();
  state.style.palette.forEach((colour, region) => {
    const button = document.createElement("button");
    button.className = "region";
    button.dataset.region = region;
    button.title = `region ${region} ${hex(colour)}` + (region < 9 ? ` (key ${region + 1})` : "");
    button.setAttribute("role", "radio");
    button.style.backgroundImage = `url("${state.style.swatches[region]}")`;
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = hex(colour);
    const [r, g, b] = colour;
    chip.style.color = 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
    chip.textContent = region;
    button.append(chip);
    button.addEventListener("click", () => setRegion(region));
    palette.append(button);
  });
  setRegion(Math.min(state.region, state.style.k - 1));
}

function setRegion(region) {
  state.region = region;
  document.querySelectorAll(".region").forEach((b) => {
    const active = Number(b.dataset.region) === region;
    b.classList.toggle("active", active);
    b.setAttribute("aria-checked", String(active));
  });
}

function buildStyleCards() {
  const section = $("styles");
  section.hidden = state.styles.length < 2;
  for (const style of state.styles) {
    const card = document.createElement("button");
    card.className = "style-card";
    card.dataset.style = style.id;
    const img = document.createElement("img");
    img.src = style.thumbnail;
    img.alt = "";
    const text = document.createElement("span");
    const name = document.createElement("b");
    name.textContent = style.id;
    const details = document.createElement("small");
    details.textContent = `${style.k} regions · ${style.step} steps · ${style.loss_net}`;
    text.append(name, details);
    card.append(img, text);
    card.addEventListener("click", () => selectStyle(style.id));
    section.append(card);
  }
}

function buildBrushSizes() {
  const row = $("brush-sizes");
  for (const size of BRUSH_SIZES) {
    const button = document.createElement("button");
    button.dataset.size = size;
    button.title = `${size} px`;
    const dot = document.createElement("span");
    dot.className = "dot";
    const shown = Math.max(3, Math.round(Math.sqrt(size) * 2.6));
    dot.style.width = dot.style.height = `${shown}px`;
    button.append(dot);
    button.addEventListener("click", () => setBrush(size));
    row.append(button);
  }
  setBrush(state.brush);
}

function setBrush(size) {
  state.brush = size;
  $("brush-size-value").textContent = `${size} px`;
  document.querySelectorAll("#brush-sizes button").forEach((b) => b.classList.toggle("active", Number(b.dataset.size) === size));
}

function setTool(tool) {
  state.tool = tool;
  document.querySelectorAll(".tool").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
}

// ---------- input ----------

function canvasPoint(event) {
  const rect = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) * state.width) / rect.width,
    y: ((event.clientY - rect.top) * state.height) / rect.height,
  };
}

function bindInput() {
  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const p = canvasPoint(event);
    if (state.tool === "fill") {
      const x = Math.min(state.width - 1, Math.max(0, Math.floor(p.x)));
      const y = Math.min(state.height - 1, Math.max(0, Math.floor(p.y)));
      const before = snapshot();
      if (fill(x, y)) {
        state.undo.push(before);
        state.redo = [];
        changed(true);
      }
      return;
    }
    canvas.setPointerCapture(event.pointerId);
    pushUndo();
    state.drawing = true;
    state.last = p;
    strokeTo(p, p);
    changed(false);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!state.drawing) return;
    const p = canvasPoint(event);
    strokeTo(state.last, p);
    state.last = p;
    changed(false);
  });
  const end = () => {
    if (!state.drawing) return;
    state.drawing = false;
    renderNow();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  document.querySelectorAll(".tool").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("clear").addEventListener("click", () => {
    pushUndo();
    state.labels.fill(state.region);
    paintAll();
    changed(true);
  });
  $("random").addEventListener("click", () => randomMap());
  $("painting-map").addEventListener("click", () => paintingMap());
  $("canvas-size").addEventListener("change", (event) => {
    const [width, height] = event.target.value.split("x").map(Number);
    if (width && height) resample(width, height);
  });
  $("upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) upload(file);
  });
  $("download-map").addEventListener("click", () => canvas.toBlob((blob) => saveBlob(blob, "doodle-map.png"), "image/png"));
  $("download-render").addEventListener("click", () => {
    if (state.renderBlob) saveBlob(state.renderBlob, `doodle-${state.style.id}-seed${seed()}.png`);
  });
  $("seed").addEventListener("change", renderNow);
  $("reroll").addEventListener("click", () => {
    $("seed").value = randomSeed();
    renderNow();
  });
  $("render-size").addEventListener("change", renderNow);

  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea")) return;
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z") {
      event.preventDefault();
      event.shiftKey ? redo() : undo();
    } else if ((event.ctrlKey || event.metaKey) && key === "y") {
      event.preventDefault();
      redo();
    } else if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    } else if (key === "b") setTool("brush");
    else if (key === "f") setTool("fill");
    else if (key === "r") randomMap();
    else if (key === "p") paintingMap();
    else if (key === "v") $("reroll").click();
    else if (key === "[" || key === "]") {
      const i = BRUSH_SIZES.indexOf(state.brush) + (key === "]" ? 1 : -1);
      setBrush(BRUSH_SIZES[Math.min(BRUSH_SIZES.length - 1, Math.max(0, i))]);
    } else if (/^[1-9]$/.test(key) && Number(key) <= state.style.k) setRegion(Number(key) - 1);
  });
}

// ---------- start ----------

async function start() {
  const response = await fetch("/api/styles");
  if (!response.ok) return say(await errorOf(response), true);
  const listing = await response.json();
  state.styles = listing.styles;
  buildStyleCards();
  buildBrushSizes();
  bindInput();
  selectStyle(listing.default);
  setSize(state.width, state.height);
  await randomMap(0);
  // The first map is not an edit: nothing to undo yet.
  state.undo = [];
  updateHistoryButtons();
}

window.doodle = { state, key: currentKey, undo, redo };
start().catch((error) => say(`the page failed to start: ${error.message}`, true));
