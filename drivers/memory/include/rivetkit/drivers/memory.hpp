#pragma once
// The memory driver: actors and their state live in this process only. Sleep and wake work
// (state survives sleep in memory); nothing survives the process. For tests and embedding.

#include "rivetkit/driver.hpp"

namespace rivetkit::drivers {

[[nodiscard]] driver_factory memory();

}  // namespace rivetkit::drivers
