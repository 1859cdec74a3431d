// The trainjobs dashboard: lists jobs and sweeps, overlays the selected runs'
// curves from GET /compare, and follows running jobs over server-sent events.
// Strings from the server only ever reach the page as text (see dom.js).
//
// This module wires the others together and starts the page:
//   state.js      shared state and the newest word on each job
//   api.js        fetching JSON, and the connection status line
//   selection.js  the selected runs and the URL fragment
//   lists.js      the job and sweep lists
//   compare.js    GET /compare, the legend, chart and summary
//   live.js       server-sent event streams of running jobs
// with chart.js, summary.js, format.js and dom.js beneath them.

import { complain, showConnection } from "./api.js";
import {
  drawChart, followSelection, onComparison, renderComparison, requestCompare,
} from "./compare.js";
import { $ } from "./dom.js";
import { refreshJobs, refreshSweeps, renderJobRows, renderSweeps } from "./lists.js";
import { comparisonIsStale, syncStreams } from "./live.js";
import {
  loadHash, onSelectionChange, renderSelection, saveHash, selectionChanged,
} from "./selection.js";
import { state } from "./state.js";

const REFRESH_MS = 3000; // job and sweep lists

// Whatever shows the selection is redrawn when it changes; selection.js then
// saves it to the URL. A comparison may bring news of a job's status, which
// can start or stop its stream.
onSelectionChange(() => {
  renderJobRows();
  renderSweeps();
  renderSelection();
  followSelection();
  syncStreams();
});
onComparison(syncStreams);

async function tick() {
  if (document.hidden) return;
  const results = await Promise.allSettled([refreshJobs(), refreshSweeps()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) complain("Could not refresh")(failed.reason);
  else showConnection(`Updated ${new Date().toLocaleTimeString()}`, false);
  syncStreams();
  if (comparisonIsStale()) requestCompare(false);
}

function wire() {
  const metric = $("metric");
  const logY = $("log-y");
  const band = $("band");
  metric.value = state.metric;
  logY.checked = state.logY;
  logY.disabled = state.metric !== "loss";
  band.checked = state.band;

  metric.addEventListener("change", () => {
    state.metric = metric.value;
    logY.disabled = state.metric !== "loss";
    state.logY = state.metric === "loss" && logY.checked;
    state.comparison = null;
    renderComparison();
    requestCompare(true);
    saveHash();
  });
  logY.addEventListener("change", () => {
    state.logY = logY.checked;
    drawChart();
    saveHash();
  });
  band.addEventListener("change", () => {
    state.band = band.checked;
    renderComparison();
    saveHash();
  });
  $("clear-selection").addEventListener("click", () => {
    state.selected.clear();
    selectionChanged();
  });
  $("status-filter").addEventListener("change", (event) => {
    state.statusFilter = event.target.value;
    state.pages = 1;
    refreshJobs().catch(complain("Could not refresh"));
  });
  $("more-jobs").addEventListener("click", () => {
    state.pages += 1;
    refreshJobs().catch(complain("Could not refresh"));
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) tick();
  });

  let frame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(drawChart);
  }).observe($("chart-box"));
}

loadHash();
wire();
selectionChanged();
tick();
setInterval(tick, REFRESH_MS);
