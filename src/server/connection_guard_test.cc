// Connection-level defences over real sockets against a real HttpServer:
// slow header trickles, the per-address cap, chunked bodies past the upload
// limit, and uploads whose pixels would not fit in memory.
#include "server/connection_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "server/http_server.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kPassword[] = "correct horse battery";

// A raw TCP client, for what httplib::Client cannot do (trickle, half-send).
class RawClient {
 public:
  explicit RawClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  bool Send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  bool Readable(int millis) const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, millis) > 0;
  }
  // What arrives until the server closes or `millis` pass without a byte.
  std::string Receive(int millis) {
    std::string got;
    char buf[4096];
    while (Readable(millis)) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  // True once the server closed its side (EOF or reset), reading what it sent.
  bool ClosedByServer() {
    char buf[4096];
    while (Readable(0)) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  int fd_;
  bool connected_ = false;
};

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::atoi(response.c_str() + 9);
}

// Peak resident memory of this process since the last ResetPeakMemory, in MB.
int64_t PeakMemoryMb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) / 1024;
  }
  return -1;
}
int64_t ResidentMemoryMb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) / 1024;
  }
  return -1;
}
void ResetPeakMemory() { std::ofstream("/proc/self/clear_refs") << "5"; }

// A served empty gallery; options are set before Start().
class ConnectionGuard : public ::testing::Test {
 protected:
  void Start() {
    manifest_ = std::make_unique<ModelManifest>(ModelManifest::Load(testing::ImportedModelsDir()));
    service_options_.data_dir = testing::TempDir("guard-data");
    service_options_.pipelines = 1;
    service_options_.accounts.fast_hashing = true;
    service_ = std::make_unique<Service>(*manifest_, service_options_);
    admin_password_ = service_->EnsureAdmin();
    options_.port = 0;
    server_ = std::make_unique<HttpServer>(*service_, options_);
    port_ = server_->Bind();
    thread_ = std::thread([this] { server_->Run(); });
  }
  void TearDown() override {
    if (!server_) return;
    server_->Stop();
    thread_.join();
  }

  // /healthz over a fresh connection: the seconds it took, or -1 without an answer.
  double TimeHealthz() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(3);
    client.set_read_timeout(3);
    auto start = Clock::now();
    httplib::Result r = client.Get("/healthz");
    if (!r || r->status != 200) return -1;
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  // An investigator with an open case: the client and the case's probe upload path.
  std::pair<std::unique_ptr<httplib::Client>, std::string> InvestigatorWithCase() {
    auto login = [&](httplib::Client& c, const std::string& user, const std::string& password) {
      httplib::Result r = c.Post("/api/v1/login", nlohmann::json{{"username", user}, {"password", password}}.dump(),
                                 "application/json");
      EXPECT_TRUE(r && r->status == 200);
      std::string cookie = r->get_header_value("Set-Cookie");
      c.set_default_headers({{"Cookie", cookie.substr(0, cookie.find(';'))},
                             {"X-CSRF-Token", nlohmann::json::parse(r->body)["csrf_token"].get<std::string>()}});
    };
    httplib::Client admin("127.0.0.1", port_);
    login(admin, "admin", admin_password_);
    EXPECT_EQ(admin.Post("/api/v1/password", nlohmann::json{{"current", admin_password_}, {"new", kPassword}}.dump(),
                         "application/json")->status, 200);
    login(admin, "admin", kPassword);
    nlohmann::json ivan = {{"username", "ivan"}, {"password", kPassword}, {"role", "investigator"}, {"unit", "CID"}};
    EXPECT_EQ(admin.Post("/api/v1/users", ivan.dump(), "application/json")->status, 201);
    auto client = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client->set_read_timeout(60);
    login(*client, "ivan", kPassword);
    nlohmann::json c = {{"number", "2026/1"}, {"purpose", "test"}, {"category", "serious_crime"}};
    httplib::Result r = client->Post("/api/v1/cases", c.dump(), "application/json");
    EXPECT_TRUE(r && r->status == 201);
    int64_t id = nlohmann::json::parse(r->body)["case"]["id"];
    return {std::move(client), "/api/v1/cases/" + std::to_string(id) + "/probes"};
  }

