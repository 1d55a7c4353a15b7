// Load on a real `lineup serve` process over a gallery of more than 100k
// faces (issue 11 §5, "Load, measured"): N investigators search at once while
// an opt-out removal and a `lineup ingest` run against the same gallery.
//
//   build/lineup_bench --benchmark_filter=ServeProcessLoad
//   LINEUP_LOAD_BINARY=/path/to/other/lineup build/lineup_bench --benchmark_filter=ServeProcessLoad
//
// Environment:
//   LINEUP_LOAD_BINARY   the `lineup` whose `serve` and `ingest` are measured
//                        (default: the one built with this benchmark), so one
//                        driver measures two builds
//   LINEUP_LOAD_SECONDS  length of each row's search window (default 30)
//   LINEUP_LOAD_CACHE    where the gallery is built once and reused
//                        (default /var/tmp/lineup-load-100k)
//   LINEUP_SHARED_DATA   the shared data sets (default /work/shared/data)
//
// The gallery (built once by this program with the current code, then copied
// for every row, so each row starts from the same faces):
//  - real: the six face-api demo photos and, when the shared data exists
//    (/work/shared/data or LINEUP_SHARED_DATA), five_celebrity_faces/train
//    (88 web photos of 5 people; the opt-out photo is then one of them, else
//    demo photo 6), ingested with the real pipeline (detection, alignment,
//    embedding, crops);
//  - synthetic: kSyntheticFaces random unit descriptors of the gallery's
//    embedder size, one face per image, written through Gallery::WriteBatch
//    with full provenance (collection with a legal basis, source URL and
//    title, a JPEG crop and an image file each). A search scans them exactly
//    like real faces (exact search below 2M faces).
//
// One row = one fresh `lineup serve --listen 127.0.0.1:0` child over a copy
// of that gallery. The driver logs in as the first admin (and changes the
// one-time password), creates one investigator account per client; every
// investigator logs in from its own loopback address (127.0.0.<10+i>, as from
// its own workstation), opens a case, uploads a probe (demo photo 1 + i % 6)
// and then loops POST /api/v1/searches (face 0, top_k 20) for the window,
// paced at the server's default per-account limit (300 requests a minute:
// one request every 200 ms at most, one in flight; when a search takes
// longer the next starts at once). With background:1, at the window's start
// the admin posts an opt-out (a photo of a person who is in the gallery) and
// follows its removal job (GET /api/v1/jobs/{id}) until it is done; then a
// `lineup ingest` process of the same binary adds kIngestPhotos photos
// (rescaled, mirrored copies of the demo photos: real faces, new content
// hashes). The two run one after the other because a gallery has one writer
// at a time: an opt-out removal that starts while an ingest writes is
// deferred to the maintenance job.
//
// Counters: searches_per_s (answered searches / window), p50/p95/p99_ms
// (request latency seen by the client), errors (a search not answered 201, an
// opt-out not removed, an ingest that failed or had item errors: any error
// fails the row), rss_peak_mb (the server's VmHWM from /proc at the end),
// gallery_faces (faces_searched of the first search), optout_s and
// optout_faces_removed, ingest_images_per_s and background_s (from the window's
// start until the opt-out and the ingest were both finished; more than the
// window means the ingest's tail ran after the searches stopped), load_start
// and load_end (the machine's 1-minute load average around the window),
// server_cpu_ms_per_search (the server's CPU time over the window, all its
// threads, per answered search: less sensitive to the others' load than the
// latencies; with background:1 it includes the opt-out's removal and the
// server's reopening of the grown gallery).
// Each row's logs stay beside the cache, /var/tmp/lineup-load-run-<pid>-<row>/ (serve.out,
// serve.err with the server's request log, ingest.out, ingest.err); its
// data copy is removed unless the row failed.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "common/paths.h"
#include "gallery/gallery.h"
#include "image/image_loader.h"
#include "ingest/ingest_pipeline.h"
#include "models/model_import.h"
#include "synthetic_gallery.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr int64_t kSyntheticFaces = 100'000;
constexpr int kIngestPhotos = 48;
constexpr double kPacePerInvestigator = 5.0;  // = the server's default 300 requests a minute per account
constexpr char kAdminPassword[] = "Vq7-mLx2-Rt9z-Kp4w";
constexpr char kInvestigatorPassword[] = "Hs3w-Nq8d-Zc5v-Bj2e";

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

