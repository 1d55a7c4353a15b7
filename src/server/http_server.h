// `lineup serve`'s HTTP layer over Service: routing, authentication (session
// cookie + CSRF token, or API bearer token), rate limits, security headers,
// the web app's static files, /healthz, /metrics and the OpenAPI document.
//
// Invariants:
//  - One route table (routes in http_server.cc) drives both dispatch and the
//    OpenAPI document, so the document lists exactly what is served.
//  - Every state-changing request authenticated by the session cookie must
//    carry the session's CSRF token in X-CSRF-Token, and JSON bodies must be
//    sent as application/json (a cross-site form cannot do either).
//  - Answers never include stack traces or file paths of the server; errors
//    are {"error", "message"} with the status of docs/API.md. A client error
//    is an ApiError or an Error of a client kind (common/error.h), answered
//    with its own message (and "field"); anything else is 500 "internal" with
//    an error id, and its text goes only to the request log under that id.
//  - Every answer carries X-Request-Id (the client's, when well-formed), the
//    request log line and the audit records of the request store the same.
//  - The client address is the peer's, or X-Forwarded-For's walked from the
//    right when the peer is a trusted proxy (server/trusted_proxies.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/service.h"

namespace lineup {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0 = any free port (tests)
  std::string tls_cert, tls_key;   // PEM files; both set = HTTPS
  bool secure_cookies = false;     // mark cookies Secure (implied by TLS); set behind a TLS proxy
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For counts (--trusted-proxy)
  std::string log_file;            // the request log (JSON lines), appended; "" = stderr
  int timeout_seconds = 30;        // read and write timeout per socket read or write
  // Connection limits (server/connection_guard.h); the header deadline and
  // the per-address cap apply to plain HTTP only (see docs/SERVER.md for TLS).
  double header_timeout_seconds = 10;   // a request's line and headers, from its first byte
  int max_connections_per_address = 8;  // per TCP peer; 0 = no cap (behind a front proxy)
  int threads = 0;                      // most worker threads; 0 = 16 per core, at least 32
  double requests_per_minute = 300;  // per account (or per address when unauthenticated)
  double request_burst = 100;
  double logins_per_minute = 10;   // per client address
  double login_burst = 10;
};

class HttpServer {
 public:
  HttpServer(Service& service, HttpServerOptions options);
  ~HttpServer();
  // Binds the port (throws Error if it cannot); returns the port bound.
  int Bind();
  // Serves until Stop(); call after Bind().
  void Run();
  void Stop();

  // The OpenAPI 3 document of the routes.
  static nlohmann::json OpenApi();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lineup
