// The job list and the sweep list on the left: fetched from GET /jobs and
// GET /sweeps, drawn as table rows, with the checkboxes and buttons that add
// jobs to the comparison.

import { complain, getJSON } from "./api.js";
import { $, el, statusPill } from "./dom.js";
import { describeGrid, fmtAgo, fmtDuration, fmtNumber, fmtPercent } from "./format.js";
import { addToSelection, selectionChanged, toggle } from "./selection.js";
import { FINISHED, MAX_COMPARE, note, state, style } from "./state.js";

const PAGE_SIZE = 50;

// Jobs -----------------------------------------------------------------------
const jobRows = new Map(); // id -> <tr>, reused so focus survives refreshes

export async function refreshJobs() {
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

export function renderJobRow(id) {
  const row = jobRows.get(id);
  if (row && state.jobs.has(id)) fillJobRow(row, state.jobs.get(id));
}

/** Redraw every listed row, as when the selection changed. */
export function renderJobRows() {
  for (const id of jobRows.keys()) renderJobRow(id);
}

// Sweeps ---------------------------------------------------------------------
export async function refreshSweeps() {
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

export function renderSweeps() {
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