fs::path CacheDir() { return EnvOr("LINEUP_LOAD_CACHE", "/var/tmp/lineup-load-100k"); }
std::string ServerBinary() { return EnvOr("LINEUP_LOAD_BINARY", LINEUP_BINARY); }
double WindowSeconds() { return std::stod(EnvOr("LINEUP_LOAD_SECONDS", "30")); }

fs::path DemoPhoto(int n) { return PackagesDir() / "@vladmandic/face-api/demo" / ("sample" + std::to_string(n) + ".jpg"); }
fs::path SharedData() { return fs::path(EnvOr("LINEUP_SHARED_DATA", "/work/shared/data")); }

// The opt-out photo: a person with several photos in the real part.
fs::path OptOutPhoto() {
  fs::path celeb = SharedData() / "five_celebrity_faces/test/jerry_seinfeld/js.jpg";
  return fs::exists(celeb) ? celeb : DemoPhoto(6);
}

// ---------------------------------------------------------------------------
// The gallery cache. Invariant: `ready` exists only once models/, base/ and
// ingest/ are complete (it is written last); without it the cache is rebuilt
// from scratch. base/ holds no opt-outs (its blocklist.db is the empty one
// Gallery::Open creates), so a row's copy leaves the file out and the server
// under test creates its own, in its own version's format.

void BuildCache(const fs::path& cache) {
  fs::remove_all(cache);
  fs::create_directories(cache);
  std::fprintf(stderr, "load bench: building the gallery cache in %s (once)\n", cache.c_str());
  ModelManifest manifest = ImportBuiltinModels({PackagesDir(), cache / "models", "accurate"});
  const ModelEntry& e = manifest.Model(manifest.GetProfile("").embedder);
  GalleryOptions go;
  go.data_dir = cache / "base";
  {
    auto gallery = Gallery::Open(go, {e.id, e.output_dim});
    IngestOptions io;
    io.show_progress = false;
    io.collection = "demo";
    io.legal_basis = "face-api demo photos (benchmark)";
    fs::create_directories(cache / "seed");
    for (int n = 1; n <= 6; ++n) fs::copy_file(DemoPhoto(n), cache / "seed" / DemoPhoto(n).filename());
    IngestSummary demo = RunIngest(*gallery, manifest, cache / "seed", io);
    std::fprintf(stderr, "  real: demo photos, %lld faces\n", static_cast<long long>(demo.counters.faces_added));
    fs::path celebs = SharedData() / "five_celebrity_faces/train";
    if (fs::exists(celebs)) {
      io.collection = "celebrities";
      io.legal_basis = "five_celebrity_faces research set (benchmark)";
      IngestSummary c = RunIngest(*gallery, manifest, celebs, io);
      std::fprintf(stderr, "  real: five_celebrity_faces/train, %lld faces\n",
                   static_cast<long long>(c.counters.faces_added));
    }
    Collection synthetic;
    synthetic.name = "synthetic";
    synthetic.legal_basis = "synthetic benchmark descriptors";
    synthetic.description = "random unit descriptors standing in for a large gallery";
    const int64_t collection = gallery->catalog().CreateCollection(synthetic).id;
    // A real (tiny, grey) JPEG as every synthetic crop and image file, so
    // the media the catalog names can be served and decoded.
    std::vector<uint8_t> jpeg;
    cv::imencode(".jpg", cv::Mat(32, 32, CV_8UC3, cv::Scalar(128, 128, 128)), jpeg);
    std::mt19937 rng(11);
    for (int64_t done = 0; done < kSyntheticFaces;) {
      std::vector<AnalyzedImage> batch;
      for (; batch.size() < 256 && done < kSyntheticFaces; ++done) {
        std::string name = "synthetic" + std::to_string(done);
        AnalyzedImage a = testing::SyntheticImage(collection, name, {testing::RandomUnitVector(rng, e.output_dim)},
                                                  "https://site" + std::to_string(done % 500) + ".example/" + name +
                                                      ".jpg");
        a.write.faces[0].model_id = e.id;
        a.crops[0] = jpeg;
        a.image_bytes = jpeg;
        batch.push_back(std::move(a));
      }
      gallery->WriteBatch(batch, 0, {});
    }
    std::fprintf(stderr, "  synthetic: %lld faces; gallery: %lld faces\n", static_cast<long long>(kSyntheticFaces),
                 static_cast<long long>(gallery->catalog().Stats().faces));
  }
  // The photos each row's `lineup ingest` adds: rescaled (and every other
  // one mirrored) re-encodings of the demo photos, distinct content hashes.
  fs::create_directories(cache / "ingest");
  for (int v = 0; v < kIngestPhotos; ++v) {
    cv::Mat image = LoadImage(DemoPhoto(1 + v % 6).string());
    double scale = 0.45 + 0.005 * v;
    cv::resize(image, image, cv::Size(), scale, scale, cv::INTER_AREA);
    if (v % 2) cv::flip(image, image, 1);
    cv::imwrite((cache / "ingest" / ("load" + std::to_string(v) + ".jpg")).string(), image);
  }
  WriteFileAtomically(cache / "ready", std::string("gallery cache complete\n"));
}

