// The label page's script: shows one page of unlabelled crops from the JSON API (most uncertain
// first), look-alike crops of a stream as one stack with a count, and turns each key press or
// click into one API call: a key labels every crop of the selection (a stack counts as all its
// crops) as one action, which one undo takes back. "accept" labels every crop of the page (or of
// the selection) whose suggestion scores at least S with its suggestion, beside what share of
// such answers the model got right on its validation images; the mistakes view shows the images
// it got wrong, to move to another class or delete. The server holds all the state; after each
// action the page reads the current page and the counts again.
"use strict";

const PAGE_SIZE = 48;
const state = {
  offset: 0,
  total: 0,
  crops: 0,
  stacks: [], // this page's stacks, from /api/stacks
  tiles: [], // what the grid shows: {items, stack, kind: "crop" | "stack" | "member"}
  classes: [],
  open: new Set(), // stacks shown crop by crop (their cover's name)
  selection: new Set(), // tile indices
  cursor: 0, // the tile the arrow keys move and shift-click extends from
  anchor: 0,
  busy: false,
  mode: "crops", // or "mistakes": the model's mistakes on its validation images
  model: null, // /api/model: the run and model given to visord label, and the curve
  review: null, // /api/mistakes, in the mistakes view
};
const ORDER_NAMES = { uncertain: "most uncertain first", change: "least change first",
  stream: "by region" };
const $ = (id) => document.getElementById(id);

