// start() for the official driver test suite: a fresh conformance server process per test, on
// a free port, with a fresh data directory, driven by RIVETKIT_DRIVER.
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const STARTUP_TIMEOUT_MS = 5_000;
const SHUTDOWN_TIMEOUT_MS = 5_000;

function serverBinary() {
  const path = process.env.CONFORMANCE_SERVER;
  if (!path) throw new Error("CONFORMANCE_SERVER must name the rivetkit_conformance_server binary");
  return path;
}

/** Launches one server; resolves once it prints "listening on <port>". */
export async function startServer(driver) {
  const dataDir = mkdtempSync(join(tmpdir(), `rivetkit-conformance-${driver}-`));
  const env = { ...process.env, PORT: "0", HOST: "127.0.0.1", RIVETKIT_DATA_PATH: dataDir, RIVETKIT_DRIVER: driver };
  const child = spawn(serverBinary(), [], { env, stdio: ["ignore", "pipe", "pipe"] });

  // Server logs: kept in memory (the tail is shown when startup fails) and, with
  // CONFORMANCE_LOG_DIR, written to <dir>/<port>.log.
  let stderrTail = "";
  let logFile = null;
  const pending = [];
  child.stderr.on("data", (chunk) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-8192);
    if (logFile) logFile.write(chunk);
    else pending.push(chunk);
  });

  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));

  const port = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start in ${STARTUP_TIMEOUT_MS} ms\n${stderrTail}`)), STARTUP_TIMEOUT_MS);
    child.stdout.on("data", (chunk) => {
      out += chunk.toString();
      const m = out.match(/listening on (\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening (code ${code}, signal ${signal})\n${stderrTail}`));
    });
  });

  if (process.env.CONFORMANCE_LOG_DIR) {
    logFile = createWriteStream(join(process.env.CONFORMANCE_LOG_DIR, `${driver}-${port}.log`));
    for (const chunk of pending) logFile.write(chunk);
  }
  pending.length = 0;

  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), SHUTDOWN_TIMEOUT_MS);
    const { code, signal } = await exited;
    clearTimeout(timer);
    logFile?.end();
    rmSync(dataDir, { recursive: true, force: true });
    if (code !== 0 && signal !== "SIGTERM") {
      // A crash is a failure even when every assertion passed.
      throw new Error(`server ${driver}:${port} ended with code ${code}, signal ${signal}\n${stderrTail}`);
    }
  };

  return { endpoint: `http://127.0.0.1:${port}`, namespace: "default", runnerName: "default", cleanup };
}

/** The driver test config for one of our drivers. */
export function driverConfig(driver) {
  return {
    useRealTimers: true,
    // Hibernatable WebSockets exist only on the engine driver (reference §3.7).
    skip: { hibernation: true },
    start: () => startServer(driver),
  };
}
