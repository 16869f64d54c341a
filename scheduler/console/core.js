// Tocsin console: shared state, DOM helpers, the REST client and the section switch.
// Everything goes through the public REST API with the signed-in key (kept in
// sessionStorage only), so the console can never do what the API would refuse.

export const STORE = { project: "tocsin.project", key: "tocsin.key" };
export const POLL_MS = 2000;
export const S = { project: "", key: "", scopes: new Set(), view: "functions", timers: [], stripTimer: 0,
  functionsDomain: "",
  functions: [], filter: { functionId: "", status: "", trigger: "", from: "", to: "" },
  pages: [] };

// ------------------------------------------------------------------- DOM helpers

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
export function field(label, input, hint) {
  input.id = input.id || `f${++uid}`;
  const parts = [h("label", { for: input.id }, label), hint ? h("div", {}, input, hint) : input];
  return parts;
}

export function select(options, value) {
  return h("select", {}, options.map(([v, text]) =>
    h("option", { value: v, selected: v === value }, text)));
}

export function ago(iso) {
  if (!iso) return "-";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  const abs = Math.abs(s);
  const text = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.round(abs / 60)}m`
    : abs < 86400 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

export function localTime(iso, zone) {
  const opts = { dateStyle: "medium", timeStyle: "short" };
  if (zone) opts.timeZone = zone;
  return new Date(iso).toLocaleString(undefined, opts);
}

export function status(text) {
  return h("span", { class: `status-${text}` }, text);
}

export function clearTimers() {
  S.timers.forEach(clearInterval);
  S.timers = [];
}

// ------------------------------------------------------------------- the API

export async function api(method, path, body) {
  const headers = { "X-Appwrite-Project": S.project, "X-Appwrite-Key": S.key };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(`/v1${path}`, init);
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(data.message || `HTTP ${r.status}`);
    err.type = data.type;
    err.code = r.status;
    throw err;
  }
  return data;
}

export const Q = {
  limit: (n) => ({ method: "limit", values: [n] }),
  desc: (a) => ({ method: "orderDesc", attribute: a }),
  after: (id) => ({ method: "cursorAfter", values: [id] }),
  equal: (a, v) => ({ method: "equal", attribute: a, values: [v] }),
  gte: (a, v) => ({ method: "greaterThanEqual", attribute: a, values: [v] }),
  lt: (a, v) => ({ method: "lessThan", attribute: a, values: [v] }),
};
export const queries = (list) => list.map((q) => `queries[]=${encodeURIComponent(JSON.stringify(q))}`)
  .join("&");

export const can = (scope) => S.scopes.has(scope);
export const reason = (scope) => (can(scope) ? null : `Needs the ${scope} scope, which this key lacks.`);

export function guarded(text, scope, onclick, extra) {
  const why = reason(scope);
  return h("button", { type: "button", disabled: !!why, title: why || undefined,
    onclick, ...(extra || {}) }, text);
}

// ------------------------------------------------------------------- the shell

export function render(...nodes) {
  const app = document.getElementById("app");
  app.replaceChildren(...nodes);
}


// Filled in by console.js: each section's view, by name (keeps the modules acyclic).
export const VIEWS = {};

export function show(view) {
  clearTimers();
  S.view = view;
  const tabs = h("nav", { class: "tabs", "aria-label": "Sections" },
    [["functions", "Functions"], ["executions", "Executions"], ["schedules", "Schedules"],
      ["deployments", "Deployments"], ["domains", "Domains"]]
      .map(([v, text]) => h("button", { type: "button", "aria-current": v === view ? "page" : undefined,
        onclick: () => show(v) }, text)));
  const body = h("div", {});
  render(tabs, body);
  VIEWS[view](body);
}

export function failure(where, e) {
  where.replaceChildren(h("p", { class: "error", role: "alert" }, e.message));
}

export function openDialog(title, ...content) {
  const dialog = document.getElementById("dialog");
  dialog.replaceChildren(h("h2", { id: "dialog-title" }, title), ...content);
  if (!dialog.open) dialog.showModal();
  return dialog;
}

export function closeDialog() {
  document.getElementById("dialog").close();
}
