// glassnet playground: the page. Plain JavaScript drawing on canvases and one SVG; every number
// comes from the server (glassnet itself). Nothing here computes the network: it sends settings
// and commands over the WebSocket and draws the frames that come back.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  ws: null, session: null, generation: -1, settings: null, network: null, data: null,
  running: false, finished: null, history: { loss: [], val_loss: [] }, initial: null,
  frame: null, drawPending: false, selected: null,
};
// Counters for tests and the benchmark (benchmarks/playground.py reads them).
window.playground = { frames: 0, step: 0, firstFrameAt: null, messages: 0, state, lastTrace: null, send };

const ORANGE = [245, 147, 34], BLUE = [8, 119, 189], WHITE = [255, 255, 255];
const CLASS_COLORS = [[245, 147, 34], [8, 119, 189], [46, 160, 67], [214, 39, 40], [148, 103, 189],
                      [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];

// -- colours: a byte (0..255, 127.5 the middle) to orange-white-blue ------------------------------
function diverging(q) {
  const t = q / 127.5 - 1;
  const end = t < 0 ? ORANGE : BLUE, a = Math.abs(t);
  return [WHITE[0] + (end[0] - WHITE[0]) * a, WHITE[1] + (end[1] - WHITE[1]) * a, WHITE[2] + (end[2] - WHITE[2]) * a];
}
const PALETTE = Array.from({ length: 256 }, (_, q) => diverging(q));
function bytes(b64) {
  const text = atob(b64), out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "NaN";
  if (typeof v !== "number") return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-4 ? v.toExponential(digits - 1) : Number(v.toPrecision(digits)).toString();
}
function paren(v) { return v < 0 ? `(${fmt(v)})` : fmt(v); }
function num(v, testid) {  // a number shown to 4 digits, with its full value for tests and tooltips
  const span = document.createElement("span");
  span.className = "num";
  span.textContent = fmt(v);
  span.title = String(v);
  span.dataset.value = String(v);
  if (testid) span.dataset.testid = testid;
  return span;
}

// -- messages ---------------------------------------------------------------------------------
function showMessage(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}
function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}
function sendSettings(changes) {
  showMessage("");
  send({ type: "settings", settings: changes });
}
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  state.ws = ws;
  ws.onmessage = (event) => {
    window.playground.messages++;
    const m = JSON.parse(event.data);
    if (m.type === "hello") state.session = m.session;
    else if (m.type === "reset") onReset(m);
    else if (m.type === "frame") onFrame(m);
    else if (m.type === "state") onState(m);
    else if (m.type === "error") showMessage(m.message);
    else if (m.type === "trace") showTrace(m);
    else if (m.type === "weight") showWeight(m);
  };
  ws.onclose = () => { $("status").textContent = "disconnected from the server: reload the page"; };
}

// -- a new network (or data) -----------------------------------------------------------------
function onReset(m) {
  state.generation = m.generation;
  state.limits = m.limits;
  state.settings = m.settings;
  state.network = m.network;
  state.data = m.data;
  state.history = { loss: [], val_loss: [] };
  state.frame = null;
  state.finished = null;
  state.running = false;
  fillControls(m);
  buildNetwork();
  const d = m.data;
  $("view").hidden = d.kind !== "points";
  $("pictures").hidden = $("first-weights-box").hidden = d.kind !== "pictures";
  $("show-test-label").hidden = d.kind !== "points";
  if (d.kind === "pictures") buildPictures(d);
  let info = `${d.train} training and ${d.test} test ${d.kind === "points" ? "points" : "pictures"}, ${d.task}`;
  if (d.classes.length) info += ` (${d.classes.length} classes)`;
  if (d.dropped) info += `; ${d.dropped} rows with a missing value left out`;
  $("data-info").textContent = info;
  const sizes = m.network.sizes;
  $("network-info").textContent = sizes.join("-");
  updatePlay();
}

