// Opt-out over real HTTP on a loopback port with a real gallery (the demo
// photos, the real models): the request_id attack of issue 12 #4 (invalid
// UTF-8 removed faces, then failed before its audit record and broke the
// list for good), and the background removal job with its progress.
#include <httplib.h>

#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "ingest/ingest_pipeline.h"
#include "server/http_server.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

constexpr char kPassword[] = "correct horse battery";

// The demo photos ingested once per test process; each test serves a copy.
const fs::path& DemoGallery() {
  static const fs::path dir = [] {
    fs::path input = testing::TempDir("optout-job-input");
    std::ofstream m(input / "list.jsonl");
    for (int n = 1; n <= 6; ++n) m << nlohmann::json({{"path", testing::DemoPhoto(n).string()}}).dump() << "\n";
    m.close();
    fs::path data = testing::TempDir("optout-job-gallery");
    ModelManifest manifest = ModelManifest::Load(testing::ImportedModelsDir());
    const ModelEntry& e = manifest.Model(manifest.GetProfile("").embedder);
    GalleryOptions go;
    go.data_dir = data;
    auto gallery = Gallery::Open(go, {e.id, e.output_dim});
    IngestOptions io;
    io.collection = "demo";
    io.legal_basis = "test photos (MIT)";
    io.show_progress = false;
    io.input.allow_outside = {testing::DemoPhotoDir()};
    RunIngest(*gallery, manifest, input / "list.jsonl", io);
    return data;
  }();
  return dir;
}

struct Reply {
  int status = 0;
  nlohmann::json json;
  std::string body;
};

// An admin or auditor session over HTTP (cookie and CSRF token).
class Session {
 public:
  Session(int port, const std::string& user, const std::string& password) : client_("127.0.0.1", port) {
    client_.set_read_timeout(60);
    auto r = client_.Post("/api/v1/login", nlohmann::json{{"username", user}, {"password", password}}.dump(),
                          "application/json");
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    if (!r) return;
    for (const auto& [name, value] : r->headers) {
      if (name == "Set-Cookie" && value.rfind("lineup_session=", 0) == 0) cookie_ = value.substr(0, value.find(';'));
    }
    csrf_ = nlohmann::json::parse(r->body).value("csrf_token", "");
  }
  Reply Get(const std::string& path) { return Wrap(client_.Get(path, Headers())); }
  Reply Post(const std::string& path, const nlohmann::json& body) {
    return Wrap(client_.Post(path, Headers(), body.dump(), "application/json"));
  }
  Reply OptOut(const std::string& photo, const std::string& request_id, const std::string& note = "") {
    httplib::MultipartFormDataItems items = {{"photo", photo, "person.jpg", "image/jpeg"},
                                             {"request_id", request_id, "", ""},
                                             {"note", note, "", ""},
                                             {"face", "0", "", ""}};
    return Wrap(client_.Post("/api/v1/optouts", Headers(), items));
  }

 private:
  httplib::Headers Headers() const { return {{"Cookie", cookie_}, {"X-CSRF-Token", csrf_}}; }
  static Reply Wrap(const httplib::Result& res) {
    Reply r;
    if (!res) return r;
    r.status = res->status;
    r.body = res->body;
    r.json = nlohmann::json::parse(res->body, nullptr, false);
    return r;
  }
  httplib::Client client_;
  std::string cookie_, csrf_;
};

class OptOutJobServer : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = testing::TempDir("optout-job-data");
    fs::copy(DemoGallery(), data_, fs::copy_options::recursive);
    manifest_ = std::make_unique<ModelManifest>(ModelManifest::Load(testing::ImportedModelsDir()));
    Start();
  }
  void TearDown() override { Stop(); }

  void Start() {
    ServiceOptions so;
    so.data_dir = data_;
    so.pipelines = 1;
    so.accounts.fast_hashing = true;
    so.gallery_reopen_seconds = 0;
    service_ = std::make_unique<Service>(*manifest_, so);
    if (std::string first = service_->EnsureAdmin(); !first.empty()) {
      User admin = *service_->accounts().FindUser("admin");
      const Actor setup{admin, "test", ""};
      service_->accounts().SetPassword(admin.id, kPassword, setup);
      service_->accounts().CreateUser({"ada", kPassword, "Ada", "", Role::kAuditor, true}, setup);
    }
    HttpServerOptions ho;
    ho.port = 0;
    ho.logins_per_minute = 600;
    ho.login_burst = 200;
    server_ = std::make_unique<HttpServer>(*service_, ho);
    port_ = server_->Bind();
    thread_ = std::thread([this] { server_->Run(); });
  }
  void Stop() {
    if (!server_) return;
    server_->Stop();
    thread_.join();
    server_.reset();
    service_.reset();
  }

  int64_t FacesInGallery() {
    GalleryOptions go;
    go.data_dir = data_;
    go.read_only = true;
    const ModelEntry& e = manifest_->Model(manifest_->GetProfile("").embedder);
    return Gallery::Open(go, {e.id, e.output_dim})->catalog().Stats().faces;
  }
  size_t Records(Session& auditor, const std::string& action) {
    return auditor.Get("/api/v1/audit?action=" + action).json["records"].size();
  }

  fs::path data_;
  std::unique_ptr<ModelManifest> manifest_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

