// Load on `lineup serve`: concurrent case-bound searches through the HTTP
// API, alone and while `lineup ingest` adds photos to the same gallery in
// another process (the deployment the server is built for).
//
//   build/lineup_bench --benchmark_filter=ServerLoad
//
// Rows: ServerLoad/clients:<n>/ingest:<0|1>, one iteration of kSeconds each.
// Every client is an investigator with its own session, case and probe (demo
// photo 1, three faces), looping POST /api/v1/searches (embed the
// probe's largest face, gallery search, record the search and its audit
// record) with top_k 20. Counters: searches_per_s, p50_ms, p95_ms (request
// latency), errors (any non-201), ingest_images_per_s (the ingest process's
// own rate, from its JSON summary, 0 without ingest). The ingest:0 rows are the
// baseline of the same run. Rate limits are raised for the benchmark: it
// measures capacity, not the limiter.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <httplib.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/file_util.h"
#include "common/paths.h"
#include "image/image_loader.h"
#include "ingest/ingest_pipeline.h"
#include "models/model_import.h"
#include "server/http_server.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kSeconds = 30;
constexpr int kIngestPhotos = 120;
constexpr char kPassword[] = "load benchmark password";

fs::path DemoPhoto(int n) { return PackagesDir() / "@vladmandic/face-api/demo" / ("sample" + std::to_string(n) + ".jpg"); }

// Re-encoded (scaled, mirrored) copies of the demo photos: distinct content
// hashes, real faces.
void WriteIngestPhotos(const fs::path& dir) {
  fs::create_directories(dir);
  for (int v = 0; v < kIngestPhotos; ++v) {
    cv::Mat image = LoadImage(DemoPhoto(1 + v % 6).string());
    double scale = 0.5 + 0.004 * v;
    cv::resize(image, image, cv::Size(), scale, scale, cv::INTER_AREA);
    if (v % 2) cv::flip(image, image, 1);
    cv::imwrite((dir / ("load" + std::to_string(v) + ".jpg")).string(), image);
  }
}