function fillControls(m) {
  const s = m.settings;
  const box = $("datasets");
  box.textContent = "";
  const names = m.datasets.concat(m.csv ? ["csv"] : []);
  for (const name of names) {
    const b = document.createElement("button");
    b.textContent = name;
    b.dataset.dataset = name;
    b.dataset.testid = `dataset-${name}`;
    if (name === s.dataset) b.classList.add("active");
    b.onclick = () => name === "csv" ? useColumns() : sendSettings({ dataset: name });
    box.appendChild(b);
  }
  for (const el of document.querySelectorAll("[data-setting]")) {
    const v = s[el.dataset.setting];
    if (el.type === "checkbox") el.checked = !!v;
    else el.value = v;
  }
  $("noise-value").textContent = s.noise;
  $("train_fraction-value").textContent = s.train_fraction;
  if (m.csv) fillColumns(m.csv, s.csv);
}

function fillColumns(csv, choice) {
  choice = choice || csv.choice || {};
  const fill = (id, names, value) => {
    const sel = $(id);
    sel.textContent = "";
    for (const name of names) {
      const o = document.createElement("option");
      o.value = name; o.textContent = name;
      sel.appendChild(o);
    }
    if (value !== undefined && value !== null) sel.value = value;
  };
  fill("csv-x1", csv.numeric, choice.x1);
  fill("csv-x2", csv.numeric, choice.x2);
  fill("csv-target", csv.columns, choice.target);
  $("csv-task").value = choice.task || "auto";
  $("csv-choice").hidden = false;
}

function useColumns() {
  sendSettings({ dataset: "csv", csv: { x1: $("csv-x1").value, x2: $("csv-x2").value,
                                        target: $("csv-target").value, task: $("csv-task").value } });
}

// -- the network drawing: neurons as small canvases, weights as SVG lines ---------------------
function buildNetwork() {
  const box = $("network"), svg = $("wires");
  for (const el of box.querySelectorAll(".neuron, .layer-tools, .layer-label")) el.remove();
  svg.textContent = "";
  const sizes = state.network.sizes, pictures = state.data.kind === "pictures";
  const most = Math.max(...sizes.slice(pictures ? 1 : 0));
  box.style.height = `${Math.max(330, 50 + most * 20)}px`;  // at least 17-pixel neurons
  const width = box.clientWidth || 600, height = box.clientHeight || 330;
  const columns = sizes.length, gap = (width - 60) / Math.max(columns - 1, 1);
  state.neurons = [];
  state.wires = [];
  const stepOf = (n) => Math.min(46, (height - 50) / Math.max(n, 1));
  const size = Math.max(14, Math.min(40, ...sizes.map((n, l) => stepOf(l === 0 && pictures ? 1 : n) - 3)));
  const position = (layer, j) => {
    const n = layer === 0 && pictures ? 1 : sizes[layer], step = stepOf(n);
    return [10 + layer * gap, 30 + j * step + (height - 50 - n * step) / 2 + (step - size) / 2];
  };
  // the wires first, under the neurons
  for (let l = 1; l < columns; l++) {
    const lines = [];
    if (!(pictures && l === 1)) {
      for (let i = 0; i < sizes[l - 1]; i++) {
        for (let j = 0; j < sizes[l]; j++) {
          const [x1, y1] = position(l - 1, i), [x2, y2] = position(l, j);
          const make = (cls) => {
            const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
            line.setAttribute("x1", x1 + size); line.setAttribute("y1", y1 + size / 2);
            line.setAttribute("x2", x2); line.setAttribute("y2", y2 + size / 2);
            if (cls) line.setAttribute("class", cls);
            svg.appendChild(line);
            return line;
          };
          const visible = make(null), hit = make("hit");
          hit.dataset.testid = `weight-${l - 1}-${i}-${j}`;
          hit.onclick = () => send({ type: "weight", layer: l - 1, row: i, column: j });
          lines.push(visible);
        }
      }
    }
    state.wires.push(lines);
  }
  for (let l = 0; l < columns; l++) {
    const n = l === 0 && pictures ? 1 : sizes[l];
    const canvases = [];
    for (let j = 0; j < n; j++) {
      const [x, y] = position(l, j);
      const div = document.createElement("div");
      div.className = "neuron";
      div.style.left = `${x}px`; div.style.top = `${y}px`;
      div.style.width = div.style.height = `${size}px`;
      const c = document.createElement("canvas");
      div.appendChild(c);
      if (l > 0) {
        div.dataset.testid = `neuron-${l - 1}-${j}`;
        div.title = `${state.network.names[l - 1]}, neuron ${j + 1}: its output over the plane; click for its bias`;
        div.onclick = () => send({ type: "weight", layer: l - 1, row: -1, column: j });
      } else {
        div.title = pictures ? "the picture" : `input ${state.data.features[j]}`;
      }
      box.appendChild(div);
      canvases.push(c);
    }
    state.neurons.push(canvases);
    const label = document.createElement("div");
    label.className = "layer-label";
    const [x] = position(l, 0);
    label.style.left = `${x}px`; label.style.top = "0px";
    label.textContent = l === 0 ? `${sizes[0]} inputs` : l === columns - 1 ? "output" : `${sizes[l]} neurons`;
    box.appendChild(label);
    if (l > 0 && l < columns - 1) {
      const tools = document.createElement("div");
      tools.className = "layer-tools";
      tools.style.left = `${x}px`; tools.style.top = `${height - 18}px`;
      for (const [text, delta] of [["+", 1], ["\u2212", -1]]) {
        const b = document.createElement("button");
        b.textContent = text;
        b.dataset.testid = `${delta > 0 ? "add" : "remove"}-neuron-${l - 1}`;
        b.onclick = () => changeNeurons(l - 1, delta);
        tools.appendChild(b);
      }
      box.appendChild(tools);
    }
  }
  drawInputs();
}

