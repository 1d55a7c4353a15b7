// Request and search metrics in the Prometheus text exposition format.
// Thread-safe; one instance per server (no global registry).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace lineup {

class Metrics {
 public:
  // `route` is the route pattern ("/api/v1/cases/{id}"), not the raw path, so
  // that ids do not make unbounded label sets.
  void ObserveRequest(const std::string& method, const std::string& route, int status, double seconds);
  void ObserveSearch(double seconds);
  // An answer 500 with an error id, on any path (lineup_http_requests_total
  // has them by route for the API).
  void ObserveInternalError();
  // The whole exposition; `gallery_faces` is sampled by the caller.
  std::string Render(int64_t gallery_faces) const;

 private:
  // Upper bounds in seconds of the latency histograms (+Inf implied).
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1,    2.5,   5,    10,  30};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};  // cumulative at render time, not here
    uint64_t count = 0;
    double sum = 0;
    void Observe(double seconds);
  };
  struct RequestKey {
    std::string method, route;
    int status;
    bool operator<(const RequestKey& o) const {
      return std::tie(method, route, status) < std::tie(o.method, o.route, o.status);
    }
  };
  static void RenderHistogram(std::string& out, const std::string& name, const std::string& labels,
                              const Histogram& h);

  mutable std::mutex mu_;
  std::map<RequestKey, uint64_t> requests_;
  std::map<std::string, Histogram> latency_by_route_;
  uint64_t internal_errors_ = 0;
  Histogram search_latency_;
};

// Token buckets keyed by account or client address: `burst` requests at once,
// refilled at `per_minute`. Thread-safe.
class RateLimiter {
 public:
  RateLimiter(double per_minute, double burst) : per_second_(per_minute / 60.0), burst_(burst) {}
  // Takes one token for `key` at time `now` (seconds, monotonic); returns 0
  // if allowed, else the seconds to wait.
  double Take(const std::string& key, double now);

 private:
  struct Bucket {
    double tokens;
    double updated;
  };
  double per_second_, burst_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace lineup
