#!/usr/bin/env node
// A fake Rivet Engine (runner protocol v5, as RivetKit 2.0.33 speaks it) for testing engine
// drivers. As a module: `const engine = await startFakeEngine({ port: 0 })`. As a program:
// `node fake_engine.mjs` binds HOST (default 127.0.0.1) and PORT (default 6420; 0 = ephemeral),
// prints "listening on <port>" and runs until SIGTERM/SIGINT. See README.md.
import { pathToFileURL } from "node:url";
import { FakeEngine, DEFAULT_OPTIONS, PROTOCOL_VERSION, actorState } from "./lib/engine.mjs";
import { KvStore, KV_LIMITS } from "./lib/kv_store.mjs";
import { newEngineId, parseEngineId } from "./lib/ids.mjs";
import { toJsonValue } from "./lib/json.mjs";

export { FakeEngine, DEFAULT_OPTIONS, PROTOCOL_VERSION, KvStore, KV_LIMITS, newEngineId, parseEngineId, toJsonValue, actorState };

/** Creates a fake engine and binds it (options: see DEFAULT_OPTIONS in lib/engine.mjs). */
export async function startFakeEngine(options = {}) {
	const engine = new FakeEngine(options);
	await engine.listen();
	return engine;
}

/** Options from the environment: PORT, HOST, and FAKE_ENGINE_<OPTION_IN_SNAKE_CASE> for the rest. */
export function optionsFromEnv(env = process.env) {
	const opts = {};
	if (env.PORT !== undefined) opts.port = Number(env.PORT);
	if (env.HOST) opts.host = env.HOST;
	for (const [name, def] of Object.entries(DEFAULT_OPTIONS)) {
		const v = env[`FAKE_ENGINE_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`];
		if (v === undefined) continue;
		if (typeof def === "number") opts[name] = Number(v);
		else if (typeof def === "boolean") opts[name] = v === "1" || v === "true";
		else if (Array.isArray(def)) opts[name] = v.split(",").filter(Boolean);
		else opts[name] = v;
	}
	if (env.FAKE_ENGINE_OPTIONS) Object.assign(opts, JSON.parse(env.FAKE_ENGINE_OPTIONS));
	return opts;
}

async function main() {
	const engine = await startFakeEngine({ port: 6420, ...optionsFromEnv() });
	process.stdout.write(`listening on ${engine.port}\n`);
	let stopping = false;
	const stop = async () => {
		if (stopping) return;
		stopping = true;
		await engine.close();
		process.exit(0);
	};
	process.on("SIGTERM", stop);
	process.on("SIGINT", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
	main().catch((err) => {
		process.stderr.write(`fake engine failed: ${err.stack ?? err}\n`);
		process.exit(1);
	});
}
