// The comparison chart: runs from GET /compare drawn as inline SVG lines on
// the shared step axis, with an optional min-max band and a hover readout.

import { el, svgEl, swatch } from "./dom.js";
import { METRICS, fmtNumber, fmtStep, fmtValue } from "./format.js";

const MARGIN = { top: 14, right: 20, bottom: 40, left: 58 };
const ACCURACY_TICKS = [0, 0.2, 0.4, 0.6, 0.8, 1];

/** Round ticks (1, 2 or 5 times a power of ten) covering [low, high]. */
function linearTicks(low, high, count) {
  const raw = (high - low) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  const ticks = [];
  for (let v = Math.ceil(low / step - 1e-9) * step; v <= high + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return { ticks, step };
}

function extent(runs, band) {
  // Loops, not Math.min(...values): 50 runs x 1000 points x 3 overflow the stack.
  let min = Infinity;
  let max = -Infinity;
  let minPositive = Infinity;
  for (const run of runs) {
    for (const list of band ? [run.values, run.min, run.max] : [run.values]) {
      for (const v of list) {
        if (v === null || !Number.isFinite(v)) continue;
        min = Math.min(min, v);
        max = Math.max(max, v);
        if (v > 0) minPositive = Math.min(minPositive, v);
      }
    }
  }
  return { min, max, minPositive };
}

/** The y scale: `at` maps a value to pixels, `ok` says whether it can be drawn. */
function yScale({ runs, metric, logY, band, top, bottom }) {
  const span = bottom - top;
  if (METRICS[metric].accuracy) {
    return {
      at: (v) => bottom - v * span,
      ticks: ACCURACY_TICKS,
      label: (v) => `${Math.round(v * 100)}%`,
      ok: () => true,
    };
  }

  const { min, max, minPositive } = extent(runs, band);
  if (logY) {
    const lo = Number.isFinite(minPositive) ? Math.floor(Math.log10(minPositive)) : -1;
    const hi = Math.max(lo + 1, max > 0 ? Math.ceil(Math.log10(max)) : lo + 1);
    const ticks = [];
    for (let e = lo; e <= hi; e++) {
      ticks.push(10 ** e);
      if (hi - lo <= 2 && e < hi) ticks.push(2 * 10 ** e, 5 * 10 ** e);
    }
    return {
      at: (v) => bottom - ((Math.log10(v) - lo) / (hi - lo)) * span,
      ticks: ticks.sort((a, b) => a - b),
      label: (v) => (v < 1e-3 || v >= 1e5 ? v.toExponential(0) : fmtNumber(v)),
      ok: (v) => v > 0,
    };
  }

  const low = Number.isFinite(min) ? Math.min(0, min) : 0;
  const high = Number.isFinite(max) && max > low ? max : low + 1;
  const { step } = linearTicks(low, high, 5);
  const end = Math.ceil(high / step - 1e-9) * step; // round up to a tick
  return {
    at: (v) => bottom - ((v - low) / (end - low)) * span,
    ticks: linearTicks(low, end, 5).ticks,
    label: fmtNumber,
    ok: () => true,
  };
}

/** An SVG path through the drawable values, skipping gaps on the shared axis. */
function linePath(steps, values, x, y) {
  let d = "";
  let count = 0;
  let last = null;
  for (let i = 0; i < steps.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v) || !y.ok(v)) continue;
    last = [x(steps[i]).toFixed(1), y.at(v).toFixed(1)];
    d += `${count ? "L" : "M"}${last[0]},${last[1]}`;
    count++;
  }
  return { d, count, last };
}

/** A closed path along the maxima and back along the minima. */
function bandPath(steps, run, x, y) {
  const upper = [];
  const lower = [];
  for (let i = 0; i < steps.length; i++) {
    const lo = run.min[i];
    const hi = run.max[i];
    if (lo === null || hi === null || !y.ok(lo) || !y.ok(hi)) continue;
    const px = x(steps[i]).toFixed(1);
    upper.push(`${px},${y.at(hi).toFixed(1)}`);
    lower.push(`${px},${y.at(lo).toFixed(1)}`);
  }
  return upper.length > 1 ? `M${upper.join("L")}L${lower.reverse().join("L")}Z` : "";
}

