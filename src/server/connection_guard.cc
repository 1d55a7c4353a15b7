// GuardedServer, its Stream and the elastic pool (connection_guard.h).

#include "server/connection_guard.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace lineup {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Chunk sizes, extensions and CRLFs on top of the payload a chunked body may
// carry before the budget stops it.
constexpr size_t kChunkFramingSlack = 64 << 10;
// After a refused body: how long the rest of it is read and discarded, so
// that closing does not reset the connection before the client read the answer.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr int kRefusedLingerMillis = 200;

int MillisUntil(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 24 * 3600 * 1000));
}

bool WaitFor(socket_t sock, short events, int millis) {
  pollfd p{sock, events, 0};
  int n;
  do {
    n = ::poll(&p, 1, millis);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

std::string NumericHost(const sockaddr_storage& addr, socklen_t len, int* port) {
  char host[NI_MAXHOST] = "", service[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, service, sizeof service,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "";
  }
  if (port) *port = std::atoi(service);
  return host;
}

std::string PeerAddress(socket_t sock, int* port = nullptr) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  return NumericHost(addr, len, port);
}

// Reads and drops what the peer still sends, until it closes or `deadline`.
void Discard(socket_t sock, SteadyClock::time_point deadline) {
  char sink[16 << 10];
  while (WaitFor(sock, POLLIN, MillisUntil(deadline))) {
    if (::recv(sock, sink, sizeof sink, 0) <= 0) return;
  }
}

void CloseSocket(socket_t sock) {
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

void RefuseTooManyConnections(socket_t sock) {
  const std::string body =
      R"({"error":"too_many_connections","message":"too many open connections from this address; retry later"})";
  const std::string answer =
      "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 5\r\n"
      "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ::send(sock, answer.data(), answer.size(), MSG_NOSIGNAL);
  ::shutdown(sock, SHUT_WR);
  // Read what the client sends until it closes (briefly), so that closing
  // with its request unread does not reset the answer away.
  Discard(sock, SteadyClock::now() + std::chrono::milliseconds(kRefusedLingerMillis));
  ::close(sock);
}

}  // namespace

// The socket as httplib reads it, with a per-request header deadline and
// header/body byte budgets. Reads are buffered (httplib reads header lines
// one byte at a time). Used by one thread at a time.
class GuardedStream : public httplib::Stream {
 public:
  struct Settings {
    int read_timeout_ms, write_timeout_ms;
    std::chrono::milliseconds header_timeout;
    size_t max_header_bytes, max_body_bytes;
  };
  GuardedStream(socket_t sock, Settings settings) : sock_(sock), settings_(settings) {}

  // Waits up to `idle` for the next request's first byte; starts its header clock.
  bool AwaitRequest(std::chrono::milliseconds idle) {
    if (!Buffered() && !WaitFor(sock_, POLLIN, static_cast<int>(idle.count()))) return false;
    phase_ = Phase::kHeaders;
    header_deadline_ = SteadyClock::now() + settings_.header_timeout;
    header_bytes_ = body_bytes_ = 0;
    response_started_ = false;
    return true;
  }
  // `hook` runs once, just before the first byte of the current request's
  // response is sent (the request and its body have been read by then).
  void OnResponseStart(std::function<void()> hook) { on_response_start_ = std::move(hook); }
  // httplib has parsed the headers: the body budget applies from here.
  void EndHeaders() { phase_ = Phase::kBody; }
  bool over_budget() const { return over_budget_; }
  bool header_deadline_passed() const { return deadline_passed_; }

  bool is_readable() const override { return Buffered() || WaitFor(sock_, POLLIN, ReadWaitMillis()); }
  bool is_writable() const override { return WaitFor(sock_, POLLOUT, settings_.write_timeout_ms); }

  ssize_t read(char* out, size_t size) override {
    size_t allowed = Allowance();
    if (allowed == 0) return -1;
    if (!Buffered() && !Fill()) return -1;
    size_t n = std::min({size, allowed, end_ - begin_});
    std::memcpy(out, buffer_ + begin_, n);
    begin_ += n;
    (phase_ == Phase::kBody ? body_bytes_ : header_bytes_) += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* data, size_t size) override {
    if (!response_started_) {
      response_started_ = true;
      if (on_response_start_) on_response_start_();
    }
    if (!is_writable()) return -1;
    return ::send(sock_, data, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { ip = PeerAddress(sock_, &port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ip = getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0 ? NumericHost(addr, len, &port) : "";
  }
  socket_t socket() const override { return sock_; }

 private:
  enum class Phase { kHeaders, kBody };

  bool Buffered() const { return begin_ < end_; }

  int ReadWaitMillis() const {
    if (phase_ == Phase::kBody) return settings_.read_timeout_ms;
    return std::min(settings_.read_timeout_ms, MillisUntil(header_deadline_));
  }

  // Bytes the current phase may still read; 0 marks why reading stops.
  size_t Allowance() {
    if (phase_ == Phase::kBody) {
      if (body_bytes_ >= settings_.max_body_bytes) over_budget_ = true;
      return settings_.max_body_bytes - std::min(body_bytes_, settings_.max_body_bytes);
    }
    if (SteadyClock::now() >= header_deadline_) deadline_passed_ = true;
    if (deadline_passed_ || header_bytes_ >= settings_.max_header_bytes) return 0;
    return settings_.max_header_bytes - header_bytes_;
  }

  bool Fill() {
    if (!WaitFor(sock_, POLLIN, ReadWaitMillis())) {
      if (phase_ == Phase::kHeaders && SteadyClock::now() >= header_deadline_) deadline_passed_ = true;
      return false;
    }
    ssize_t n;
    do {
      n = ::recv(sock_, buffer_, sizeof buffer_, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    begin_ = 0;
    end_ = static_cast<size_t>(n);
    return true;
  }

  const socket_t sock_;
  const Settings settings_;
  Phase phase_ = Phase::kHeaders;
  SteadyClock::time_point header_deadline_ = SteadyClock::now();
  size_t header_bytes_ = 0, body_bytes_ = 0;
  bool over_budget_ = false, deadline_passed_ = false;
  bool response_started_ = false;
  std::function<void()> on_response_start_;  // OnResponseStart's hook
  char buffer_[16 << 10];
  size_t begin_ = 0, end_ = 0;
};

int WorkerThreadsFor(int configured) {
  if (configured > 0) return configured;
  int hardware = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(32, 16 * std::max(1, hardware));
}

ElasticThreadPool::ElasticThreadPool(size_t max_threads) : max_threads_(std::max<size_t>(1, max_threads)) {}

ElasticThreadPool::~ElasticThreadPool() { shutdown(); }

void ElasticThreadPool::enqueue(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) {
      ++idle_;
      threads_.emplace_back([this] { Work(); });
    }
  }
  wake_.notify_one();
}

void ElasticThreadPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (std::thread& t : threads) t.join();
}

size_t ElasticThreadPool::threads() const {
  std::lock_guard lock(mu_);
  return threads_.size();
}

void ElasticThreadPool::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and every queued job done
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    --idle_;
    lock.unlock();
    job();
    lock.lock();
    ++idle_;
  }
}

bool AddressCounter::TryAdd(const std::string& address) {
  std::lock_guard lock(mu_);
  int& open = open_[address];
  if (cap_ > 0 && open >= cap_) {
    if (open == 0) open_.erase(address);
    return false;
  }
  ++open;
  return true;
}

void AddressCounter::Remove(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = open_.find(address);
  if (it != open_.end() && --it->second <= 0) open_.erase(it);
}

GuardedServer::GuardedServer(ConnectionLimits limits) : limits_(limits), per_address_(limits.max_connections_per_address) {}

bool GuardedServer::BodyOverBudget(const httplib::Request& req) const {
  std::lock_guard lock(active_mu_);
  auto it = active_.find(&req);
  return it != active_.end() && it->second->over_budget();
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  const std::string peer = PeerAddress(sock);
  if (!per_address_.TryAdd(peer)) {
    RefuseTooManyConnections(sock);
    return true;
  }
  auto millis = [](time_t sec, time_t usec) { return static_cast<int>(sec * 1000 + usec / 1000); };
  GuardedStream stream(sock, {millis(read_timeout_sec_, read_timeout_usec_),
                              millis(write_timeout_sec_, write_timeout_usec_),
                              std::chrono::milliseconds(static_cast<int64_t>(limits_.header_timeout_seconds * 1000)),
                              limits_.max_header_bytes, payload_max_length_ + kChunkFramingSlack});
  // The connection stops counting against its address once the response
  // after which it closes has started: the client may read that answer
  // and connect again before this worker has closed the socket, and a
  // client that uses one connection per request must not be refused for
  // the overlap.
  bool counted = true;
  const std::function<void()> uncount = [&] {
    if (counted) per_address_.Remove(peer);
    counted = false;
  };
  ServeRequests(stream, uncount);
  uncount();  // before lingering: a refused upload's drain does not hold the address's slot
  if (stream.over_budget()) {
    ::shutdown(sock, SHUT_WR);
    Discard(sock, SteadyClock::now() + kLingerTime);
  }
  CloseSocket(sock);
  return true;
}

// httplib's keep-alive loop, over the guarded stream.
void GuardedServer::ServeRequests(GuardedStream& stream, const std::function<void()>& last_response_started) {
  for (size_t left = keep_alive_max_count_; left > 0; --left) {
    if (!AwaitRequest(stream)) return;
    if (!ServeOne(stream, left == 1, last_response_started)) return;
  }
}

// Waits up to the keep-alive timeout for the next request, in short slices
// so that an idle connection does not hold up stop().
bool GuardedServer::AwaitRequest(GuardedStream& stream) const {
  constexpr std::chrono::milliseconds kSlice(200);
  const auto until = SteadyClock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
  while (svr_sock_ != INVALID_SOCKET) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now());
    if (left.count() <= 0) return false;
    if (stream.AwaitRequest(std::min(left, kSlice))) return true;
  }
  return false;
}

// One request; false when the connection must close.
bool GuardedServer::ServeOne(GuardedStream& stream, bool last, const std::function<void()>& last_response_started) {
  const httplib::Request* current = nullptr;
  bool closed = false;  // set by process_request from the request's headers, before it answers
  stream.OnResponseStart([&] {
    if (last || closed || stream.over_budget() || stream.header_deadline_passed()) last_response_started();
  });
  bool ok = process_request(stream, last, closed, [&](httplib::Request& req) {
    stream.EndHeaders();
    current = &req;
    std::lock_guard lock(active_mu_);
    active_[current] = &stream;
  });
  if (current) {
    std::lock_guard lock(active_mu_);
    active_.erase(current);
  }
  return ok && !closed && !stream.over_budget() && !stream.header_deadline_passed();
}

}  // namespace lineup
