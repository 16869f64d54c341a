// Tocsin's web console. It talks to Tocsin only through the public REST API, with
// the key the operator signed in with (kept in sessionStorage, never in a URL or a
// log), so it can never do what the API would refuse. No build step, no libraries.

const STORE = { project: "tocsin.project", key: "tocsin.key" };
const POLL_MS = 2000;
const S = { project: "", key: "", scopes: new Set(), view: "functions", timers: [], stripTimer: 0,
  functions: [], filter: { functionId: "", status: "", trigger: "", from: "", to: "" },
  pages: [] };

// ------------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...children) {
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
function field(label, input, hint) {
  input.id = input.id || `f${++uid}`;
  const parts = [h("label", { for: input.id }, label), hint ? h("div", {}, input, hint) : input];
  return parts;
}

function select(options, value) {
  return h("select", {}, options.map(([v, text]) =>
    h("option", { value: v, selected: v === value }, text)));
}

function ago(iso) {
  if (!iso) return "-";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  const abs = Math.abs(s);
  const text = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.round(abs / 60)}m`
    : abs < 86400 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

function localTime(iso, zone) {
  const opts = { dateStyle: "medium", timeStyle: "short" };
  if (zone) opts.timeZone = zone;
  return new Date(iso).toLocaleString(undefined, opts);
}

function status(text) {
  return h("span", { class: `status-${text}` }, text);
}

function clearTimers() {
  S.timers.forEach(clearInterval);
  S.timers = [];
}

// ------------------------------------------------------------------- the API

async function api(method, path, body) {
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

const Q = {
  limit: (n) => ({ method: "limit", values: [n] }),
  desc: (a) => ({ method: "orderDesc", attribute: a }),
  after: (id) => ({ method: "cursorAfter", values: [id] }),
  equal: (a, v) => ({ method: "equal", attribute: a, values: [v] }),
  gte: (a, v) => ({ method: "greaterThanEqual", attribute: a, values: [v] }),
  lt: (a, v) => ({ method: "lessThan", attribute: a, values: [v] }),
};
const queries = (list) => list.map((q) => `queries[]=${encodeURIComponent(JSON.stringify(q))}`)
  .join("&");

const can = (scope) => S.scopes.has(scope);
const reason = (scope) => (can(scope) ? null : `Needs the ${scope} scope, which this key lacks.`);

function guarded(text, scope, onclick, extra) {
  const why = reason(scope);
  return h("button", { type: "button", disabled: !!why, title: why || undefined,
    onclick, ...(extra || {}) }, text);
}

// ------------------------------------------------------------------- sign in

function signinView(message) {
  clearTimers();
  document.getElementById("signout").hidden = true;
  document.getElementById("strip").hidden = true;
  document.getElementById("who").textContent = "";
  const project = h("input", { name: "project", required: true, autocomplete: "off" });
  const key = h("input", { name: "key", type: "password", required: true,
    autocomplete: "off" });
  const err = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "card signin", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    await signIn(project.value.trim(), key.value.trim(), err);
  } }, h("h2", {}, "Sign in"),
  h("div", { class: "grid" }, field("Project ID", project), field("API key", key)),
  h("p", { class: "hint" }, "The key stays in this tab's session storage; Sign out clears it."),
  err, h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" },
    "Sign in")));
  render(form);
  project.focus();
}

async function signIn(project, key, err) {
  S.project = project;
  S.key = key;
  try {
    const me = await api("GET", "/scheduler/whoami");
    if (me.role !== "applications") throw new Error(
      `This key is not a valid key of project ${project} (wrong, expired or another project's).`);
    S.scopes = new Set(me.scopes);
  } catch (e) {
    S.key = "";
    if (err) err.textContent = e.message;
    else signinView(e.message);
    return;
  }
  sessionStorage.setItem(STORE.project, project);
  sessionStorage.setItem(STORE.key, key);
  shell();
}

function signOut() {
  clearInterval(S.stripTimer);
  sessionStorage.removeItem(STORE.project);
  sessionStorage.removeItem(STORE.key);
  Object.assign(S, { key: "", scopes: new Set(), view: "functions", functions: [], pages: [],
    filter: { functionId: "", status: "", trigger: "", from: "", to: "" } });
  signinView("Signed out.");
}

