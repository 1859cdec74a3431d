// The trainjobs dashboard: lists jobs and sweeps, overlays the selected runs'
// curves from GET /compare, and follows running jobs over server-sent events.
// Strings from the server only ever reach the page as text (see dom.js).

import { Chart } from "./chart.js";
import { el, statusPill } from "./dom.js";
import {
  METRICS, describeGrid, fmtAgo, fmtDuration, fmtNumber, fmtPercent,
} from "./format.js";
import { THRESHOLDS, renderLegend, renderSummary } from "./summary.js";

// 1. Settings ----------------------------------------------------------------
const REFRESH_MS = 3000; // job and sweep lists
const COMPARE_THROTTLE_MS = 1000; // at most one GET /compare a second
// Browsers open about six connections per host over HTTP/1.1; leave some for
// fetch(). Selected live jobs beyond this many are polled instead.
const MAX_STREAMS = 4;
const MAX_COMPARE = 50; // what GET /compare accepts
const PAGE_SIZE = 50;
const FINISHED = new Set(["succeeded", "failed", "cancelled", "diverged"]);
const COLORS = [
  "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
  "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#7f7f7f",
];
const DASHES = ["", "7 4", "2 3", "9 3 2 3"]; // after ten colours, vary the dash

const $ = (id) => document.getElementById(id);
const chart = new Chart($("chart"), $("tooltip"));

// 2. State -------------------------------------------------------------------
const state = {
  jobs: new Map(), // id -> job as GET /jobs returned it
  order: [], // listed ids, newest first
  nextCursor: null,
  pages: 1,
  statusFilter: "",
  sweeps: [],
  sweepJobs: new Map(), // sweep id -> its job ids, once asked for
  known: new Map(), // id -> {status, step, total}: the newest word from any source
  selected: new Map(), // id -> colour slot, in selection order
  notice: null, // why the selection stopped short: {sweepId, name} or {full: true}
  latest: new Map(), // id -> {value, step}: a running job's newest test accuracy
  metric: "test_accuracy",
  logY: false,
  band: true,
  comparison: null, // the last GET /compare body
  streams: new Map(), // id -> EventSource
};

function style(id) {
  const slot = state.selected.get(id) ?? 0;
  return {
    color: COLORS[slot % COLORS.length],
    dash: DASHES[Math.floor(slot / COLORS.length) % DASHES.length],
  };
}

function nameOf(id) {
  const run = state.comparison?.runs.find((r) => r.job_id === id);
  return state.jobs.get(id)?.name ?? run?.name ?? `job #${id}`;
}

function note(id, status, step, total) {
  // A finished status is final: a slower source must not revive the job.
  const previous = state.known.get(id);
  const finished = previous && FINISHED.has(previous.status);
  state.known.set(id, {
    status: finished ? previous.status : status,
    step: Math.max(step ?? 0, previous?.step ?? 0),
    total: total ?? previous?.total ?? 0,
  });
}

function isLive(id) {
  const status = state.known.get(id)?.status;
  return status === "running" || status === "queued";
}

/** Keep the test accuracy at the furthest step any source has reported. */
function noteLatest(id, value, step) {
  if (!Number.isFinite(value)) return;
  const previous = state.latest.get(id);
  if (!previous || step >= previous.step) state.latest.set(id, { value, step });
}

// 3. Talking to the API ------------------------------------------------------
async function getJSON(path, params, signal) {
  const url = new URL(path, document.baseURI); // relative: works under a prefix
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : body.detail?.[0]?.msg ?? detail;
    } catch {
      // not JSON: keep the status text
    }
    throw new Error(`${path}: ${response.status} ${detail}`);
  }
  return response.json();
}

function showConnection(message, isError) {
  const line = $("connection");
  line.textContent = message;
  line.classList.toggle("error", Boolean(isError));
}

const complain = (what) => (error) => showConnection(`${what}: ${error.message}`, true);

// 4. Jobs --------------------------------------------------------------------
const jobRows = new Map(); // id -> <tr>, reused so focus survives refreshes

async function refreshJobs() {
  const jobs = [];
  let cursor = null;
  for (let page = 0; page < state.pages; page++) {
    const params = { limit: PAGE_SIZE, cursor, status: state.statusFilter };
    const body = await getJSON("jobs", params);
    jobs.push(...body.jobs);
    cursor = body.next_cursor;
    if (!cursor) break;
  }

  state.nextCursor = cursor;
  state.order = jobs.map((job) => job.id);
  for (const job of jobs) {
    state.jobs.set(job.id, job);
    note(job.id, job.status, job.progress.step, job.progress.total);
  }
  renderJobs();
}