function changeNeurons(layer, delta) {
  const hidden = state.settings.hidden.slice();
  hidden[layer] += delta;
  if (hidden[layer] < 1) hidden.splice(layer, 1);
  sendSettings({ hidden });
}

function drawInputs() {
  if (state.data.kind !== "points") return;
  const [c1, c2] = state.neurons[0];
  for (const [c, axis] of [[c1, 0], [c2, 1]]) {
    c.width = c.height = 24;
    const g = c.getContext("2d"), img = g.createImageData(24, 24);
    for (let r = 0; r < 24; r++) for (let k = 0; k < 24; k++) {
      const q = axis === 0 ? (k / 23) * 255 : (1 - r / 23) * 255, rgb = PALETTE[Math.round(q)], p = 4 * (r * 24 + k);
      img.data[p] = rgb[0]; img.data[p + 1] = rgb[1]; img.data[p + 2] = rgb[2]; img.data[p + 3] = 255;
    }
    g.putImageData(img, 0, 0);
  }
}

// -- the pictures (digits, Fashion-MNIST) -------------------------------------------------------
function buildPictures(d) {
  const box = $("pictures"), [h, w] = d.shape, all = bytes(d.pictures);
  box.textContent = "";
  state.pictureCanvases = [];
  d.labels.forEach((label, k) => {
    const fig = document.createElement("figure"), c = document.createElement("canvas"), cap = document.createElement("figcaption");
    c.width = w; c.height = h;
    const g = c.getContext("2d"), img = g.createImageData(w, h);
    for (let p = 0; p < w * h; p++) {
      const v = 255 - all[k * w * h + p];
      img.data[4 * p] = img.data[4 * p + 1] = img.data[4 * p + 2] = v; img.data[4 * p + 3] = 255;
    }
    g.putImageData(img, 0, 0);
    fig.dataset.testid = `picture-${k}`;
    fig.onclick = () => send({ type: "explain", set: "test", index: k });
    fig.append(c, cap);
    box.appendChild(fig);
    state.pictureCanvases.push([c, cap]);
  });
}

// -- frames ---------------------------------------------------------------------------------
function onFrame(m) {
  if (m.generation !== state.generation) return;
  const h = m.history;
  if (h) {
    state.history.loss.length = h.start; state.history.val_loss.length = h.start;
    state.history.loss.push(...h.loss); state.history.val_loss.push(...h.val_loss);
  }
  state.initial = m.initial;
  state.frame = m;
  state.running = m.running;
  state.finished = m.finished;
  if (!state.drawPending) {
    state.drawPending = true;
    requestAnimationFrame(draw);
  }
}

function onState(m) {
  if (m.generation !== state.generation) return;
  state.running = m.running;
  state.finished = m.finished;
  updatePlay();
}

function updatePlay() {
  $("play").textContent = state.running ? "Pause" : "Play";
  $("play").dataset.running = state.running ? "true" : "false";
  $("status").textContent = state.finished || (state.running ? "training" : "paused");
}

