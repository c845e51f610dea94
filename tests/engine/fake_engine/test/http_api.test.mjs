// The engine REST API (what RivetKit's remote manager calls) and the /__fake control API over HTTP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withEngine, startRunner, connected, started, text } from "./helpers.mjs";

const json = async (res) => ({ status: res.status, body: await res.json() });

test("REST: metadata, datacenters, get-or-create / create / list / delete actors, runners", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const api = (path, init) => fetch(`${engine.url}${path}`, init).then(json);
	const put = (path, body) => api(path, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
	const post = (path, body) => api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

	const meta = await api("/metadata");
	assert.equal(meta.status, 200);
	assert.equal(meta.body.runtime, "engine");
	assert.equal(meta.body.clientEndpoint, undefined);
	assert.deepEqual((await api("/datacenters?namespace=default")).body.datacenters, [{ label: 1, name: "default", url: engine.url }]);

	// As RivetKit's remote manager sends it: key serialized, input = base64(cbor), crash_policy "sleep".
	const req = { datacenter: "default", name: "counter", key: "room/1", runner_name_selector: "default", input: Buffer.from("cbor-bytes").toString("base64"), crash_policy: "sleep" };
	const first = await put("/actors?namespace=default", req);
	assert.equal(first.status, 200);
	assert.equal(first.body.created, true);
	const a = first.body.actor;
	assert.equal(a.name, "counter");
	assert.equal(a.key, "room/1");
	assert.equal(a.crash_policy, "sleep");
	assert.equal(a.runner_name_selector, "default");
	assert.equal(a.datacenter, "default");
	assert.match(a.actor_id, /^[0-9a-z]{30}$/);
	assert.equal(typeof a.create_ts, "number");
	assert.equal(a.destroy_ts, null);
	const again = await put("/actors?namespace=default", req);
	assert.equal(again.body.created, false);
	assert.equal(again.body.actor.actor_id, a.actor_id);

	await started(engine, a.actor_id, r);
	assert.equal(text(r.app.starts[0].config.input), "cbor-bytes");
	assert.equal(r.app.starts[0].config.key, "room/1");

	const byId = await api(`/actors?actor_ids=${a.actor_id}&namespace=default`);
	assert.equal(byId.body.actors[0].actor_id, a.actor_id);
	assert.ok(byId.body.actors[0].connectable_ts > 0);
	const byKey = await api(`/actors?name=counter&key=${encodeURIComponent("room/1")}&namespace=default`);
	assert.equal(byKey.body.actors[0].actor_id, a.actor_id);
	assert.deepEqual((await api(`/actors?name=counter&key=nope&namespace=default`)).body.actors, []);

	const created = await post("/actors?namespace=default", { name: "counter", runner_name_selector: "default", crash_policy: "destroy" });
	assert.equal(created.status, 200);
	assert.equal(created.body.actor.key, null);
	const dup = await post("/actors?namespace=default", { ...req });
	assert.equal(dup.status, 400);
	assert.equal(dup.body.group, "actor");
	assert.equal(dup.body.code, "duplicate_key");

	const byName = await api("/actors?name=counter&namespace=default");
	assert.deepEqual(
		byName.body.actors.map((x) => x.actor_id),
		[created.body.actor.actor_id, a.actor_id],
	);

	// Validation errors as the engine reports them.
	assert.equal((await api("/actors?namespace=default")).body.message, "Name is required when not using actor_ids.");
	assert.equal((await api("/actors?key=x&namespace=default")).body.message, "Name is required when key is provided.");
	assert.equal((await api("/actors?name=counter")).status, 400);
	assert.equal((await api("/actors?name=counter&namespace=nope")).body.code, "not_found");

	const del = await api(`/actors/${a.actor_id}?namespace=default`, { method: "DELETE" });
	assert.equal(del.status, 200);
	assert.deepEqual(del.body, {});
	await engine.waitForActorState(a.actor_id, "destroyed");
	assert.deepEqual((await api(`/actors?actor_ids=${a.actor_id}&namespace=default`)).body.actors, []);
	const withDestroyed = await api(`/actors?actor_ids=${a.actor_id}&namespace=default&include_destroyed=true`);
	assert.ok(withDestroyed.body.actors[0].destroy_ts > 0);
	// The runner got StopActor for it.
	await engine.waitForMessage({ tag: "ToClientCommands", actorId: a.actor_id, kind: "CommandStopActor" });
	assert.equal((await api(`/actors/${a.actor_id}?namespace=default`, { method: "DELETE" })).body.code, "not_found");
	// The key is free again.
	assert.equal((await put("/actors?namespace=default", req)).body.created, true);

	const runners = await api("/runners?namespace=default");
	assert.equal(runners.body.runners[0].runner_id, r.runner.runnerId);
	assert.deepEqual((await api("/actors/names?namespace=default")).body.names, { counter: { metadata: {} } });
	assert.equal((await post("/namespaces", { name: "ns2", display_name: "Two" })).body.namespace.name, "ns2");
	assert.equal((await put("/actors?namespace=ns2", req)).body.created, true);
});