// ------------------------------------------------------------------- the shell

function render(...nodes) {
  const app = document.getElementById("app");
  app.replaceChildren(...nodes);
}

function shell() {
  document.getElementById("signout").hidden = false;
  document.getElementById("who").textContent =
    `Project ${S.project} · scopes: ${[...S.scopes].sort().join(", ") || "none"}`;
  strip();
  show(S.view);
}

async function strip() {
  const el = document.getElementById("strip");
  if (!can("scheduler.read")) { el.hidden = true; return; }
  el.hidden = false;
  const update = async () => {
    try {
      const st = await api("GET", "/scheduler/status");
      el.textContent = st.leader
        ? `Leader ${st.leader} (epoch ${st.epoch}) · last dispatch ${ago(st.lastDispatchAt)} · `
          + `dispatch lag ${st.dispatchLagMs ?? "-"} ms · unpublished backlog `
          + `${st.unpublishedBacklog} · standbys ${st.standbys.length}`
        : "No scheduler is leading: nothing is being dispatched.";
    } catch (e) { el.textContent = `Scheduler status unavailable: ${e.message}`; }
  };
  clearInterval(S.stripTimer);
  await update();
  S.stripTimer = setInterval(update, 5000);
}

function show(view) {
  clearTimers();
  S.view = view;
  const tabs = h("nav", { class: "tabs", "aria-label": "Sections" },
    [["functions", "Functions"], ["executions", "Executions"], ["schedules", "Schedules"]]
      .map(([v, text]) => h("button", { type: "button", "aria-current": v === view ? "page" : undefined,
        onclick: () => show(v) }, text)));
  const body = h("div", {});
  render(tabs, body);
  ({ functions: functionsView, executions: executionsView, schedules: schedulesView })[view](body);
}

function failure(where, e) {
  where.replaceChildren(h("p", { class: "error", role: "alert" }, e.message));
}

// ------------------------------------------------------------------- functions