function draw() {
  state.drawPending = false;
  const m = state.frame;
  if (!m) return;
  $("epoch").textContent = m.epoch;
  $("step-count").textContent = m.step;
  $("train-loss").textContent = fmt(m.loss);
  $("test-loss").textContent = fmt(m.val_loss);
  $("train-loss").dataset.value = String(m.loss);
  $("test-loss").dataset.value = String(m.val_loss);
  const d = m.diagnosis;
  $("diagnosis").textContent = d ? `History.diagnose(): ${d.verdict}. ${d.reason}` +
    (d.block > 1 ? ` (read in blocks of ${d.block} epochs: epoch numbers count blocks)` : "") : "";
  updatePlay();
  if (m.grid) drawView(m.grid);
  if (m.neurons) drawNeurons(m.neurons);
  if (m.first_weights) drawFirstWeights(m.first_weights);
  if (m.predicted) drawPredicted(m.predicted);
  drawWires(m.weights);
  drawLosses();
  window.playground.frames++;
  window.playground.step = m.step;
  if (window.playground.firstFrameAt === null) window.playground.firstFrameAt = performance.now();
}

function drawView(grid) {
  const canvas = $("view"), g = canvas.getContext("2d"), n = grid.size, q = bytes(grid.data);
  const off = state.offscreen || (state.offscreen = document.createElement("canvas"));
  off.width = off.height = n;
  const og = off.getContext("2d"), img = og.createImageData(n, n);
  const conf = grid.confidence ? bytes(grid.confidence) : null;
  for (let p = 0; p < n * n; p++) {
    let rgb;
    if (grid.kind === "classes") {
      const base = CLASS_COLORS[q[p] % CLASS_COLORS.length], a = 0.25 + 0.6 * (conf[p] / 255);
      rgb = [255 + (base[0] - 255) * a, 255 + (base[1] - 255) * a, 255 + (base[2] - 255) * a];
    } else {
      rgb = PALETTE[q[p]];
      rgb = [255 + (rgb[0] - 255) * 0.75, 255 + (rgb[1] - 255) * 0.75, 255 + (rgb[2] - 255) * 0.75];
    }
    img.data[4 * p] = rgb[0]; img.data[4 * p + 1] = rgb[1]; img.data[4 * p + 2] = rgb[2]; img.data[4 * p + 3] = 255;
  }
  og.putImageData(img, 0, 0);
  g.imageSmoothingEnabled = true;
  g.drawImage(off, 0, 0, canvas.width, canvas.height);
  drawPoints(g, canvas);
}

function toCanvas(x1, x2, canvas) {
  const [lo, hi] = state.data.domain;
  return [((x1 - lo) / (hi - lo)) * canvas.width, ((hi - x2) / (hi - lo)) * canvas.height];
}

function pointColor(label) {
  const d = state.data;
  if (d.task === "regression") {
    const [lo, hi] = d.target_range;
    return PALETTE[Math.max(0, Math.min(255, Math.round(((label - lo) / (hi - lo || 1)) * 255)))];
  }
  if (d.classes.length <= 2) return label >= 0.5 ? BLUE : ORANGE;
  return CLASS_COLORS[label % CLASS_COLORS.length];
}

function drawPoints(g, canvas) {
  const d = state.data, showTest = $("show-test").checked;
  const sets = [["train", d.train_points]].concat(showTest ? [["test", d.test_points]] : []);
  for (const [which, points] of sets) {
    for (const [x1, x2, label] of points) {
      const [x, y] = toCanvas(x1, x2, canvas), rgb = pointColor(label);
      g.beginPath();
      g.arc(x, y, 3.2, 0, 2 * Math.PI);
      g.fillStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
      g.fill();
      g.lineWidth = which === "test" ? 1.6 : 0.6;
      g.strokeStyle = which === "test" ? "#000" : "#fff";
      g.stroke();
    }
  }
  if (state.selected) {
    const [x, y] = toCanvas(state.selected[0], state.selected[1], canvas);
    g.beginPath(); g.arc(x, y, 7, 0, 2 * Math.PI); g.lineWidth = 2; g.strokeStyle = "#d00"; g.stroke();
  }
}

