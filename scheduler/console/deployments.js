// Tocsin console: deployments. A function's uploaded code: upload a tar.gz (in 5 MiB
// chunks, as the SDKs send it), follow its build, read its logs, activate, cancel, delete.
import {
  POLL_MS, Q, S, ago, api, can, failure, field, guarded, h, openDialog, queries, reason, show,
  status,
} from "./core.js";

const CHUNK = 5 * 1024 * 1024; // the SDKs' chunk, which the API expects
const IN_BUILD = new Set(["waiting", "processing", "building"]);
let chosen = "";

export async function deploymentsView(root) {
  if (!can("functions.read")) {
    root.append(h("p", { class: "reason" }, reason("functions.read")));
    return;
  }
  const holder = h("div", { class: "table-wrap" }, h("p", {}, "Loading deployments…"));
  try {
    const { functions } = await api("GET", "/functions?" + queries([Q.limit(100)]));
    const runnable = functions.filter((fn) => fn.runtime !== "http");
    if (!runnable.length) {
      root.append(h("p", {}, "No function runs code of its own yet (http functions have "
        + "no deployments): create a python-* or node-* function first."));
      return;
    }
    if (!runnable.some((fn) => fn.$id === chosen)) chosen = runnable[0].$id;
    const picker = h("select", { onchange: () => { chosen = picker.value; show("deployments"); } },
      runnable.map((fn) => h("option", { value: fn.$id, selected: fn.$id === chosen },
        `${fn.name} (${fn.$id})`)));
    const fn = runnable.find((f) => f.$id === chosen);
    root.append(h("div", { class: "toolbar" }, field("Function", picker)), uploadForm(fn), holder);
    await fill(holder, fn);
  } catch (e) { failure(holder, e); root.append(holder); }
}

async function fill(holder, fn) {
  const [{ deployments }, current] = await Promise.all([
    api("GET", `/functions/${fn.$id}/deployments?` + queries([Q.limit(50), Q.desc("$createdAt")])),
    api("GET", `/functions/${fn.$id}`)]);
  holder.replaceChildren(h("table", {},
    h("caption", {}, `${deployments.length} deployment(s) of ${fn.name}`),
    h("thead", {}, h("tr", {}, ["Deployment", "Status", "Size", "Created", "Build", "Actions"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, deployments.map((d) => row(fn, d, current.deploymentId)))));
  if (deployments.some((d) => IN_BUILD.has(d.status))) { // follow the build, table only
    S.timers.push(setTimeout(() => {
      if (S.view === "deployments" && holder.isConnected) fill(holder, fn).catch(() => {});
    }, POLL_MS));
  }
}

function size(bytes) {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

function row(fn, d, active) {
  const act = (text, scope, call, label) => guarded(text, scope, async () => {
    try { await call(); show("deployments"); } catch (e) { alert(e.message); }
  }, { "aria-label": `${label} ${d.$id}` });
  const uploading = d.chunksUploaded < d.chunksTotal;
  return h("tr", {},
    h("td", {}, h("code", {}, d.$id), d.$id === active ? h("span", { class: "sub" }, "active") : null,
      h("span", { class: "sub" }, d.entrypoint)),
    h("td", {}, status(d.status), uploading ? h("span", { class: "sub" },
      `uploading ${d.chunksUploaded}/${d.chunksTotal}`) : null),
    h("td", {}, size(d.sourceSize), d.buildSize ? h("span", { class: "sub" },
      `built ${size(d.buildSize)}`) : null),
    h("td", {}, ago(d.$createdAt)),
    h("td", {}, d.buildDuration ? `${d.buildDuration} s` : "-"),
    h("td", { class: "actions" },
      h("button", { type: "button", "aria-label": `Build logs of ${d.$id}`,
        onclick: () => openDialog(`Build logs of ${d.$id}`,
          h("pre", {}, d.buildLogs || "(no output)"),
          h("div", { class: "buttons" }, h("button", { type: "button",
            onclick: () => document.getElementById("dialog").close() }, "Close"))) }, "Logs"),
      d.status === "ready" && d.$id !== active
        ? act("Activate", "functions.write", () => api("PATCH", `/functions/${fn.$id}/deployment`,
          { deploymentId: d.$id }), "Activate") : null,
      IN_BUILD.has(d.status) && !uploading
        ? act("Cancel build", "functions.write", () => api("PATCH",
          `/functions/${fn.$id}/deployments/${d.$id}/status`), "Cancel the build of") : null,
      act("Delete", "functions.write", async () => {
        if (confirm(`Delete deployment ${d.$id}?`)) {
          await api("DELETE", `/functions/${fn.$id}/deployments/${d.$id}`);
        }
      }, "Delete")));
}

function uploadForm(fn) {
  const why = reason("functions.write");
  const file = h("input", { type: "file", accept: ".gz,.tgz,application/gzip", required: true,
    disabled: !!why });
  const entrypoint = h("input", { placeholder: fn.entrypoint || "src/main.py",
    autocomplete: "off", disabled: !!why });
  const commands = h("input", { placeholder: "pip install -r requirements.txt",
    autocomplete: "off", disabled: !!why });
  const activate = h("input", { type: "checkbox", checked: true, disabled: !!why });
  const progress = h("p", { class: "hint", role: "status" });
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "toolbar", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      await upload(fn.$id, file.files[0], { entrypoint: entrypoint.value.trim(),
        commands: commands.value.trim(), activate: activate.checked }, progress);
      show("deployments");
    } catch (e) { err.textContent = e.message; progress.textContent = ""; }
  } }, field("Code (tar.gz)", file), field("Entrypoint", entrypoint),
  field("Build commands", commands), field("Activate when built", activate),
  h("button", { type: "submit", disabled: !!why, title: why || undefined }, "Upload"),
  why ? h("span", { class: "reason" }, `Read-only: ${why} Uploading is off.`) : null);
  return h("div", {}, form, progress, err);
}

async function upload(functionId, file, fields, progress) {
  let id = "";
  let answer = null;
  for (let start = 0; start < file.size || start === 0; start += CHUNK) {
    const end = Math.min(start + CHUNK, file.size);
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) if (v !== "") form.append(k, String(v));
    form.append("code", file.slice(start, end), file.name);
    const headers = { "X-Appwrite-Project": S.project, "X-Appwrite-Key": S.key };
    if (file.size > CHUNK) headers["content-range"] = `bytes ${start}-${end - 1}/${file.size}`;
    if (id) headers["x-appwrite-id"] = id;
    const r = await fetch(`/v1/functions/${functionId}/deployments`,
      { method: "POST", headers, body: form });
    answer = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(answer.message || `HTTP ${r.status}`);
    id = answer.$id;
    progress.textContent = `Uploaded ${answer.chunksUploaded} of ${answer.chunksTotal} chunk(s)`;
    if (file.size === 0) break;
  }
  return answer;
}