// The token came in the address (?token=...); the server set it as a cookie with the page, so
// it can leave the address bar (and the browser history).
if (new URLSearchParams(location.search).has("token")) {
  history.replaceState(null, "", location.pathname);
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function show(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

// The stack threshold: a share of a thumbnail's pixels, shown and typed in percent; kept in
// the browser between visits.
function threshold() {
  const text = $("threshold").value.trim();
  const value = text === "" ? NaN : Number(text);
  return Number.isFinite(value) ? Math.min(100, Math.max(0, value)) / 100 : 0.005;
}

async function load(keep) {
  if (state.mode === "mistakes") return loadMistakes(keep);
  const [page, classes] = await Promise.all([
    api("GET", `/api/stacks?offset=${state.offset}&limit=${PAGE_SIZE}` +
      `&threshold=${threshold()}&order=${encodeURIComponent($("order").value)}`),
    api("GET", "/api/classes"),
  ]);
  if (page.stacks.length === 0 && state.offset > 0 && page.total > 0) {
    state.offset = Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE; // the last page shrank
    return load(keep);
  }
  state.total = page.total;
  state.crops = page.crops;
  state.stacks = page.stacks;
  state.classes = classes.classes;
  $("order").querySelector("option[value=auto]").textContent =
    `automatic (${ORDER_NAMES[page.order] || page.order})`;
  $("dataset").textContent = classes.dataset;
  renderClasses(classes.unlabelled);
  renderGrid(keep);
}

async function loadMistakes(keep) {
  const [review, classes] = await Promise.all([
    api("GET", "/api/mistakes"),
    api("GET", "/api/classes"),
  ]);
  state.review = review;
  state.stacks = [];
  state.classes = classes.classes;
  renderClasses(classes.unlabelled);
  renderReview(review);
  renderGrid(keep);
}

const percent = (share) => `${(share * 100).toFixed(1)}%`;

// The confusion matrix of the run (rows: the class, columns: the model's answer) and a line on
// where the mistakes are now.
function renderReview(review) {
  const shown = review.mistakes.filter((item) => item.now);
  const fixed = shown.filter((item) => item.class === item.answer).length;
  const gone = review.mistakes.length - shown.length;
  $("review-summary").textContent =
    `run ${review.run}: ${review.images} validation images, ${percent(review.accuracy)} right; ` +
    `${review.wrong} wrong` +
    (review.wrong > review.mistakes.length ? ` (the ${review.mistakes.length} surest shown)` : "") +
    (fixed ? `, ${fixed} moved to the model's answer since` : "") +
    (gone ? `, ${gone} deleted or not in this data set` : "");
  const table = $("confusion");
  table.replaceChildren();
  const head = table.insertRow();
  head.append(Object.assign(document.createElement("th"), { textContent: "class \\ answer" }));
  for (const name of review.classes) {
    head.append(Object.assign(document.createElement("th"), { textContent: name }));
  }
  review.confusion.forEach((row, i) => {
    const line = table.insertRow();
    line.append(Object.assign(document.createElement("th"), { textContent: review.classes[i] }));
    row.forEach((count, j) => {
      const cell = line.insertCell();
      cell.textContent = count;
      cell.className = i === j ? "right" : count ? "wrong" : "";
    });
  });
}

function classKey(name) {
  const found = state.classes.find((item) => item.name === name);
  return found ? found.key : null;
}

function renderClasses(unlabelled) {
  $("unlabelled").textContent = `${unlabelled} unlabelled`;
  const box = $("classes");
  box.replaceChildren();
  if (state.classes.length === 0) {
    box.textContent = "No classes yet: add one (top right).";
  }
  for (const item of state.classes) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.class = item.name;
    button.title = `label the selected crops as ${item.name}`;
    if (item.key) {
      const key = document.createElement("kbd");
      key.textContent = item.key;
      button.append(key, " ");
    }
    const count = document.createElement("span");
    count.className = "n";
    count.textContent = ` ${item.count}`;
    button.append(item.name, count);
    button.addEventListener("click", () => {
      button.blur(); // so that Enter and Space go to the page's keys, not to this button
      label(item.name);
    });
    box.append(button);
  }
}

// The grid's tiles: a stack of one is a crop; a closed stack one tile; an open one its crops.
function layout() {
  if (state.mode === "mistakes") {
    return state.review.mistakes.filter((item) => item.now).map((item) => ({
      items: [{ ...item, name: item.now.split("/").pop().replace(/\.[^.]*$/, "") }],
      stack: null,
      kind: "mistake",
    }));
  }
  const tiles = [];
  for (const stack of state.stacks) {
    if (stack.count === 1) {
      tiles.push({ items: stack.items, stack, kind: "crop" });
    } else if (state.open.has(stack.id)) {
      stack.items.forEach((item) => tiles.push({ items: [item], stack, kind: "member" }));
    } else {
      tiles.push({ items: stack.items, stack, kind: "stack" });
    }
  }
  return tiles;
}

// A mistake: the image, its class now (its label when validated, if it moved since) and the
// model's answer with its score.
function mistakeFigure(tile, index) {
  const item = tile.items[0];
  const figure = document.createElement("figure");
  figure.className = "crop mistake";
  figure.classList.toggle("fixed", item.class === item.answer);
  figure.dataset.name = item.name;
  figure.dataset.path = item.now;
  figure.dataset.index = index;
  figure.dataset.count = 1;
  const image = document.createElement("img");
  image.src = item.url;
  image.alt = item.now;
  image.draggable = false;
  const caption = document.createElement("figcaption");
  const labelled = document.createElement("div");
  labelled.className = "suggestion";
  labelled.textContent = item.class === item.label ? item.label : `${item.class} (was ${item.label})`;
  const answer = document.createElement("div");
  answer.className = "answer";
  answer.textContent = `model: ${item.answer} ${item.score.toFixed(2)}`;
  appendKeyHint(answer, item.answer);
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = item.now;
  caption.append(labelled, answer, meta);
  figure.append(image, caption);
  return figure;
}

// The key that labels a crop as `label`, after `element` (nothing when the label has no key).
function appendKeyHint(element, label) {
  const key = label ? classKey(label) : null;
  if (!key) return;
  const hint = document.createElement("kbd");
  hint.textContent = key;
  element.append(" ", hint);
}

function tileFigure(tile, index) {
  if (tile.kind === "mistake") return mistakeFigure(tile, index);
  const item = tile.items[0];
  const figure = document.createElement("figure");
  figure.className = `crop ${tile.kind}`;
  figure.dataset.name = item.name;
  figure.dataset.index = index;
  figure.dataset.count = tile.items.length;
  figure.classList.toggle("skipped", tile.items.every((crop) => crop.skipped));
  const image = document.createElement("img");
  image.src = item.url;
  image.alt = item.name;
  image.width = item.width;
  image.height = item.height;
  image.draggable = false;
  const caption = document.createElement("figcaption");
  const suggestion = document.createElement("div");
  suggestion.className = "suggestion";
  suggestion.textContent = item.suggestion ? `${item.suggestion}?` : "no suggestion";
  appendKeyHint(suggestion, item.suggestion);
  const why = document.createElement("div");
  why.className = "meta";
  why.textContent = `${item.reason}, ${Math.round(item.uncertainty * 100)}% uncertain`;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${item.stream} ${item.time.slice(5, 10)} ${item.time.slice(11, 19)}`;
  meta.title = item.time;
  // The models' answers on hover: what the suggestion and the uncertainty come from.
  why.title = item.answers.map((a) => `${a.model}: ${a.label} ${a.score.toFixed(2)}`).join("\n");
  caption.append(suggestion, why, meta);
  figure.append(image, caption);
  if (tile.kind !== "crop") {
    // A stack's count, which opens it; an open stack's crops each say which stack to close.
    const badge = document.createElement("button");
    badge.type = "button";
    badge.className = "badge";
    const open = tile.kind === "member";
    badge.textContent = open ? `${tile.stack.count} ▴` : `×${tile.stack.count}`;
    badge.title = open ? "close this stack (o)" : "open this stack to pick crops out of it (o)";
    badge.addEventListener("click", (event) => {
      event.stopPropagation();
      toggleStack(tile.stack.id);
    });
    figure.append(badge);
  }
  return figure;
}

function renderGrid(keep) {
  const grid = $("grid");
  const open = new Set(state.stacks.map((stack) => stack.id));
  state.open = new Set([...state.open].filter((id) => open.has(id)));
  state.tiles = layout();
  grid.replaceChildren(...state.tiles.map(tileFigure));
  $("empty").hidden = state.tiles.length > 0;
  const mistakes = state.mode === "mistakes";
  $("empty").textContent = mistakes ? "No mistakes left to show." : "Nothing left to label.";
  $("review").hidden = !mistakes;
  const first = state.stacks.length ? state.offset + 1 : 0;
  $("position").textContent = `${first}–${state.offset + state.stacks.length} of ${state.total}`;
  $("stacked").textContent =
    state.total === state.crops ? "" : `${state.crops} crops in ${state.total} tiles`;
  $("previous").disabled = state.offset === 0;
  $("next").disabled = state.offset + PAGE_SIZE >= state.total;
  if (mistakes) {
    $("position").textContent = `${state.tiles.length} mistakes`;
    $("stacked").textContent = "";
    $("previous").disabled = $("next").disabled = true;
  }
  // After an action: the crops it names selected again when they are back (an undo), else the
  // tile where the cursor was.
  const wanted = keep ? state.tiles.flatMap((tile, index) =>
    tile.items.some((item) => keep.has(item.name)) ? [index] : []) : [];
  if (wanted.length) {
    setSelection(wanted, wanted[0]);
  } else {
    select(state.cursor);
  }
}

function setSelection(indices, cursor) {
  const count = state.tiles.length;
  if (count === 0) {
    state.selection = new Set();
    return;
  }
  state.cursor = Math.max(0, Math.min(cursor, count - 1));
  state.selection = new Set(indices.filter((index) => index >= 0 && index < count));
  if (state.selection.size === 0) state.selection.add(state.cursor);
  paint();
}

function paint() {
  const figures = $("grid").children;
  for (const figure of figures) {
    const index = Number(figure.dataset.index);
    figure.classList.toggle("selected", state.selection.has(index));
    figure.classList.toggle("cursor", index === state.cursor);
  }
  figures[state.cursor]?.scrollIntoView({ block: "nearest" });
  const names = selectedNames();
  const suggestions = new Set(selectedItems().map((item) => item.suggestion));
  const suggestion = suggestions.size === 1 ? [...suggestions][0] : null;
  for (const button of $("classes").querySelectorAll("button")) {
    button.classList.toggle("suggested", button.dataset.class === suggestion);
  }
  const tiles = state.selection.size;
  $("selection").textContent =
    names.length > 1 ? `${names.length} crops selected (${tiles} tiles)` : "";
  renderAccept();
}

// Accept: the threshold S (kept in the browser), the crops it takes (the selection when it
// holds more than one crop, else the page), and what the model's record says of such answers.
function acceptThreshold() {
  const value = Number($("accept-threshold").value);
  return Number.isFinite(value) && value > 0 ? Math.min(1, value) : 0.9;
}

function acceptable() {
  const inSelection = selectedNames().length > 1;
  // The page's skipped crops were left out on purpose: only a selection takes them.
  const items = inSelection ? selectedItems()
    : state.tiles.flatMap((tile) => tile.items).filter((item) => !item.skipped);
  const threshold = acceptThreshold();
  const above = items.filter((item) => item.answers && item.answers.length &&
    item.answers[item.answers.length - 1].score >= threshold);
  const known = new Set(state.classes.map((item) => item.name));
  return {
    scope: inSelection ? "in the selection" : "on this page",
    threshold,
    items: above.filter((item) => known.has(item.suggestion)),
    strangers: [...new Set(above.filter((item) => !known.has(item.suggestion))
      .map((item) => item.suggestion))],
  };
}

function renderAccept() {
  const mistakes = state.mode === "mistakes";
  $("accepting").hidden = $("accept").hidden = $("curve").hidden = mistakes;
  if (mistakes) return;
  const { scope, threshold, items, strangers } = acceptable();
  const button = $("accept");
  button.textContent = `accept ${items.length} ${scope}`;
  button.disabled = items.length === 0;
  const parts = [];
  const curve = state.model && state.model.curve;
  if (curve) {
    const point = curve[Math.min(100, Math.floor(threshold * 100 + 1e-6))];
    parts.push(point.images
      ? `the model is right on ${percent(point.right)} of its ${point.images} validation ` +
        `images (${percent(point.share)}) scoring at least ${point.threshold.toFixed(2)}`
      : `none of its validation images scores at least ${point.threshold.toFixed(2)}`);
    if (!state.model.calibrated) parts.push("scores not calibrated (no --model)");
  } else {
    parts.push("not measured: visord label --run RUN shows how often the model is right here");
  }
  if (items.length) {
    const mean = items.reduce((sum, item) =>
      sum + item.answers[item.answers.length - 1].score, 0) / items.length;
    parts.push(`these ${items.length} score ${percent(mean)} on average`);
  }
  if (strangers.length) parts.push(`left out: suggestions that are no class here (${strangers.join(", ")})`);
  $("curve").textContent = parts.join("; ");
}

function accept() {
  const { threshold, items } = acceptable();
  if (items.length === 0) return show(`no suggestion here scores at least ${threshold}`, true);
  const counts = {};
  for (const item of items) counts[item.suggestion] = (counts[item.suggestion] || 0) + 1;
  const summary = Object.entries(counts).sort().map(([name, count]) => `${count} ${name}`).join(", ");
  act("/api/accept", { names: items.map((item) => item.name), threshold },
    () => `accepted ${items.length} suggestions scoring at least ${threshold}: ${summary} ` +
      "(u undoes)");
}

// Selecting: a click one tile, shift-click the range from the last click, ctrl-click adds or
// takes one out, a drag the tiles it covers, `a` the page.
function select(index) {
  setSelection([Math.max(0, Math.min(index, state.tiles.length - 1))], index);
  state.anchor = state.cursor;
}

function range(from, to) {
  const [low, high] = from < to ? [from, to] : [to, from];
  return Array.from({ length: high - low + 1 }, (_, step) => low + step);
}

function clickTile(index, event) {
  if (event.shiftKey) {
    const base = event.ctrlKey || event.metaKey ? [...state.selection] : [];
    setSelection([...base, ...range(state.anchor, index)], index);
  } else if (event.ctrlKey || event.metaKey) {
    const chosen = new Set(state.selection);
    if (chosen.has(index) && chosen.size > 1) chosen.delete(index);
    else chosen.add(index);
    setSelection([...chosen], index);
    state.anchor = index;
  } else {
    select(index);
  }
}

function selectPage() {
  setSelection(range(0, state.tiles.length - 1), state.cursor);
}

function selectedItems() {
  return [...state.selection].sort((a, b) => a - b).flatMap((index) => state.tiles[index].items);
}

function selectedNames() {
  return selectedItems().map((item) => item.name);
}

function toggleStack(id) {
  if (state.open.has(id)) state.open.delete(id);
  else state.open.add(id);
  const at = state.tiles.findIndex((tile) => tile.stack.id === id);
  renderGrid();
  select(at);
}

function columns() {
  const tiles = [...$("grid").children];
  if (tiles.length === 0) return 1;
  return Math.max(1, tiles.filter((tile) => tile.offsetTop === tiles[0].offsetTop).length);
}

// One action at a time: a key pressed while the last one is on its way is dropped, so that it
// can never apply to a crop the page no longer shows.
async function act(path, body, describe, keep) {
  if (state.busy) return;
  state.busy = true;
  try {
    const result = await api("POST", path, body);
    await load(keep ? keep(result) : undefined);
    show(describe(result));
  } catch (error) {
    show(error.message, true);
  } finally {
    state.busy = false;
  }
}

function chosen() {
  const names = selectedNames();
  if (names.length === 0) show("nothing selected", true);
  return names;
}

// One crop goes to /api/label (skip, delete); a selection of more to /api/bulk: one action.
function apply(action, names, className, describe) {
  if (names.length === 1) {
    const body = { name: names[0] };
    if (className) body.class = className;
    return act(`/api/${action}`, body, describe);
  }
  act("/api/bulk", { action, names, class: className }, describe);
}

// In the mistakes view: the selected images moved to another class (null: to the trash).
function relabel(className) {
  const items = selectedItems();
  if (items.length === 0) return show("nothing selected", true);
  const what = items.length === 1 ? items[0].now : `${items.length} images`;
  act("/api/relabel", { paths: items.map((item) => item.now), class: className },
    () => `${what} → ${className || "trash (u undoes)"}`);
}

function label(className) {
  if (state.mode === "mistakes") return relabel(className);
  const names = chosen();
  if (names.length === 0) return;
  const what = names.length === 1 ? names[0] : `${names.length} crops`;
  apply("label", names, className, () => `${what} → ${className}`);
}

function skip() {
  if (state.mode === "mistakes") return show("nothing to skip here: move or delete", true);
  const names = chosen();
  if (names.length === 0) return;
  const what = names.length === 1 ? names[0] : `${names.length} crops`;
  apply("skip", names, null, () => `skipped ${what} (moved to the end)`);
}

function remove() {
  if (state.mode === "mistakes") return relabel(null);
  const names = chosen();
  if (names.length === 0) return;
  const what = names.length === 1 ? names[0] : `${names.length} crops`;
  apply("delete", names, null, () => `deleted ${what} (u undoes)`);
}

function undo() {
  act("/api/undo", {}, (result) => {
    const undone = result.undone;
    if (undone.crops) return `undid ${undone.action} of ${undone.count} crops`;
    return `undid ${undone.action} of ${undone.name || undone.class}`;
  }, (result) => {
    const undone = result.undone;
    return new Set(undone.crops ? undone.crops.map((crop) => crop.name) : [undone.name]);
  });
}

function turnPage(step) {
  const offset = state.offset + step * PAGE_SIZE;
  if (offset < 0 || offset >= state.total) return;
  state.offset = offset;
  state.cursor = 0;
  load().catch((error) => show(error.message, true));
}

// A drag over the grid selects the tiles its rectangle touches (with ctrl, adds them).
const drag = { start: null, moved: false, base: [] };
$("grid").addEventListener("mousedown", (event) => {
  if (event.button !== 0 || event.target.closest(".badge")) return;
  event.preventDefault(); // no text selection, no image drag
  if (document.activeElement?.closest("input, select")) document.activeElement.blur();
  drag.start = { x: event.clientX, y: event.clientY };
  drag.moved = false;
  drag.base = event.ctrlKey || event.metaKey ? [...state.selection] : [];
});
document.addEventListener("mousemove", (event) => {
  if (!drag.start) return;
  const left = Math.min(drag.start.x, event.clientX);
  const top = Math.min(drag.start.y, event.clientY);
  const right = Math.max(drag.start.x, event.clientX);
  const bottom = Math.max(drag.start.y, event.clientY);
  if (!drag.moved && right - left < 6 && bottom - top < 6) return;
  drag.moved = true;
  const band = $("band");
  band.hidden = false;
  Object.assign(band.style, {
    left: `${left}px`, top: `${top}px`, width: `${right - left}px`, height: `${bottom - top}px`,
  });
  const touched = [];
  for (const figure of $("grid").children) {
    const box = figure.getBoundingClientRect();
    if (box.left < right && box.right > left && box.top < bottom && box.bottom > top) {
      touched.push(Number(figure.dataset.index));
    }
  }
  if (touched.length) setSelection([...drag.base, ...touched], touched[touched.length - 1]);
});
document.addEventListener("mouseup", (event) => {
  if (!drag.start) return;
  const moved = drag.moved;
  drag.start = null;
  $("band").hidden = true;
  if (moved) return;
  const figure = event.target.closest("#grid figure.crop");
  if (figure) clickTile(Number(figure.dataset.index), event);
});

$("add-class").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("new-class");
  const name = input.value.trim();
  if (!name) return;
  act("/api/classes", { name }, () => {
    input.value = "";
    input.blur();
    return `added class ${name}`;
  });
});
// The stack threshold and the order: page controls, kept in the browser between visits.
for (const [id, fallback] of [["threshold", "0.5"], ["order", "auto"]]) {
  const control = $(id);
  control.value = localStorage.getItem(`visord-label-${id}`) ?? fallback;
  if (!control.value) control.value = fallback; // a stored order the page no longer has
  control.addEventListener("change", () => {
    localStorage.setItem(`visord-label-${id}`, control.value);
    control.blur(); // the page's keys work again at once
    state.offset = 0;
    state.cursor = 0;
    state.open.clear();
    load().catch((error) => show(error.message, true));
  });
}
$("accept-threshold").value = localStorage.getItem("visord-label-accept") ?? "0.9";
$("accept-threshold").addEventListener("input", renderAccept);
$("accept-threshold").addEventListener("change", () => {
  localStorage.setItem("visord-label-accept", $("accept-threshold").value);
  renderAccept();
});
$("accept").addEventListener("click", () => {
  $("accept").blur();
  accept();
});
$("mistakes-toggle").addEventListener("click", () => {
  $("mistakes-toggle").blur();
  switchMode(state.mode === "mistakes" ? "crops" : "mistakes");
});

function switchMode(mode) {
  state.mode = mode;
  state.offset = 0;
  state.cursor = 0;
  state.open.clear();
  const toggle = $("mistakes-toggle");
  toggle.classList.toggle("on", mode === "mistakes");
  toggle.textContent = mode === "mistakes" ? "back to the crops"
    : `the model's mistakes (${state.model.mistakes})`;
  load().catch((error) => show(error.message, true));
}

async function loadModel() {
  state.model = await api("GET", "/api/model");
  const toggle = $("mistakes-toggle");
  toggle.hidden = state.model.images === null;
  toggle.textContent = `the model's mistakes (${state.model.mistakes})`;
  renderAccept();
}

$("previous").addEventListener("click", () => turnPage(-1));
$("next").addEventListener("click", () => turnPage(1));

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select")) {
    if (event.key === "Enter" && event.target.id === "threshold") event.target.blur();
    return; // typing a class name or a threshold
  }
  const key = event.key;
  const move = (to) => {
    if (event.shiftKey) {
      setSelection(range(state.anchor, to), to);
    } else {
      select(to);
    }
  };
  if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") {
    undo();
  } else if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "a") {
    selectPage();
  } else if (event.ctrlKey || event.metaKey || event.altKey) {
    return;
  } else if (/^[1-9]$/.test(key)) {
    const item = state.classes[Number(key) - 1];
    if (!item) return show(`no class on key ${key}`, true);
    label(item.name);
  } else if (key === "Enter" && state.mode === "mistakes") {
    const answers = new Set(selectedItems().map((item) => item.answer));
    if (answers.size !== 1) return show("the selection has no one answer of the model", true);
    label([...answers][0]);
  } else if (key === "Enter") {
    const suggestions = new Set(selectedItems().map((item) => item.suggestion));
    const suggestion = suggestions.size === 1 ? [...suggestions][0] : null;
    if (!state.classes.some((item) => item.name === suggestion)) {
      return show("no one suggestion to accept: label with a key or a click", true);
    }
    label(suggestion);
  } else if (key === "s") {
    skip();
  } else if (key === "x" || key === "Delete") {
    remove();
  } else if (key === "u") {
    undo();
  } else if (key === "a") {
    selectPage();
  } else if (key === "Escape") {
    select(state.cursor);
  } else if (key === "o") {
    const tile = state.tiles[state.cursor];
    if (tile && (tile.kind === "stack" || tile.kind === "member")) toggleStack(tile.stack.id);
  } else if (key === "ArrowRight") {
    move(state.cursor + 1);
  } else if (key === "ArrowLeft") {
    move(state.cursor - 1);
  } else if (key === "ArrowDown") {
    move(state.cursor + columns());
  } else if (key === "ArrowUp") {
    move(state.cursor - columns());
  } else if (key === "PageDown") {
    turnPage(1);
  } else if (key === "PageUp") {
    turnPage(-1);
  } else {
    return;
  }
  event.preventDefault();
});

load().catch((error) => show(error.message, true));
loadModel().catch((error) => show(error.message, true));