function drawNeurons(neurons) {
  const n = neurons.size;
  neurons.layers.forEach((b64, l) => {
    const q = bytes(b64), canvases = state.neurons[l + 1] || [];
    canvases.forEach((c, j) => paintSquare(c, q.subarray(j * n * n, (j + 1) * n * n), n, n));
  });
  // the output neuron shows the boundary itself
  const out = state.neurons[state.neurons.length - 1];
  if (state.frame.grid && out) {
    const q = bytes(state.frame.grid.data), big = state.frame.grid.size, small = 25, sub = new Uint8Array(small * small);
    for (let r = 0; r < small; r++) for (let k = 0; k < small; k++) sub[r * small + k] = q[Math.floor(r * big / small) * big + Math.floor(k * big / small)];
    if (state.frame.grid.kind !== "classes") out.forEach((c) => paintSquare(c, sub, small, small));
  }
}

function paintSquare(canvas, q, w, h) {
  if (canvas.width !== w) { canvas.width = w; canvas.height = h; }
  const g = canvas.getContext("2d"), img = g.createImageData(w, h);
  for (let p = 0; p < w * h; p++) {
    const rgb = PALETTE[q[p]];
    img.data[4 * p] = rgb[0]; img.data[4 * p + 1] = rgb[1]; img.data[4 * p + 2] = rgb[2]; img.data[4 * p + 3] = 255;
  }
  g.putImageData(img, 0, 0);
}

function drawFirstWeights(fw) {
  const [h, w] = state.data.shape, q = bytes(fw.images), canvases = state.neurons[1] || [];
  canvases.forEach((c, j) => paintSquare(c, q.subarray(j * h * w, (j + 1) * h * w), w, h));
  const grid = $("first-weights");
  if (grid.children.length !== canvases.length) {
    grid.textContent = "";
    canvases.forEach((_, j) => {
      const c = document.createElement("canvas");
      c.title = `neuron ${j + 1} of ${state.network.names[0]}: its ${h * w} weights`;
      c.onclick = () => send({ type: "weight", layer: 0, row: -1, column: j });
      grid.appendChild(c);
    });
  }
  Array.from(grid.children).forEach((c, j) => paintSquare(c, q.subarray(j * h * w, (j + 1) * h * w), w, h));
  const pic = state.neurons[0][0];
  if (pic && state.data.pictures) {
    const all = bytes(state.data.pictures), sub = new Uint8Array(h * w);
    for (let p = 0; p < h * w; p++) sub[p] = 255 - Math.round(all[p] / 2);
    paintSquare(pic, sub, w, h);
  }
}

function drawPredicted(predicted) {
  const classes = state.data.classes;
  predicted.forEach((k, i) => {
    const [c, cap] = state.pictureCanvases[i], truth = state.data.labels[i];
    cap.textContent = `${classes[k]}`;
    c.className = k === truth ? "right" : "wrong";
    c.title = `true: ${classes[truth]}, predicted: ${classes[k]}`;
  });
}

function drawWires(weights) {
  weights.forEach((layer, l) => {
    const lines = state.wires[l];
    if (!layer.w || !lines || !lines.length) return;
    let k = 0;
    for (let i = 0; i < layer.w.length; i++) for (let j = 0; j < layer.w[i].length; j++) {
      const w = layer.w[i][j], line = lines[k++];
      if (!line) continue;
      const a = w === null ? 0 : Math.min(Math.abs(w), 4);
      line.setAttribute("stroke", w === null ? "#c00" : w >= 0 ? "#0877bd" : "#f59322");
      line.setAttribute("stroke-width", (0.5 + a * 1.6).toFixed(2));
      line.setAttribute("stroke-opacity", (0.25 + Math.min(a, 1) * 0.7).toFixed(2));
    }
  });
}