async function functionsView(root) {
  const why = reason("functions.write");
  root.append(h("div", { class: "toolbar" },
    guarded("New function", "functions.write", () => functionDialog(null)),
    why ? h("span", { class: "reason" }, `Read-only: ${why} Creating, editing and deleting `
      + "functions are off.") : null));
  const holder = h("div", { class: "table-wrap" }, h("p", {}, "Loading functions…"));
  root.append(holder);
  if (!can("functions.read")) { holder.replaceChildren(h("p", { class: "reason" },
    reason("functions.read"))); return; }
  try {
    const [{ functions }, schedules] = await Promise.all([
      api("GET", "/functions?" + queries([Q.limit(100)])),
      can("scheduler.read") ? api("GET", "/scheduler/schedules") : { schedules: [] }]);
    S.functions = functions;
    const own = new Map(schedules.schedules.filter((s) => s.key === "default")
      .map((s) => [s.functionId, s]));
    const rows = await Promise.all(functions.map((fn) => functionRow(fn, own.get(fn.$id))));
    holder.replaceChildren(h("table", {}, h("caption", {}, `${functions.length} function(s)`),
      h("thead", {}, h("tr", {}, ["Name", "Runtime", "Schedule", "Enabled", "Last execution",
        "Actions"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows)));
  } catch (e) { failure(holder, e); }
}

async function describeSchedule(expression, zone) {
  const p = await api("GET", `/scheduler/cron/preview?expression=${encodeURIComponent(expression)}`
    + `&timezone=${encodeURIComponent(zone)}&count=1`);
  return p;
}

async function functionRow(fn, sched) {
  let scheduleCell = h("td", {}, "-");
  if (sched) {
    try {
      const p = await describeSchedule(sched.schedule, sched.timezone);
      scheduleCell = h("td", {}, p.description,
        h("span", { class: "sub" }, `next ${localTime(sched.nextFireAt, sched.timezone)} `
          + `(${sched.timezone}) · ${new Date(sched.nextFireAt).toISOString().slice(0, 16)}Z`),
        sched.paused ? h("span", { class: "sub" }, `paused: ${sched.pauseNote}`) : null);
    } catch (e) { scheduleCell = h("td", {}, sched.schedule); }
  } else if (fn.schedule) scheduleCell = h("td", {}, fn.schedule);
  let last = "-";
  if (can("executions.read")) {
    try {
      const got = await api("GET", `/functions/${fn.$id}/executions?`
        + queries([Q.limit(1), Q.desc("$createdAt")]) + "&total=false");
      if (got.executions.length) last = h("span", {}, status(got.executions[0].status),
        h("span", { class: "sub" }, ago(got.executions[0].$createdAt)));
    } catch (e) { last = "?"; }
  }
  return h("tr", {}, h("td", {}, fn.name, h("span", { class: "sub" }, fn.$id)),
    h("td", {}, fn.runtime), scheduleCell, h("td", {}, fn.enabled ? "yes" : "no"),
    h("td", {}, last), h("td", {}, h("div", { class: "actions" },
      guarded("Execute now", "executions.write", () => executeDialog(fn)),
      guarded("Edit", "functions.write", () => functionDialog(fn)),
      guarded("Variables", "functions.read", () => variablesDialog(fn)),
      h("button", { type: "button", onclick: () => { S.filter.functionId = fn.$id;
        show("executions"); } }, "Executions"),
      guarded("Delete", "functions.write", async () => {
        if (!confirm(`Delete function ${fn.name} (${fn.$id}) with its schedules?`)) return;
        try { await api("DELETE", `/functions/${fn.$id}`); show("functions"); }
        catch (e) { alert(e.message); }
      }))));
}

function openDialog(title, ...content) {
  const dialog = document.getElementById("dialog");
  dialog.replaceChildren(h("h2", { id: "dialog-title" }, title), ...content);
  if (!dialog.open) dialog.showModal();
  return dialog;
}

function closeDialog() {
  document.getElementById("dialog").close();
}

function functionDialog(fn) {
  const creating = fn === null;
  fn = fn || { name: "", runtime: "python-3.12", entrypoint: "", url: "", schedule: "",
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", timeout: 15,
    execute: [], events: [], missedPolicy: "latest", overlap: "allow", jitter: 0,
    enabled: true };
  const f = {
    id: h("input", { value: "", required: creating, placeholder: "unique()" }),
    name: h("input", { value: fn.name, required: true }),
    runtime: h("select", {}, h("option", { value: fn.runtime }, fn.runtime)),
    entrypoint: h("input", { value: fn.entrypoint, placeholder: "package.module:function" }),
    url: h("input", { value: fn.url, placeholder: "https://… (runtime http)" }),
    schedule: h("input", { value: fn.schedule, placeholder: "*/15 * * * *",
      "aria-describedby": "schedule-preview" }),
    timezone: h("input", { value: fn.timezone }),
    timeout: h("input", { type: "number", min: 1, max: 900, value: fn.timeout }),
    execute: h("input", { value: fn.execute.join(", "), placeholder: "any, users, team:ID" }),
    events: h("input", { value: fn.events.join(", "), placeholder: "functions.*.executions.*.update" }),
    missedPolicy: select([["latest", "latest"], ["skip", "skip"], ["all", "all"]], fn.missedPolicy),
    overlap: select([["allow", "allow"], ["skip", "skip"], ["buffer_one", "buffer_one"],
      ["cancel_other", "cancel_other"]], fn.overlap),
    jitter: h("input", { type: "number", min: 0, max: 3600, value: fn.jitter }),
    enabled: h("input", { type: "checkbox", checked: fn.enabled }),
  };
  const preview = h("div", { id: "schedule-preview", "aria-live": "polite", class: "hint" });
  const err = h("p", { class: "error", role: "alert" });
  api("GET", "/functions/runtimes").then(({ runtimes }) => {
    f.runtime.replaceChildren(...runtimes.map((r) =>
      h("option", { value: r.$id, selected: r.$id === fn.runtime }, r.$id)));
  }).catch(() => {});
  let pending;
  const check = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const expr = f.schedule.value.trim();
      f.schedule.removeAttribute("aria-invalid");
      if (!expr) { preview.replaceChildren("No schedule."); return; }
      try {
        const p = await api("GET", `/scheduler/cron/check?expression=${encodeURIComponent(expr)}`
          + `&timezone=${encodeURIComponent(f.timezone.value.trim() || "UTC")}&count=5`);
        if (!p.valid) throw new Error(p.error);
        preview.replaceChildren(h("strong", {}, p.description), h("ol", { class: "fires",
          "aria-label": "Next 5 fires" }, p.fires.map((x) => h("li", {},
          `${localTime(x.utc, p.timezone)} (${p.timezone}) · ${x.utc}`))));
      } catch (e) {
        f.schedule.setAttribute("aria-invalid", "true");
        preview.replaceChildren(h("span", { class: "error" }, e.message));
      }
    }, 250);
  };
  f.schedule.addEventListener("input", check);
  f.timezone.addEventListener("input", check);
  check();
  const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
  const save = async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const body = { name: f.name.value.trim(), runtime: f.runtime.value,
      entrypoint: f.entrypoint.value.trim(), url: f.url.value.trim(),
      schedule: f.schedule.value.trim(), timezone: f.timezone.value.trim() || "UTC",
      timeout: Number(f.timeout.value), execute: list(f.execute.value),
      events: list(f.events.value), missedPolicy: f.missedPolicy.value,
      overlap: f.overlap.value, jitter: Number(f.jitter.value), enabled: f.enabled.checked };
    try {
      if (creating) await api("POST", "/functions",
        { functionId: f.id.value.trim() || "unique()", ...body });
      else await api("PUT", `/functions/${fn.$id}`, body);
      closeDialog();
      show("functions");
    } catch (e) { err.textContent = e.message; }
  };
  openDialog(creating ? "New function" : `Edit ${fn.name}`,
    h("form", { onsubmit: save }, h("div", { class: "grid" },
      creating ? field("Function ID", f.id) : null, field("Name", f.name),
      field("Runtime", f.runtime), field("Entrypoint", f.entrypoint), field("URL", f.url),
      field("Schedule", f.schedule, preview), field("Timezone", f.timezone),
      field("Timeout (s)", f.timeout), field("Execute roles", f.execute),
      field("Events", f.events), field("Missed-run policy", f.missedPolicy),
      field("Overlap", f.overlap), field("Jitter (s)", f.jitter), field("Enabled", f.enabled)),
    err, h("div", { class: "buttons" },
      h("button", { type: "button", onclick: closeDialog }, "Cancel"),
      h("button", { type: "submit", class: "primary" }, "Save"))));
}

