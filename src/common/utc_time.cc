#include "common/utc_time.h"

#include <ctime>

namespace lineup {

std::string IsoUtc(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace lineup
