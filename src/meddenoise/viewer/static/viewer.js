// meddenoise viewer: plain JavaScript, no framework, nothing from the network but this server.
// Slices arrive as raw little-endian Int16/Uint16/Float32 samples in the image's own units (HU for CT);
// window/level, the difference image and the ROI statistics are computed here from those exact values.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const CACHE_LIMIT = 96; // slices kept in memory (all sides together)
  const PREFETCH = 2; // neighbours fetched ahead on each side

  const S = {
    pairs: [], pairIndex: -1, pair: null, k: 0, n: 0,
    mode: "side", tool: "wl", compare: 1,
    win: { level: 0, width: 1 }, preset: "auto",
    dwin: { level: 0, width: 1 }, dwinAuto: true,
    zoom: 1, cx: null, cy: null, swipe: 0.5,
    roi: null, probeAt: null, cur: [], diff: null, stats: new Map(),
    token: 0, panels: [], off: [], diffOff: null, drag: null,
  };
  const cache = new Map();

  // ------------------------------------------------------------------ data
  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  async function getJSON(url) {
    const response = await fetch(url);
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  async function fetchSlice(i, side, k) {
    const response = await fetch(`/api/pair/${i}/slice/${k}?side=${side}`);
    if (!response.ok) throw new Error((await response.json()).error || response.statusText);
    const rows = Number(response.headers.get("X-Rows"));
    const cols = Number(response.headers.get("X-Columns"));
    const dtype = response.headers.get("X-Dtype");
    const buffer = await response.arrayBuffer(); // little-endian, like every platform a browser runs on
    const Type = dtype === "int16" ? Int16Array : dtype === "uint16" ? Uint16Array : Float32Array;
    return { rows, cols, dtype, data: new Type(buffer) };
  }

  function getSlice(i, side, k) {
    const key = `${i}/${side}/${k}`;
    let entry = cache.get(key);
    if (entry) {
      cache.delete(key);
    } else {
      entry = fetchSlice(i, side, k);
      entry.catch(() => cache.delete(key));
    }
    cache.set(key, entry);
    while (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value);
    return entry;
  }

  function sideCount() { return S.pair ? S.pair.labels.length : 0; }
  function units() { return S.pair ? S.pair.units : ""; }

  // ------------------------------------------------------------------ pixels
  function windowed(slice, win, canvas) {
    const { rows, cols, data } = slice;
    canvas = canvas || document.createElement("canvas");
    canvas.width = cols;
    canvas.height = rows;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(cols, rows);
    const px = image.data;
    const lo = win.level - win.width / 2;
    const scale = 255 / win.width;
    for (let i = 0, j = 0; i < data.length; i++, j += 4) {
      let g = Math.round((data[i] - lo) * scale);
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      px[j] = px[j + 1] = px[j + 2] = g;
      px[j + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    return canvas;
  }

  function difference() {
    const a = S.cur[0], b = S.cur[S.compare];
    if (!a || !b || a.rows !== b.rows || a.cols !== b.cols) return null;
    const data = new Float32Array(a.data.length);
    for (let i = 0; i < data.length; i++) data[i] = b.data[i] - a.data[i];
    return { rows: a.rows, cols: a.cols, dtype: "float32", data };
  }

  function autoDiffWindow(diff) {
    const step = Math.max(1, Math.floor(diff.data.length / 65536));
    const sample = [];
    for (let i = 0; i < diff.data.length; i += step) sample.push(Math.abs(diff.data[i]));
    sample.sort((x, y) => x - y);
    const p99 = sample[Math.min(sample.length - 1, Math.floor(0.99 * sample.length))] || 0;
    return { level: 0, width: Math.max(2 * p99, 1e-6) };
  }

  function refreshImages() {
    S.off = S.cur.map((slice, i) => (slice ? windowed(slice, S.win, S.off[i]) : null));
    S.diff = difference();
    if (S.diff) {
      if (S.dwinAuto) S.dwin = autoDiffWindow(S.diff);
      S.diffOff = windowed(S.diff, S.dwin, S.diffOff);
    } else {
      S.diffOff = null;
    }
  }

  // ------------------------------------------------------------------ geometry
  function base() { return S.cur[0] || { rows: 1, cols: 1 }; }

  function transform(canvas) {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    const { rows, cols } = base();
    const s = Math.min(w / cols, h / rows) * S.zoom;
    const cx = S.cx === null ? cols / 2 : S.cx;
    const cy = S.cy === null ? rows / 2 : S.cy;
    return { s, ox: w / 2 - cx * s, oy: h / 2 - cy * s, w, h };
  }

  function toImage(canvas, event) {
    const rect = canvas.getBoundingClientRect();
    const t = transform(canvas);
    const x = event.clientX - rect.left, y = event.clientY - rect.top;
    return { x: (x - t.ox) / t.s, y: (y - t.oy) / t.s, sx: x, sy: y, t };
  }

  // ------------------------------------------------------------------ drawing
  function drawPanel(panel) {
    const canvas = panel.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const t = transform(canvas);
    const setImageTransform = () => {
      ctx.setTransform(dpr * t.s, 0, 0, dpr * t.s, dpr * t.ox, dpr * t.oy);
      ctx.imageSmoothingEnabled = false;
    };
    if (panel.kind === "side" && S.off[panel.side]) {
      setImageTransform();
      ctx.drawImage(S.off[panel.side], 0, 0);
    } else if (panel.kind === "diff") {
      if (S.diffOff) {
        setImageTransform();
        ctx.drawImage(S.diffOff, 0, 0);
      }
    } else if (panel.kind === "swipe") {
      const split = S.swipe * w * dpr;
      for (const [side, x0, x1] of [[0, 0, split], [S.compare, split, canvas.width]]) {
        if (!S.off[side]) continue;
        ctx.save();
        ctx.setTransform(1, 0, 0, 1, 0, 0);
        ctx.beginPath();
        ctx.rect(x0, 0, x1 - x0, canvas.height);
        ctx.clip();
        setImageTransform();
        ctx.drawImage(S.off[side], 0, 0);
        ctx.restore();
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.strokeStyle = "#ffd24a";
      ctx.lineWidth = 2 * dpr;
      ctx.beginPath();
      ctx.moveTo(split, 0);
      ctx.lineTo(split, canvas.height);
      ctx.stroke();
    }
    const roi = S.drag && S.drag.kind === "roi" ? S.drag.rect : S.roi;
    if (roi) {
      setImageTransform();
      ctx.strokeStyle = "#3fd0ff";
      ctx.lineWidth = 1.5 / t.s;
      ctx.strokeRect(roi.c0, roi.r0, roi.c1 - roi.c0, roi.r1 - roi.r0);
    }
    const win = panel.kind === "diff" ? S.dwin : S.win;
    panel.corner.textContent = `${S.k + 1}/${S.n}  L ${fmt(win.level)} W ${fmt(win.width)}  ${zoomText()}`;
  }

  function zoomText() { return `${Math.round(S.zoom * 100)}%`; }

  function drawAll() {
    S.panels.forEach(drawPanel);
    $("panels").dataset.rendered = `${S.pairIndex}:${S.k}`;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (value === "inf") return "∞";
    if (digits !== undefined) return Number(value).toFixed(digits);
    const a = Math.abs(value);
    return a >= 100 ? value.toFixed(0) : a >= 1 ? value.toFixed(1) : value.toPrecision(3);
  }

  // ------------------------------------------------------------------ panels
  function buildPanels() {
    const box = $("panels");
    box.innerHTML = "";
    S.panels = [];
    const labels = S.pair.labels;
    let specs;
    if (S.mode === "side") specs = labels.map((label, side) => ({ kind: "side", side, caption: label }));
    else if (S.mode === "swipe") specs = [{ kind: "swipe", caption: `${labels[0]} | ${labels[S.compare]}` }];
    else specs = [{ kind: "diff", caption: `difference: ${labels[S.compare]} − ${labels[0]} (${units()})` }];
    const columns = specs.length <= 4 ? specs.length : Math.ceil(Math.sqrt(specs.length));
    box.style.gridTemplateColumns = `repeat(${columns}, 1fr)`;
    for (const spec of specs) {
      const el = document.createElement("div");
      el.className = "panel";
      el.dataset.kind = spec.kind;
      if (spec.side !== undefined) el.dataset.side = spec.side;
      const canvas = document.createElement("canvas");
      const caption = document.createElement("div");
      caption.className = "caption";
      caption.textContent = spec.caption;
      const corner = document.createElement("div");
      corner.className = "corner";
      el.append(canvas, caption, corner);
      box.append(el);
      const panel = { ...spec, el, canvas, caption, corner };
      attachMouse(panel);
      S.panels.push(panel);
    }
    $("swipe-pos").hidden = S.mode !== "swipe";
  }

  // ------------------------------------------------------------------ slices
  async function goto(k) {
    if (!S.pair) return;
    k = Math.max(0, Math.min(S.n - 1, k));
    S.k = k;
    $("slice-slider").value = k;
    $("slice-label").textContent = `slice ${k + 1} / ${S.n}`;
    const token = ++S.token;
    const pairIndex = S.pairIndex;
    let slices;
    try {
      slices = await Promise.all(labelsRange().map((side) => getSlice(pairIndex, side, k)));
    } catch (err) {
      showError(String(err.message || err));
      return;
    }
    if (token !== S.token) return;
    showError("");
    S.cur = slices;
    refreshImages();
    drawAll();
    updateRoi();
    showProbe();
    loadStats(pairIndex, k);
    for (let d = 1; d <= PREFETCH; d++) {
      for (const kk of [k + d, k - d]) {
        if (kk >= 0 && kk < S.n) labelsRange().forEach((side) => getSlice(pairIndex, side, kk).catch(() => {}));
      }
    }
  }

  function labelsRange() { return [...Array(sideCount()).keys()]; }

  async function loadStats(pairIndex, k) {
    const key = `${pairIndex}/${k}`;
    let stats = S.stats.get(key);
    if (!stats) {
      try {
        stats = await getJSON(`/api/pair/${pairIndex}/stats/${k}`);
      } catch (err) {
        showError(String(err.message || err));
        return;
      }
      S.stats.set(key, stats);
    }
    if (pairIndex !== S.pairIndex || k !== S.k) return;
    const body = $("slice-table").tBodies[0];
    body.innerHTML = "";
    const hasRef = stats.scores !== null;
    document.querySelectorAll("#slice-table .ref").forEach((th) => { th.hidden = !hasRef; });
    S.pair.labels.forEach((label, side) => {
      const row = body.insertRow();
      row.dataset.side = side;
      const score = hasRef ? stats.scores[side] : null;
      row.innerHTML = `<td>${escapeHtml(label)}</td><td class="num noise">${fmt(stats.noise[side], 2)}</td>` +
        (hasRef ? `<td class="num psnr">${score ? fmt(score.psnr, 2) : ""}</td>` +
          `<td class="num ssim">${score ? fmt(score.ssim, 4) : ""}</td>` : "");
    });
    $("slice-table").dataset.slice = k;
    $("slice-table").title = `noise σ: blind wavelet estimate in ${units()}` +
      (hasRef ? `; PSNR (dB) / SSIM against the reference, data range ${fmt(stats.data_range)}` : "");
    S.autoWindow = stats.auto_window;
  }

  // ------------------------------------------------------------------ ROI
  function normRect(a, b) {
    const { rows, cols } = base();
    const clampC = (v) => Math.max(0, Math.min(cols, v));
    const clampR = (v) => Math.max(0, Math.min(rows, v));
    return {
      c0: clampC(Math.floor(Math.min(a.x, b.x))), c1: clampC(Math.ceil(Math.max(a.x, b.x))),
      r0: clampR(Math.floor(Math.min(a.y, b.y))), r1: clampR(Math.ceil(Math.max(a.y, b.y))),
    };
  }

  function roiStats(slice, roi) {
    const r1 = Math.min(roi.r1, slice.rows), c1 = Math.min(roi.c1, slice.cols);
    let n = 0, sum = 0;
    for (let r = roi.r0; r < r1; r++) for (let c = roi.c0; c < c1; c++) { sum += slice.data[r * slice.cols + c]; n++; }
    if (!n) return null;
    const mean = sum / n;
    let ss = 0;
    for (let r = roi.r0; r < r1; r++) for (let c = roi.c0; c < c1; c++) { const d = slice.data[r * slice.cols + c] - mean; ss += d * d; }
    return { mean, std: Math.sqrt(ss / n), n };
  }

  function updateRoi() {
    const body = $("roi-table").tBodies[0];
    body.innerHTML = "";
    const bounds = $("roi-bounds");
    const roi = S.roi;
    if (!roi || roi.r1 <= roi.r0 || roi.c1 <= roi.c0) {
      bounds.textContent = "Pick the ROI tool and drag a rectangle.";
      delete bounds.dataset.r0;
      return;
    }
    Object.assign(bounds.dataset, { r0: roi.r0, r1: roi.r1, c0: roi.c0, c1: roi.c1, slice: S.k });
    bounds.textContent = `rows ${roi.r0}–${roi.r1 - 1}, columns ${roi.c0}–${roi.c1 - 1} ` +
      `(${roi.c1 - roi.c0}×${roi.r1 - roi.r0} px), slice ${S.k + 1}; mean and std (population) in ${units()}`;
    S.pair.labels.forEach((label, side) => {
      const st = S.cur[side] ? roiStats(S.cur[side], roi) : null;
      const row = body.insertRow();
      row.dataset.side = side;
      row.innerHTML = `<td>${escapeHtml(label)}</td><td class="num mean">${st ? st.mean.toFixed(2) : "–"}</td>` +
        `<td class="num std">${st ? st.std.toFixed(2) : "–"}</td><td class="num count">${st ? st.n : 0}</td>`;
    });
  }

  // ------------------------------------------------------------------ window
  function activeWindow() { return S.mode === "diff" ? S.dwin : S.win; }

  function setWindow(level, width, preset) {
    width = Math.max(Number(width), 1e-6);
    if (S.mode === "diff") {
      S.dwin = { level: Number(level), width };
      S.dwinAuto = preset === "auto";
    } else {
      S.win = { level: Number(level), width };
      S.preset = preset || "custom";
    }
    showWindow();
    if (S.cur.length) { refreshImages(); drawAll(); }
  }

  function showWindow() {
    const win = activeWindow();
    $("window-level").value = +win.level.toPrecision(6);
    $("window-width").value = +win.width.toPrecision(6);
    const preset = S.mode === "diff" ? (S.dwinAuto ? "auto" : "custom") : S.preset;
    $("preset").value = preset;
  }

  function fillPresets() {
    const select = $("preset");
    select.innerHTML = "";
    const names = S.pair.is_ct ? [...Object.keys(S.pair.presets), "auto", "custom"] : ["auto", "custom"];
    for (const name of names) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = S.pair.presets[name]
        ? `${name} (${S.pair.presets[name].level}/${S.pair.presets[name].width})` : name;
      select.append(option);
    }
  }

  function applyPreset(name) {
    if (S.mode === "diff") {
      if (name === "auto" && S.diff) { S.dwinAuto = true; S.dwin = autoDiffWindow(S.diff); setWindow(S.dwin.level, S.dwin.width, "auto"); }
      return;
    }
    if (S.pair.presets[name] && S.pair.is_ct) setWindow(S.pair.presets[name].level, S.pair.presets[name].width, name);
    else if (name === "auto" && S.autoWindow) setWindow(S.autoWindow.level, S.autoWindow.width, "auto");
  }

  // ------------------------------------------------------------------ mouse
  function attachMouse(panel) {
    const canvas = panel.canvas;
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      if (event.ctrlKey || event.metaKey) zoomAt(canvas, event, event.deltaY < 0 ? 1.25 : 0.8);
      else goto(S.k + Math.sign(event.deltaY));
    }, { passive: false });
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    canvas.addEventListener("mousedown", (event) => {
      event.preventDefault();
      const p = toImage(canvas, event);
      let kind = event.button === 1 ? "pan" : S.tool;
      if (panel.kind === "swipe" && event.button === 0 && Math.abs(p.sx - S.swipe * p.t.w) < 10) kind = "swipe";
      const win = activeWindow();
      S.drag = { kind, canvas, start: p, x: event.clientX, y: event.clientY, level: win.level, width: win.width,
        cx: S.cx === null ? base().cols / 2 : S.cx, cy: S.cy === null ? base().rows / 2 : S.cy, rect: null };
    });
    canvas.addEventListener("mousemove", (event) => { if (!S.drag) probe(canvas, event); });
    canvas.addEventListener("mouseleave", () => { S.probeAt = null; showProbe(); });
  }

  window.addEventListener("mousemove", (event) => {
    const d = S.drag;
    if (!d) return;
    const dx = event.clientX - d.x, dy = event.clientY - d.y;
    if (d.kind === "wl") {
      const step = Math.max(d.width, 1e-6) / 300;
      setWindow(d.level - dy * step, Math.max(d.width + dx * step, 1e-6), "custom");
    } else if (d.kind === "pan") {
      const s = transform(d.canvas).s;
      S.cx = d.cx - dx / s;
      S.cy = d.cy - dy / s;
      drawAll();
    } else if (d.kind === "roi") {
      d.rect = normRect(d.start, toImage(d.canvas, event));
      drawAll();
    } else if (d.kind === "swipe") {
      const rect = d.canvas.getBoundingClientRect();
      S.swipe = Math.max(0, Math.min(1, (event.clientX - rect.left) / rect.width));
      $("swipe-pos").value = Math.round(S.swipe * 1000);
      drawAll();
    }
  });

  window.addEventListener("mouseup", (event) => {
    const d = S.drag;
    if (!d) return;
    S.drag = null;
    if (d.kind === "roi") {
      const rect = normRect(d.start, toImage(d.canvas, event));
      S.roi = rect.r1 > rect.r0 && rect.c1 > rect.c0 ? rect : null;
      updateRoi();
      drawAll();
    }
  });

  function zoomAt(canvas, event, factor) {
    const p = toImage(canvas, event);
    S.zoom = Math.max(0.1, Math.min(64, S.zoom * factor));
    const s = transform(canvas).s;
    S.cx = p.x - (p.sx - canvas.clientWidth / 2) / s;
    S.cy = p.y - (p.sy - canvas.clientHeight / 2) / s;
    drawAll();
  }

  function zoomBy(factor) { S.zoom = Math.max(0.1, Math.min(64, S.zoom * factor)); drawAll(); }

  function probe(canvas, event) {
    const p = toImage(canvas, event);
    S.probeAt = { r: Math.floor(p.y), c: Math.floor(p.x) };
    showProbe();
  }

  function showProbe() {
    if (!S.probeAt) { $("probe").textContent = ""; return; }
    const { r, c } = S.probeAt;
    const parts = S.cur.map((slice, side) => (slice && r >= 0 && c >= 0 && r < slice.rows && c < slice.cols
      ? `${S.pair.labels[side]} ${fmt(slice.data[r * slice.cols + c], 1)}` : null)).filter(Boolean);
    $("probe").textContent = parts.length ? `row ${r}, column ${c}: ${parts.join(" · ")} ${units()}` : "";
  }

  // ------------------------------------------------------------------ pair
  function escapeHtml(text) {
    return String(text).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);
  }

  function fillMeta() {
    const body = $("meta-table").tBodies[0];
    body.innerHTML = "";
    S.pair.sides.forEach((info, side) => {
      const head = body.insertRow();
      head.innerHTML = `<th colspan="2">${escapeHtml(S.pair.labels[side])}</th>`;
      const spacing = info.pixel_spacing ? `${info.pixel_spacing.map((v) => fmt(v, 3)).join(" × ")} mm` : "–";
      const rows = [
        ["modality", info.modality], ["series", info.series_description || "–"],
        ["derivation", info.derivation_description || "–"],
        ["spacing", spacing + (info.slice_spacing ? `, slice ${fmt(info.slice_spacing, 3)} mm` : "")],
        ["units", `${info.units} (${info.dtype})`], ["file", info.path],
      ];
      for (const [key, value] of rows) {
        const row = body.insertRow();
        row.dataset.side = side;
        row.dataset.key = key;
        row.innerHTML = `<td>${key}</td><td>${escapeHtml(value)}</td>`;
      }
    });
  }

  async function loadPair(i) {
    let pair;
    try {
      pair = await getJSON(`/api/pair/${i}`);
    } catch (err) {
      showError(String(err.message || err));
      return;
    }
    Object.assign(S, { pair, pairIndex: i, n: pair.n_slices, zoom: 1, cx: null, cy: null, roi: null,
      cur: [], off: [], diffOff: null, dwinAuto: true, autoWindow: null });
    S.compare = Math.min(Math.max(S.compare, 1), pair.labels.length - 1);
    const compare = $("compare-select");
    compare.innerHTML = "";
    pair.labels.slice(1).forEach((label, j) => {
      const option = document.createElement("option");
      option.value = j + 1;
      option.textContent = label;
      compare.append(option);
    });
    compare.value = S.compare;
    $("compare-label").hidden = pair.labels.length <= 2;
    $("slice-slider").max = pair.n_slices - 1;
    fillPresets();
    S.win = { level: pair.window.level, width: pair.window.width };
    S.preset = pair.window.preset;
    showWindow();
    fillMeta();
    buildPanels();
    updateRoi();
    await goto(pair.start_slice);
  }

  function setMode(mode) {
    S.mode = mode;
    document.querySelectorAll("button.mode").forEach((b) => b.classList.toggle("active", b.dataset.mode === mode));
    $("preset").disabled = false;
    buildPanels();
    if (S.cur.length) { refreshImages(); drawAll(); }
    showWindow();
  }

  function setTool(tool) {
    S.tool = tool;
    document.querySelectorAll("button.tool").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $("pair-select").addEventListener("change", (e) => loadPair(Number(e.target.value)));
    $("compare-select").addEventListener("change", (e) => {
      S.compare = Number(e.target.value);
      S.dwinAuto = true;
      buildPanels();
      if (S.cur.length) { refreshImages(); drawAll(); showWindow(); }
    });
    document.querySelectorAll("button.mode").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
    document.querySelectorAll("button.tool").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
    $("slice-slider").addEventListener("input", (e) => goto(Number(e.target.value)));
    $("swipe-pos").addEventListener("input", (e) => { S.swipe = Number(e.target.value) / 1000; drawAll(); });
    $("preset").addEventListener("change", (e) => applyPreset(e.target.value));
    for (const id of ["window-level", "window-width"]) {
      $(id).addEventListener("change", () => setWindow($("window-level").value, $("window-width").value, "custom"));
    }
    $("zoom-in").addEventListener("click", () => zoomBy(1.25));
    $("zoom-out").addEventListener("click", () => zoomBy(0.8));
    $("zoom-fit").addEventListener("click", () => { S.zoom = 1; S.cx = S.cy = null; drawAll(); });
    window.addEventListener("resize", () => S.cur.length && drawAll());
    document.addEventListener("keydown", (event) => {
      if (event.target.closest && event.target.closest("input, select")) return;
      const keys = {
        ArrowUp: () => goto(S.k - 1), ArrowLeft: () => goto(S.k - 1),
        ArrowDown: () => goto(S.k + 1), ArrowRight: () => goto(S.k + 1),
        PageUp: () => goto(S.k - 10), PageDown: () => goto(S.k + 10),
        Home: () => goto(0), End: () => goto(S.n - 1),
        1: () => setMode("side"), 2: () => setMode("swipe"), 3: () => setMode("diff"),
        w: () => setTool("wl"), p: () => setTool("pan"), r: () => setTool("roi"),
        f: () => $("zoom-fit").click(), "+": () => zoomBy(1.25), "-": () => zoomBy(0.8),
      };
      if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
    });
  }

  async function start() {
    wire();
    let listing;
    try {
      listing = await getJSON("/api/pairs");
    } catch (err) {
      showError(String(err.message || err));
      return;
    }
    S.pairs = listing.pairs;
    const select = $("pair-select");
    for (const pair of listing.pairs) {
      const option = document.createElement("option");
      option.value = pair.index;
      option.textContent = pair.name;
      select.append(option);
    }
    $("notes").textContent = listing.notes.join("\n");
    if (listing.pairs.length) await loadPair(0);
  }

  // For tests and the curious: the state, the windowed grey of an image pixel (side or "diff"), where an
  // image pixel's centre is on a panel (CSS pixels), and the grey a panel shows there.
  window.meddenoiseViewer = {
    state: S,
    grey(side, r, c) {
      const canvas = side === "diff" ? S.diffOff : S.off[side];
      return canvas.getContext("2d").getImageData(c, r, 1, 1).data[0];
    },
    screenOf(panel, r, c) {
      const t = transform(S.panels[panel].canvas);
      return { x: t.ox + (c + 0.5) * t.s, y: t.oy + (r + 0.5) * t.s };
    },
    shown(panel, x, y) {
      const canvas = S.panels[panel].canvas;
      const dpr = window.devicePixelRatio || 1;
      return canvas.getContext("2d").getImageData(Math.floor(x * dpr), Math.floor(y * dpr), 1, 1).data[0];
    },
  };
  start();
})();
