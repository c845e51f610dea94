// The official RivetKit JavaScript client (npm rivetkit@2.0.33) calling the C++ counter
// server: an HTTP action, a WebSocket connection with an event, and an error.
//   node client.mjs [endpoint]
import { createClient } from "rivetkit/client";
import { WebSocket } from "ws";

globalThis.WebSocket = WebSocket; // Node 20 has no global WebSocket

const endpoint = process.argv[2] ?? "http://127.0.0.1:6420";
const client = createClient({ endpoint, encoding: "bare" });
const counter = client.counter.getOrCreate(["demo"]);

console.log(`getCount() over HTTP -> ${await counter.getCount()}`);

const conn = counter.connect();
const event = new Promise((resolve) => conn.once("newCount", resolve));
console.log(`increment(5) over WebSocket -> ${await conn.increment(5)}`);
console.log(`  event newCount(${await event})`);

try {
	await counter.noSuchAction();
} catch (e) {
	console.log(`noSuchAction() -> ${e.group}/${e.code}`);
}
await conn.dispose();
await client.dispose();
