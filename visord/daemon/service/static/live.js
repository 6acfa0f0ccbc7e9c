// The live page: polls /api/status every second (a tile per stream), each camera's latest frame
// about once a second (the next request only when the last one is done; one request a camera,
// shown in the tiles of all its regions, which draw their own region on it), and /api/events
// every two seconds (the newest first, each with its snapshot). No framework, no build step.
"use strict";

const STATUS_EVERY = 1000;
const FRAME_EVERY = 1000;
const EVENTS_EVERY = 2000;
const EVENTS_SHOWN = 20;
const TILE_WIDTH = 384; // pixels of a tile's frame: a tile is 300 to 600 px wide

const tiles = new Map(); // stream name -> {element, parts, name, camera}
const cameras = new Map(); // camera name -> {requested, url}: its frame loop, while it has tiles
let shownEvents = "";

function $(selector, root = document) {
  return root.querySelector(selector);
}

function percent(fraction) {
  return `${(fraction * 100).toFixed(2)}%`;
}

function fps(value) {
  if (value === null || value === undefined) return "–";
  return value >= 10 ? value.toFixed(0) : value.toFixed(1);
}

function clock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour12: false });
}

// -- the streams

function makeTile(name) {
  const element = $("#tile-template").content.firstElementChild.cloneNode(true);
  element.dataset.stream = name;
  const parts = {
    frame: $(".frame", element),
    img: $("img.latest", element),
    roi: $(".roi", element),
    tag: $(".tag", element),
    name: $(".name", element),
    camera: $(".camera", element),
    state: $(".state", element),
    answer: $(".answer", element),
    route: $(".route", element),
    rate: $(".rate", element),
    cause: $(".cause", element),
  };
  parts.name.textContent = name;
  parts.img.alt = `latest frame of ${name}`;
  const tile = { element, parts, name, camera: null };
  parts.img.addEventListener("load", () => parts.frame.classList.add("loaded"));
  return tile;
}

// One frame loop a camera: the latest frame without the outline of its first region that has
// answered one (the regions of a camera are handed the same frames), into every tile of the camera.
function startCamera(name) {
  if (cameras.has(name)) return;
  cameras.set(name, { requested: 0, url: null });
  loadFrame(name);
}

async function loadFrame(name) {
  const camera = cameras.get(name);
  const shown = [...tiles.values()].filter((tile) => tile.camera === name);
  if (!shown.length) { // the camera's streams went away
    if (camera.url) URL.revokeObjectURL(camera.url);
    cameras.delete(name);
    return;
  }
  camera.requested = Date.now();
  const stream = encodeURIComponent((shown.find((tile) => tile.classified) || shown[0]).name);
  try {
    const response = await fetch(
      `/api/streams/${stream}/latest.jpg?width=${TILE_WIDTH}&outline=0&t=${camera.requested}`,
      { cache: "no-store" });
    if (response.ok) { // else a 503 until its first frame
      const url = URL.createObjectURL(await response.blob());
      for (const tile of tiles.values()) {
        if (tile.camera === name) tile.parts.img.src = url;
      }
      if (camera.url) URL.revokeObjectURL(camera.url);
      camera.url = url;
    }
  } catch (error) {
    // the status poll says the daemon is not answering
  }
  const wait = Math.max(100, FRAME_EVERY - (Date.now() - camera.requested));
  setTimeout(() => loadFrame(name), wait);
}

function routeText(stream) {
  let text = stream.route;
  if (stream.route === "cascade") {
    text += ` ${stream.models.join("→")}`;
    text += stream.escalation === null ? ", escalation not measured yet"
      : `, ${(stream.escalation * 100).toFixed(0)}% escalated`;
  } else if (stream.models.length === 1 && stream.models[0] !== stream.route) {
    text += ` (${stream.models[0]})`;
  }
  if (stream.model !== stream.route && !["small", "large", "cascade"].includes(stream.model)) {
    text = `${stream.model}: ${text}`; // auto, or a model by name
  }
  return text;
}

function stateText(stream) {
  const down = !stream.healthy;
  if (stream.state === "backoff" || (stream.state === "connecting" && stream.reason)) {
    return [down, "reconnecting"];
  }
  if (stream.state === "streaming" && down) return [true, "stalled"];
  return [down, stream.state];
}

