// Talking to the JSON API on the same origin, and the status line that says
// whether that is working.

import { $ } from "./dom.js";

export async function getJSON(path, params, signal) {
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

export function showConnection(message, isError) {
  const line = $("connection");
  line.textContent = message;
  line.classList.toggle("error", Boolean(isError));
}

export const complain = (what) => (error) => showConnection(`${what}: ${error.message}`, true);
