// The dashboard's shared state: what is listed, what is selected, and the
// newest word on each job from whichever source (list, stream, comparison)
// spoke last. Every other module reads and writes this one object.

export const MAX_COMPARE = 50; // what GET /compare accepts
export const FINISHED = new Set(["succeeded", "failed", "cancelled", "diverged"]);
const COLORS = [
  "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
  "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#7f7f7f",
];
const DASHES = ["", "7 4", "2 3", "9 3 2 3"]; // after ten colours, vary the dash

export const state = {
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

export function style(id) {
  const slot = state.selected.get(id) ?? 0;
  return {
    color: COLORS[slot % COLORS.length],
    dash: DASHES[Math.floor(slot / COLORS.length) % DASHES.length],
  };
}

export function nameOf(id) {
  const run = state.comparison?.runs.find((r) => r.job_id === id);
  return state.jobs.get(id)?.name ?? run?.name ?? `job #${id}`;
}

export function note(id, status, step, total) {
  // A finished status is final: a slower source must not revive the job.
  const previous = state.known.get(id);
  const finished = previous && FINISHED.has(previous.status);
  state.known.set(id, {
    status: finished ? previous.status : status,
    step: Math.max(step ?? 0, previous?.step ?? 0),
    total: total ?? previous?.total ?? 0,
  });
}

export function isLive(id) {
  const status = state.known.get(id)?.status;
  return status === "running" || status === "queued";
}

/** Keep the test accuracy at the furthest step any source has reported. */
export function noteLatest(id, value, step) {
  if (!Number.isFinite(value)) return;
  const previous = state.latest.get(id);
  if (!previous || step >= previous.step) state.latest.set(id, { value, step });
}
