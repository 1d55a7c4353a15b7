// Connection-level defences of `lineup serve` on Debian's compiled
// cpp-httplib 0.11.4, whose own timeouts are per read and whose default pool
// is 8 threads (so 8 clients trickling one header line every few seconds
// used to hold every worker).
//
// GuardedServer is an httplib::Server that reads each connection through its
// own Stream (httplib lets a subclass override process_and_close_socket, as
// SSLServer does, and call the protected process_request with any Stream):
//
// Invariants (plain HTTP):
//  - A request's line and headers arrive within header_timeout_seconds of
//    its first byte, and are at most max_header_bytes; otherwise the read
//    fails and the connection is closed. The clock restarts for each request
//    of a keep-alive connection; an idle connection waits at most httplib's
//    keep-alive timeout for the next one.
//  - A request body (Content-Length or chunked) is never read past the
//    server's payload limit (set_payload_max_length) plus chunk framing
//    slack: the read stops there, the answer is 413 (BodyOverBudget lets the
//    error handler tell this from a malformed body) and the connection closes.
//  - At most max_connections_per_address connections of one peer address are
//    served at a time; the others get 429 too_many_connections and are closed.
//    A connection counts from its accept until the response after which it
//    closes starts (not until the socket is closed), so a client that opens
//    one connection per request is never refused for overlapping its last.
//    The cap counts TCP peers: behind a front proxy every connection is the
//    proxy's (set the cap to 0 there and let the proxy cap per client).
//
// The worker pool (ElasticThreadPool, for every server, TLS included) starts
// threads on demand up to a bound sized from the machine, so slow clients do
// not queue fast ones behind them until the bound is reached.
//
// TLS (SSLServer) cannot be guarded this way: its process_and_close_socket is
// private and its TLS stream is internal to the library, so a guarded TLS
// server would have to redo the handshake and record layer itself. A TLS
// server gets the elastic pool and httplib's per-read timeouts only;
// docs/SERVER.md asks TLS deployments to terminate TLS in a front proxy.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace lineup {

struct ConnectionLimits {
  double header_timeout_seconds = 10;   // request line + headers, from the request's first byte
  int max_connections_per_address = 8;  // per TCP peer; 0 = no cap
  size_t max_header_bytes = 64 << 10;   // request line + headers
};

// The most worker threads when `configured` is 0: 16 per hardware thread,
// at least 32. Otherwise `configured` (at least 1).
int WorkerThreadsFor(int configured);

// A TaskQueue that starts a thread whenever every thread is busy, up to
// max_threads; jobs beyond that wait in order. Threads live until shutdown.
class ElasticThreadPool : public httplib::TaskQueue {
 public:
  explicit ElasticThreadPool(size_t max_threads);
  ~ElasticThreadPool() override;
  void enqueue(std::function<void()> job) override;
  void shutdown() override;
  size_t threads() const;

 private:
  void Work();

  const size_t max_threads_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;  // threads waiting for a job (or starting)
  bool stopping_ = false;
};

// Counts open connections per peer address.
class AddressCounter {
 public:
  explicit AddressCounter(int cap) : cap_(cap) {}
  // False (and nothing counted) when `address` already has cap connections.
  bool TryAdd(const std::string& address);
  void Remove(const std::string& address);

 private:
  const int cap_;
  std::mutex mu_;
  std::unordered_map<std::string, int> open_;
};

class GuardedStream;

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(ConnectionLimits limits);
  // True when `req`, a request being answered, ran over the body budget.
  bool BodyOverBudget(const httplib::Request& req) const;

 private:
  bool process_and_close_socket(socket_t sock) override;
  void ServeRequests(GuardedStream& stream, const std::function<void()>& last_response_started);
  bool AwaitRequest(GuardedStream& stream) const;
  bool ServeOne(GuardedStream& stream, bool last, const std::function<void()>& last_response_started);

  const ConnectionLimits limits_;
  AddressCounter per_address_;
  mutable std::mutex active_mu_;
  std::map<const httplib::Request*, const GuardedStream*> active_;  // requests past their headers
};

}  // namespace lineup
