// Tocsin console: functions (list, create, edit, delete, variables) and Execute now.
import {
  Q, S, ago, api, can, closeDialog, failure, field, guarded, h, localTime, openDialog,
  queries, reason, select, show, status,
} from "./core.js";

// ------------------------------------------------------------------- functions

export async function functionsView(root) {
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
