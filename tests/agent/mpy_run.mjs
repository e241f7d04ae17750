// Runs Python under MicroPython 1.27 (WebAssembly, from npm) for the agent tests.
// usage: node mpy_run.mjs MICROPYTHON_MJS AGENT_PY CASES_PY CASE [DATA_FILE...]
// The agent's source is placed at /agent.py in MicroPython's file system, each
// DATA_FILE at /its-base-name, then
// CASES_PY runs with TM_CASE set; it prints lines and raises on failure. Exit 0
// when the case passed, 1 when it failed (the Python traceback is on stderr),
// 2 on usage or setup errors.
import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [mjs, agentPath, casesPath, caseName, ...dataPaths] = process.argv.slice(2);
if (!mjs || !agentPath || !casesPath || !caseName) {
    process.stderr.write("usage: node mpy_run.mjs MICROPYTHON_MJS AGENT_PY CASES_PY CASE\n");
    process.exit(2);
}
let agent, cases, mod, data;
try {
    agent = readFileSync(agentPath);
    cases = readFileSync(casesPath, "utf8");
    data = dataPaths.map((p) => [basename(p), readFileSync(p)]);
    mod = await import(pathToFileURL(resolve(mjs)).href);
} catch (e) {
    process.stderr.write(`mpy_run: setup: ${e.message}\n`);
    process.exit(2);
}
const mp = await mod.loadMicroPython({
    heapsize: 8 * 1024 * 1024,
    stdout: (s) => process.stdout.write(s + "\n"),
    stderr: (s) => process.stderr.write(s + "\n"),
});
mp.FS.mkdir("/work");
mp.FS.writeFile("/agent.py", agent);
for (const [name, bytes] of data)
    mp.FS.writeFile("/" + name, bytes);
mp.FS.chdir("/work");
try {
    mp.runPython(`TM_CASE = ${JSON.stringify(caseName)}\n` + cases);
} catch (e) {
    process.stderr.write(`mpy_run: case ${caseName} failed:\n${e.message}\n`);
    process.exit(1);
}
process.exit(0);