function jobRow(id) {
  const check = el("input", {
    type: "checkbox",
    id: `pick-${id}`,
    "data-testid": "job-select",
    onchange: (event) => toggle(id, event.target.checked),
  });
  return el(
    "tr",
    { "data-testid": "job-row", "data-job-id": id },
    el("td", { class: "col-check" }, check),
    el("td", { class: "fill" }),
    el("td"),
    el("td"),
    el("td", { class: "stack" }),
    el("td", { class: "stack num" }),
  );
}

function progressCell(job, status, step, total) {
  if (status === "queued" && step === 0) {
    const place = job.queue_position ? `#${job.queue_position} in queue` : "waiting";
    return el("span", { class: "muted small" }, place);
  }
  let hint = `${step.toLocaleString()} of ${total.toLocaleString()} steps`;
  if (status === "running" && job.eta_s !== null) {
    hint += `, about ${fmtDuration(job.eta_s)} left`;
  }
  if (FINISHED.has(status) && job.summary.duration_s !== null) {
    hint += `, took ${fmtDuration(job.summary.duration_s)}`;
  }
  const percent = Math.floor((total ? step / total : 0) * 100);
  return el(
    "div",
    { class: "progress", title: hint },
    el("progress", { max: total || 1, value: step, "aria-label": `${job.name}: ${hint}` }),
    el("span", { class: "muted small" }, `${percent}%`),
  );
}

function fillJobRow(row, job) {
  const known = state.known.get(job.id) ?? {};
  const status = known.status ?? job.status;
  const step = known.step ?? job.progress.step;
  const total = known.total || job.progress.total;
  const [check, name, statusCell, progress, optimizer, accuracy] = row.cells;
  const selected = state.selected.has(job.id);

  row.classList.toggle("selected", selected);
  if (selected) row.style.setProperty("--run-color", style(job.id).color);
  check.firstChild.checked = selected;

  const meta = [`#${job.id}`];
  if (job.sweep_id !== null) meta.push(`sweep #${job.sweep_id}`);
  meta.push(fmtAgo(job.created_at));
  name.replaceChildren(el(
    "label",
    { for: `pick-${job.id}`, class: "job-label" },
    el("span", {
      class: "job-name", "data-testid": "job-name", title: `${job.name} (${job.dataset})`,
    }, job.name),
    el("span", { class: "muted small" }, meta.join(" · ")),
  ));
  statusCell.replaceChildren(statusPill(status));
  if (job.error) statusCell.firstChild.setAttribute("title", job.error);
  progress.replaceChildren(progressCell(job, status, step, total));
  optimizer.replaceChildren(
    el("span", null, job.optimizer),
    el("span", { class: "muted small" }, `lr ${fmtNumber(job.learning_rate)}`),
  );

  const s = job.summary;
  accuracy.replaceChildren(accuracyValue(job, status));
  if (s.best_test_accuracy !== null) {
    accuracy.append(el(
      "span",
      { class: "muted small", title: `best test accuracy, at step ${s.best_step}` },
      `best ${fmtPercent(s.best_test_accuracy, 1)}`,
    ));
  }
}

/**
 * The final test accuracy; until there is one, the newest seen so far,
 * which GET /jobs does not carry: it comes from the job's event stream or
 * GET /compare, so only jobs selected while running have it.
 */
function accuracyValue(job, status) {
  const final = job.summary.final_test_accuracy;
  // Also between a job's end and the next refresh, which brings the final one.
  const latest = state.latest.get(job.id);
  const attributes = { "data-testid": "job-final", "data-value": final ?? "" };
  if (final !== null) {
    return el("span", { ...attributes, title: "final test accuracy" }, fmtPercent(final, 1));
  }
  if (latest) {
    return el("span", {
      ...attributes,
      class: "so-far",
      "data-latest": latest.value,
      title: `test accuracy so far, at step ${latest.step.toLocaleString()}; `
        + "the final one replaces it when the job ends",
    }, fmtPercent(latest.value, 1), el("span", { class: "muted small" }, " so far"));
  }
  const following = state.selected.has(job.id)
    ? "Shows the newest test accuracy after the job's next evaluation."
    : "Fills in when the job ends; tick the job to follow its test accuracy live.";
  const why = {
    queued: "The job has not started yet.",
    running: following,
  }[status] ?? "No test accuracy was recorded.";
  return el("span", { ...attributes, title: why }, "—");
}

