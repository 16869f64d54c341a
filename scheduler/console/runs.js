// Tocsin console: executions (live table, filters, details, cancel, re-run) and schedules.
import {
  POLL_MS, Q, S, ago, api, can, closeDialog, failure, field, guarded, h, localTime,
  openDialog, queries, reason, select, show, status,
} from "./core.js";

// ------------------------------------------------------------------- executions

export function executionsView(root) {
  const fnSelect = select([["", "All functions"], ...S.functions.map((f) => [f.$id, f.name])],
    S.filter.functionId);
  const st = select([["", "Any"], ...["scheduled", "waiting", "processing", "completed",
    "failed"].map((x) => [x, x]), ["dead", "dead letters"]], S.filter.status);
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
  if (f.status === "dead") base.push(Q.equal("dead", true));  // Tocsin's retries
  else if (f.status) base.push(Q.equal("status", f.status));
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
  const act = (text, method, path) => guarded(text, "executions.write", async () => {
    try {
      await api(method, `/functions/${ex.functionId}/executions/${ex.$id}${path}`);
      closeDialog();
      show("executions");
    } catch (e) { err.textContent = e.message; }
  });
  // A scheduled run is deleted (Appwrite's cancel); a waiting or running one is
  // cancelled (its runner stopped); a finished one can be re-run with its request.
  const cancel = ex.status === "scheduled" ? act("Cancel execution", "DELETE", "")
    : ["waiting", "processing"].includes(ex.status) ? act("Cancel execution", "POST", "/cancel")
      : act("Re-run", "POST", "/rerun");
  openDialog(`Execution ${ex.$id}`, h("dl", { class: "grid" },
    ...[["Function", ex.functionId], ["Status", ex.status], ["Trigger", ex.trigger],
      ["Request", `${ex.requestMethod} ${ex.requestPath}`],
      ["Request headers", ex.requestHeaders.map((x) => `${x.name}: ${x.value}`).join("; ") || "-"],
      ["Response code", String(ex.responseStatusCode)], ["Duration", `${ex.duration} s`],
      ["Scheduled at", ex.scheduledAt || "-"], ["Scheduled for", ex.scheduledFor || "-"],
      ["Attempt", `${ex.attempt ?? 1}${ex.retryOf ? ` (retry of ${ex.retryOf})` : ""}`
        + (ex.dead ? " · dead letter" : "")],
      ["Created", ex.$createdAt]].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
  h("h3", {}, "Logs"), h("pre", {}, ex.logs || "(none)"),
  h("h3", {}, "Errors"), h("pre", {}, ex.errors || "(none)"), err,
  h("div", { class: "buttons" }, cancel,
    h("button", { type: "button", onclick: closeDialog }, "Close")));
}

// ------------------------------------------------------------------- schedules

export async function schedulesView(root) {
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
