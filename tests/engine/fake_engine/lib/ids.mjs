// Engine-format ids (the engine's util-id crate, v1): 19 bytes = version byte 1, a random UUIDv4
// and a 2-byte big-endian datacenter label, read as one little-endian integer and printed as 30
// lowercase base36 digits, least significant digit first. Runners treat ids as opaque strings, but
// a fake that hands out ids a real engine would reject could hide parsing bugs in the code under test.
import { randomBytes } from "node:crypto";

const ID_LEN = 30;
const BYTE_LEN = 19;

export function newEngineId(dcLabel = 1) {
	const bytes = Buffer.alloc(BYTE_LEN);
	bytes[0] = 1;
	const uuid = randomBytes(16);
	uuid[6] = (uuid[6] & 0x0f) | 0x40; // UUID version 4
	uuid[8] = (uuid[8] & 0x3f) | 0x80; // RFC 4122 variant
	uuid.copy(bytes, 1);
	bytes.writeUInt16BE(dcLabel & 0xffff, 17);
	let n = 0n;
	for (let i = BYTE_LEN - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
	let out = "";
	for (let i = 0; i < ID_LEN; i++) {
		out += (n % 36n).toString(36);
		n /= 36n;
	}
	return out;
}

/** Parses an engine id; throws an Error whose message matches the engine's IdError texts. */
export function parseEngineId(s) {
	if (typeof s !== "string" || s.length < 4) {
		throw new Error("invalid input length: expected at least 4 characters");
	}
	const digits = [];
	for (const ch of s) {
		if (!/^[0-9a-z]$/.test(ch)) throw new Error(`invalid base36 character: '${ch}'`);
		digits.push(parseInt(ch, 36));
	}
	// The version byte is the low byte of the integer: the first 4 digits determine it.
	const version = Number(
		(BigInt(digits[0]) + 36n * BigInt(digits[1]) + 1296n * BigInt(digits[2]) + 46656n * BigInt(digits[3])) % 256n,
	);
	if (version !== 1) throw new Error(`unsupported ID version: ${version}`);
	if (s.length !== ID_LEN) {
		throw new Error(`invalid input length: expected ${ID_LEN}, got ${s.length}`);
	}
	let n = 0n;
	for (let i = ID_LEN - 1; i >= 0; i--) n = n * 36n + BigInt(digits[i]);
	const bytes = Buffer.alloc(BYTE_LEN);
	for (let i = 0; i < BYTE_LEN; i++) {
		bytes[i] = Number(n & 0xffn);
		n >>= 8n;
	}
	if (n !== 0n) throw new Error("byte conversion overflow/underflow");
	return { version: bytes[0], uuid: bytes.subarray(1, 17).toString("hex"), label: bytes.readUInt16BE(17) };
}