function renderJobs() {
  const body = $("jobs-body");
  const listed = new Set(state.order);
  for (const [id, row] of jobRows) {
    if (!listed.has(id)) {
      row.remove();
      jobRows.delete(id);
    }
  }
  state.order.forEach((id, index) => {
    let row = jobRows.get(id);
    if (!row) {
      row = jobRow(id);
      jobRows.set(id, row);
    }
    fillJobRow(row, state.jobs.get(id));
    // Move only what moved: a re-inserted row would lose keyboard focus.
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] ?? null);
  });
  $("jobs-empty").hidden = state.order.length > 0;
  $("more-jobs").hidden = !state.nextCursor;
}

function renderJobRow(id) {
  const row = jobRows.get(id);
  if (row && state.jobs.has(id)) fillJobRow(row, state.jobs.get(id));
}

// 5. Sweeps ------------------------------------------------------------------
async function refreshSweeps() {
  state.sweeps = await getJSON("sweeps", { limit: 20 });
  renderSweeps();
}

const sweepName = (sweep) => sweep.name ?? `sweep #${sweep.id}`;

/**
 * "all" when every job of the sweep is selected, "capped" when some are and
 * no more fit in a comparison, otherwise "open".
 */
function sweepSelection(sweepId) {
  const ids = state.sweepJobs.get(sweepId) ?? [];
  const picked = ids.filter((id) => state.selected.has(id)).length;
  if (picked && picked === ids.length) return "all";
  return picked && state.selected.size >= MAX_COMPARE ? "capped" : "open";
}

function sweepRow(sweep) {
  const name = sweepName(sweep);
  const selection = sweepSelection(sweep.id);
  const label = { all: "Deselect all", capped: "Deselect its jobs" }[selection];
  const button = el("button", {
    type: "button",
    class: "secondary small",
    "data-testid": "sweep-select",
    "aria-label": `${label ? "Deselect the" : "Select all"} jobs of ${name}`,
    onclick: () => selectSweep(sweep).catch(complain("Could not load the sweep's jobs")),
  }, label ?? "Select all its jobs");
  const grid = describeGrid(sweep.grid);
  return el(
    "tr",
    { "data-testid": "sweep-row", "data-sweep-id": sweep.id },
    el(
      "td",
      null,
      el("span", { class: "job-name sweep-name", "data-testid": "sweep-name", title: name }, name),
      el("span", { class: "muted small nowrap" }, `#${sweep.id} · ${fmtAgo(sweep.created_at)}`),
    ),
    el("td", { class: "grid-cell fill", "data-testid": "sweep-grid", title: grid.title }, grid.text),
    el("td", { class: "num" }, String(sweep.seeds.length)),
    el("td", { class: "num" }, String(sweep.job_count)),
    el("td", { class: "actions" }, button),
  );
}

function renderSweeps() {
  $("sweeps-body").replaceChildren(...state.sweeps.map(sweepRow));
  $("sweeps-empty").hidden = state.sweeps.length > 0;
}

async function selectSweep(sweep) {
  // One page holds a whole sweep: both cap at 200 jobs.
  const body = await getJSON("jobs", { sweep_id: sweep.id, limit: 200 });
  const ids = body.jobs.map((job) => job.id).reverse(); // creation order
  for (const job of body.jobs) {
    state.jobs.set(job.id, job);
    note(job.id, job.status, job.progress.step, job.progress.total);
  }
  const deselect = sweepSelection(sweep.id) !== "open"; // as the button said
  state.sweepJobs.set(sweep.id, ids);
  if (deselect) {
    for (const id of ids) state.selected.delete(id);
  } else if (!addToSelection(ids)) {
    state.notice = { sweepId: sweep.id, name: sweepName(sweep) };
  }
  selectionChanged();
}