  ServiceOptions service_options_;
  HttpServerOptions options_;
  std::unique_ptr<ModelManifest> manifest_;
  std::unique_ptr<Service> service_;
  std::string admin_password_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

// Twice httplib's default pool (8) of clients trickle a header line every
// 200 ms: /healthz still answers at once, and the header deadline closes them.
TEST_F(ConnectionGuard, SlowHeaderTricklesNeitherFreezeTheServerNorStayOpen) {
  options_.header_timeout_seconds = 1.5;
  options_.max_connections_per_address = 0;  // every client here is 127.0.0.1
  Start();
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 16; ++i) {
    slow.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(slow.back()->connected());
    slow.back()->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  }
  std::vector<bool> closed(slow.size(), false);
  double worst_healthz = 0;
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::milliseconds(2800)) {
    for (size_t i = 0; i < slow.size(); ++i) {
      if (!closed[i]) closed[i] = slow[i]->ClosedByServer() || !slow[i]->Send("X-Slow: 1\r\n");
    }
    double t = TimeHealthz();
    worst_healthz = t < 0 ? 99 : std::max(worst_healthz, t);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_LT(worst_healthz, 1.0) << "slow clients held the workers";
  EXPECT_EQ(std::count(closed.begin(), closed.end(), true), 16) << "the header deadline (1.5 s) closed every trickle";
}

TEST_F(ConnectionGuard, ConnectionsPerAddressAreCapped) {
  options_.max_connections_per_address = 3;
  Start();
  std::vector<std::unique_ptr<RawClient>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<RawClient>(port_));
    open.back()->Send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // headers not finished: the connection stays
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  RawClient fourth(port_);
  fourth.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string refused = fourth.Receive(2000);
  EXPECT_EQ(StatusOf(refused), 429) << refused;
  EXPECT_NE(refused.find("too_many_connections"), std::string::npos) << refused;

  open.pop_back();  // one closes: a place is free again
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_GE(TimeHealthz(), 0);
}

// A client that opens one connection per request (Connection: close) and
// connects again as soon as it has read the answer, before the server has
// closed the last socket: never refused, even with a cap of one.
TEST_F(ConnectionGuard, OneConnectionPerRequestIsNeverRefusedForTheOverlap) {
  options_.max_connections_per_address = 1;
  Start();
  int refused = 0, answered = 0;
  for (int i = 0; i < 300; ++i) {
    RawClient client(port_);
    ASSERT_TRUE(client.connected());
    client.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    // Read exactly the answer (headers and Content-Length bytes), not up to the close.
    std::string got;
    size_t end = std::string::npos, length = 0;
    char c;
    while (client.Readable(5000) && ::recv(client.fd(), &c, 1, 0) == 1) {
      got += c;
      if (end == std::string::npos && got.size() >= 4 && got.compare(got.size() - 4, 4, "\r\n\r\n") == 0) {
        end = got.size();
        const size_t at = got.find("Content-Length: ");
        length = at == std::string::npos ? 0 : std::stoul(got.substr(at + 16));
      }
      if (end != std::string::npos && got.size() >= end + length) break;
    }
    const int status = StatusOf(got);
    refused += status == 429;
    answered += status == 200;
  }
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(answered, 300);
}

// An idle keep-alive connection (httplib waits 5 s for its next request)
// does not hold up Stop().
TEST_F(ConnectionGuard, IdleKeepAliveConnectionsDoNotDelayStop) {
  Start();
  RawClient idle(port_);
  idle.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(StatusOf(idle.Receive(300)), 200);
  auto start = Clock::now();
  server_->Stop();
  thread_.join();
  server_.reset();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
}

