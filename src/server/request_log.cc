#include "server/request_log.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/utc_time.h"

namespace lineup {

namespace {

constexpr size_t kMaxRequestIdLength = 64;

// "YYYY-MM-DDTHH:MM:SS.mmmZ"
std::string IsoMillis(int64_t unix_ms) {
  const int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  std::string text = IsoUtc(seconds);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d", static_cast<int>(unix_ms - seconds * 1000));
  text.insert(text.size() - 1, millis);
  return text;
}

std::string RandomHex(size_t bytes) {
  if (sodium_init() < 0) throw Error("cannot initialise libsodium");  // idempotent, cheap once done
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  hex.pop_back();
  return hex;
}

std::FILE* OpenForAppend(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(Context(path, std::string("cannot open the request log: ") + std::strerror(errno)));
  std::FILE* f = ::fdopen(fd, "a");
  if (f == nullptr) {
    ::close(fd);
    throw Error(Context(path, "cannot open the request log"));
  }
  return f;
}

}  // namespace

std::string RequestLogLine(const RequestLogEntry& e) {
  nlohmann::json line = {{"time", IsoMillis(e.unix_ms)},
                         {"request_id", e.request_id},
                         {"method", e.method},
                         {"route", e.route.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.route)},
                         {"status", e.status},
                         {"duration_ms", e.duration_seconds < 0 ? nlohmann::json(nullptr)
                                                                : nlohmann::json(std::round(e.duration_seconds * 1e4) / 10)},
                         {"user_id", e.user_id == 0 ? nlohmann::json(nullptr) : nlohmann::json(e.user_id)},
                         {"client", e.client}};
  if (!e.error_id.empty()) {
    line["error_id"] = e.error_id;
    line["error"] = e.error;
  }
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

RequestLog::RequestLog(const std::string& path)
    : out_(path.empty() ? stderr : OpenForAppend(path)), owned_(!path.empty()) {}

RequestLog::~RequestLog() {
  if (owned_) std::fclose(out_);
}

void RequestLog::Write(const RequestLogEntry& entry) {
  const std::string line = RequestLogLine(entry);
  std::lock_guard lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

bool IsWellFormedRequestId(const std::string& id) {
  return !id.empty() && id.size() <= kMaxRequestIdLength && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.';
         });
}

std::string NewRequestId() { return RandomHex(16); }
std::string NewErrorId() { return RandomHex(8); }

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace lineup
