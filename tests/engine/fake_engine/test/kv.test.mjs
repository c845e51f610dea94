// Actor KV through the official TS runner's KV API: ordering, queries, limits and ownership.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withEngine, startRunner, connected, runningActor, bytes, text } from "./helpers.mjs";

async function setup(t) {
	const engine = await withEngine(t);
	const r = startRunner(t, engine);
	await connected(r);
	const actorId = await runningActor(engine, {}, r);
	return { engine, r, actorId, kv: r.runner };
}

const errorOf = (p) =>
	p.then(
		() => null,
		(err) => err.message,
	);
const keysOf = (entries) => entries.map(([k]) => text(k));

test("KV: put/get/list (all, prefix, range, reverse, limit)/delete/drop", async (t) => {
	const { engine, actorId, kv } = await setup(t);
	await kv.kvDrop(actorId);
	await kv.kvPut(actorId, [
		[bytes("b/2"), bytes("v-b2")],
		[bytes("a"), bytes("v-a")],
		[bytes("b/1"), bytes("v-b1")],
		[bytes("c"), bytes("v-c")],
		[Uint8Array.from([0x62, 0x00]), bytes("v-b0")],
	]);
	// get: request order, missing keys absent (the runner maps them to null).
	const got = await kv.kvGet(actorId, [bytes("c"), bytes("missing"), bytes("a")]);
	assert.deepEqual(got.map((v) => v && text(v)), ["v-c", null, "v-a"]);
	const [getMsg] = engine.messages({ kind: "KvGetResponse" }).slice(-1);
	assert.deepEqual(
		getMsg.msg.val.data.val.keys.map((k) => text(new Uint8Array(k))),
		["c", "a"],
	);
	assert.equal(text(new Uint8Array(getMsg.msg.val.data.val.metadata[0].version)), "2.0.33");

	// list all: byte order.
	const listSeq = engine.lastSeq;
	assert.deepEqual(keysOf(await kv.kvListAll(actorId)), ["a", "b\u0000", "b/1", "b/2", "c"]);
	assert.deepEqual(keysOf(await kv.kvListAll(actorId, { reverse: true, limit: 2 })), ["c", "b/2"]);
	assert.deepEqual(keysOf(await kv.kvListPrefix(actorId, bytes("b/"))), ["b/1", "b/2"]);
	assert.deepEqual(keysOf(await kv.kvListPrefix(actorId, bytes("b"), { reverse: true })), ["b/2", "b/1", "b\u0000"]);
	// range: start inclusive; end inclusive unless exclusive.
	assert.deepEqual(keysOf(await kv.kvListRange(actorId, bytes("a"), bytes("b/2"))), ["a", "b\u0000", "b/1", "b/2"]);
	assert.deepEqual(keysOf(await kv.kvListRange(actorId, bytes("a"), bytes("b/2"), true)), ["a", "b\u0000", "b/1"]);
	assert.deepEqual(keysOf(await kv.kvListRange(actorId, bytes("b/1"), bytes("z"), false, { limit: 2 })), ["b/1", "b/2"]);

	// overwrite, delete, drop.
	await kv.kvPut(actorId, [[bytes("a"), bytes("v-a2")]]);
	assert.equal(text((await kv.kvGet(actorId, [bytes("a")]))[0]), "v-a2");
	await kv.kvDelete(actorId, [bytes("a"), bytes("not-there")]);
	assert.deepEqual(keysOf(await kv.kvListAll(actorId)), ["b\u0000", "b/1", "b/2", "c"]);
	assert.deepEqual(
		engine.readKv(actorId).map((e) => e.key.toString()),
		["b\u0000", "b/1", "b/2", "c"],
	);
	await kv.kvDrop(actorId);
	assert.deepEqual(await kv.kvListAll(actorId), []);
	// the TS runner sends reverse:false as absent, limit as u64.
	const lists = engine.messages({ kind: "KvListRequest", since: listSeq }).map((e) => e.msg.val.data.val);
	assert.equal(lists[0].reverse, null);
	assert.equal(lists[0].limit, null);
	assert.equal(lists[1].reverse, true);
	assert.equal(lists[1].limit, 2n);
	assert.deepEqual(lists[5].query.val.exclusive, true);
});

test("KV limits produce KvErrorResponse with the engine's messages", async (t) => {
	const { engine, actorId, kv } = await setup(t);
	const many = Array.from({ length: 129 }, (_, i) => [bytes(`k${i}`), bytes("v")]);
	assert.equal(await errorOf(kv.kvPut(actorId, many)), "A maximum of 128 key-value entries is allowed");
	assert.equal(await errorOf(kv.kvGet(actorId, many.map(([k]) => k))), "a maximum of 128 keys is allowed");
	assert.equal(await errorOf(kv.kvDelete(actorId, many.map(([k]) => k))), "a maximum of 128 keys is allowed");
	// 2046-byte keys are the largest allowed (tuple length = len + 2).
	assert.equal(await errorOf(kv.kvPut(actorId, [[new Uint8Array(2046), bytes("v")]])), null);
	assert.equal(await errorOf(kv.kvPut(actorId, [[new Uint8Array(2047), bytes("v")]])), "key is too long (max 2048 bytes)");
	assert.equal(await errorOf(kv.kvGet(actorId, [new Uint8Array(2047)])), "key is too long (max 2048 bytes)");
	assert.equal(await errorOf(kv.kvListPrefix(actorId, new Uint8Array(2047))), "prefix key is too long (max 2048 bytes)");
	assert.equal(await errorOf(kv.kvListRange(actorId, new Uint8Array(2047), bytes("z"))), "start key is too long (max 2048 bytes)");
	assert.equal(await errorOf(kv.kvPut(actorId, [[bytes("big"), new Uint8Array(128 * 1024)]])), null);
	assert.equal(await errorOf(kv.kvPut(actorId, [[bytes("big"), new Uint8Array(128 * 1024 + 1)]])), "value is too large (max 128 KiB)");
	const heavy = Array.from({ length: 8 }, (_, i) => [bytes(`h${i}`), new Uint8Array(125 * 1024)]);
	assert.equal(await errorOf(kv.kvPut(actorId, heavy)), "total payload is too large (max 976 KiB)");
	assert.equal(engine.messages({ kind: "KvErrorResponse" }).length, 9);
	// Failed puts wrote nothing.
	assert.equal((await kv.kvGet(actorId, [bytes("k0"), bytes("h0")])).filter(Boolean).length, 0);
});

test("KV ownership: only the actor's current runner may use its KV", async (t) => {
	const { engine, r, actorId, kv } = await setup(t);
	// An actor that is not on this runner (created asleep: no runner took it).
	const other = engine.createActor({ name: "counter", key: "elsewhere", crashPolicy: "sleep", runnerNameSelector: "other-pool" });
	assert.equal(engine.getActor(other.actorId).state, "sleeping");
	assert.equal(await errorOf(kv.kvGet(other.actorId, [bytes("x")])), "given actor does not belong to runner");
	assert.equal(await errorOf(kv.kvGet("not-an-id", [bytes("x")])), "invalid base36 character: '-'");
	assert.equal(await errorOf(kv.kvGet("notanidxx", [bytes("x")])), "unsupported ID version: 199");
	assert.equal(await errorOf(kv.kvGet("abc", [bytes("x")])), "invalid input length: expected at least 4 characters");
	// After it goes to sleep, its former runner loses access too.
	await r.runner.sleepActor(actorId);
	await engine.waitForActorState(actorId, "sleeping");
	assert.equal(await errorOf(kv.kvPut(actorId, [[bytes("x"), bytes("y")]])), "given actor does not belong to runner");
});