// ------------------------------------------------------------------- execute now

function executeDialog(fn) {
  const method = select(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    .map((m) => [m, m]), "POST");
  const path = h("input", { value: "/" });
  const body = h("textarea", {});
  const asyncBox = h("input", { type: "checkbox" });
  const at = h("input", { type: "datetime-local", step: 60 });
  const rows = h("div", { class: "rows" });
  const addHeader = () => {
    const name = h("input", { "aria-label": "Header name", placeholder: "X-Custom" });
    const value = h("input", { "aria-label": "Header value" });
    const row = h("div", { class: "row2" }, name, value,
      h("button", { type: "button", onclick: () => row.remove() }, "Remove"));
    rows.append(row);
  };
  const result = h("section", { "aria-live": "polite", "aria-label": "Result" });
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const run = async (ev) => {
    ev.preventDefault();
    const headers = {};
    for (const row of rows.children) {
      const [n, v] = row.querySelectorAll("input");
      if (n.value.trim()) headers[n.value.trim()] = v.value;
    }
    const payload = { method: method.value, path: path.value || "/", body: body.value,
      headers, async: asyncBox.checked };
    if (at.value) {
      payload.async = true;
      payload.scheduledAt = new Date(at.value).toISOString();
    }
    result.replaceChildren(h("p", {}, "Running…"));
    try {
      const ex = await api("POST", `/functions/${fn.$id}/executions`, payload);
      const parts = [h("p", {}, "Execution ", h("code", {}, ex.$id), ": ", status(ex.status),
        ex.scheduledAt ? ` at ${localTime(ex.scheduledAt)}` : "")];
      if (!payload.async) {
        parts.push(h("p", {}, `Response ${ex.responseStatusCode} in ${ex.duration.toFixed(3)} s`),
          h("h3", {}, "Response headers"), h("pre", {}, ex.responseHeaders
            .map((x) => `${x.name}: ${x.value}`).join("\n") || "-"),
          h("h3", {}, "Response body"), h("pre", { "aria-label": "Response body" },
            ex.responseBody || "(empty)"));
      }
      result.replaceChildren(...parts);
    } catch (e) { result.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)); }
  };
  openDialog(`Execute ${fn.name}`, h("form", { onsubmit: run }, h("div", { class: "grid" },
    field("Method", method), field("Path", path),
    h("span", { class: "label" }, "Headers"),
    h("div", {}, rows, h("button", { type: "button", onclick: addHeader }, "Add header")),
    field("Body", body), field("Async", asyncBox),
    field("Schedule at", at, h("span", { class: "hint" }, ` In your browser's time zone `
      + `(${zone}); sent as scheduledAt in UTC. Runs asynchronously.`))),
  h("div", { class: "buttons" }, h("button", { type: "button", onclick: closeDialog }, "Close"),
    h("button", { type: "submit", class: "primary" }, "Execute"))), result);
}

