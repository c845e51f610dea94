// Node 20 has no global WebSocket; the suite's clients need one. The `ws` package provides it,
// with two differences from the standard WebSocket (browsers, Node 22's undici) that the suite
// trips over, both adjusted here:
// - binary messages arrive as pooled Node Buffers instead of Blobs; the suite's inline client
//   does not set binaryType and its BARE decoder then reads past the message in the pool. So
//   this WebSocket starts with the standard default, "blob".
// - `ws` emits open, message, close and error synchronously while it parses a read, so a
//   message that arrives in the same TCP read as the 101 response is emitted before code
//   awaiting "open" can add its message listener, and is lost. The standard queues each event
//   as a task; deferring each with setImmediate (FIFO, microtasks drained in between) does the
//   same.
import WebSocket from "ws";

const queued = new Set(["open", "message", "close", "error"]);

class StandardWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.binaryType = "blob";
  }

  emit(event, ...args) {
    if (!queued.has(event)) return super.emit(event, ...args);
    setImmediate(() => super.emit(event, ...args));
    return true;
  }
}

if (typeof globalThis.WebSocket === "undefined") globalThis.WebSocket = StandardWebSocket;
