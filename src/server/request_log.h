// The server's request log: one JSON object per line, per answered request,
// on stderr or in the file of `lineup serve --log FILE`; and the request and
// error ids that join it with answers and audit records.
//
// Invariants:
//  - A line names the route template ("/api/v1/cases/{id}"), never the raw
//    path, and never holds query strings, bodies, cookies or tokens.
//  - Lines are written whole (one write per line, under a lock), so
//    concurrent requests never interleave within a line; each is flushed.
//  - The exception text of an internal error goes only here, with the error
//    id the client was given.
#pragma once

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace lineup {

struct RequestLogEntry {
  int64_t unix_ms = 0;       // when the answer was sent
  std::string request_id;    // as sent in X-Request-Id
  std::string method;
  std::string route;         // route template; "" when no route matched
  int status = 0;
  double duration_seconds = -1;  // < 0: unknown (refused before routing)
  int64_t user_id = 0;       // 0: no authenticated user
  std::string client;        // as rate limits and the audit trail see it
  std::string error_id;      // internal errors only
  std::string error;         // internal errors only: the exception text
};

// The entry as one JSON line (with "\n"); bytes that are not UTF-8 become U+FFFD.
std::string RequestLogLine(const RequestLogEntry& entry);

class RequestLog {
 public:
  // Appends to `path` (created 0600), or writes to stderr when `path` is "".
  // Throws Error if the file cannot be opened.
  explicit RequestLog(const std::string& path);
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  void Write(const RequestLogEntry& entry);

 private:
  std::mutex mu_;
  std::FILE* out_;
  bool owned_;
};

// A request id sent by the client (or a proxy) is kept when it is 1 to 64
// characters of A-Z a-z 0-9 '-' '_' '.'; else the server makes one.
bool IsWellFormedRequestId(const std::string& id);
// 32 random hex digits.
std::string NewRequestId();
// 16 random hex digits: what a 500 answer tells the client to quote.
std::string NewErrorId();

int64_t UnixMillisNow();

}  // namespace lineup
