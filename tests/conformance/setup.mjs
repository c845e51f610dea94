// Node 20 has no global WebSocket; the suite's clients need one. The `ws` package provides it,
// with one difference from the standard WebSocket (browsers, Node 22's undici) that matters
// here: binary messages arrive as pooled Node Buffers instead of Blobs. The suite's inline
// client does not set binaryType and its BARE decoder then reads past the message in the pool.
// So this WebSocket starts with the standard default, "blob".
import WebSocket from "ws";

class StandardWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.binaryType = "blob";
  }
}

if (typeof globalThis.WebSocket === "undefined") globalThis.WebSocket = StandardWebSocket;
