// The official node-appwrite SDK, unchanged, against a running Tocsin.
// Usage: node flows.mjs <endpoint> <project> <key> <scheduledAt> <archive.tar.gz>
// Prints one JSON object: what each call returned (or the AppwriteException it threw).
// The Python test (tests/integration/test_node_sdk.py) asserts on it.
import { AppwriteException, Client, ExecutionMethod, Functions, Query } from "node-appwrite";
import { InputFile } from "node-appwrite/file";

const [endpoint, project, key, scheduledAt, archive] = process.argv.slice(2);
const client = new Client().setEndpoint(endpoint).setProject(project).setKey(key);
const functions = new Functions(client);
const wrong = new Functions(new Client().setEndpoint(endpoint).setProject(project).setKey("wrong-key"));
const out = {};

async function step(name, call) {
  try {
    out[name] = { ok: await call() };
  } catch (err) {
    if (!(err instanceof AppwriteException)) throw err;
    out[name] = { error: { code: err.code, type: err.type, message: err.message } };
  }
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

await step("create", () => functions.create({
  functionId: "hello", name: "Hello", runtime: "python-3.12", schedule: "*/5 * * * *",
  timeout: 10, entrypoint: "tests.fixtures.functions:hello", scopes: ["functions.read"] }));
await step("get", () => functions.get({ functionId: "hello" }));
await step("update", () => functions.update({
  functionId: "hello", name: "Hello again", runtime: "python-3.12", timeout: 12,
  entrypoint: "tests.fixtures.functions:hello" }));
await step("list", () => functions.list({ queries: [Query.startsWith("name", "Hello")] }));
await step("runtimes", () => functions.listRuntimes());
await step("specifications", () => functions.listSpecifications());
await step("variable", () => functions.createVariable({ functionId: "hello", variableId: "unique()", key: "GREETING", value: "hi" }));
await step("variables", () => functions.listVariables({ functionId: "hello" }));

await step("sync", () => functions.createExecution({
  functionId: "hello", body: "ping", async: false, xpath: "/sync?x=1", method: ExecutionMethod.POST }));
await step("async", () => functions.createExecution({ functionId: "hello", async: true }));
if (out.async.ok) {
  for (let i = 0; i < 300; i++) {
    const got = await functions.getExecution({ functionId: "hello", executionId: out.async.ok.$id });
    out.asyncDone = { ok: got };
    if (got.status === "completed" || got.status === "failed") break;
    await sleep(100);
  }
}
await step("scheduled", () => functions.createExecution({ functionId: "hello", async: true, scheduledAt }));
await step("listScheduled", () => functions.listExecutions({
  functionId: "hello", queries: [Query.equal("status", ["scheduled"])] }));
await step("listOr", () => functions.listExecutions({
  functionId: "hello", queries: [Query.or([Query.equal("status", "scheduled"), Query.equal("trigger", "http")])] }));
await step("listCreatedAfter", () => functions.listExecutions({
  functionId: "hello", queries: [Query.createdAfter("2000-01-01T00:00:00.000+00:00"), Query.orderDesc("$createdAt"), Query.limit(2)] }));
await step("listCreatedAfterFuture", () => functions.listExecutions({
  functionId: "hello", queries: [Query.createdAfter("2999-01-01T00:00:00.000+00:00")] }));
await step("deleteScheduled", () => functions.deleteExecution({ functionId: "hello", executionId: out.scheduled.ok.$id }));
await step("getDeleted", () => functions.getExecution({ functionId: "hello", executionId: out.scheduled.ok.$id }));

// A deployment over 5 MiB: the SDK uploads it in chunks, all after the first at once.
await step("deployedFunction", () => functions.create({
  functionId: "deployed", name: "Deployed", runtime: "python-3.12", entrypoint: "src/main.py" }));
await step("deployment", () => functions.createDeployment({
  functionId: "deployed", code: InputFile.fromPath(archive, "code.tar.gz"), activate: false,
  commands: "true" }));
await step("deployments", () => functions.listDeployments({ functionId: "deployed" }));

await step("badSchedule", () => functions.create({ functionId: "bad", name: "b", runtime: "http", schedule: "61 * * * *" }));
await step("pastScheduledAt", () => functions.createExecution({ functionId: "hello", async: true, scheduledAt: "2001-01-01T00:00:00+00:00" }));
await step("unknownFunction", () => functions.createExecution({ functionId: "nope", async: true }));
await step("wrongKey", () => wrong.createExecution({ functionId: "hello", async: true }));
await step("badQuery", () => functions.listExecutions({ functionId: "hello", queries: [Query.equal("logs", "x")] }));
await step("delete", () => functions.delete({ functionId: "hello" }));
await step("getAfterDelete", () => functions.get({ functionId: "hello" }));

process.stdout.write(JSON.stringify(out));