// ------------------------------------------------------------------- executions

function executionsView(root) {
  const fnSelect = select([["", "All functions"], ...S.functions.map((f) => [f.$id, f.name])],
    S.filter.functionId);
  const st = select([["", "Any"], ...["scheduled", "waiting", "processing", "completed",
    "failed"].map((x) => [x, x])], S.filter.status);
  const tr = select([["", "Any"], ...["http", "schedule", "event"].map((x) => [x, x])],
    S.filter.trigger);
  const from = h("input", { type: "datetime-local", value: S.filter.from });
  const to = h("input", { type: "datetime-local", value: S.filter.to });
  const holder = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "buttons" });
  const apply = () => {
    Object.assign(S.filter, { functionId: fnSelect.value, status: st.value,
      trigger: tr.value, from: from.value, to: to.value });
    S.pages = [];
    load();
  };
  [fnSelect, st, tr, from, to].forEach((x) => x.addEventListener("change", apply));
  const lab = (text, input) => h("label", {}, text, input);
  root.append(h("div", { class: "toolbar" }, lab("Function", fnSelect), lab("Status", st),
    lab("Trigger", tr), lab("From", from), lab("To", to),
    h("span", { class: "hint" }, "Newest first · refreshed every 2 s")), holder, pager);

  const load = async () => {
    if (!can("executions.read")) { holder.replaceChildren(h("p", { class: "reason" },
      reason("executions.read"))); return; }
    try {
      if (!S.functions.length) S.functions = (await api("GET", "/functions?"
        + queries([Q.limit(100)]))).functions;
      const cursor = S.pages[S.pages.length - 1];
      const rows = await fetchExecutions(cursor);
      holder.replaceChildren(executionsTable(rows.slice(0, 25)));
      pager.replaceChildren(
        h("button", { type: "button", disabled: !S.pages.length, onclick: () => {
          S.pages.pop(); load(); } }, "Newer"),
        h("button", { type: "button", disabled: rows.length <= 25, onclick: () => {
          const last = rows[24]; S.pages.push({ id: last.$id, at: last.$createdAt }); load();
        } }, "Older"));
    } catch (e) { failure(holder, e); }
  };
  load();
  S.timers.push(setInterval(() => { if (!S.pages.length) load(); }, POLL_MS));
}

async function fetchExecutions(cursor) {
  const base = [Q.desc("$createdAt"), Q.limit(26)];
  const f = S.filter;
  if (f.status) base.push(Q.equal("status", f.status));
  if (f.trigger) base.push(Q.equal("trigger", f.trigger));
  if (f.from) base.push(Q.gte("$createdAt", new Date(f.from).toISOString()));
  if (f.to) base.push(Q.lt("$createdAt", new Date(f.to).toISOString()));
  if (f.functionId) {
    const list = cursor ? [...base, Q.after(cursor.id)] : base;
    return (await api("GET", `/functions/${f.functionId}/executions?${queries(list)}`
      + "&total=false")).executions;
  }
  // Across functions: each one's newest page before the cursor, merged by time.
  const list = cursor ? [...base, Q.lt("$createdAt", cursor.at)] : base;
  const pages = await Promise.all(S.functions.map((fn) => api("GET",
    `/functions/${fn.$id}/executions?${queries(list)}&total=false`)
    .then((r) => r.executions).catch(() => [])));
  return pages.flat().sort((a, b) => (a.$createdAt < b.$createdAt ? 1 : -1)).slice(0, 26);
}

