// End to end with RivetKit 2.0.33 itself (npm rivetkit, dev dependency): its engine driver runs
// the TS runner against the fake engine, and its client reaches the actor the way a real client
// does — REST (GET /metadata, PUT /actors, GET /actors) and the gateway (HTTP actions, WebSocket
// connections) — including sleep and wake with state persisted in the engine's KV.
import "./iterator_helpers_shim.mjs"; // before rivetkit: Node 20 lacks iterator helpers
import { test } from "node:test";
import assert from "node:assert/strict";
import { actor, setup } from "rivetkit";
import { withEngine, defer } from "./helpers.mjs";

const counter = actor({
	state: { count: 0 },
	actions: {
		increment: (c, by) => {
			c.state.count += by;
			c.broadcast("newCount", c.state.count);
			return c.state.count;
		},
		getCount: (c) => c.state.count,
		goToSleep: (c) => {
			c.sleep();
			return true;
		},
	},
});

test("RivetKit 2.0.33 app and client through the fake engine", async (t) => {
	const engine = await withEngine(t);
	const registry = setup({ use: { counter } });
	const { client } = registry.start({
		endpoint: engine.url,
		runnerKey: "rivetkit-e2e",
		totalSlots: 100,
		noWelcome: true,
		logging: { level: process.env.RIVETKIT_LOG_LEVEL ?? "error" },
	});
	defer(t, async () => {
		// Engine-side drain: RivetKit stops its actors (clearing their sleep timers), then the runner is evicted.
		for (const r of engine.listRunners()) if (r.connected) await engine.drainRunner(r.runnerId);
	});

	const runner = await engine.waitFor(() => engine.listRunners().find((r) => r.connected), { description: "RivetKit runner" });
	assert.equal(runner.name, "default");
	assert.equal(runner.key, "rivetkit-e2e");
	assert.equal(runner.version, 1);
	assert.ok(runner.metadata.inspectorToken);
	assert.ok(engine.actorNames.get("default").has("counter"));

	const handle = client.counter.getOrCreate(["room", "1"]);
	assert.equal(await handle.increment(5), 5);
	assert.equal(await handle.increment(2), 7);
	const [a] = engine.listActors({ name: "counter" });
	assert.equal(a.key, "room/1");
	assert.equal(a.crashPolicy, "sleep");
	assert.equal(a.state, "running");
	// The actor's state lives in the engine's KV (key 0x01 = persist data).
	assert.ok(engine.readKv(a.actorId).some((e) => e.key.equals(Buffer.from([1]))));

	// A WebSocket connection through the gateway gets broadcasts.
	const conn = handle.connect();
	const seen = [];
	const got = new Promise((resolve) =>
		conn.on("newCount", (n) => {
			seen.push(n);
			if (n === 10) resolve();
		}),
	);
	assert.equal(await conn.increment(3), 10);
	await got;
	assert.deepEqual(seen, [10]);
	assert.ok(engine.messages({ kind: "ToClientWebSocketOpen" }).some((e) => e.msg.val.messageKind.val.path.startsWith("/connect")));
	await conn.dispose();

	// Sleep: the engine stops it; the next action wakes it (generation 1) with its state restored from KV.
	await handle.goToSleep();
	await engine.waitForActorState(a.actorId, "sleeping");
	assert.equal(await handle.getCount(), 10);
	const woke = engine.getActor(a.actorId);
	assert.equal(woke.state, "running");
	assert.equal(woke.generation, 1);

	// Stateless actions went through the gateway as HTTP requests.
	const paths = engine.messages({ kind: "ToClientRequestStart" }).map((e) => e.msg.val.messageKind.val.path);
	assert.ok(paths.some((p) => p.startsWith("/action/increment")));
	assert.ok(paths.some((p) => p.startsWith("/action/getCount")));
});
