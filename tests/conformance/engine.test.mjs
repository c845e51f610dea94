// The official driver test suite against the conformance server as a runner of a fake Rivet
// Engine (tests/engine/fake_engine): every request goes through the engine's REST API and
// gateway, as with a real engine.
import { describe } from "vitest";
import { runDriverTests } from "rivetkit/driver-test-suite";
import { driverConfig } from "./harness.mjs";

describe("driver (engine)", () => {
  runDriverTests(driverConfig("engine"));
});