function nearestIndex(steps, step) {
  let lo = 0;
  let hi = steps.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && step - steps[lo - 1] < steps[lo] - step) lo--;
  return lo;
}

function valueNear(values, index) {
  // Runs with other eval intervals leave gaps on the shared axis.
  for (let offset = 0; offset < 64; offset++) {
    for (const i of [index - offset, index + offset]) {
      if (i >= 0 && i < values.length && values[i] !== null) return [i, values[i]];
    }
  }
  return [index, null];
}

function centred(width, height, text) {
  return svgEl(
    "text",
    { x: width / 2, y: height / 2, class: "chart-message", "text-anchor": "middle" },
    text,
  );
}

export class Chart {
  constructor(svg, tooltip) {
    this.svg = svg;
    this.tooltip = tooltip;
    this.view = null; // what the pointer handlers need from the last draw
    this.pointer = null; // where the pointer is, to keep the readout across redraws
    svg.addEventListener("pointermove", (event) => this.hover(event));
    svg.addEventListener("pointerleave", () => {
      this.pointer = null;
      this.unhover();
    });
  }

  /** Pixels across the plot: more points than this are not worth fetching. */
  plotWidth() {
    return (this.svg.parentElement.clientWidth || 800) - MARGIN.left - MARGIN.right;
  }

  /**
   * Draw `comparison` (a GET /compare body), or just `message` when given.
   * style(jobId) gives {color, dash}; the x-axis ends at the last of `steps`,
   * or at lastStep if that is further.
   */
  draw({ comparison, metric, logY, band, style, lastStep, message }) {
    const width = Math.max(320, this.svg.parentElement.clientWidth);
    const height = Math.round(Math.min(420, Math.max(260, width * 0.46)));
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", height);
    this.unhover();
    this.view = null;
    if (message) {
      this.svg.replaceChildren(centred(width, height, message));
      return;
    }

    const { steps, runs } = comparison;
    const right = width - MARGIN.right;
    const bottom = height - MARGIN.bottom;
    const end = Math.max(1, lastStep, steps.at(-1) ?? 0);
    this.svg.dataset.xEnd = end;
    const x = (step) => MARGIN.left + (step / end) * (right - MARGIN.left);
    const y = yScale({ runs, metric, logY, band, top: MARGIN.top, bottom });

    // 1. grid and axes
    const grid = svgEl("g", { class: "grid" });
    const axes = svgEl("g", { class: "axis" });
    for (const tick of y.ticks) {
      const py = y.at(tick);
      if (py < MARGIN.top - 1 || py > bottom + 1) continue;
      grid.append(svgEl("line", { x1: MARGIN.left, x2: right, y1: py, y2: py }));
      axes.append(
        svgEl("text", { x: MARGIN.left - 8, y: py + 4, "text-anchor": "end" }, y.label(tick)),
      );
    }
    const xTicks = linearTicks(0, end, Math.max(2, Math.floor((right - MARGIN.left) / 90)));
    for (const tick of xTicks.ticks) {
      const px = x(tick);
      grid.append(svgEl("line", { x1: px, x2: px, y1: MARGIN.top, y2: bottom }));
      axes.append(
        svgEl("text", { x: px, y: bottom + 18, "text-anchor": "middle" }, fmtStep(tick)),
      );
    }
    const middle = (MARGIN.top + bottom) / 2;
    axes.append(
      svgEl("line", { x1: MARGIN.left, x2: right, y1: bottom, y2: bottom, class: "baseline" }),
      svgEl(
        "text",
        { x: (MARGIN.left + right) / 2, y: height - 4, "text-anchor": "middle", class: "title" },
        "step",
      ),
      svgEl(
        "text",
        { transform: `translate(14 ${middle}) rotate(-90)`, "text-anchor": "middle", class: "title" },
        METRICS[metric].label + (logY ? " (log scale)" : ""),
      ),
    );

    // 2. one band, line and end dot per run
    const bands = svgEl("g");
    const lines = svgEl("g");
    const ends = svgEl("g");
    let drawn = 0;
    for (const run of runs) {
      const { color, dash } = style(run.job_id);
      const area = band && comparison.bucket_steps > 1 ? bandPath(steps, run, x, y) : "";
      if (area) {
        bands.append(svgEl("path", {
          d: area, fill: color, class: "band",
          "data-testid": "chart-band", "data-job-id": run.job_id,
        }));
      }
      const line = linePath(steps, run.values, x, y);
      drawn += line.count;
      lines.append(svgEl("path", {
        d: line.d || `M${MARGIN.left},${bottom}`,
        stroke: color,
        "stroke-dasharray": dash || null,
        class: "line",
        "data-testid": "chart-line",
        "data-job-id": run.job_id,
        "data-points": line.count,
      }, svgEl("title", null, run.name)));
      if (line.last) {
        ends.append(svgEl("circle", {
          cx: line.last[0], cy: line.last[1], r: 3.5, fill: color,
          class: run.status === "running" ? "end running" : "end",
        }));
      }
    }

    // 3. clip to the plot; a transparent overlay takes the pointer
    const clip = svgEl("clipPath", { id: "plot-clip" }, svgEl("rect", {
      x: MARGIN.left, y: MARGIN.top - 4,
      width: right - MARGIN.left + 6, height: bottom - MARGIN.top + 8,
    }));
    const cursor = svgEl("g", { class: "cursor", visibility: "hidden" });
    const overlay = svgEl("rect", {
      x: MARGIN.left, y: MARGIN.top, width: right - MARGIN.left, height: bottom - MARGIN.top,
      class: "overlay",
    });
    this.svg.replaceChildren(
      svgEl("defs", null, clip),
      grid,
      axes,
      svgEl("g", { "clip-path": "url(#plot-clip)" }, bands, lines, ends),
      cursor,
      overlay,
    );
    if (!drawn) this.svg.append(centred(width, height, "Waiting for the first points…"));
    this.view = { comparison, metric, style, x, y, width, right, bottom, end, cursor };
    if (this.pointer) this.hover(this.pointer);
  }

