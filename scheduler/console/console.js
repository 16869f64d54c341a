// Tocsin's web console: sign in, the shell, and the start. No build step, no
// libraries; the sections live in functions.js and runs.js, shared code in core.js.
import { S, STORE, VIEWS, ago, api, can, clearTimers, field, h, render, show } from "./core.js";
import { deploymentsView } from "./deployments.js";
import { domainsView } from "./domains.js";
import { functionsView } from "./functions.js";
import { executionsView, schedulesView } from "./runs.js";

Object.assign(VIEWS, { functions: functionsView, executions: executionsView,
  schedules: schedulesView, domains: domainsView, deployments: deploymentsView });

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
    S.functionsDomain = me.functionsDomain || "";
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

// ------------------------------------------------------------------- start

document.getElementById("signout").addEventListener("click", signOut);
const saved = [sessionStorage.getItem(STORE.project), sessionStorage.getItem(STORE.key)];
if (saved[0] && saved[1]) signIn(saved[0], saved[1], null);
else signinView();