class LoadEnv {
 public:
  LoadEnv() : root_(fs::temp_directory_path() / ("lineup-load-" + std::to_string(getpid()))) {
    fs::remove_all(root_);
    fs::create_directories(root_);
    manifest_ = std::make_unique<ModelManifest>(ImportBuiltinModels({PackagesDir(), root_ / "models", "accurate"}));
    SeedGallery();
    WriteIngestPhotos(root_ / "ingest");
    ServiceOptions so;
    so.data_dir = root_ / "data";
    so.pipelines = 2;
    service_ = std::make_unique<Service>(*manifest_, so);
    service_->EnsureAdmin();
    // The printed password is one-time; the benchmark sets its own directly.
    service_->accounts().SetPassword(service_->accounts().FindUser("admin")->id, kPassword, Actor{User{}, "bench", ""});
    admin_password_ = kPassword;
    HttpServerOptions ho;
    ho.port = 0;
    ho.requests_per_minute = 1e6;
    ho.request_burst = 1e6;
    ho.logins_per_minute = 1e6;
    ho.login_burst = 1e6;
    server_ = std::make_unique<HttpServer>(*service_, ho);
    port_ = server_->Bind();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~LoadEnv() {
    server_->Stop();
    thread_.join();
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  int port() const { return port_; }
  const fs::path& root() const { return root_; }
  const std::string& admin_password() const { return admin_password_; }

 private:
  void SeedGallery() {
    GalleryOptions go;
    go.data_dir = root_ / "data";
    const ModelEntry& e = manifest_->Model(manifest_->GetProfile("").embedder);
    auto gallery = Gallery::Open(go, {e.id, e.output_dim});
    IngestOptions io;
    io.collection = "demo";
    io.legal_basis = "benchmark photos";
    io.show_progress = false;
    fs::create_directories(root_ / "seed");
    for (int n = 1; n <= 6; ++n) fs::copy_file(DemoPhoto(n), root_ / "seed" / ("sample" + std::to_string(n) + ".jpg"));
    RunIngest(*gallery, *manifest_, root_ / "seed", io);
  }

  fs::path root_;
  std::unique_ptr<ModelManifest> manifest_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> server_;
  std::string admin_password_;
  int port_ = 0;
  std::thread thread_;
};

LoadEnv& Env() {
  static LoadEnv env;
  return env;
}

// A logged-in investigator with a case and an uploaded probe.
struct Investigator {
  std::unique_ptr<httplib::Client> client;
  httplib::Headers headers;
  int64_t probe_id = 0;
};

std::string Login(httplib::Client& client, const std::string& user, const std::string& password,
                  httplib::Headers* headers) {
  auto r = client.Post("/api/v1/login", nlohmann::json{{"username", user}, {"password", password}}.dump(),
                       "application/json");
  if (!r || r->status != 200) throw Error("load bench: login of " + user + " failed");
  std::string cookie = r->get_header_value("Set-Cookie");
  headers->emplace("Cookie", cookie.substr(0, cookie.find(';')));
  headers->emplace("X-CSRF-Token", nlohmann::json::parse(r->body)["csrf_token"].get<std::string>());
  return cookie;
}

Investigator MakeInvestigator() {
  static std::atomic<int> serial{0};
  LoadEnv& env = Env();
  httplib::Client admin("127.0.0.1", env.port());
  httplib::Headers admin_headers;
  Login(admin, "admin", env.admin_password(), &admin_headers);
  std::string name = "load" + std::to_string(serial++);
  admin.Post("/api/v1/users", admin_headers,
             nlohmann::json{{"username", name}, {"password", kPassword}, {"role", "investigator"}}.dump(),
             "application/json");
  Investigator inv;
  inv.client = std::make_unique<httplib::Client>("127.0.0.1", env.port());
  inv.client->set_read_timeout(120);
  Login(*inv.client, name, kPassword, &inv.headers);
  auto c = inv.client->Post(
      "/api/v1/cases", inv.headers,
      nlohmann::json{{"number", "LOAD-" + name}, {"purpose", "load benchmark"}, {"category", "other"}}.dump(),
      "application/json");
  int64_t case_id = nlohmann::json::parse(c->body)["case"]["id"];
  httplib::MultipartFormDataItems items = {{"photo", ReadFileText(DemoPhoto(1)), "probe.jpg", "image/jpeg"}};
  auto p = inv.client->Post("/api/v1/cases/" + std::to_string(case_id) + "/probes", inv.headers, items);
  inv.probe_id = nlohmann::json::parse(p->body)["probe"]["id"];
  return inv;
}

// Starts `lineup ingest` of the variant photos into the served gallery.
pid_t StartIngest(const fs::path& out) {
  LoadEnv& env = Env();
  pid_t pid = fork();
  if (pid == 0) {
    if (!std::freopen(out.c_str(), "w", stdout)) _exit(126);
    std::string binary = LINEUP_BINARY;
    std::string input = (env.root() / "ingest").string(), data = (env.root() / "data").string(),
                models = (env.root() / "models").string();
    execl(binary.c_str(), binary.c_str(), "ingest", input.c_str(), "--collection", "load", "--legal-basis",
          "benchmark photos", "--data", data.c_str(), "--models", models.c_str(), "--no-progress", "--json",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void BM_ServerLoad(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  const bool ingest = state.range(1) != 0;
  std::vector<Investigator> investigators;
  for (int i = 0; i < clients; ++i) investigators.push_back(MakeInvestigator());
  for (auto _ : state) {
    fs::path ingest_out = Env().root() / "ingest.json";
    pid_t pid = ingest ? StartIngest(ingest_out) : -1;
    std::vector<std::vector<double>> latency(clients);
    std::atomic<int> errors{0};
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        Investigator& inv = investigators[i];
        std::string body = nlohmann::json{{"probe_id", inv.probe_id}, {"top_k", 20}}.dump();
        while (std::chrono::duration<double>(Clock::now() - start).count() < kSeconds) {
          auto t0 = Clock::now();
          auto r = inv.client->Post("/api/v1/searches", inv.headers, body, "application/json");
          latency[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (!r || r->status != 201) ++errors;
        }
      });
    }
    for (auto& t : threads) t.join();
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    double ingest_rate = 0;
    if (pid > 0) {
      int status = 0;
      waitpid(pid, &status, 0);  // the ingest finishes on its own
      std::string out = ReadFileText(ingest_out);
      auto j = nlohmann::json::parse(out.substr(std::min(out.size(), out.find('{'))), nullptr, false);
      if (!j.is_discarded()) ingest_rate = j["counters"]["images_added"].get<double>() / j["seconds"].get<double>();
    }
    std::vector<double> all;
    for (const auto& l : latency) all.insert(all.end(), l.begin(), l.end());
    state.SetIterationTime(elapsed);
    state.counters["searches_per_s"] = static_cast<double>(all.size()) / elapsed;
    state.counters["p50_ms"] = Percentile(all, 0.5);
    state.counters["p95_ms"] = Percentile(all, 0.95);
    state.counters["errors"] = errors.load();
    state.counters["ingest_images_per_s"] = ingest_rate;
  }
}

BENCHMARK(BM_ServerLoad)
    ->ArgNames({"clients", "ingest"})
    ->Args({1, 0})
    ->Args({4, 0})
    ->Args({4, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace lineup
