// Reads the lines of rivetkit_runner_protocol_samples ({kind, hex, value}) from stdin and checks
// each against the official codec, @rivetkit/engine-runner-protocol@2.0.33:
//   1. the official decoder accepts our bytes (after the u16 version prefix, for the kinds that
//      carry one) and yields exactly `value`;
//   2. the official encoder, given that decoded value, writes our bytes again;
//   3. the official encoder, given `value` itself, writes our bytes.
// Then every union member and StopCode value must have appeared. Exits non-zero on the first
// failure, naming the line.
import { isDeepStrictEqual } from "node:util";
import * as protocol from "@rivetkit/engine-runner-protocol";

const VERSION = 5;

const codecs = {
  to_server: { decode: protocol.decodeToServer, encode: protocol.encodeToServer, versioned: false },
  to_client: { decode: protocol.decodeToClient, encode: protocol.encodeToClient, versioned: false },
  to_serverless_server: {
    decode: protocol.decodeToServerlessServer,
    encode: protocol.encodeToServerlessServer,
    versioned: true,
  },
  to_runner: { decode: protocol.decodeToRunner, encode: protocol.encodeToRunner, versioned: true },
  to_gateway: { decode: protocol.decodeToGateway, encode: protocol.encodeToGateway, versioned: true },
  actor_command_key_data: {
    decode: protocol.decodeActorCommandKeyData,
    encode: protocol.encodeActorCommandKeyData,
    versioned: true,
  },
};

// Members of each top-level union, and of every union nested anywhere (schema v5).
const topLevel = {
  to_server: [
    "ToServerInit", "ToServerEvents", "ToServerAckCommands", "ToServerStopping", "ToServerPong",
    "ToServerKvRequest", "ToServerTunnelMessage",
  ],
  to_client: [
    "ToClientInit", "ToClientCommands", "ToClientAckEvents", "ToClientKvResponse",
    "ToClientTunnelMessage", "ToClientPing",
  ],
  to_serverless_server: ["ToServerlessServerInit"],
  to_runner: ["ToRunnerPing", "ToRunnerClose", "ToClientCommands", "ToClientAckEvents", "ToClientTunnelMessage"],
  to_gateway: ["ToGatewayPong", "ToServerTunnelMessage"],
  actor_command_key_data: ["CommandStartActor", "CommandStopActor"],
};
const nested = [
  "KvListAllQuery", "KvListRangeQuery", "KvListPrefixQuery",
  "KvGetRequest", "KvListRequest", "KvPutRequest", "KvDeleteRequest", "KvDropRequest",
  "KvErrorResponse", "KvGetResponse", "KvListResponse", "KvPutResponse", "KvDeleteResponse", "KvDropResponse",
  "ActorIntentSleep", "ActorIntentStop", "ActorStateRunning", "ActorStateStopped",
  "EventActorIntent", "EventActorStateUpdate", "EventActorSetAlarm",
  "CommandStartActor", "CommandStopActor",
  "ToServerResponseStart", "ToServerResponseChunk", "ToServerResponseAbort", "ToServerWebSocketOpen",
  "ToServerWebSocketMessage", "ToServerWebSocketMessageAck", "ToServerWebSocketClose",
  "ToClientRequestStart", "ToClientRequestChunk", "ToClientRequestAbort", "ToClientWebSocketOpen",
  "ToClientWebSocketMessage", "ToClientWebSocketClose",
];

const toHex = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString("hex");
const fromHex = (hex) => {
  const b = Buffer.from(hex, "hex");
  if (b.length * 2 !== hex.length) throw new Error(`bad hex: ${hex}`);
  return new Uint8Array(b);
};
const show = (v) => JSON.stringify(v, null, 1);

// The official codec's values in the JSON spelling samples.cpp writes.
function normalize(v) {
  if (v === null || typeof v !== "object") {
    if (typeof v === "bigint") return { $bigint: v.toString() };
    if (v === undefined) return "<undefined>";
    return v;
  }
  if (v instanceof ArrayBuffer) return { $bytes: toHex(new Uint8Array(v)) };
  if (ArrayBuffer.isView(v)) return { $bytes: toHex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [normalize(k), normalize(x)]) };
  if (Array.isArray(v)) return v.map(normalize);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
}

