// Element builders, and `$` to find one by id. Every string from the server
// (job and sweep names are user input) goes through textContent, append() or
// setAttribute() on a fixed attribute name; nothing here, or anywhere on the
// page, parses HTML.

// The page's inline <svg> carries the SVG namespace; new chart nodes need it.
const SVG_NS = document.getElementById("chart").namespaceURI;

/** The page's element with this id. */
export const $ = (id) => document.getElementById(id);

function setAttributes(node, attributes) {
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  return node;
}

function build(node, attributes, children) {
  setAttributes(node, attributes);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** An HTML element: el("td", { class: "num" }, "text", otherNode). */
export function el(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/** An SVG element, the same way. */
export function svgEl(tag, attributes, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attributes, children);
}

/** A short line in a run's colour and dash, for legends and tables. */
export function swatch({ color, dash }) {
  return svgEl(
    "svg",
    { class: "swatch", width: 18, height: 10, "aria-hidden": "true" },
    svgEl("line", {
      x1: 1, y1: 5, x2: 17, y2: 5,
      stroke: color, "stroke-width": 3, "stroke-dasharray": dash || null,
    }),
  );
}

/** A job status as a coloured pill that also spells the status out. */
export function statusPill(status) {
  return el("span", { class: `pill status-${status}`, "data-testid": "status" }, status);
}