function drawLosses() {
  const c = $("losses"), g = c.getContext("2d"), h = state.history, init = state.initial || [];
  g.clearRect(0, 0, c.width, c.height);
  const n = h.loss.length + 1, stride = Math.max(1, Math.ceil(n / 600));
  const at = (series, first, i) => (i === 0 ? first : series[i - 1]);
  const shown = [];  // epoch 0 (before training), then every stride-th epoch and the last
  for (let i = 0; i < n; i += stride) shown.push(i);
  if (shown[shown.length - 1] !== n - 1) shown.push(n - 1);
  const curves = [[h.loss, init[0], "#555"], [h.val_loss, init[1], "#0877bd"]];
  let top = 1e-9;
  for (const [series, first] of curves) for (const i of shown) {
    const v = at(series, first, i);
    if (v !== null && v !== undefined && isFinite(v)) top = Math.max(top, v);
  }
  top *= 1.05;
  for (const [series, first, colour] of curves) {
    g.beginPath();
    let started = false;
    for (const i of shown) {
      const v = at(series, first, i);
      if (v === null || v === undefined || !isFinite(v)) continue;
      const x = 4 + (i / Math.max(n - 1, 1)) * (c.width - 8), y = c.height - 4 - (v / top) * (c.height - 16);
      if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
    }
    g.strokeStyle = colour; g.lineWidth = 1.5; g.stroke();
  }
  g.fillStyle = "#667"; g.font = "10px sans-serif";
  g.fillText(`${fmt(top, 3)}`, 4, 10);
  g.fillText(`epoch ${n - 1}`, c.width - 60, c.height - 6);
}

// -- every number: a clicked point's trace (gn.explain) --------------------------------------------
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function showTrace(t) {
  window.playground.lastTrace = t;
  const box = $("trace");
  box.textContent = "";
  box.appendChild(el("h2", "Every number"));
  box.appendChild(el("p", `${t.set} example ${t.index + 1} at step ${t.step}: x = (${t.x.map((v) => fmt(v)).join(", ")}), ` +
                         `target y = ${t.y.map((v) => fmt(v)).join(", ")}. The numbers of gn.explain (float64).`, "small"));
  if (t.note) box.appendChild(el("p", t.note, "small"));
  box.appendChild(el("h3", "Forward: z = x\u00b7w + b, then the activation"));
  t.layers.forEach((L, l) => {
    const table = el("table");
    table.dataset.testid = `forward-${l}`;
    const head = el("tr");
    head.append(el("th", `${L.name}`), el("th", "z = \u03a3 a\u1d62 w\u1d62\u2c7c + b\u2c7c"), el("th", "z"), el("th", L.fused ? `${L.activation}(z) (in the loss)` : `${L.activation}(z)`));
    table.appendChild(head);
    L.z.forEach((z, j) => {
      const tr = el("tr"), formula = el("td", "", "formula");
      if (L.wide) formula.textContent = `\u03a3 of the inputs \u00d7 their weights + ${paren(L.bias[j])}`;
      else {
        const parts = L.inputs.map((a, i) => `${paren(a)}\u00b7${paren(L.weight[i][j])}`);
        formula.textContent = `${parts.join(" + ")} + ${paren(L.bias[j])}`;
      }
      const zc = el("td"), oc = el("td");
      zc.appendChild(num(z, `z-${l}-${j}`));
      oc.appendChild(num(L.outputs[j], `a-${l}-${j}`));
      tr.append(el("td", `neuron ${j + 1}`), formula, zc, oc);
      table.appendChild(tr);
    });
    box.appendChild(table);
  });
  const lossP = el("p");
  lossP.append(`Loss (${t.loss_name}): prediction ${t.prediction.map((v) => fmt(v)).join(", ")}, target ${t.y.map((v) => fmt(v)).join(", ")}: loss `);
  lossP.appendChild(num(t.data_loss, "trace-loss"));
  if (t.penalty) { lossP.append(" + L1/L2 penalty "); lossP.appendChild(num(t.penalty)); lossP.append(" = "); lossP.appendChild(num(t.loss)); }
  box.appendChild(lossP);
  box.appendChild(el("h3", "Backward: the chain rule, from the loss back"));
  for (let l = t.layers.length - 1; l >= 0; l--) {
    const L = t.layers[l], table = el("table");
    table.dataset.testid = `backward-${l}`;
    const head = el("tr");
    head.append(el("th", L.name), el("th", "dL/dz = dL/da \u00d7 f\u2032(z)"), el("th", "dL/dz"), el("th", "dL/db"));
    table.appendChild(head);
    L.dz.forEach((dz, j) => {
      const tr = el("tr"), f = el("td", "", "formula");
      f.textContent = L.local === null ? (L.fused ? `p \u2212 y (fused ${L.activation} and loss)` : `dL/da = ${fmt(L.d_outputs[j])}`)
                                       : `${paren(L.d_outputs[j])} \u00d7 ${paren(L.local[j])}`;
      const dzc = el("td"), dbc = el("td");
      dzc.appendChild(num(dz, `dz-${l}-${j}`));
      dbc.appendChild(num(L.d_bias[j], `db-${l}-${j}`));
      tr.append(el("td", `neuron ${j + 1}`), f, dzc, dbc);
      table.appendChild(tr);
    });
    box.appendChild(table);
    if (!L.wide) {
      const wt = el("table");
      wt.dataset.testid = `gradients-${l}`;
      const hr = el("tr");
      hr.append(el("th", "weight"), el("th", "dL/dw = a \u00d7 dL/dz"), el("th", "dL/dw"));
      wt.appendChild(hr);
      L.d_weight.forEach((row, i) => row.forEach((g, j) => {
        const tr = el("tr"), c = el("td");
        c.appendChild(num(g, `dw-${l}-${i}-${j}`));
        tr.append(el("td", `w${i + 1},${j + 1}`), el("td", `${paren(L.inputs[i])} \u00d7 ${paren(L.dz[j])}`, "formula"), c);
        wt.appendChild(tr);
      }));
      box.appendChild(wt);
    }
  }
  box.appendChild(el("h3", `The next update: ${t.optimizer}, learning rate ${fmt(t.learning_rate)}, on this example alone`));
  const ut = el("table");
  ut.dataset.testid = "updates";
  const hr = el("tr");
  hr.append(el("th", "parameter"), el("th", "before"), el("th", "gradient"), el("th", "update"), el("th", "after"));
  ut.appendChild(hr);
  for (const [name, u] of Object.entries(t.updates)) {
    const flat = (a) => (Array.isArray(a[0]) ? a.flat() : a);
    const before = flat(u.before), grad = flat(u.gradient), upd = flat(u.update), after = flat(u.after);
    before.forEach((b, k) => {
      const tr = el("tr");
      const cells = [b, grad[k], upd[k], after[k]].map((v, c) => { const td = el("td"); td.appendChild(num(v, c === 3 ? `after-${name}-${k}` : undefined)); return td; });
      tr.append(el("td", `${name}[${k}]`), ...cells);
      ut.appendChild(tr);
    });
  }
  box.appendChild(ut);
  const after = el("p", "", "small");
  after.append("Loss on this example after the update: ");
  after.appendChild(num(t.loss_after, "trace-loss-after"));
  after.append(`; numerical gradient check: ${t.gradcheck}.`);
  box.appendChild(after);
}