// The other way: samples.cpp's JSON to the official codec's values.
function revive(v) {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(revive);
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0] === "$bigint") return BigInt(v.$bigint);
  if (keys.length === 1 && keys[0] === "$bytes") return fromHex(v.$bytes).buffer;
  if (keys.length === 1 && keys[0] === "$map") return new Map(v.$map.map(([k, x]) => [revive(k), revive(x)]));
  return Object.fromEntries(keys.map((k) => [k, revive(v[k])]));
}

const seenTags = new Set();
const seenStopCodes = new Set();
function collect(v) {
  if (v === null || typeof v !== "object" || v instanceof ArrayBuffer) return;
  if (v instanceof Map) {
    for (const x of v.values()) collect(x);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collect(x);
    return;
  }
  if (typeof v.tag === "string" && "val" in v && Object.keys(v).length === 2) seenTags.add(v.tag);
  for (const [k, x] of Object.entries(v)) {
    if (k === "code" && typeof x === "string") seenStopCodes.add(x);
    collect(x);
  }
}

function fail(index, line, message) {
  console.error(`FAIL sample #${index} (${line?.kind ?? "?"}): ${message}`);
  if (line?.hex !== undefined) console.error(`  our bytes: ${line.hex}`);
  process.exit(1);
}
function failCoverage(message) {
  console.error(`FAIL coverage: ${message}`);
  process.exit(1);
}

const input = await new Promise((resolve, reject) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
  process.stdin.on("error", reject);
});
const lines = input.split("\n").filter((l) => l.length > 0);
if (lines.length === 0) failCoverage("no samples on stdin");

const counts = {};
const seenTopLevel = Object.fromEntries(Object.keys(topLevel).map((k) => [k, new Set()]));
lines.forEach((text, index) => {
  let line;
  try {
    line = JSON.parse(text);
  } catch (e) {
    fail(index, undefined, `not JSON: ${text}`);
  }
  const codec = codecs[line.kind];
  if (!codec) fail(index, line, `unknown kind ${line.kind}`);
  counts[line.kind] = (counts[line.kind] ?? 0) + 1;

  const wire = fromHex(line.hex);
  let body = wire;
  if (codec.versioned) {
    if (wire.length < 2) fail(index, line, "shorter than the version prefix");
    const version = wire[0] | (wire[1] << 8);
    if (version !== VERSION) fail(index, line, `version prefix ${version}, expected ${VERSION}`);
    body = wire.subarray(2);
  }

  let decoded;
  try {
    decoded = codec.decode(body);
  } catch (e) {
    fail(index, line, `the official decoder refused our bytes: ${e.message}`);
  }
  if (!isDeepStrictEqual(normalize(decoded), line.value)) {
    fail(index, line, `decoded value differs\n  official: ${show(normalize(decoded))}\n  ours:     ${show(line.value)}`);
  }

  const again = toHex(codec.encode(decoded));
  if (again !== toHex(body)) fail(index, line, `re-encoded by the official encoder: ${again}`);

  let fromValue;
  try {
    fromValue = toHex(codec.encode(revive(line.value)));
  } catch (e) {
    fail(index, line, `the official encoder refused our value: ${e.message}`);
  }
  if (fromValue !== toHex(body)) fail(index, line, `our value encoded by the official encoder: ${fromValue}`);

  seenTopLevel[line.kind].add(decoded.tag);
  collect(decoded);
});

for (const [kind, members] of Object.entries(topLevel)) {
  const missing = members.filter((m) => !seenTopLevel[kind].has(m));
  if (missing.length > 0) failCoverage(`no ${kind} sample of ${missing.join(", ")}`);
}
const missingNested = nested.filter((m) => !seenTags.has(m));
if (missingNested.length > 0) failCoverage(`no sample of ${missingNested.join(", ")}`);
for (const code of ["Ok", "Error"]) {
  if (!seenStopCodes.has(code)) failCoverage(`no sample of StopCode ${code}`);
}

console.log(
  `ok: ${lines.length} samples identical through @rivetkit/engine-runner-protocol ` +
    `(${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(", ")})`,
);