// 6. Selection ---------------------------------------------------------------
/** Select `ids` in order while they fit; false when some did not. */
function addToSelection(ids) {
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

function toggle(id, on) {
  if (on) addToSelection([id]);
  else state.selected.delete(id);
  selectionChanged();
}

function selectionChanged() {
  for (const id of jobRows.keys()) renderJobRow(id);
  renderSweeps();
  const count = state.selected.size;
  $("selection-info").textContent = count ? `${count} run${count === 1 ? "" : "s"} selected` : "";
  $("clear-selection").disabled = count === 0;
  renderNotice();
  if (state.comparison) {
    state.comparison.runs = state.comparison.runs.filter((run) => state.selected.has(run.job_id));
  }
  renderComparison();
  requestCompare(true);
  syncStreams();
  saveHash();
}

function saveHash() {
  const params = new URLSearchParams();
  if (state.selected.size) params.set("jobs", [...state.selected.keys()].join(","));
  if (state.metric !== "test_accuracy") params.set("metric", state.metric);
  if (state.logY) params.set("log", "1");
  if (!state.band) params.set("band", "0");
  const hash = params.toString();
  history.replaceState(null, "", hash ? `#${hash}` : location.pathname + location.search);
}

function loadHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const ids = (params.get("jobs") ?? "").split(",").filter((s) => /^\d{1,15}$/.test(s));
  addToSelection(ids.map(Number));
  if (Object.hasOwn(METRICS, params.get("metric") ?? "")) state.metric = params.get("metric");
  state.logY = state.metric === "loss" && params.get("log") === "1";
  state.band = params.get("band") !== "0";
}

// 7. Comparison, throttled ---------------------------------------------------
const compare = { timer: null, controller: null, lastStart: 0, pending: false };

/** Fetch the comparison now (the user asked) or soon (new points arrived). */
function requestCompare(now) {
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
  syncStreams();
}

function drawChart() {
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

function renderComparison() {
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

// 8. Live updates ------------------------------------------------------------
function renderLive() {
  const live = $("live");
  const count = state.streams.size;
  live.dataset.streams = String(count);
  live.hidden = count === 0;
  live.textContent = `live · following ${count} run${count === 1 ? "" : "s"}`;
}

function closeStream(id) {
  state.streams.get(id)?.close();
  state.streams.delete(id);
}

function openStream(id) {
  // Only new points matter: they trigger a fresh comparison, not a redraw.
  const after = state.known.get(id)?.step ?? 0;
  const source = new EventSource(new URL(`jobs/${id}/events?after_step=${after}`, document.baseURI));
  source.addEventListener("state", (event) => {
    const data = JSON.parse(event.data);
    note(id, data.status, data.progress.step, data.progress.total);
    const job = state.jobs.get(id);
    if (job) Object.assign(job, { eta_s: data.eta_s, queue_position: data.queue_position });
    renderJobRow(id);
  });
  source.addEventListener("metrics", (event) => {
    const { points } = JSON.parse(event.data);
    const last = points.findLast((point) => Number.isFinite(point.test_accuracy));
    if (last) {
      noteLatest(id, last.test_accuracy, last.step);
      renderJobRow(id);
    }
    requestCompare(false);
  });
  source.addEventListener("end", (event) => {
    const data = JSON.parse(event.data);
    note(id, data.status, data.last_step);
    renderJobRow(id);
    closeStream(id);
    requestCompare(false);
    refreshJobs().catch(complain("Could not refresh")); // for the final summary
    syncStreams();
  });
  source.addEventListener("error", () => {
    // The browser reconnects by itself, resuming after Last-Event-ID, unless
    // the server refused outright.
    if (source.readyState === EventSource.CLOSED) {
      state.streams.delete(id);
      renderLive();
    }
  });
  state.streams.set(id, source);
}

/** One stream per selected live job, running ones first, up to MAX_STREAMS. */
function syncStreams() {
  for (const id of [...state.streams.keys()]) {
    if (!state.selected.has(id) || !isLive(id)) closeStream(id);
  }
  const rank = (id) => (state.known.get(id).status === "running" ? 0 : 1);
  const waiting = [...state.selected.keys()]
    .filter((id) => isLive(id) && !state.streams.has(id))
    .sort((a, b) => rank(a) - rank(b));
  for (const id of waiting.slice(0, Math.max(0, MAX_STREAMS - state.streams.size))) {
    openStream(id);
  }
  renderLive();
}

/** True when a run moved on without a stream to say so. */
function comparisonIsStale() {
  return (state.comparison?.runs ?? []).some((run) => {
    const status = state.known.get(run.job_id)?.status;
    const unwatched = isLive(run.job_id) && !state.streams.has(run.job_id);
    return unwatched || (status !== undefined && status !== run.status);
  });
}

// 9. Polling and wiring ------------------------------------------------------
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