function executionsTable(rows) {
  const names = new Map(S.functions.map((f) => [f.$id, f.name]));
  return h("table", {}, h("caption", {}, `${rows.length} execution(s)`),
    h("thead", {}, h("tr", {}, ["Created", "Function", "Trigger", "Status", "Code", "Duration",
      "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((ex) => h("tr", { "data-id": ex.$id },
      h("td", {}, ago(ex.$createdAt), h("span", { class: "sub" }, ex.$createdAt)),
      h("td", {}, names.get(ex.functionId) || ex.functionId), h("td", {}, ex.trigger),
      h("td", {}, status(ex.status), ex.scheduledAt && ex.status === "scheduled"
        ? h("span", { class: "sub" }, `at ${localTime(ex.scheduledAt)}`) : null),
      h("td", {}, String(ex.responseStatusCode || "-")), h("td", {}, `${ex.duration.toFixed(3)} s`),
      h("td", {}, h("button", { type: "button", onclick: () => executionDialog(ex) },
        "Details"))))));
}

async function executionDialog(ex) {
  try { ex = await api("GET", `/functions/${ex.functionId}/executions/${ex.$id}`); }
  catch (e) { /* show what the list had */ }
  const err = h("p", { class: "error", role: "alert" });
  const cancel = ex.status === "scheduled" ? guarded("Cancel execution", "executions.write",
    async () => {
      try {
        await api("DELETE", `/functions/${ex.functionId}/executions/${ex.$id}`);
        closeDialog();
        show("executions");
      } catch (e) { err.textContent = e.message; }
    }) : null;
  openDialog(`Execution ${ex.$id}`, h("dl", { class: "grid" },
    ...[["Function", ex.functionId], ["Status", ex.status], ["Trigger", ex.trigger],
      ["Request", `${ex.requestMethod} ${ex.requestPath}`],
      ["Request headers", ex.requestHeaders.map((x) => `${x.name}: ${x.value}`).join("; ") || "-"],
      ["Response code", String(ex.responseStatusCode)], ["Duration", `${ex.duration} s`],
      ["Scheduled at", ex.scheduledAt || "-"], ["Scheduled for", ex.scheduledFor || "-"],
      ["Created", ex.$createdAt]].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
  h("h3", {}, "Logs"), h("pre", {}, ex.logs || "(none)"),
  h("h3", {}, "Errors"), h("pre", {}, ex.errors || "(none)"), err,
  h("div", { class: "buttons" }, cancel,
    h("button", { type: "button", onclick: closeDialog }, "Close")));
}

// ------------------------------------------------------------------- schedules

async function schedulesView(root) {
  const holder = h("div", { class: "table-wrap" }, h("p", {}, "Loading schedules…"));
  if (!S.functions.length && can("functions.read")) {
    try { S.functions = (await api("GET", "/functions?" + queries([Q.limit(100)]))).functions; }
    catch (e) { /* the form then says to create a function first */ }
  }
  const why = reason("scheduler.write");
  root.append(addScheduleForm(), why ? h("p", { class: "reason" }, `${why} Pausing, resuming, `
    + "triggering and adding schedules are off.") : null, holder);
  if (!can("scheduler.read")) { holder.replaceChildren(h("p", { class: "reason" },
    reason("scheduler.read"))); return; }
  try {
    const { schedules } = await api("GET", "/scheduler/schedules");
    holder.replaceChildren(h("table", {}, h("caption", {}, `${schedules.length} schedule(s)`),
      h("thead", {}, h("tr", {}, ["Function", "Key", "Schedule", "Next fire", "State",
        "Skips m/p/d/o", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, schedules.map(scheduleRow))));
  } catch (e) { failure(holder, e); }
}

function scheduleRow(s) {
  const sk = s.skipped;
  const act = (path, body) => async () => {
    try { await api("POST", `/scheduler/schedules/${s.$id}/${path}`, body); show("schedules"); }
    catch (e) { alert(e.message); }
  };
  return h("tr", { "data-id": s.$id }, h("td", {}, s.functionId), h("td", {}, s.key),
    h("td", {}, s.schedule, h("span", { class: "sub" }, s.timezone)),
    h("td", {}, ago(s.nextFireAt), h("span", { class: "sub" }, localTime(s.nextFireAt, s.timezone))),
    h("td", {}, s.disabled ? "disabled" : s.paused ? `paused: ${s.pauseNote}` : "active"),
    h("td", {}, `${sk.missed}/${sk.paused}/${sk.disabled}/${sk.overlap ?? 0}`),
    h("td", {}, h("div", { class: "actions" },
      s.paused ? guarded("Resume", "scheduler.write", act("resume"))
        : guarded("Pause", "scheduler.write", () => pauseDialog(s)),
      guarded("Trigger now", "scheduler.write", act("trigger")))));
}

function pauseDialog(s) {
  const note = h("input", { maxlength: 512, placeholder: "why, and until when" });
  const err = h("p", { class: "error", role: "alert" });
  openDialog(`Pause ${s.functionId} / ${s.key}`, h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", `/scheduler/schedules/${s.$id}/pause`, { note: note.value });
      closeDialog();
      show("schedules");
    } catch (e) { err.textContent = e.message; }
  } }, h("div", { class: "grid" }, field("Note", note)), err,
  h("div", { class: "buttons" }, h("button", { type: "button", onclick: closeDialog }, "Cancel"),
    h("button", { type: "submit", class: "primary" }, "Pause"))));
  note.focus();
}