function showWeight(m) {
  const box = $("weight-info");
  box.textContent = "";
  box.appendChild(el("h3", m.row === -1 ? `bias of ${m.name.split(".")[0]}, neuron ${m.column + 1}` :
    `weight ${m.name} [${m.row + 1}, ${m.column + 1}]: input ${m.row + 1} to neuron ${m.column + 1}`));
  const p = el("p");
  p.append("value "); p.appendChild(num(m.value, "weight-value"));
  p.append(", gradient of the last step "); p.appendChild(num(m.gradient, "weight-gradient"));
  p.append(` (step ${m.step})`);
  box.appendChild(p);
  const c = el("canvas");
  c.id = "weight-history"; c.width = 320; c.height = 90;
  box.appendChild(c);
  box.appendChild(el("p", `its value at ${m.history.length} recorded steps (0 to ${m.steps[m.steps.length - 1]})`, "small"));
  const g = c.getContext("2d"), vals = m.history.filter((v) => v !== null && isFinite(v));
  if (!vals.length) return;
  const lo = Math.min(...vals), hi = Math.max(...vals), span = hi - lo || 1, last = m.steps[m.steps.length - 1] || 1;
  g.beginPath();
  m.history.forEach((v, k) => {
    const x = 4 + (m.steps[k] / last) * (c.width - 8), y = c.height - 6 - ((v - lo) / span) * (c.height - 12);
    if (k) g.lineTo(x, y); else g.moveTo(x, y);
  });
  g.strokeStyle = "#0877bd"; g.stroke();
}