// Issue 12 #4, the exact attack: an opt-out whose request_id is not UTF-8.
// Before: the faces were removed, then a 500 before the audit record, and
// the opt-out list answered 500 from then on. Now: 400 naming the field,
// nothing removed, nothing recorded, the list still answers.
TEST_F(OptOutJobServer, AnInvalidRequestIdIsRefusedBeforeAnythingIsRemoved) {
  Session admin(port_, "admin", kPassword);
  Session ada(port_, "ada", kPassword);
  const std::string photo = ReadFileText(testing::DemoPhoto(1));
  const int64_t faces = FacesInGallery();
  for (const auto& [request_id, note, field] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"REQ-\xff\xfe", "", "request_id"},
           {std::string(63, 'R') + "\xc3", "", "request_id"},
           {"REQ-\x1b[2J", "", "request_id"},
           {std::string(201, 'R'), "", "request_id"},
           {"REQ-OK", "identity checked \xe2\x82", "note"},
           {"REQ-OK", std::string(2001, 'n'), "note"}}) {
    Reply r = admin.OptOut(photo, request_id, note);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.json["error"], "bad_request") << r.body;
    EXPECT_EQ(r.json["field"], field) << r.body;
  }
  EXPECT_EQ(FacesInGallery(), faces) << "no face removed";
  Reply list = admin.Get("/api/v1/optouts");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(list.json["optouts"].empty());
  EXPECT_EQ(Records(ada, "optout_add"), 0u);
  EXPECT_EQ(ada.Get("/api/v1/audit/verify").json["ok"], true);

  // A valid UTF-8 reference with non-ASCII characters goes through, with its record.
  Reply ok = admin.OptOut(photo, "Anfrage-\xc3\xa4-1", "Ausweis gepr\xc3\xbc" "ft\nam Schalter");
  ASSERT_EQ(ok.status, 202) << ok.body;
  service_->WaitForJobs();
  EXPECT_EQ(admin.Get("/api/v1/optouts").json["optouts"][0]["request_id"], "Anfrage-\xc3\xa4-1");
  EXPECT_EQ(Records(ada, "optout_add"), 1u);
  EXPECT_EQ(Records(ada, "optout_process"), 1u);
  EXPECT_LT(FacesInGallery(), faces);
}

// The POST answers at once with the entry and a job; the job reports its
// progress and result; the face is hidden from the moment of the answer.
TEST_F(OptOutJobServer, TheRemovalRunsAsAJobWithProgress) {
  Session admin(port_, "admin", kPassword);
  Session ada(port_, "ada", kPassword);
  const int64_t faces = FacesInGallery();
  Reply r = admin.OptOut(ReadFileText(testing::DemoPhoto(2)), "REQ-JOB");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json["optout"]["request_id"], "REQ-JOB");
  ASSERT_TRUE(r.json["job"]["id"].is_number()) << r.body;
  EXPECT_EQ(r.json["job"]["kind"], "optout_removal");
  EXPECT_EQ(r.json["job"]["optout_id"], r.json["optout"]["id"]);
  EXPECT_EQ(Records(ada, "optout_add"), 1u) << "the entry and its record, before the answer";
  const std::string job = "/api/v1/jobs/" + r.json["job"]["id"].dump();
  // Polled as the web page does, until it is done.
  nlohmann::json last;
  for (int i = 0; i < 600; ++i) {
    last = admin.Get(job).json["job"];
    if (last["state"] != "queued" && last["state"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(last["state"], "done") << last;
  EXPECT_EQ(last["phase"], "done") << last;
  EXPECT_EQ(last["progress"]["faces_total"], faces) << last;
  EXPECT_EQ(last["progress"]["faces_scanned"], faces) << last;
  EXPECT_GE(last["progress"]["faces_removed"].get<int64_t>(), 1) << last;
  EXPECT_EQ(FacesInGallery(), faces - last["progress"]["faces_removed"].get<int64_t>());
  EXPECT_FALSE(last["finished_at"].is_null());
  EXPECT_EQ(admin.Get("/api/v1/optouts").json["optouts"][0]["status"], "done");
  EXPECT_EQ(Records(ada, "optout_process"), 1u);
  EXPECT_EQ(admin.Get("/api/v1/jobs/999").status, 404);
  EXPECT_EQ(ada.Get(job).status, 403);
}

// The server stops with jobs queued and running: it stops promptly, the
// opt-outs it did not finish stay pending (still hiding the faces), and the
// maintenance job of the next start finishes them, each audited once.
TEST_F(OptOutJobServer, StoppingWithJobsRunningLeavesThemToTheMaintenanceJob) {
  {
    Session admin(port_, "admin", kPassword);
    for (int n = 1; n <= 3; ++n) {
      Reply r = admin.OptOut(ReadFileText(testing::DemoPhoto(n)), "REQ-STOP-" + std::to_string(n));
      ASSERT_EQ(r.status, 202) << r.body;
    }
  }
  auto begun = std::chrono::steady_clock::now();
  Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begun, std::chrono::seconds(30));
  Start();
  Session admin(port_, "admin", kPassword);
  Session ada(port_, "ada", kPassword);
  nlohmann::json ran = service_->RunMaintenance();
  // The reply held in a variable: ranging over a member of the temporary Reply would read it
  // after it was destroyed (ASan: heap-use-after-free).
  const nlohmann::json optouts = admin.Get("/api/v1/optouts").json["optouts"];
  for (const auto& e : optouts) EXPECT_EQ(e["status"], "done") << e;
  EXPECT_EQ(Records(ada, "optout_add"), 3u);
  EXPECT_EQ(Records(ada, "optout_process"), 3u) << "each removal audited once, by whichever run finished it";
  EXPECT_EQ(ada.Get("/api/v1/audit/verify").json["ok"], true);
}

}  // namespace
}  // namespace lineup