// A chunked body ten times past the limit: 413 while reading, without
// holding the body in memory; a chunked body within the limit is read.
TEST_F(ConnectionGuard, ChunkedBodiesAreCutAtTheUploadLimit) {
  service_options_.max_upload_bytes = 2 << 20;
  Start();
  ResetPeakMemory();
  const int64_t before = ResidentMemoryMb();
  RawClient client(port_);
  client.Send("POST /api/v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");
  const std::string chunk(64 << 10, ' ');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  size_t sent = 0;
  while (sent < (100u << 20) && !client.Readable(0) && client.Send(size_line + chunk + "\r\n")) sent += chunk.size();
  std::string answer = client.Receive(3000);
  EXPECT_EQ(StatusOf(answer), 413) << answer.substr(0, 300);
  EXPECT_NE(answer.find("too_large"), std::string::npos);
  EXPECT_LT(sent, 20u << 20) << "the server read on past the limit";
  EXPECT_LT(PeakMemoryMb() - before, 40) << "the body was held in memory";

  RawClient small(port_);
  const std::string body = R"({"username":"x"})";
  char hex[16];
  std::snprintf(hex, sizeof hex, "%zx", body.size());
  small.Send("POST /api/v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + std::string(hex) + "\r\n" + body + "\r\n0\r\n\r\n");
  int status = StatusOf(small.Receive(3000));
  EXPECT_TRUE(status == 400 || status == 201) << status << ": a small chunked body reaches the route";
}

// 8900 x 8900 is 79 MP: under the general 80 MP cap, over the 40 MP upload cap;
// refused from its header, before any pixel is decoded.
TEST_F(ConnectionGuard, HugePngUploadIsRefusedBeforeDecoding) {
  Start();
  auto [ivan, probes] = InvestigatorWithCase();
  std::vector<uint8_t> png;
  cv::imencode(".png", cv::Mat(8900, 8900, CV_8UC1, cv::Scalar(128)), png);
  ResetPeakMemory();
  const int64_t before = ResidentMemoryMb();
  httplib::MultipartFormDataItems items = {{"photo", std::string(png.begin(), png.end()), "big.png", "image/png"}};
  httplib::Result r = ivan->Post(probes.c_str(), items);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("40000000"), std::string::npos) << r->body;
  EXPECT_LT(PeakMemoryMb() - before, 40) << "the pixels were decoded";
}

// A 48 MP JPEG is decoded at half size (12 MP), never at full size. The
// memory bound leaves room for the detector's own copies of a 12 MP image.
TEST_F(ConnectionGuard, LargeJpegUploadIsDecodedReduced) {
  Start();
  auto [ivan, probes] = InvestigatorWithCase();
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", cv::Mat(6000, 8000, CV_8UC1, cv::Scalar(128)), jpeg);
  ResetPeakMemory();
  const int64_t before = ResidentMemoryMb();
  httplib::MultipartFormDataItems items = {{"photo", std::string(jpeg.begin(), jpeg.end()), "big.jpg", "image/jpeg"}};
  httplib::Result r = ivan->Post(probes.c_str(), items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  nlohmann::json probe = nlohmann::json::parse(r->body)["probe"];
  EXPECT_EQ(probe["width"], 4000);
  EXPECT_EQ(probe["height"], 3000);
  EXPECT_LT(PeakMemoryMb() - before, 250) << "decoded at full size";
}

TEST(ElasticThreadPool, GrowsWhenEveryThreadIsBusyUpToItsBound) {
  ElasticThreadPool pool(3);
  std::atomic<int> running = 0;
  std::atomic<bool> release = false;
  for (int i = 0; i < 5; ++i) {
    pool.enqueue([&] {
      ++running;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
  }
  for (int i = 0; i < 200 && running < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(running, 3);
  EXPECT_EQ(pool.threads(), 3u);
  release = true;
  pool.shutdown();
  EXPECT_EQ(running, 5) << "queued jobs run before shutdown returns";
}

}  // namespace
}  // namespace lineup