  hover(event) {
    this.pointer = { clientX: event.clientX, clientY: event.clientY };
    const view = this.view;
    if (!view?.comparison.steps.length) return;
    const { comparison, metric, style, x, y } = view;
    const box = this.svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * view.width;
    const index = nearestIndex(
      comparison.steps,
      ((px - MARGIN.left) / (view.right - MARGIN.left)) * view.end,
    );
    const cx = x(comparison.steps[index]);

    const marks = [svgEl("line", { x1: cx, x2: cx, y1: MARGIN.top, y2: view.bottom })];
    const rows = [];
    for (const run of comparison.runs) {
      const [i, value] = valueNear(run.values, index);
      if (value !== null && y.ok(value)) {
        marks.push(svgEl("circle", {
          cx: x(comparison.steps[i]), cy: y.at(value), r: 4, fill: style(run.job_id).color,
        }));
      }
      rows.push(el(
        "li",
        null,
        swatch(style(run.job_id)),
        el("span", { class: "tip-name" }, run.name),
        el("span", { class: "tip-value" }, fmtValue(metric, value)),
      ));
    }
    view.cursor.replaceChildren(...marks);
    view.cursor.setAttribute("visibility", "visible");

    const step = comparison.steps[index].toLocaleString();
    this.tooltip.replaceChildren(
      el("div", { class: "tip-step" }, `step ${step}`),
      el("ul", null, ...rows),
    );
    this.tooltip.hidden = false;
    // Beside the cursor line and below the pointer, kept inside the chart.
    const left = (cx / view.width) * box.width;
    const flip = left > box.width * 0.6;
    this.tooltip.style.left = flip ? "" : `${left + 14}px`;
    this.tooltip.style.right = flip ? `${box.width - left + 14}px` : "";
    const below = event.clientY - box.top + 16;
    const room = box.height - this.tooltip.offsetHeight - 4;
    this.tooltip.style.top = `${Math.max(4, Math.min(below, room))}px`;
  }

  unhover() {
    this.tooltip.hidden = true;
    this.view?.cursor.setAttribute("visibility", "hidden");
  }
}
