// conversion helpers live in value.cpp; this file keeps the out-of-line parts of convert.hpp.
#include "rivetkit/convert.hpp"
