// Tocsin console: domains. Each function's generated domain, its path form, and its
// custom domains (Proxy API function rules): list, add, remove.
import { Q, S, api, can, failure, field, guarded, h, queries, reason, show } from "./core.js";

export async function domainsView(root) {
  const holder = h("div", { class: "table-wrap" }, h("p", {}, "Loading domains…"));
  const missing = ["functions.read", "rules.read"].find((scope) => !can(scope));
  if (missing) {
    root.append(h("p", { class: "reason" }, reason(missing)));
    return;
  }
  root.append(addForm(), holder);
  try {
    const [{ functions }, { rules }] = await Promise.all([
      api("GET", "/functions?" + queries([Q.limit(100)])),
      api("GET", "/proxy/rules?" + queries([Q.limit(100)]))]);
    S.functions = functions;
    fillFunctions(functions);
    const byFunction = new Map(functions.map((fn) => [fn.$id, []]));
    for (const rule of rules) (byFunction.get(rule.deploymentResourceId) || []).push(rule);
    holder.replaceChildren(h("table", {},
      h("caption", {}, `${rules.length} custom domain(s) over ${functions.length} function(s)`),
      h("thead", {}, h("tr", {}, ["Function", "Generated domain", "Path form",
        "Custom domains"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, functions.map((fn) => functionRow(fn, byFunction.get(fn.$id))))));
  } catch (e) { failure(holder, e); }
}

function generated(fn) {
  if (!S.functionsDomain) {
    return h("span", { class: "sub" }, "off (set TOCSIN_FUNCTIONS_DOMAIN)");
  }
  if (fn.$id.includes(".")) return h("span", { class: "sub" }, "none: the id has a period");
  const host = `${fn.$id.toLowerCase()}.${S.functionsDomain}`;
  return h("code", {}, host);
}

function functionRow(fn, rules) {
  const path = `${location.origin}/v1/run/${encodeURIComponent(fn.$id)}/`;
  const custom = rules.length
    ? h("ul", { class: "plain", "aria-label": `Custom domains of ${fn.name}` },
      rules.map((rule) => h("li", {}, h("code", {}, rule.domain), " ",
        guarded("Remove", "rules.write", async () => {
          if (!confirm(`Remove ${rule.domain} from ${fn.name}?`)) return;
          try { await api("DELETE", `/proxy/rules/${rule.$id}`); show("domains"); }
          catch (e) { alert(e.message); }
        }, { "aria-label": `Remove ${rule.domain}` }))))
    : "-";
  return h("tr", {}, h("td", {}, fn.name, h("span", { class: "sub" }, fn.$id)),
    h("td", {}, generated(fn)), h("td", {}, h("code", {}, path)), h("td", {}, custom));
}

let functionChoice = null;

function fillFunctions(functions) {
  functionChoice.replaceChildren(...functions.map((fn) =>
    h("option", { value: fn.$id }, `${fn.name} (${fn.$id})`)));
}

function addForm() {
  const why = reason("rules.write");
  const domain = h("input", { placeholder: "hooks.example.com", required: true,
    autocomplete: "off", disabled: !!why });
  functionChoice = h("select", { disabled: !!why });
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "toolbar", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      await api("POST", "/proxy/rules/function",
        { domain: domain.value.trim(), functionId: functionChoice.value });
      show("domains");
    } catch (e) { err.textContent = e.message; }
  } }, field("Domain", domain), field("Function", functionChoice),
  h("button", { type: "submit", disabled: !!why, title: why || undefined }, "Add domain"),
  why ? h("span", { class: "reason" }, `Read-only: ${why} Adding and removing domains are off.`)
    : null, err);
  return h("div", {}, form, h("p", { class: "hint" }, "A custom domain runs its function for "
    + "any request that reaches Tocsin with that Host; DNS and TLS are your reverse proxy's."));
}
