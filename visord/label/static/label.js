// The label page's script: shows one page of unlabelled crops from the JSON API (most uncertain
// first) and turns each key press or click into one API call. The server holds all the state;
// after each action the page reads the current page and the counts again.
"use strict";

const PAGE_SIZE = 48;
const state = { offset: 0, total: 0, items: [], classes: [], selected: 0, busy: false };
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

async function load() {
  const [page, classes] = await Promise.all([
    api("GET", `/api/items?offset=${state.offset}&limit=${PAGE_SIZE}`),
    api("GET", "/api/classes"),
  ]);
  if (page.items.length === 0 && state.offset > 0 && page.total > 0) {
    state.offset = Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE; // the last page shrank
    return load();
  }
  state.total = page.total;
  state.items = page.items;
  state.classes = classes.classes;
  state.selected = Math.max(0, Math.min(state.selected, state.items.length - 1));
  $("dataset").textContent = classes.dataset;
  renderClasses(classes.unlabelled);
  renderGrid();
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
  const suggestion = state.items[state.selected]?.suggestion;
  for (const item of state.classes) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.class = item.name;
    button.title = `label the selected crop as ${item.name}`;
    if (item.key) {
      const key = document.createElement("kbd");
      key.textContent = item.key;
      button.append(key, " ");
    }
    const count = document.createElement("span");
    count.className = "n";
    count.textContent = ` ${item.count}`;
    button.append(item.name, count);
    button.classList.toggle("suggested", item.name === suggestion);
    button.addEventListener("click", () => {
      button.blur(); // so that Enter and Space go to the page's keys, not to this button
      label(item.name);
    });
    box.append(button);
  }
}

function renderGrid() {
  const grid = $("grid");
  grid.replaceChildren();
  state.items.forEach((item, index) => {
    const figure = document.createElement("figure");
    figure.className = "crop";
    figure.dataset.name = item.name;
    figure.classList.toggle("skipped", item.skipped);
    const image = document.createElement("img");
    image.src = item.url;
    image.alt = item.name;
    image.width = item.width;
    image.height = item.height;
    const caption = document.createElement("figcaption");
    const suggestion = document.createElement("div");
    suggestion.className = "suggestion";
    suggestion.textContent = item.suggestion ? `${item.suggestion}?` : "no suggestion";
    const key = item.suggestion ? classKey(item.suggestion) : null;
    if (key) {
      const hint = document.createElement("kbd");
      hint.textContent = key;
      suggestion.append(" ", hint);
    }
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
    figure.addEventListener("click", () => select(index));
    grid.append(figure);
  });
  $("empty").hidden = state.items.length > 0;
  const first = state.items.length ? state.offset + 1 : 0;
  $("position").textContent = `${first}–${state.offset + state.items.length} of ${state.total}`;
  $("previous").disabled = state.offset === 0;
  $("next").disabled = state.offset + PAGE_SIZE >= state.total;
  select(state.selected);
}

function select(index) {
  const tiles = $("grid").children;
  if (tiles.length === 0) return;
  state.selected = Math.max(0, Math.min(index, tiles.length - 1));
  for (const tile of tiles) tile.classList.remove("selected");
  const tile = tiles[state.selected];
  tile.classList.add("selected");
  tile.scrollIntoView({ block: "nearest" });
  const suggestion = state.items[state.selected].suggestion;
  for (const button of $("classes").querySelectorAll("button")) {
    button.classList.toggle("suggested", button.dataset.class === suggestion);
  }
}

function columns() {
  const tiles = [...$("grid").children];
  if (tiles.length === 0) return 1;
  return Math.max(1, tiles.filter((tile) => tile.offsetTop === tiles[0].offsetTop).length);
}

// One action at a time: a key pressed while the last one is on its way is dropped, so that it
// can never apply to a crop the page no longer shows.
async function act(path, body, describe, after) {
  if (state.busy) return;
  state.busy = true;
  try {
    const result = await api("POST", path, body);
    await load();
    if (after) after(result);
    show(describe(result));
  } catch (error) {
    show(error.message, true);
  } finally {
    state.busy = false;
  }
}

function selectedItem() {
  const item = state.items[state.selected];
  if (!item) show("nothing selected", true);
  return item;
}

function label(className) {
  const item = selectedItem();
  if (!item) return;
  act("/api/label", { name: item.name, class: className }, () => `${item.name} → ${className}`);
}

function skip() {
  const item = selectedItem();
  if (item) act("/api/skip", { name: item.name }, () => `skipped ${item.name} (moved to the end)`);
}

function remove() {
  const item = selectedItem();
  if (item) act("/api/delete", { name: item.name }, () => `deleted ${item.name} (u undoes)`);
}

function undo() {
  act("/api/undo", {}, (result) => {
    const undone = result.undone;
    return `undid ${undone.action} of ${undone.name || undone.class}`;
  }, (result) => {
    const index = state.items.findIndex((item) => item.name === result.undone.name);
    if (index >= 0) select(index);
  });
}

function turnPage(step) {
  const offset = state.offset + step * PAGE_SIZE;
  if (offset < 0 || offset >= state.total) return;
  state.offset = offset;
  state.selected = 0;
  load().catch((error) => show(error.message, true));
}

$("add-class").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("new-class");
  const name = input.value.trim();
  if (!name) return;
  act("/api/classes", { name }, () => `added class ${name}`, () => {
    input.value = "";
    input.blur();
  });
});
$("previous").addEventListener("click", () => turnPage(-1));
$("next").addEventListener("click", () => turnPage(1));

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select")) return; // typing a class name
  const key = event.key;
  if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") {
    undo();
  } else if (event.ctrlKey || event.metaKey || event.altKey) {
    return;
  } else if (/^[1-9]$/.test(key)) {
    const item = state.classes[Number(key) - 1];
    if (!item) return show(`no class on key ${key}`, true);
    label(item.name);
  } else if (key === "Enter") {
    const suggestion = selectedItem()?.suggestion;
    if (!state.classes.some((item) => item.name === suggestion)) {
      return show("no suggestion to accept: label with a key or a click", true);
    }
    label(suggestion);
  } else if (key === "s") {
    skip();
  } else if (key === "x" || key === "Delete") {
    remove();
  } else if (key === "u") {
    undo();
  } else if (key === "ArrowRight") {
    select(state.selected + 1);
  } else if (key === "ArrowLeft") {
    select(state.selected - 1);
  } else if (key === "ArrowDown") {
    select(state.selected + columns());
  } else if (key === "ArrowUp") {
    select(state.selected - columns());
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