test("REST auth: Bearer token required when the engine has one (metadata is public)", async (t) => {
	const engine = await withEngine(t, { token: "s3" });
	assert.equal((await fetch(`${engine.url}/metadata`)).status, 200);
	assert.equal((await fetch(`${engine.url}/actors?namespace=default&name=x`)).status, 401);
	assert.equal((await fetch(`${engine.url}/actors?namespace=default&name=x`, { headers: { authorization: "Bearer no" } })).status, 403);
	assert.equal((await fetch(`${engine.url}/actors?namespace=default&name=x`, { headers: { authorization: "Bearer s3" } })).status, 200);
});

test("control API over HTTP: create, state, KV, messages, wait, runners", async (t) => {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const call = (method, path, body) =>
		fetch(`${engine.url}/__fake${path}`, { method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body) }).then(json);

	const { body: c } = await call("POST", "/actors", { name: "counter", key: "ctl", crashPolicy: "sleep", inputHex: "a1b2" });
	const id = c.actor.actorId;
	const waited = await call("POST", "/wait/actor", { actorId: id, state: "running", timeoutMs: 5000 });
	assert.equal(waited.body.actor.state, "running");
	await started(engine, id, r);
	assert.equal(Buffer.from(r.app.starts[0].config.input).toString("hex"), "a1b2");

	const kv = await call("GET", `/actors/${id}/kv`);
	assert.deepEqual(kv.body.entries.map((e) => [Buffer.from(e.key, "hex").toString(), Buffer.from(e.value, "hex").toString()]), [["started", "0"]]);
	await call("PUT", `/actors/${id}/kv`, { entries: [{ key: Buffer.from("zz").toString("hex"), value: "00" }] });
	assert.deepEqual(engine.readKv(id).map((e) => e.key.toString()), ["started", "zz"]);

	const msgs = await call("GET", `/messages?tag=ToClientCommands&actorId=${id}`);
	const cmd = msgs.body.messages[0];
	assert.equal(cmd.dir, "toRunner");
	assert.equal(cmd.msg.val[0].checkpoint.index, 0);
	assert.equal(cmd.msg.val[0].inner.val.config.input, "a1b2");

	const state = await call("GET", "/state");
	assert.equal(state.body.runners[0].runnerId, r.runner.runnerId);
	assert.equal(state.body.actors[0].actorId, id);
	assert.match(state.body.gatewayId, /^[0-9a-f]{8}$/);

	// Wait for a message that has not happened yet, then cause it.
	const since = msgs.body.lastSeq;
	const pending = call("POST", "/wait/message", { tag: "ToServerEvents", kind: "ActorIntentSleep", since, timeoutMs: 5000 });
	r.runner.sleepActor(id);
	const got = await pending;
	assert.equal(got.body.message.msg.val[0].checkpoint.actorId, id);
	await call("POST", "/wait/actor", { actorId: id, state: "sleeping" });
	const timeout = await call("POST", "/wait/message", { tag: "ToServerStopping", timeoutMs: 50 });
	assert.equal(timeout.status, 408);

	await call("POST", `/actors/${id}/wake`);
	assert.equal((await call("POST", "/wait/actor", { actorId: id, state: "running" })).body.actor.generation, 1);
	await started(engine, id, r);

	const dropped = await call("POST", `/runners/${r.runner.runnerId}/drop`, { code: 1011, reason: "ws.going_away" });
	assert.equal(dropped.body.dropped, true);
	const back = await call("POST", "/wait/runner", { runnerId: r.runner.runnerId, connected: true, timeoutMs: 5000 });
	assert.equal(back.body.runner.inits, 2);
	assert.equal((await call("GET", "/nope")).status, 404);
});
