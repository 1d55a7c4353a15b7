#include "server/metrics.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace lineup {

namespace {

std::string Number(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}

// Label values escaped as the exposition format requires.
std::string Escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Metrics::Histogram::Observe(double seconds) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++buckets[i];
      break;
    }
  }
  ++count;
  sum += seconds;
}

void Metrics::ObserveRequest(const std::string& method, const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{method, route, status}];
  latency_by_route_[route].Observe(seconds);
}

void Metrics::ObserveSearch(double seconds) {
  std::lock_guard lock(mu_);
  search_latency_.Observe(seconds);
}

void Metrics::ObserveInternalError() {
  std::lock_guard lock(mu_);
  ++internal_errors_;
}

void Metrics::RenderHistogram(std::string& out, const std::string& name, const std::string& labels,
                              const Histogram& h) {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative += h.buckets[i];
    out += name + "_bucket{" + labels + sep + "le=\"" + Number(kBuckets[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + Number(h.sum) + "\n";
  out += name + "_count" + braces + " " + std::to_string(h.count) + "\n";
}

std::string Metrics::Render(int64_t gallery_faces) const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP lineup_http_requests_total HTTP requests by method, route and status.\n";
  out += "# TYPE lineup_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "lineup_http_requests_total{method=\"" + Escaped(key.method) + "\",route=\"" + Escaped(key.route) +
           "\",status=\"" + std::to_string(key.status) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP lineup_http_internal_errors_total Answers 500 with an error id (details in the server log).\n";
  out += "# TYPE lineup_http_internal_errors_total counter\n";
  out += "lineup_http_internal_errors_total " + std::to_string(internal_errors_) + "\n";
  out += "# HELP lineup_http_request_duration_seconds HTTP request latency by route.\n";
  out += "# TYPE lineup_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_by_route_) {
    RenderHistogram(out, "lineup_http_request_duration_seconds", "route=\"" + Escaped(route) + "\"", h);
  }
  out += "# HELP lineup_search_duration_seconds Face search latency (probe analysis, gallery search, recording).\n";
  out += "# TYPE lineup_search_duration_seconds histogram\n";
  RenderHistogram(out, "lineup_search_duration_seconds", "", search_latency_);
  out += "# HELP lineup_gallery_faces Searchable faces in the gallery.\n";
  out += "# TYPE lineup_gallery_faces gauge\n";
  out += "lineup_gallery_faces " + std::to_string(gallery_faces) + "\n";
  return out;
}

double RateLimiter::Take(const std::string& key, double now) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) b.tokens = std::min(burst_, b.tokens + (now - b.updated) * per_second_);
  b.updated = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  double wait = (1 - b.tokens) / per_second_;
  if (buckets_.size() > 100000) buckets_.clear();  // bounded memory under a flood of addresses
  return wait;
}

}  // namespace lineup