const fs::path& Cache() {
  static const fs::path cache = [] {
    umask(077);  // `lineup serve` refuses a data directory others can read
    fs::path c = CacheDir();
    if (!fs::exists(c / "ready")) BuildCache(c);
    return c;
  }();
  return cache;
}

// A row's data directory: media hard-linked (the gallery never changes a
// media file in place: it writes new ones by rename and unlinks), every other
// file copied, the blocklist left out.
void CopyGallery(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (auto it = fs::recursive_directory_iterator(from); it != fs::recursive_directory_iterator(); ++it) {
    fs::path rel = fs::relative(it->path(), from);
    fs::path target = to / rel;
    if (it->is_directory()) {
      fs::create_directories(target);
    } else if (*rel.begin() == "media") {
      fs::create_hard_link(it->path(), target);
    } else if (rel.filename().string().rfind("blocklist.db", 0) != 0) {
      fs::copy_file(it->path(), target);
    }
  }
}

// ---------------------------------------------------------------------------
// Child processes.

// `args[0]` with `args`, stdout and stderr into files. Everything the child
// needs is prepared before fork: the driver has other threads, so the child
// calls only async-signal-safe functions (open, dup2, execv, _exit).
pid_t Spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) throw Error("load bench: fork failed");
  return pid;
}

// The 1-minute load average (/proc/loadavg), recorded with every row: the
// machine is shared and figures move with the others' load.
double LoadAverage() {
  std::ifstream f("/proc/loadavg");
  double one = 0;
  f >> one;
  return one;
}

// CPU time (user + system, all threads) a live process has used, in
// seconds (/proc/<pid>/stat fields 14 and 15); 0 once the process is gone
// (never throws: it is read while the row's threads run).
double CpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 > text.size()) return 0;
  std::istringstream rest(text.substr(paren + 2));  // after "pid (comm) "
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Peak resident set (VmHWM) of a live process, in MB.
double PeakRssMb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

struct ServerProcess {
  pid_t pid = -1;
  int port = 0;
  std::string admin_password;  // the one-time password it printed
};