function updateTile(tile, stream) {
  const p = tile.parts;
  tile.classified = stream.classified;
  p.camera.textContent = stream.camera === tile.name ? "" : `camera ${stream.camera}`;
  const [down, state] = stateText(stream);
  tile.element.classList.toggle("down", down);
  p.state.textContent = state;
  p.state.className = `state ${down ? "down" : stream.state}`;
  const answer = stream.label === null ? "–" : `${stream.label} ${stream.score.toFixed(2)}`;
  p.answer.textContent = answer;
  p.tag.textContent = answer;
  p.route.textContent = routeText(stream);
  p.rate.textContent = `${fps(stream.planned_fps)} fps planned, ${fps(stream.achieved_fps)} achieved`;
  let cause = "";
  if (down) {
    cause = stream.reason ? `cause: ${stream.reason}` : "no recent frame";
    if (stream.frame_age !== null) cause += ` (last frame ${stream.frame_age.toFixed(0)} s ago)`;
  }
  p.cause.textContent = cause;
  const roi = stream.roi || { x: 0, y: 0, width: 1, height: 1 };
  Object.assign(p.roi.style, {
    left: percent(roi.x), top: percent(roi.y), width: percent(roi.width), height: percent(roi.height),
  });
  p.roi.classList.toggle("whole", !stream.roi);
  // the tag above the region (inside it when there is no room above), from its right edge when
  // the region ends near the frame's
  Object.assign(p.tag.style, roi.y < 0.08 ? { bottom: "auto", top: "0" } : { bottom: "", top: "" });
  Object.assign(p.tag.style, roi.x + roi.width > 0.8 && roi.width < 0.5
    ? { left: "auto", right: "-2px" } : { left: "", right: "" });
}

function showStatus(status) {
  const names = Object.keys(status.streams);
  const container = $("#tiles");
  for (const [name, tile] of tiles) {
    if (!(name in status.streams)) {
      tile.element.remove();
      tiles.delete(name);
    }
  }
  names.forEach((name, index) => {
    let tile = tiles.get(name);
    if (!tile) {
      tile = makeTile(name);
      tiles.set(name, tile);
    }
    const camera = status.streams[name].camera;
    if (tile.camera !== camera) { // new, or moved to another camera by a reload
      tile.camera = camera;
      const frame = cameras.get(camera);
      if (frame && frame.url) tile.parts.img.src = frame.url;
      startCamera(camera);
    }
    updateTile(tile, status.streams[name]);
    if (container.children[index] !== tile.element) {
      container.insertBefore(tile.element, container.children[index] || null);
    }
  });
  const up = names.filter((name) => status.streams[name].healthy).length;
  $("#summary").textContent = `${up} of ${names.length} streams up`;
  const used = status.budget_used;
  $("#budget-value").textContent = `${(used * 100).toFixed(0)}%`;
  $("#budget-fill").style.width = percent(Math.min(1, used));
  $("#budget").classList.toggle("over", used > 1);
  $("#events-note").textContent = status.snapshots ? ""
    : "Snapshots are off (events: snapshots: enabled: true keeps the picture of each event).";
  showLabelPage(status.label_page);
}

// The label page's link, when the config names it (metrics: label_page: an http(s) URL, checked
// by the daemon's config); a reload can set, change or clear it.
function showLabelPage(url) {
  const link = $("#label-page");
  if (url) {
    if (link.getAttribute("href") !== url) link.setAttribute("href", url);
  } else {
    link.removeAttribute("href");
  }
  link.hidden = !url;
}

async function pollStatus() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`/api/status answered ${response.status}`);
    showStatus(await response.json());
    $("#problem").textContent = "";
  } catch (error) {
    $("#problem").textContent = `the daemon does not answer (${error.message})`;
  }
  setTimeout(pollStatus, STATUS_EVERY);
}

// -- the events

function eventItem(event) {
  const item = document.createElement("li");
  item.dataset.id = event.id;
  if (event.snapshot_url) {
    const link = document.createElement("a");
    link.className = "thumb";
    link.href = event.snapshot_url;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = "open the snapshot";
    const img = document.createElement("img");
    img.alt = `snapshot of ${event.id}`;
    img.loading = "lazy";
    let tries = 0;
    // the writer thread may still be writing it: try again a few times
    img.addEventListener("error", () => {
      if (++tries <= 5) setTimeout(() => { img.src = `${event.snapshot_url}?try=${tries}`; }, 1000);
    });
    img.src = event.snapshot_url;
    link.append(img);
    item.append(link);
  } else {
    const none = document.createElement("span");
    none.className = "nopicture";
    none.textContent = "no picture";
    item.append(none);
  }
  const text = document.createElement("div");
  const what = document.createElement("div");
  what.className = "what";
  what.textContent = event.kind === "heartbeat" ? `${event.label} (still)`
    : event.previous_label ? `${event.previous_label} → ${event.label}` : event.label;
  const where = document.createElement("div");
  where.className = "where";
  where.textContent = `${event.stream} · ${event.score.toFixed(2)} · ${event.model}`;
  const when = document.createElement("div");
  when.className = "when";
  when.textContent = clock(event.time);
  text.append(what, where, when);
  item.append(text);
  return item;
}

function showEvents(events) {
  const ids = events.map((event) => event.id).join(" ");
  if (ids === shownEvents) return; // unchanged: keep the images as they are
  shownEvents = ids;
  const list = $("#events");
  const kept = new Map([...list.children].map((item) => [item.dataset.id, item]));
  list.replaceChildren(...events.map((event) => kept.get(event.id) || eventItem(event)));
}

async function pollEvents() {
  try {
    const response = await fetch(`/api/events?limit=${EVENTS_SHOWN}`, { cache: "no-store" });
    if (response.ok) showEvents((await response.json()).events);
  } catch (error) {
    // the status poll says the daemon is not answering
  }
  setTimeout(pollEvents, EVENTS_EVERY);
}

pollStatus();
pollEvents();
