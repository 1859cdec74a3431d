// The legend above the chart and the summary table below it.

import { el, statusPill, swatch } from "./dom.js";
import { METRICS, fmtDuration, fmtValue } from "./format.js";

export const THRESHOLDS = ["0.8", "0.9"];

/** One chip per selected run, with a button that drops it. */
export function renderLegend(list, { ids, nameOf, style, onRemove }) {
  list.replaceChildren(...ids.map((id) => {
    const name = nameOf(id);
    return el(
      "li",
      { "data-testid": "legend-item", "data-job-id": id },
      swatch(style(id)),
      el("span", { class: "legend-name", title: name }, name),
      el("button", {
        type: "button",
        class: "remove",
        "aria-label": `Remove ${name} from the comparison`,
        onclick: () => onRemove(id),
      }, "×"),
    );
  }));
}

function columns(metric) {
  const spec = METRICS[metric];
  const head = [
    { text: "Run", class: "fill" },
    { text: "Final", class: "num", title: "Value at the last recorded step" },
    { text: spec.lowerIsBetter ? "Lowest" : "Best", class: "num" },
    { text: "Best step", class: "num", title: "First step that reached the best value" },
  ];
  for (const t of spec.accuracy ? THRESHOLDS : []) {
    const percent = Math.round(Number(t) * 100);
    head.push({ text: `≥ ${percent}%`, class: "num", title: `First step at or above ${t}` });
  }
  head.push(
    { text: "AUC", class: "num", title: "Area under the curve over the steps it spans" },
    { text: "Diverged", class: "num", title: "Step where the loss blew up" },
  );
  return head;
}

function valueCell(metric, testid, value, extra) {
  const attributes = { class: "num", "data-testid": testid, "data-value": value ?? "" };
  return el("td", { ...attributes, ...extra }, fmtValue(metric, value));
}

function stepCell(testid, step, extra) {
  const attributes = { class: "num", "data-testid": testid, "data-value": step ?? "" };
  const text = step === null || step === undefined ? "—" : step.toLocaleString();
  return el("td", { ...attributes, ...extra }, text);
}

function runHeader(run, status, progress, style) {
  return el(
    "th",
    { scope: "row", class: "fill" },
    el(
      "div",
      { class: "run-cell" },
      swatch(style(run.job_id)),
      el("span", { class: "job-name", "data-testid": "summary-name", title: run.name }, run.name),
    ),
    el(
      "div",
      { class: "run-meta" },
      statusPill(status),
      el("span", { class: "muted small" }, `#${run.job_id}${progress}`),
    ),
  );
}

/**
 * Fill the summary table from a GET /compare body. `known` maps a job id to
 * the freshest {status, step, total}, which may be newer than the body's.
 */
export function renderSummary(parts, { comparison, metric, band, known, style }) {
  const spec = METRICS[metric];
  const runs = comparison?.runs ?? [];
  parts.head.replaceChildren(...columns(metric).map((c) => el("th", { scope: "col", ...c })));
  parts.caption.textContent = `Summary of ${spec.label}, computed from every recorded point`;
  parts.wrap.hidden = runs.length === 0;

  // The best final value, in bold when at least two runs have one.
  const finals = runs.map((run) => run.summary.final).filter((v) => v !== null);
  let leader = null;
  for (const v of finals.length > 1 ? finals : []) {
    if (leader === null || (spec.lowerIsBetter ? v < leader : v > leader)) leader = v;
  }

  parts.body.replaceChildren(...runs.map((run) => {
    const s = run.summary;
    const now = known.get(run.job_id);
    const status = now?.status ?? run.status;
    const progress = status === "running" && now?.total
      ? ` · ${Math.floor((100 * now.step) / now.total)}%`
      : "";
    const cells = [
      runHeader(run, status, progress, style),
      valueCell(metric, "summary-final", s.final, {
        class: s.final !== null && s.final === leader ? "num leader" : "num",
      }),
      valueCell(metric, "summary-best", s.best),
      stepCell("summary-best-step", s.best_step),
    ];
    for (const t of spec.accuracy ? THRESHOLDS : []) {
      const hit = s.thresholds[t];
      cells.push(stepCell("summary-threshold", hit?.step, {
        "data-threshold": t,
        title: hit?.elapsed_s == null ? null : `after ${fmtDuration(hit.elapsed_s)}`,
      }));
    }
    cells.push(
      valueCell(metric, "summary-auc", s.auc),
      stepCell("summary-diverged", s.diverged_at),
    );
    return el("tr", { "data-testid": "summary-row", "data-job-id": run.job_id }, ...cells);
  }));

  const bucket = comparison?.bucket_steps ?? 1;
  const banded = band ? ", with a band from each stretch's minimum to its maximum" : "";
  parts.note.textContent = !runs.length
    ? ""
    : bucket > 1
      ? `The chart is downsampled to at most one point per ${bucket} steps${banded}; `
        + "the table uses every recorded point."
      : "The chart shows every recorded point.";
}