// -- the controls -----------------------------------------------------------------------------
function settingValue(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.tagName === "SELECT") return input.value;
  const text = input.value.trim(), n = Number(text);
  return text !== "" && isFinite(n) ? n : text;  // the server checks and answers with a message
}

function pick(event) {  // a click on the boundary view: the nearest point within 8 pixels
  const d = state.data;
  if (!d || d.kind !== "points") return;
  const canvas = $("view"), r = canvas.getBoundingClientRect();
  const px = (event.clientX - r.left) * (canvas.width / r.width), py = (event.clientY - r.top) * (canvas.height / r.height);
  let best = null;
  const sets = [["train", d.train_points]].concat($("show-test").checked ? [["test", d.test_points]] : []);
  for (const [which, points] of sets) points.forEach(([x1, x2], k) => {
    const [x, y] = toCanvas(x1, x2, canvas), dist = Math.hypot(x - px, y - py);
    if (dist < 8 && (!best || dist < best[0])) best = [dist, which, k, x1, x2];
  });
  if (!best) return;
  state.selected = [best[3], best[4]];
  send({ type: "explain", set: best[1], index: best[2] });
  if (state.frame && state.frame.grid) drawView(state.frame.grid);
}

async function upload(file) {
  const limit = state.limits ? state.limits.csv_bytes : 5 * 1024 * 1024;  // the server checks it too
  if (file.size > limit) {
    showMessage(`${file.name} has ${file.size.toLocaleString()} bytes; the playground takes CSV files of at most ${limit.toLocaleString()}`);
    return;
  }
  showMessage("");
  try {
    const response = await fetch(`/api/${state.session}/csv`, { method: "POST", body: file, headers: { "Content-Type": "text/csv" } });
    const answer = await response.json();
    if (!response.ok) { showMessage(answer.error || `upload failed (${response.status})`); return; }
    if (!answer.choice) { showMessage("the table needs at least two numeric columns to draw"); fillColumns(answer, {}); return; }
    fillColumns(answer, answer.choice);
    useColumns();
  } catch (error) {
    showMessage(`the upload failed: ${error}`);
  }
}

async function download(kind) {
  showMessage("");
  try {
    const response = await fetch(`/api/${state.session}/download/${kind}`);
    if (!response.ok) {
      const answer = await response.json().catch(() => ({}));
      showMessage(answer.error || `the download failed (${response.status})`);
      return;
    }
    const name = (response.headers.get("Content-Disposition") || "").split('filename="')[1] || "playground_model";
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url; a.download = name.replace('"', "");
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    showMessage(`the download failed: ${error}`);
  }
}

function init() {
  $("play").onclick = () => { showMessage(""); send({ type: state.running ? "pause" : "play" }); };
  $("step").onclick = () => { showMessage(""); send({ type: "step" }); };
  $("reset").onclick = () => { showMessage(""); send({ type: "reset" }); };
  $("add-layer").onclick = () => {
    const hidden = state.settings.hidden.concat([state.settings.hidden.length ? state.settings.hidden[state.settings.hidden.length - 1] : 4]);
    sendSettings({ hidden });
  };
  $("remove-layer").onclick = () => sendSettings({ hidden: state.settings.hidden.slice(0, -1) });
  for (const input of document.querySelectorAll("[data-setting]")) {
    input.addEventListener("change", () => sendSettings({ [input.dataset.setting]: settingValue(input) }));
  }
  $("noise").addEventListener("input", () => { $("noise-value").textContent = $("noise").value; });
  $("train_fraction").addEventListener("input", () => { $("train_fraction-value").textContent = $("train_fraction").value; });
  $("csv-use").onclick = useColumns;
  $("csv-file").addEventListener("change", () => { const f = $("csv-file").files[0]; if (f) upload(f); $("csv-file").value = ""; });
  $("view").addEventListener("click", pick);
  $("show-test").addEventListener("change", () => state.frame && state.frame.grid && drawView(state.frame.grid));
  $("download-model").onclick = () => download("model");
  $("download-onnx").onclick = () => download("onnx");
  $("download-script").onclick = () => download("script");
  connect();
}

init();
