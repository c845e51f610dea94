#pragma once
// The fixture actors of the official RivetKit driver test suite (rivetkit@2.0.33,
// fixtures/driver-test-suite/*.ts), written in C++ under their exact registered names. What each
// one does is in ../shared/reference/driver-test-suite.md, Part 2.

#include <vector>

#include <rivetkit/rivetkit.hpp>

namespace conformance {

/// counter, counterConn, counterWithLifecycle, scheduled, the five sleep actors,
/// errorHandlingActor, customTimeoutActor, inlineClientActor, inputActor, the four action
/// timeout actors, syncActionActor, asyncActionActor, promiseActor.
std::vector<rivetkit::registration> core_fixtures();

/// counterWithParams, connStateActor, metadataActor, the five vars actors, requestAccessActor,
/// onStateChangeActor, destroyObserver, destroyActor, hibernationActor, largePayloadActor,
/// largePayloadConnActor.
std::vector<rivetkit::registration> conn_fixtures();

/// rawHttpActor, rawHttpNoHandlerActor, rawHttpVoidReturnActor, rawHttpHonoActor,
/// rawHttpRequestPropertiesActor, rawWebSocketActor, rawWebSocketBinaryActor.
std::vector<rivetkit::registration> raw_fixtures();

}  // namespace conformance
