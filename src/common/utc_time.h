// UTC timestamps as Lineup stores and shows them: "YYYY-MM-DDTHH:MM:SSZ"
// (ISO 8601, seconds, always 20 characters for years 1000-9999, so text
// order is time order).
#pragma once

#include <cstdint>
#include <string>

namespace lineup {

std::string IsoUtc(int64_t unix_seconds);
int64_t UnixNow();

}  // namespace lineup
