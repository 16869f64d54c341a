// A signed-in app user through the official node-appwrite SDK: setJWT, no API key.
// Usage: node jwt.mjs <endpoint> <project> <jwt> <functionId>
// Prints one JSON object: the synchronous execution, or the AppwriteException.
import { AppwriteException, Client, ExecutionMethod, Functions } from "node-appwrite";

const [endpoint, project, jwt, functionId] = process.argv.slice(2);
const functions = new Functions(new Client().setEndpoint(endpoint).setProject(project).setJWT(jwt));
try {
  const ok = await functions.createExecution({
    functionId, body: "from node", async: false, xpath: "/who", method: ExecutionMethod.POST });
  console.log(JSON.stringify({ ok }));
} catch (err) {
  if (!(err instanceof AppwriteException)) throw err;
  console.log(JSON.stringify({ error: { code: err.code, type: err.type, message: err.message } }));
}
