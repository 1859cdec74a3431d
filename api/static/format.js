// Numbers, steps, durations and metrics as people read them.

export const METRICS = {
  test_accuracy: { label: "test accuracy", accuracy: true },
  train_accuracy: { label: "train accuracy", accuracy: true },
  loss: { label: "loss", lowerIsBetter: true },
  learning_rate: { label: "learning rate" },
};

const missing = (value) => value === null || value === undefined;

/** Four significant digits; exponents for the very large and very small. */
export function fmtNumber(value) {
  if (missing(value)) return "—";
  if (value === 0) return "0";
  const size = Math.abs(value);
  if (size >= 1e5 || size < 1e-3) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

export function fmtPercent(value, digits = 2) {
  return missing(value) ? "—" : `${(value * 100).toFixed(digits)}%`;
}

/** A value of `metric`: accuracies in percent, the rest as numbers. */
export function fmtValue(metric, value) {
  return METRICS[metric].accuracy ? fmtPercent(value) : fmtNumber(value);
}

/** 12000 -> "12k", 2500 -> "2.5k". */
export function fmtStep(step) {
  if (step >= 1e6) return `${Number((step / 1e6).toFixed(2))}M`;
  if (step >= 1000) return `${Number((step / 1000).toFixed(2))}k`;
  return String(step);
}

export function fmtDuration(seconds) {
  if (missing(seconds)) return "";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** An ISO timestamp relative to now: "just now", "5 min ago". */
export function fmtAgo(iso) {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

const GRID_LABELS = { "optimizer.name": "optimizer", "optimizer.learning_rate": "lr" };
const GRID_VALUE_CHARS = 32; // per value shown; the title carries the rest

/** Compact JSON, except that strings go bare: the key says what they are. */
function gridValue(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function clip(text, limit) {
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/**
 * A sweep's grid as {text, title}: "optimizer: sgd, adam · hidden_sizes: [10],
 * [20,10]", each value clipped, and in full as one "path: JSON" line per key.
 */
export function describeGrid(grid) {
  const entries = Object.entries(grid);
  const text = entries.map(([path, values]) => {
    const label = GRID_LABELS[path] ?? path.split(".").pop();
    const shown = [].concat(values).map((v) => clip(gridValue(v), GRID_VALUE_CHARS));
    return `${label}: ${shown.join(", ")}`;
  });
  const title = entries.map(([path, values]) => `${path}: ${JSON.stringify(values)}`);
  return { text: text.join(" · "), title: title.join("\n") };
}
