// The comparison panel: GET /compare for the selected runs, throttled while
// new points stream in, drawn as the legend, the chart and the summary table.

import { complain, getJSON } from "./api.js";
import { Chart } from "./chart.js";
import { $ } from "./dom.js";
import { METRICS } from "./format.js";
import { renderJobRow } from "./lists.js";
import { toggle } from "./selection.js";
import { nameOf, note, noteLatest, state, style } from "./state.js";
import { THRESHOLDS, renderLegend, renderSummary } from "./summary.js";

const COMPARE_THROTTLE_MS = 1000; // at most one GET /compare a second

const chart = new Chart($("chart"), $("tooltip"));
const compare = { timer: null, controller: null, lastStart: 0, pending: false };
let loaded = () => {};

/** Set what to do after each comparison arrives (it may bring new statuses). */
export function onComparison(callback) {
  loaded = callback;
}

/** Drop deselected runs, redraw what is left and fetch the new selection. */
export function followSelection() {
  if (state.comparison) {
    state.comparison.runs = state.comparison.runs.filter((run) => state.selected.has(run.job_id));
  }
  renderComparison();
  requestCompare(true);
}

/** Fetch the comparison now (the user asked) or soon (new points arrived). */
export function requestCompare(now) {
  if (now) {
    clearTimeout(compare.timer);
    compare.timer = null;
    compare.controller?.abort();
    startCompare();
    return;
  }
  if (compare.controller) {
    compare.pending = true; // once more when this one answers
    return;
  }
  if (compare.timer) return;
  const wait = Math.max(0, compare.lastStart + COMPARE_THROTTLE_MS - Date.now());
  compare.timer = setTimeout(() => {
    compare.timer = null;
    startCompare();
  }, wait);
}

async function startCompare() {
  const controller = new AbortController();
  compare.controller = controller;
  compare.lastStart = Date.now();
  compare.pending = false;
  try {
    await loadComparison(controller.signal);
  } catch (error) {
    if (error.name !== "AbortError") complain("Could not compare")(error);
  } finally {
    if (compare.controller === controller) {
      compare.controller = null;
      if (compare.pending) requestCompare(false);
    }
  }
}

async function loadComparison(signal) {
  const ids = [...state.selected.keys()];
  if (!ids.length) {
    state.comparison = null;
    renderComparison();
    return;
  }
  const metric = state.metric;
  const body = await getJSON("compare", {
    job_ids: ids.join(","),
    metric,
    max_points: Math.max(100, Math.min(1000, Math.round(chart.plotWidth()))),
    thresholds: METRICS[metric].accuracy ? THRESHOLDS.join(",") : null,
  }, signal);

  if (metric !== state.metric) return; // changed while in flight
  body.runs = body.runs.filter((run) => state.selected.has(run.job_id));
  state.comparison = body;
  for (const run of body.runs) {
    note(run.job_id, run.status);
    if (metric === "test_accuracy") {
      const last = run.values.findLastIndex((v) => v !== null);
      noteLatest(run.job_id, run.summary.final, body.steps[last] ?? 0);
      renderJobRow(run.job_id);
    }
  }
  renderComparison();
  loaded();
}

export function drawChart() {
  const metric = METRICS[state.metric];
  $("chart-caption").textContent = `${metric.label} of the selected runs by step`;
  let message = null;
  if (!state.selected.size) {
    message = "Tick jobs in the list, or select a sweep's jobs, to compare their curves.";
  } else if (!state.comparison) {
    message = "Loading…";
  }
  // The x-axis spans the recorded steps, and the planned ones of running
  // runs so that their lines grow rightward. A queued or stopped run's plan
  // would only squash the curves that exist.
  let lastStep = 0;
  for (const id of state.selected.keys()) {
    const known = state.known.get(id);
    if (known?.status === "running") lastStep = Math.max(lastStep, known.total);
  }
  chart.draw({
    comparison: state.comparison,
    metric: state.metric,
    logY: state.logY,
    band: state.band,
    style,
    lastStep,
    message,
  });
}

export function renderComparison() {
  renderLegend($("legend"), {
    ids: [...state.selected.keys()],
    nameOf,
    style,
    onRemove: (id) => toggle(id, false),
  });
  drawChart();
  renderSummary(
    {
      head: $("summary-head"),
      body: $("summary-body"),
      caption: $("summary-caption"),
      wrap: $("summary-wrap"),
      note: $("summary-note"),
    },
    {
      comparison: state.comparison,
      metric: state.metric,
      band: state.band,
      known: state.known,
      style,
    },
  );
}
