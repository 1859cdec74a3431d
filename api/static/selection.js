// Which runs are selected, and the URL fragment that remembers them: ticking,
// colour slots, the notice when /compare's limit cuts a selection short, and
// #jobs=…&metric=… across reloads. What else to redraw when the selection
// changes is wired in app.js.

import { $ } from "./dom.js";
import { METRICS } from "./format.js";
import { MAX_COMPARE, state } from "./state.js";

let redraw = () => {};

/** Set what to redraw on every change of the selection. */
export function onSelectionChange(callback) {
  redraw = callback;
}

/** Select `ids` in order while they fit; false when some did not. */
export function addToSelection(ids) {
  for (const id of ids) {
    if (state.selected.has(id)) continue;
    if (state.selected.size >= MAX_COMPARE) {
      state.notice = { full: true };
      return false;
    }
    const used = new Set(state.selected.values());
    let slot = 0;
    while (used.has(slot)) slot++; // the lowest free colour
    state.selected.set(id, slot);
  }
  return true;
}

/** Say why the selection stopped short, for as long as it still does. */
function renderNotice() {
  const notice = state.notice;
  let text = "";
  if (notice?.sweepId !== undefined) {
    const ids = state.sweepJobs.get(notice.sweepId) ?? [];
    const picked = ids.filter((id) => state.selected.has(id)).length;
    if (picked && picked < ids.length) {
      text = `Showing ${picked} of ${ids.length} jobs of ${notice.name}: `
        + `/compare takes at most ${MAX_COMPARE} runs at once.`;
    }
  } else if (notice?.full && state.selected.size >= MAX_COMPARE) {
    text = `${MAX_COMPARE} runs selected, as many as /compare takes at once: `
      + "untick one to add another.";
  }
  if (!text) state.notice = null;
  const line = $("selection-notice");
  line.textContent = text;
  line.hidden = !text;
}

/** The count above the chart, the clear button and the notice. */
export function renderSelection() {
  const count = state.selected.size;
  $("selection-info").textContent = count ? `${count} run${count === 1 ? "" : "s"} selected` : "";
  $("clear-selection").disabled = count === 0;
  renderNotice();
}

export function toggle(id, on) {
  if (on) addToSelection([id]);
  else state.selected.delete(id);
  selectionChanged();
}

export function selectionChanged() {
  redraw();
  saveHash();
}

export function saveHash() {
  const params = new URLSearchParams();
  if (state.selected.size) params.set("jobs", [...state.selected.keys()].join(","));
  if (state.metric !== "test_accuracy") params.set("metric", state.metric);
  if (state.logY) params.set("log", "1");
  if (!state.band) params.set("band", "0");
  const hash = params.toString();
  history.replaceState(null, "", hash ? `#${hash}` : location.pathname + location.search);
}

export function loadHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const ids = (params.get("jobs") ?? "").split(",").filter((s) => /^\d{1,15}$/.test(s));
  addToSelection(ids.map(Number));
  if (Object.hasOwn(METRICS, params.get("metric") ?? "")) state.metric = params.get("metric");
  state.logY = state.metric === "loss" && params.get("log") === "1";
  state.band = params.get("band") !== "0";
}
