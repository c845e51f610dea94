// start() for the official driver test suite: a fresh conformance server process per test, on
// a free port, with a fresh data directory, driven by RIVETKIT_DRIVER. For the engine driver,
// a fresh fake engine (tests/engine/fake_engine, in this process) per test, and the server as
// its runner; the suite's client then talks to the engine (REST API and gateway).
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

/**
 * Launches one server; resolves once it prints "listening on <port>", with its endpoint. With
 * `ready` (a pattern without a port: the engine driver's runner serves no HTTP) it resolves once
 * the server prints that, with a null endpoint. `extraEnv` is added to its environment.
 */
export async function startServer(driver, { extraEnv = {}, ready = /listening on (\d+)/ } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), `rivetkit-conformance-${driver}-`));
  const env = {
    ...process.env,
    PORT: "0",
    HOST: "127.0.0.1",
    RIVETKIT_DATA_PATH: dataDir,
    RIVETKIT_DRIVER: driver,
    ...extraEnv,
  };
  const child = spawn(serverBinary(), [], { env, stdio: ["ignore", "pipe", "pipe"] });

  // Server logs: kept in memory (the tail is shown when startup fails) and, with
  // CONFORMANCE_LOG_DIR, written to <dir>/<driver>-<port or "runner">-<pid>.log.
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
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] === undefined ? null : Number(m[1]));
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening (code ${code}, signal ${signal})\n${stderrTail}`));
    });
  });

  if (process.env.CONFORMANCE_LOG_DIR) {
    const name = `${driver}-${port ?? "runner"}-${child.pid}.log`;
    logFile = createWriteStream(join(process.env.CONFORMANCE_LOG_DIR, name));
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
      throw new Error(`server ${driver}:${port ?? child.pid} ended with code ${code}, signal ${signal}\n${stderrTail}`);
    }
  };

  const endpoint = port === null ? null : `http://127.0.0.1:${port}`;
  return { endpoint, namespace: "default", runnerName: "default", cleanup };
}

/**
 * The engine driver: a fake engine on a free port, and the server as its runner "default"
 * (runner key unique per test); resolves once the engine has accepted the runner.
 */
export async function startEngineRun() {
  const { startFakeEngine } = await import("../engine/fake_engine/fake_engine.mjs");
  const engine = await startFakeEngine({ port: 0 });
  let server;
  try {
    server = await startServer("engine", {
      extraEnv: {
        RIVET_ENDPOINT: engine.url,
        RIVET_NAMESPACE: "default",
        RIVET_RUNNER: "default",
        RIVET_RUNNER_KEY: `conformance-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
      },
      ready: /runner started/,
    });
    await engine.waitFor(() => engine.listRunners().some((r) => r.name === "default" && r.connected), {
      timeoutMs: STARTUP_TIMEOUT_MS,
    });
  } catch (err) {
    await server?.cleanup().catch(() => {});
    await engine.close();
    throw err;
  }
  const cleanup = async () => {
    try {
      await server.cleanup();
    } finally {
      await engine.close();
    }
  };
  return { endpoint: engine.url, namespace: "default", runnerName: "default", cleanup };
}

/** The driver test config for one of our drivers. */
export function driverConfig(driver) {
  if (driver === "engine") {
    return {
      useRealTimers: true,
      // As the reference's own engine run: the inline client (the /.test/inline-driver routes of
      // a server in test mode) does not apply to a runner, which serves no HTTP.
      skip: { inline: true },
      start: startEngineRun,
    };
  }
  return {
    useRealTimers: true,
    // Hibernatable WebSockets exist only on the engine driver (reference §3.7).
    skip: { hibernation: true },
    start: () => startServer(driver),
  };
}