// Starts `lineup serve` and waits until it prints its port.
ServerProcess StartServer(const fs::path& run, const fs::path& data) {
  ServerProcess s;
  s.pid = Spawn({ServerBinary(), "serve", "--data", data.string(), "--models", (Cache() / "models").string(),
                 "--listen", "127.0.0.1:0", "--maintenance-hours", "0"},
                run / "serve.out", run / "serve.err");
  const std::regex serving(R"(Lineup serving .* on http://[^ ]*:([0-9]+)/)");
  const std::regex password(R"(\n  password: (\S+))");
  auto deadline = Clock::now() + std::chrono::seconds(180);
  while (Clock::now() < deadline) {
    std::string out = fs::exists(run / "serve.out") ? ReadFileText(run / "serve.out") : "";
    std::smatch m, p;
    if (std::regex_search(out, m, serving) && std::regex_search(out, p, password)) {
      s.port = std::stoi(m[1]);
      s.admin_password = p[1];
      return s;
    }
    int status = 0;
    if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
      throw Error("load bench: lineup serve exited at start: " + ReadFileText(run / "serve.err"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(s.pid, SIGKILL);
  waitpid(s.pid, nullptr, 0);
  throw Error("load bench: lineup serve did not start within 180 s");
}

// SIGTERM, then the exit status (the server stops cleanly on SIGTERM).
int StopServer(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// ---------------------------------------------------------------------------
// HTTP sessions.

// A cookie session of one user from one loopback address.
struct Session {
  std::unique_ptr<httplib::Client> client;
  httplib::Headers headers;

  Session(int port, const std::string& source_address) {
    client = std::make_unique<httplib::Client>("127.0.0.1", port);
    client->set_interface(source_address);  // bind the client socket to this address
    client->set_keep_alive(true);
    client->set_read_timeout(120);
  }
};

std::string Describe(const httplib::Result& r) {
  if (!r) return "no answer (" + httplib::to_string(r.error()) + ")";
  return std::to_string(r->status) + " " + r->body.substr(0, 300);
}

Json Expect(const httplib::Result& r, std::initializer_list<int> statuses, const std::string& what) {
  if (!r || std::find(statuses.begin(), statuses.end(), r->status) == statuses.end()) {
    throw Error("load bench: " + what + ": " + Describe(r));
  }
  return Json::parse(r->body);
}

void Login(Session& s, const std::string& user, const std::string& password) {
  auto r = s.client->Post("/api/v1/login", Json{{"username", user}, {"password", password}}.dump(), "application/json");
  Json j = Expect(r, {200}, "login of " + user);
  std::string cookie = r->get_header_value("Set-Cookie");
  s.headers = {{"Cookie", cookie.substr(0, cookie.find(';'))}, {"X-CSRF-Token", j["csrf_token"].get<std::string>()}};
}

Json PostJson(Session& s, const std::string& path, const Json& body, std::initializer_list<int> ok,
              const std::string& what) {
  return Expect(s.client->Post(path, s.headers, body.dump(), "application/json"), ok, what);
}

struct Investigator {
  std::unique_ptr<Session> session;
  int64_t probe_id = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// The opt-out and then the ingest, as the admin and an operator would run
// them; fills the fields below, `error` empty when both went through.
struct Background {
  double optout_s = 0, ingest_s = 0, finished_s = 0, ingest_images_per_s = 0;
  int64_t faces_removed = 0;
  std::string error;
};

void RunBackground(Session& admin, const fs::path& run, const fs::path& data, Clock::time_point start,
                   Background* out) {
  try {
    httplib::MultipartFormDataItems items = {
        {"photo", ReadFileText(OptOutPhoto()), "optout.jpg", "image/jpeg"},
        {"request_id", "LOAD-" + run.filename().string(), "", ""},
        {"note", "load benchmark opt-out", "", ""},
        {"face", "0", "", ""}};
    auto r = admin.client->Post("/api/v1/optouts", admin.headers, items);
    Json j = Expect(r, {201, 202}, "POST /api/v1/optouts");
    if (r->status == 201) {
      // Servers before the removal job removed the matches inside the
      // request (pending = another process held the gallery).
      if (j.value("pending", false)) throw Error("load bench: opt-out left pending");
      out->faces_removed = j["optout"].value("faces_removed", int64_t{0});
    } else {
      const std::string job = "/api/v1/jobs/" + j["job"]["id"].dump();
      for (;;) {
        Json s = Expect(admin.client->Get(job, admin.headers), {200}, "GET " + job)["job"];
        std::string state = s["state"];
        if (state == "done") {
          out->faces_removed = s["progress"]["faces_removed"];
          break;
        }
        if (state != "queued" && state != "running") {
          throw Error("load bench: opt-out job ended " + state + ": " + s.value("message", ""));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    out->optout_s = std::chrono::duration<double>(Clock::now() - start).count();
    auto t0 = Clock::now();
    pid_t ingest = Spawn({ServerBinary(), "ingest", (Cache() / "ingest").string(), "--collection", "load",
                          "--legal-basis", "benchmark photos", "--data", data.string(), "--models",
                          (Cache() / "models").string(), "--no-progress", "--json"},
                         run / "ingest.out", run / "ingest.err");
    int status = 0;
    waitpid(ingest, &status, 0);
    out->ingest_s = std::chrono::duration<double>(Clock::now() - t0).count();
    out->finished_s = std::chrono::duration<double>(Clock::now() - start).count();
    std::string text = ReadFileText(run / "ingest.out");
    Json summary = Json::parse(text.substr(std::min(text.size(), text.find('{'))), nullptr, false);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || summary.is_discarded()) {
      throw Error("load bench: lineup ingest failed: " + ReadFileText(run / "ingest.err").substr(0, 500));
    }
    const Json& c = summary["counters"];
    if (c.value("errors", int64_t{0}) != 0 || c.value("images_added", int64_t{0}) == 0) {
      throw Error("load bench: lineup ingest: " + c.dump());
    }
    out->ingest_images_per_s = c["images_added"].get<double>() / summary["seconds"].get<double>();
  } catch (const std::exception& e) {
    out->error = e.what();
  }
}

void BM_ServeProcessLoad(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  const bool background = state.range(1) != 0;
  const double window = WindowSeconds();
  static int row = 0;
  const fs::path run = Cache().parent_path() / ("lineup-load-run-" + std::to_string(getpid()) + "-" + std::to_string(++row));
  fs::remove_all(run);
  ServerProcess server;
  std::string failure;
  try {
    CopyGallery(Cache() / "base", run / "data");
    server = StartServer(run, run / "data");
    // The first admin: one-time password, then its own.
    Session admin(server.port, "127.0.0.2");
    Login(admin, "admin", server.admin_password);
    PostJson(admin, "/api/v1/password", {{"current", server.admin_password}, {"new", kAdminPassword}}, {200, 204},
             "admin password change");
    Login(admin, "admin", kAdminPassword);
    std::vector<Investigator> investigators(clients);
    int64_t gallery_faces = 0;
    for (int i = 0; i < clients; ++i) {
      std::string name = "investigator" + std::to_string(i);
      PostJson(admin, "/api/v1/users",
               {{"username", name}, {"password", kInvestigatorPassword}, {"display_name", name}, {"unit", "load"},
                {"role", "investigator"}},
               {201}, "create " + name);
      Investigator& inv = investigators[i];
      inv.session = std::make_unique<Session>(server.port, "127.0.0." + std::to_string(10 + i));
      Login(*inv.session, name, kInvestigatorPassword);
      Json c = PostJson(*inv.session, "/api/v1/cases",
                        {{"number", "LOAD-" + name}, {"purpose", "load benchmark"}, {"category", "other"}}, {201},
                        "case of " + name);
      httplib::MultipartFormDataItems items = {
          {"photo", ReadFileText(DemoPhoto(1 + i % 6)), "probe.jpg", "image/jpeg"}};
      Json p = Expect(inv.session->client->Post("/api/v1/cases/" + c["case"]["id"].dump() + "/probes",
                                                inv.session->headers, items),
                      {201}, "probe of " + name);
      inv.probe_id = p["probe"]["id"];
      // One search outside the window: checks the set-up and warms the server.
      Json s = PostJson(*inv.session, "/api/v1/searches", {{"probe_id", inv.probe_id}, {"top_k", 20}}, {201},
                        "first search of " + name);
      gallery_faces = s["search"]["faces_searched"];
    }
    for (auto _ : state) {
      std::vector<std::vector<double>> latency(clients);
      std::atomic<int> errors{0};
      std::mutex first_error_mu;
      std::string first_error;
      Background bg;
      const double load_start = LoadAverage();
      const double cpu_start = CpuSeconds(server.pid);
      const auto start = Clock::now();
      const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(window));
      const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / kPacePerInvestigator));
      std::thread bg_thread;
      if (background) bg_thread = std::thread([&] { RunBackground(admin, run, run / "data", start, &bg); });
      std::vector<std::thread> threads;
      for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&, i] {
          Session& s = *investigators[i].session;
          const std::string body = Json{{"probe_id", investigators[i].probe_id}, {"top_k", 20}}.dump();
          // Investigator i's k-th request is due at start + (k + i / clients) * interval (staggered),
          // never before the previous one is answered.
          auto due = start + interval * i / clients;
          while (Clock::now() < end) {
            std::this_thread::sleep_until(due);
            if (Clock::now() >= end) break;
            auto t0 = Clock::now();
            auto r = s.client->Post("/api/v1/searches", s.headers, body, "application/json");
            latency[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            if (!r || r->status != 201) {
              ++errors;
              std::lock_guard lock(first_error_mu);
              if (first_error.empty()) first_error = "search: " + Describe(r);
            }
            due = std::max(due + interval, Clock::now());
          }
        });
      }
      for (auto& t : threads) t.join();
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const double server_cpu = CpuSeconds(server.pid) - cpu_start;
      if (bg_thread.joinable()) bg_thread.join();
      if (!bg.error.empty()) {
        ++errors;
        if (first_error.empty()) first_error = bg.error;
      }
      std::vector<double> all;
      for (const auto& l : latency) all.insert(all.end(), l.begin(), l.end());
      state.SetIterationTime(elapsed);
      state.counters["searches_per_s"] = static_cast<double>(all.size()) / elapsed;
      state.counters["p50_ms"] = Percentile(all, 0.50);
      state.counters["p95_ms"] = Percentile(all, 0.95);
      state.counters["p99_ms"] = Percentile(all, 0.99);
      state.counters["errors"] = errors.load();
      state.counters["rss_peak_mb"] = PeakRssMb(server.pid);
      state.counters["gallery_faces"] = static_cast<double>(gallery_faces);
      state.counters["optout_s"] = bg.optout_s;
      state.counters["optout_faces_removed"] = static_cast<double>(bg.faces_removed);
      state.counters["ingest_images_per_s"] = bg.ingest_images_per_s;
      state.counters["background_s"] = bg.finished_s;
      state.counters["server_cpu_ms_per_search"] = all.empty() ? 0 : 1000 * server_cpu / static_cast<double>(all.size());
      state.counters["load_start"] = load_start;
      state.counters["load_end"] = LoadAverage();
      if (errors.load() != 0) failure = std::to_string(errors.load()) + " error(s), first: " + first_error;
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  state.SetLabel(ServerBinary());
  if (server.pid > 0) {
    int status = StopServer(server.pid);
    if (status != 0 && failure.empty()) failure = "lineup serve exited with status " + std::to_string(status);
  }
  if (!failure.empty()) {
    // Loud: the row is reported as an error and its logs are kept.
    std::fprintf(stderr, "load bench: ROW FAILED (logs kept in %s): %s\n", run.c_str(), failure.c_str());
    state.SkipWithError(("FAILED: " + failure).c_str());
    return;
  }
  // The data copy goes; the logs (serve.out/.err with the request log,
  // ingest.out/.err) stay for reading.
  std::error_code ignored;
  fs::remove_all(run / "data", ignored);
}

BENCHMARK(BM_ServeProcessLoad)
    ->ArgNames({"investigators", "background"})
    ->Args({4, 0})
    ->Args({4, 1})
    ->Args({8, 0})
    ->Args({8, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace lineup