function addScheduleForm() {
  const fn = select(S.functions.map((f) => [f.$id, f.name]), "");
  const key = h("input", { required: true, placeholder: "nightly" });
  const cron = h("input", { required: true, placeholder: "0 3 * * *" });
  const zone = h("input", { value: "UTC" });
  const err = h("p", { class: "error", role: "alert" });
  const disabled = !can("scheduler.write") || !S.functions.length;
  return h("details", { class: "card" }, h("summary", {}, "Add a schedule to a function"),
    h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api("POST", `/scheduler/functions/${fn.value}/schedules`,
          { key: key.value.trim(), schedule: cron.value.trim(), timezone: zone.value.trim() });
        show("schedules");
      } catch (e) { err.textContent = e.message; }
    } }, h("div", { class: "grid" }, field("Function", fn), field("Key", key),
      field("Cron", cron), field("Time zone", zone)), err,
    h("div", { class: "buttons" }, h("button", { type: "submit", disabled,
      title: disabled ? (reason("scheduler.write") || "Create a function first.") : undefined },
    "Add schedule"))));
}

// ------------------------------------------------------------------- variables

async function variablesDialog(fn) {
  const list = h("div", {});
  const err = h("p", { class: "error", role: "alert" });
  const key = h("input", { required: true });
  const value = h("input", {});
  const secret = h("input", { type: "checkbox" });
  const load = async () => {
    try {
      const { variables } = await api("GET", `/functions/${fn.$id}/variables`);
      list.replaceChildren(h("table", {}, h("caption", {}, `${variables.length} variable(s)`),
        h("tbody", {}, variables.map((v) => h("tr", {}, h("td", {}, v.key),
          h("td", {}, v.secret ? "(secret)" : v.value), h("td", {},
            guarded("Delete", "functions.write", async () => {
              try { await api("DELETE", `/functions/${fn.$id}/variables/${v.$id}`); load(); }
              catch (e) { err.textContent = e.message; }
            })))))));
    } catch (e) { failure(list, e); }
  };
  openDialog(`Variables of ${fn.name}`, list, h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", `/functions/${fn.$id}/variables`, { variableId: "unique()",
        key: key.value.trim(), value: value.value, secret: secret.checked });
      key.value = ""; value.value = ""; load();
    } catch (e) { err.textContent = e.message; }
  } }, h("div", { class: "grid" }, field("Key", key), field("Value", value),
    field("Secret", secret)), err, h("div", { class: "buttons" },
    h("button", { type: "button", onclick: closeDialog }, "Close"),
    h("button", { type: "submit", class: "primary", disabled: !can("functions.write"),
      title: reason("functions.write") || undefined }, "Add variable"))));
  load();
}

// ------------------------------------------------------------------- start

document.getElementById("signout").addEventListener("click", signOut);
const saved = [sessionStorage.getItem(STORE.project), sessionStorage.getItem(STORE.key)];
if (saved[0] && saved[1]) signIn(saved[0], saved[1], null);
else signinView();
