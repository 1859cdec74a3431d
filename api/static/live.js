// Live updates: one server-sent event stream per selected running or queued
// job (up to MAX_STREAMS), feeding progress into the job list and asking for
// a fresh comparison when new points arrive.

import { complain } from "./api.js";
import { requestCompare } from "./compare.js";
import { $ } from "./dom.js";
import { refreshJobs, renderJobRow } from "./lists.js";
import { isLive, note, noteLatest, state } from "./state.js";

// Browsers open about six connections per host over HTTP/1.1; leave some for
// fetch(). Selected live jobs beyond this many are polled instead.
const MAX_STREAMS = 4;

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
export function syncStreams() {
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
export function comparisonIsStale() {
  return (state.comparison?.runs ?? []).some((run) => {
    const status = state.known.get(run.job_id)?.status;
    const unwatched = isLive(run.job_id) && !state.streams.has(run.job_id);
    return unwatched || (status !== undefined && status !== run.status);
  });
}
