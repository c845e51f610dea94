#pragma once
// Everything needed to define actors, run a registry and call actors.

#include "rivetkit/actor.hpp"
#include "rivetkit/client.hpp"
#include "rivetkit/clock.hpp"
#include "rivetkit/context.hpp"
#include "rivetkit/convert.hpp"
#include "rivetkit/error.hpp"
#include "rivetkit/key.hpp"
#include "rivetkit/log.hpp"
#include "rivetkit/options.hpp"
#include "rivetkit/registry.hpp"
#include "rivetkit/value.hpp"
