// A Node.js runner: `node node_child.mjs FD INIT`, exec'd by tasks/runner/node_start.py
// once the limits are applied. The same protocol as tasks/runner/child.py: JSON messages
// over the socket FD, framed as Python's multiprocessing Connection frames them (a
// 4-byte big-endian length, then the bytes). It loads the function's file once, then
// runs one request at a time and stays warm.
//
// The context is Open Runtimes' Node.js runtime's (runtimes/node/.../src/server.js):
// req (bodyText, bodyJson, bodyBinary, bodyRaw, body by content type, headers, method,
// host, scheme, query, queryString, port, url, path), res (send, text, binary, json,
// empty, redirect) and log/error. Written for Tocsin; see README "The Node.js context".
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const NO_RETURN = "Return statement missing. return context.res.empty() if no response is expected.";
const BINARY_TYPES = ["application/", "audio/", "font/", "image/", "video/"];

const socket = new net.Socket({ fd: Number(process.argv[2]), readable: true, writable: true });
const init = JSON.parse(process.argv[3]);

function send(message) {
  const body = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(4);
  head.writeInt32BE(body.length);
  socket.write(Buffer.concat([head, body]));
}

function render(message) {
  if (typeof message === "string") return message;
  if (message instanceof Error) return message.stack || String(message);
  try { return JSON.stringify(message); } catch { return String(message); }
}

async function load() {
  const root = path.resolve(init.functionsDir || ".", init.projectId, init.functionId);
  const file = path.resolve(root, init.entrypoint);
  const shown = `${init.projectId}/${init.functionId}/`;
  if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    throw Object.assign(new Error(`Entrypoint file '${init.entrypoint}' not found under ${shown} `
      + "in the functions directory"), { shown: true });
  }
  let loaded;
  try {
    loaded = file.endsWith(".mjs") ? await import(pathToFileURL(file).href)
      : createRequire(file)(file);
  } catch (err) {
    // An ES module in a .js file: Node 22 (and 20.19+) loads it through require; older
    // Nodes refuse it (ERR_REQUIRE_ESM, or a SyntaxError at `export`): import it then.
    if (err.code !== "ERR_REQUIRE_ESM" && !(err instanceof SyntaxError)) throw err;
    loaded = await import(pathToFileURL(file).href);
  }
  const main = loaded && typeof loaded.default === "function" ? loaded.default : loaded;
  if (typeof main !== "function") {
    throw Object.assign(new Error(`Entrypoint file '${init.entrypoint}' exports no function `
      + "(export default async ({ req, res, log, error }) => ...)"), { shown: true });
  }
  return main;
}

function context(request) {
  const headers = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (!name.toLowerCase().startsWith("x-open-runtimes-")) headers[name.toLowerCase()] = value;
  }
  const contentType = (headers["content-type"] ?? "text/plain").toLowerCase();
  const bodyBinary = Buffer.from(request.body, "base64");
  const scheme = headers["x-forwarded-proto"] ?? "http";
  const defaultPort = scheme === "https" ? "443" : "80";
  const hostHeader = headers.host ?? "";
  const [host, portText] = hostHeader.includes(":") ? hostHeader.split(":") : [hostHeader, defaultPort];
  const port = +portText;
  const [pathPart, ...rest] = (request.path || "/").split("?");
  const queryString = rest.join("?");
  const query = {};
  for (const param of queryString.split("&")) {
    const [key, ...value] = param.split("=");
    if (key) query[key] = value.join("=");
  }
  const url = `${scheme}://${host}${String(port) === defaultPort ? "" : `:${port}`}${pathPart}`
    + (queryString ? `?${queryString}` : "");
  const res = {
    send(body, statusCode = 200, headers = {}) { return this.text(`${body}`, statusCode, headers); },
    text(body, statusCode = 200, headers = {}) {
      return this.binary(Buffer.from(body, "utf8"), statusCode, headers);
    },
    binary(bytes, statusCode = 200, headers = {}) { return { body: bytes, statusCode, headers }; },
    json(obj, statusCode = 200, headers = {}) {
      return this.text(JSON.stringify(obj), statusCode, { ...headers, "content-type": "application/json" });
    },
    empty() { return this.text("", 204, {}); },
    redirect(to, statusCode = 301, headers = {}) {
      return this.text("", statusCode, { ...headers, location: to });
    },
  };
  return {
    req: {
      get body() {
        if (contentType.startsWith("application/json")) return bodyBinary.length ? this.bodyJson : {};
        if (BINARY_TYPES.some((type) => contentType.startsWith(type))) return bodyBinary;
        return this.bodyText;
      },
      get bodyRaw() { return this.bodyText; },
      get bodyText() { return bodyBinary.toString(); },
      get bodyJson() { return JSON.parse(this.bodyText); },
      get bodyBinary() { return bodyBinary; },
      headers, method: request.method, host, scheme, query, queryString, port, url, path: pathPart,
    },
    res,
    log(message) { process.stdout.write(render(message) + "\n"); },
    error(message) { process.stderr.write(render(message) + "\n"); },
  };
}

function reply(output) {
  const headers = {};
  for (const [name, value] of Object.entries(output.headers ?? {})) {
    if (!name.toLowerCase().startsWith("x-open-runtimes-")) headers[name.toLowerCase()] = `${value}`;
  }
  let kind = (headers["content-type"] ?? "text/plain").toLowerCase();
  if (!kind.startsWith("multipart/") && !kind.includes("charset=")) kind += "; charset=utf-8";
  headers["content-type"] = kind;
  const statusCode = output.statusCode ?? 200;
  const body = output.body ?? "";
  const raw = Buffer.isBuffer(body) || body instanceof Uint8Array ? Buffer.from(body)
    : Buffer.from(`${body}`, "utf8");
  return { statusCode, failed: statusCode >= 500, headers, body: raw.toString("base64") };
}

async function run(main, job) {
  process.env.APPWRITE_FUNCTION_EXECUTION_ID = job.executionId;
  let output;
  try {
    output = await main(context(job.request));
  } catch (err) {
    if (err instanceof RangeError && /allocation failed/i.test(err.message)) {
      // A Buffer or ArrayBuffer over RLIMIT_DATA: said as Python's MemoryError is.
      return { statusCode: 500, failed: true,
        error: `memory limit of ${init.memory} MB exceeded` };
    }
    return { statusCode: 500, failed: true, error: (err && err.stack) || String(err) };
  }
  if (output === null || output === undefined) {
    return { statusCode: 500, failed: true, error: NO_RETURN };
  }
  if (typeof output !== "object") {
    return { statusCode: 500, failed: true, error: `Function returned ${typeof output}, not a `
      + "response: return context.res.send(...), .json(...), .text(...) or .empty()" };
  }
  return reply(output);
}

async function serve() {
  let main;
  try {
    main = await load();
  } catch (err) {
    send({ ready: false, error: err.shown ? err.message : (err.stack || String(err)) });
    socket.end();
    return;
  }
  send({ ready: true });
  let pending = Buffer.alloc(0);
  let busy = Promise.resolve();
  socket.on("data", (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0);
      if (pending.length < 4 + size) break;
      const job = JSON.parse(pending.subarray(4, 4 + size).toString());
      pending = pending.subarray(4 + size);
      busy = busy.then(async () => send(await run(main, job)));
    }
  });
  socket.on("end", () => process.exit(0));
  socket.on("error", () => process.exit(0));
}

serve();
