// Engine errors as they reach clients: JSON bodies {group, code, message, metadata?} with the
// HTTP status the engine's api-builder / guard-core maps them to, and WebSocket close frames
// "group.code#rayId" (code 1000 for ws.connection_closed / ws.eviction, 1011 otherwise).
import { newEngineId } from "./ids.mjs";

export class RivetError extends Error {
	constructor(group, code, message, metadata = undefined) {
		super(message ?? `${group}.${code}`);
		this.group = group;
		this.code = code;
		this.metadata = metadata;
	}

	get status() {
		return errorStatus(this.group, this.code);
	}

	toJSON() {
		const body = { group: this.group, code: this.code, message: this.message };
		if (this.metadata !== undefined) body.metadata = this.metadata;
		return body;
	}
}

const STATUS = new Map([
	["api.not_found", 404],
	["api.unauthorized", 401],
	["api.forbidden", 403],
	["guard.rate_limit", 429],
	["guard.upstream_error", 502],
	["guard.routing_error", 502],
	["guard.request_timeout", 504],
	["guard.retry_attempts_exceeded", 502],
	["guard.actor_not_found", 404],
	["guard.actor_destroyed", 404],
	["guard.service_unavailable", 503],
	["guard.actor_ready_timeout", 503],
	["guard.no_route", 404],
	["core.internal_error", 500],
	["fake.wait_timeout", 408],
]);

export function errorStatus(group, code) {
	return STATUS.get(`${group}.${code}`) ?? 400;
}

export function internalError(err) {
	const e = new RivetError("core", "internal_error", "An internal error occurred");
	e.cause = err;
	return e;
}

export const asRivetError = (err) => (err instanceof RivetError ? err : internalError(err));

/** Close frame for an error, as guard builds it (reason limited to 123 bytes). */
export function errorCloseFrame(err, withRayId = true) {
	const e = asRivetError(err);
	const normal = e.group === "ws" && (e.code === "connection_closed" || e.code === "eviction");
	let reason = `${e.group}.${e.code}`;
	if (withRayId) reason += `#${newEngineId()}`;
	return { code: normal ? 1000 : 1011, reason: Buffer.from(reason).subarray(0, 123).toString() };
}

export const Errors = {
	actorNotFound: () => new RivetError("actor", "not_found", "The actor does not exist or was destroyed."),
	destroyedWhileWaiting: () =>
		new RivetError("actor", "destroyed_while_waiting_for_ready", "Actor was destroyed while waiting for ready state."),
	duplicateKey: (key, existing) =>
		new RivetError("actor", "duplicate_key", `Actor key '${key}' already in use for actor '${existing}'`, {
			key,
			existing_actor_id: existing,
		}),
	namespaceNotFound: () => new RivetError("namespace", "not_found", "The namespace does not exist."),
	actorReadyTimeout: (actorId) =>
		new RivetError("guard", "actor_ready_timeout", `Timed out waiting for actor ${actorId} to become ready.`, {
			actor_id: actorId,
		}),
	serviceUnavailable: () => new RivetError("guard", "service_unavailable", "Service unavailable."),
	wsServiceUnavailable: () => new RivetError("guard", "websocket_service_unavailable", "WebSocket service unavailable."),
	wsServiceTimeout: () => new RivetError("guard", "websocket_service_timeout", "WebSocket service timed out."),
	wsPendingLimit: () =>
		new RivetError(
			"guard",
			"websocket_pending_limit_reached",
			"Reached limit on pending websocket messages, aborting connection.",
		),
	invalidInput: (message) => new RivetError("validation", "invalid_input", message),
	unauthorized: () => new RivetError("api", "unauthorized", "Unauthorized."),
	forbidden: () => new RivetError("api", "forbidden", "Forbidden."),
	notFound: () => new RivetError("api", "not_found", "The requested resource was not found."),
	noRoute: () => new RivetError("guard", "no_route", "No route found."),
	ws: (code, message) => new RivetError("ws", code, message),
};
