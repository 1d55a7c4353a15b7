// The server over real HTTP on a loopback port, with a real gallery (the demo
// photos ingested with the real models): the whole role x endpoint matrix,
// the case-bound search flow and its audit trail, CSRF, sessions, lockout,
// rate limits and hostile uploads.
#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "cli_run.h"
#include "common/file_util.h"
#include "gallery/gallery.h"
#include "governance/totp.h"
#include "ingest/ingest_pipeline.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

// The demo photos ingested once per test process; each test serves a copy.
const fs::path& IngestedGallery() {
  static const fs::path dir = [] {
    fs::path input = testing::TempDir("server-input");
    std::ofstream m(input / "list.jsonl");
    for (int n = 1; n <= 6; ++n) {
      nlohmann::json row = {{"path", testing::DemoPhoto(n).string()},
                            {"source_url", "https://example.org/photo" + std::to_string(n) + ".jpg"},
                            {"page_url", "javascript:alert(1)"},
                            {"title", "<img src=x onerror=alert(1)> photo " + std::to_string(n)}};
      m << row.dump() << "\n";
    }
    m.close();
    fs::path data = testing::TempDir("server-gallery");
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
  httplib::Headers headers;
};

// A user agent: keeps the session cookie and CSRF token, like the browser.
class Agent {
 public:
  explicit Agent(int port) : client_("127.0.0.1", port) { client_.set_read_timeout(60); }

  Reply Login(const std::string& user, const std::string& password, const std::string& totp = "") {
    nlohmann::json body = {{"username", user}, {"password", password}};
    if (!totp.empty()) body["totp"] = totp;
    Reply r = Wrap(client_.Post("/api/v1/login", Headers(), body.dump(), "application/json"));
    for (const auto& [name, value] : r.headers) {
      if (name == "Set-Cookie" && value.rfind("lineup_session=", 0) == 0) cookie_ = value.substr(0, value.find(';'));
    }
    if (r.status == 200) csrf_ = r.json["csrf_token"];
    return r;
  }
  Reply Get(const std::string& path) { return Wrap(client_.Get(path, Headers())); }
  Reply Post(const std::string& path, const nlohmann::json& body) {
    return Wrap(client_.Post(path, Headers(), body.dump(), "application/json"));
  }
  Reply Patch(const std::string& path, const nlohmann::json& body) {
    return Wrap(client_.Patch(path, Headers(), body.dump(), "application/json"));
  }
  Reply Delete(const std::string& path) { return Wrap(client_.Delete(path, Headers())); }
  Reply Upload(const std::string& path, const std::string& bytes, const std::string& filename,
               const std::vector<std::pair<std::string, std::string>>& fields = {}) {
    httplib::MultipartFormDataItems items = {{"photo", bytes, filename, "image/jpeg"}};
    for (const auto& [name, value] : fields) items.push_back({name, value, "", ""});
    return Wrap(client_.Post(path, Headers(), items));
  }
  std::string& csrf() { return csrf_; }
  std::string& cookie() { return cookie_; }
  std::string& bearer() { return bearer_; }
  // Sent with every request (X-Request-Id, X-Forwarded-For, ...).
  std::map<std::string, std::string>& extra_headers() { return extra_; }

 private:
  httplib::Headers Headers() const {
    httplib::Headers h;
    if (!cookie_.empty()) h.emplace("Cookie", cookie_);
    if (!csrf_.empty()) h.emplace("X-CSRF-Token", csrf_);
    if (!bearer_.empty()) h.emplace("Authorization", "Bearer " + bearer_);
    for (const auto& [name, value] : extra_) h.emplace(name, value);
    return h;
  }
  static Reply Wrap(const httplib::Result& res) {
    Reply r;
    if (!res) return r;
    r.status = res->status;
    r.body = res->body;
    r.headers = res->headers;
    r.json = nlohmann::json::parse(res->body, nullptr, false);
    return r;
  }

  httplib::Client client_;
  std::string cookie_, csrf_, bearer_;
  std::map<std::string, std::string> extra_;
};

constexpr char kPassword[] = "correct horse battery";

// A served copy of the gallery with one account per role (investigators in
// unit "CID North", one supervisor there and one in "Fraud").
class Server : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = testing::TempDir("server-data");
    fs::copy(IngestedGallery(), data_, fs::copy_options::recursive);
    manifest_ = std::make_unique<ModelManifest>(ModelManifest::Load(testing::ImportedModelsDir()));
    ServiceOptions so;
    so.data_dir = data_;
    so.pipelines = 1;
    so.max_upload_bytes = 2 << 20;
    so.accounts.fast_hashing = true;
    so.accounts.registrations_per_hour_per_address = 1000;  // every test registers from 127.0.0.1
    so.accounts.registrations_per_hour = 1000;
    so.gallery_reopen_seconds = 0;
    so.accounts.two_person_rule = TwoPersonRule();
    // Checkpoints on, outside the data directory; tests publish them by
    // hand (the background loop runs only from StartMaintenance).
    so.audit_key_file = keys_ / "audit-signing.key";
    so.audit_checkpoint_file = keys_ / "checkpoints.log";
    service_ = std::make_unique<Service>(*manifest_, so, [this] { return now_.load(); });
    admin_password_ = service_->EnsureAdmin();
    HttpServerOptions ho;
    ho.port = 0;
    ho.logins_per_minute = 600;
    ho.login_burst = 200;
    ho.log_file = log_path_.string();
    server_ = std::make_unique<HttpServer>(*service_, ho);
    port_ = server_->Bind();
    thread_ = std::thread([this] { server_->Run(); });
    {
      Agent first(port_);
      ASSERT_EQ(first.Login("admin", admin_password_).status, 200);
      Reply blocked = first.Get("/api/v1/users");
      ASSERT_EQ(blocked.status, 403) << "the printed password is one-time";
      ASSERT_EQ(blocked.json["error"], "password_change_required");
      ASSERT_EQ(first.Post("/api/v1/password", {{"current", admin_password_}, {"new", kPassword}}).status, 200);
      ASSERT_EQ(first.Get("/api/v1/me").status, 401) << "a password change ends the sessions";
      admin_password_ = kPassword;
    }
    Agent admin(port_);
    ASSERT_EQ(admin.Login("admin", admin_password_).status, 200);
    for (const auto& [name, role, unit] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"ivan", "investigator", "CID North"}, {"iris", "investigator", "CID North"},
             {"sam", "supervisor", "CID North"},     {"sue", "supervisor", "Fraud"},
             {"ada", "auditor", ""}}) {
      Reply r = admin.Post("/api/v1/users", {{"username", name}, {"password", kPassword}, {"role", role}, {"unit", unit}});
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }
  virtual bool TwoPersonRule() const { return false; }
  void TearDown() override {  // also after a SetUp that stopped half way
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
  }

  Agent As(const std::string& user) {
    Agent a(port_);
    Reply r = a.Login(user, user == "admin" ? admin_password_ : kPassword);
    EXPECT_EQ(r.status, 200) << user << ": " << r.body;
    return a;
  }

  // ivan opens a case, uploads demo photo 1 and searches its largest face.
  struct Flow {
    int64_t case_id, probe_id, search_id, face_id;
    nlohmann::json search;
  };
  Flow IvanSearches() {
    Agent ivan = As("ivan");
    Reply c = ivan.Post("/api/v1/cases", {{"number", "2026/CID/1"}, {"purpose", "robbery suspect <script>x</script>"},
                                          {"category", "serious_crime"}});
    EXPECT_EQ(c.status, 201) << c.body;
    Flow f{};
    f.case_id = c.json["case"]["id"];
    Reply p = ivan.Upload("/api/v1/cases/" + std::to_string(f.case_id) + "/probes",
                          ReadFileText(testing::DemoPhoto(1)), "../../etc/passwd.jpg");
    EXPECT_EQ(p.status, 201) << p.body;
    f.probe_id = p.json["probe"]["id"];
    Reply s = ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"top_k", 5}});
    EXPECT_EQ(s.status, 201) << s.body;
    f.search = s.json["search"];
    f.search_id = f.search["id"];
    f.face_id = f.search["candidates"][0]["face_id"];
    return f;
  }

  // The request log line with this request id. The server writes it once the
  // answer is sent, so it may come a moment after the answer.
  nlohmann::json LogLineOf(const std::string& request_id, const fs::path& log = {}) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      std::ifstream in(log.empty() ? log_path_ : log);
      for (std::string line; std::getline(in, line);) {
        nlohmann::json j = nlohmann::json::parse(line);
        if (j["request_id"] == request_id) return j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "no request log line with request id " << request_id;
    return nullptr;
  }
  int64_t UserId(const std::string& name) {
    const Reply users = As("admin").Get("/api/v1/users");
    for (const auto& u : users.json["users"]) {
      if (u["username"] == name) return u["id"];
    }
    return 0;
  }
  // The audit records of `action` (and `user`), as the auditor sees them.
  nlohmann::json AuditRecords(const std::string& action, const std::string& user = "") {
    return As("ada").Get("/api/v1/audit?action=" + action + (user.empty() ? "" : "&user=" + user)).json["records"];
  }

  fs::path data_;
  fs::path keys_ = testing::TempDir("server-keys");
  fs::path log_path_ = testing::TempDir("server-log") / "requests.log";
  std::unique_ptr<ModelManifest> manifest_;
  std::atomic<int64_t> now_{1'800'000'000};
  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> server_;
  std::string admin_password_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(Server, CaseBoundSearchGivesLabelledCandidatesWithProvenanceAndIsAudited) {
  Flow f = IvanSearches();
  const nlohmann::json& top = f.search["candidates"][0];
  EXPECT_GT(top["score"].get<double>(), 0.99) << "the probe photo is in the gallery";
  EXPECT_EQ(top["band"], "strong");
  EXPECT_EQ(top["label"], "investigative lead — not an identification");
  EXPECT_EQ(f.search["notice"], "Investigative leads for human review — not identifications.");
  EXPECT_EQ(top["collection"]["name"], "demo");
  EXPECT_EQ(top["collection"]["legal_basis"], "test photos (MIT)");
  EXPECT_EQ(top["source"]["source_url"], "https://example.org/photo1.jpg");
  EXPECT_EQ(top["source"]["title"], "<img src=x onerror=alert(1)> photo 1");
  EXPECT_EQ(f.search["case_number"], "2026/CID/1");

  Agent ivan = As("ivan");
  Reply crop = ivan.Get(top["crop_url"].get<std::string>());
  EXPECT_EQ(crop.status, 200);
  EXPECT_EQ(crop.body.substr(0, 2), "\xFF\xD8");  // a JPEG
  Reply detail = ivan.Get("/api/v1/searches/" + std::to_string(f.search_id) + "/candidates/" + std::to_string(f.face_id));
  ASSERT_EQ(detail.status, 200) << detail.body;
  EXPECT_EQ(detail.json["candidate"]["image"]["original_name"], "list.jsonl:1") << "manifest row 1";
  Reply d = ivan.Post("/api/v1/searches/" + std::to_string(f.search_id) + "/decisions",
                      {{"face_id", f.face_id}, {"decision", "possible_match"}, {"note", "same scar"}});
  EXPECT_EQ(d.status, 201) << d.body;
  Reply again = ivan.Get("/api/v1/searches/" + std::to_string(f.search_id));
  EXPECT_EQ(again.json["search"]["candidates"][0]["decision"]["decision"], "possible_match");
  EXPECT_EQ(again.json["search"]["candidates"][0]["decision"]["note"], "same scar");

  // The probe is stored by content hash under its case, whatever the upload's name.
  std::string sha = Sha256Hex(ReadFileText(testing::DemoPhoto(1)).data(), fs::file_size(testing::DemoPhoto(1)));
  EXPECT_TRUE(fs::exists(data_ / "cases" / std::to_string(f.case_id) / (sha + ".jpg")));

  Agent ada = As("ada");
  Reply audit = ada.Get("/api/v1/audit?case=2026/CID/1");
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::map<std::string, nlohmann::json> by_action;
  for (const auto& r : audit.json["records"]) by_action[r["action"]] = r;
  ASSERT_TRUE(by_action.count("search")) << audit.body;
  const nlohmann::json& search = by_action["search"];
  EXPECT_EQ(search["actor"], "ivan");
  EXPECT_EQ(search["client"], "127.0.0.1");
  EXPECT_EQ(search["details"]["purpose"], "robbery suspect <script>x</script>");
  EXPECT_EQ(search["details"]["probe_sha256"], sha);
  EXPECT_EQ(search["details"]["candidates"].size(), f.search["candidates"].size());
  EXPECT_TRUE(by_action.count("candidate_view"));
  EXPECT_TRUE(by_action.count("decision"));
  EXPECT_TRUE(by_action.count("probe_upload"));
  Reply by_purpose = ada.Get("/api/v1/audit?action=search&text=robbery%20suspect");
  ASSERT_EQ(by_purpose.json["records"].size(), 1u) << by_purpose.body;
  EXPECT_EQ(ada.Get("/api/v1/audit?action=search&text=burglary").json["records"].size(), 0u);
  Reply verify = ada.Get("/api/v1/audit/verify");
  EXPECT_EQ(verify.json["ok"], true) << verify.body;
  Reply csv = ada.Get("/api/v1/audit/export?format=csv&case=2026/CID/1");
  EXPECT_EQ(csv.status, 200);
  EXPECT_NE(csv.body.find("search"), std::string::npos);
}

// The auditor's verification covers what a database owner could rewrite:
// anchors the auditor kept, the signed checkpoints, and the decisions.
TEST_F(Server, AuditVerifyChecksAnchorsCheckpointsAndDecisions) {
  Flow f = IvanSearches();
  Agent ivan = As("ivan");
  ASSERT_EQ(ivan.Post("/api/v1/searches/" + std::to_string(f.search_id) + "/decisions",
                      {{"face_id", f.face_id}, {"decision", "not_a_match"}, {"note", "other ears"}})
                .status,
            201);
  ASSERT_TRUE(service_->audit_checkpointer());
  ASSERT_TRUE(service_->audit_checkpointer()->PublishIfMoved());

  Agent ada = As("ada");
  Reply v = ada.Get("/api/v1/audit/verify");
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_EQ(v.json["ok"], true) << v.body;
  EXPECT_EQ(v.json["checkpoints"]["checked"], 1) << v.body;
  EXPECT_EQ(v.json["checkpoints"]["public_key"], service_->audit_checkpointer()->key().public_key_hex());
  EXPECT_GE(v.json["checkpoints"]["records_after_newest"].get<int64_t>(), 1) << "ada's login came after it";
  EXPECT_EQ(v.json["decisions"]["checked"], 1) << v.body;
  const std::string head = std::to_string(v.json["head"]["seq"].get<int64_t>()) + ":" +
                           v.json["head"]["hash"].get<std::string>();

  Reply anchored = ada.Get("/api/v1/audit/verify?anchor=" + head);
  EXPECT_EQ(anchored.json["ok"], true) << anchored.body;
  EXPECT_EQ(anchored.json["anchors_checked"], 1);
  Reply wrong = ada.Get("/api/v1/audit/verify?anchor=2:" + std::string(64, 'e'));
  EXPECT_EQ(wrong.status, 200);
  EXPECT_EQ(wrong.json["ok"], false);
  EXPECT_NE(wrong.json["problem"].get<std::string>().find("anchor 2:"), std::string::npos) << wrong.body;
  Reply malformed = ada.Get("/api/v1/audit/verify?anchor=12");
  EXPECT_EQ(malformed.status, 400) << malformed.body;
  EXPECT_EQ(malformed.json["field"], "anchor") << malformed.body;

  // The decision changed behind Lineup's back: the trail says otherwise.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((data_ / "governance.db").c_str(), &raw), SQLITE_OK);
  sqlite3_busy_timeout(raw, 10'000);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE decisions SET decision = 'possible_match'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  Reply altered = ada.Get("/api/v1/audit/verify");
  EXPECT_EQ(altered.json["ok"], false);
  EXPECT_EQ(altered.json["decisions"]["ok"], false);
  EXPECT_NE(altered.json["problem"].get<std::string>().find("was altered"), std::string::npos) << altered.body;
  // Each verification is itself in the trail, with what it checked.
  const nlohmann::json records = AuditRecords("audit_verify", "ada");
  ASSERT_GE(records.size(), 4u);
  EXPECT_EQ(records.back()["details"]["ok"], false);
  EXPECT_EQ(records.back()["details"]["checkpoints"], 1);
}

// The case page lists its searches without their candidates, but with how
// many there were (it said 0 for searches that returned 10 and 20).
TEST_F(Server, CaseSearchesCountTheirCandidates) {
  Flow f = IvanSearches();
  const size_t shown = f.search["candidates"].size();
  ASSERT_GT(shown, 0u);
  Agent ivan = As("ivan");
  const Reply c = ivan.Get("/api/v1/cases/" + std::to_string(f.case_id));
  ASSERT_EQ(c.status, 200) << c.body;
  ASSERT_EQ(c.json["searches"].size(), 1u) << c.body;
  EXPECT_EQ(c.json["searches"][0]["candidate_count"], shown);
  const Reply recent = ivan.Get("/api/v1/searches");
  ASSERT_EQ(recent.status, 200) << recent.body;
  EXPECT_EQ(recent.json["searches"][0]["candidate_count"], shown);
  // Another unit's supervisor asking for the search is told there is no such
  // search, as for one that does not exist (it said "no such case").
  const Reply other = As("sue").Get("/api/v1/searches/" + std::to_string(f.search_id));
  EXPECT_EQ(other.status, 404) << other.body;
  EXPECT_EQ(other.json["message"], "no such search") << other.body;
  EXPECT_EQ(As("sue").Get("/api/v1/searches/999999").json["message"], "no such search");
}

TEST_F(Server, SearchNeedsACaseOwnerAndAPurpose) {
  Agent ivan = As("ivan");
  EXPECT_EQ(ivan.Post("/api/v1/cases", {{"number", "X1"}, {"category", "other"}}).status, 400) << "no purpose";
  EXPECT_EQ(ivan.Post("/api/v1/cases", {{"number", "X1"}, {"purpose", "  "}, {"category", "other"}}).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/cases", {{"number", "X1"}, {"purpose", "missing child"}, {"category", "fun"}}).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/searches", {{"top_k", 5}}).status, 404) << "no probe, no case";
  Flow f = IvanSearches();
  Agent iris = As("iris");
  EXPECT_EQ(iris.Post("/api/v1/searches", {{"probe_id", f.probe_id}}).status, 404) << "another's case";
  EXPECT_EQ(ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"face", 99}}).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"top_k", 1000}}).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"top_k", kMaxCandidates + 1}}).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"top_k", kMaxCandidates}}).status, 201)
      << "the CLI's and the web app's largest list is the API's too";
  Reply two = ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"face", 1}, {"top_k", 3}});
  EXPECT_EQ(two.status, 201) << two.body;
  EXPECT_NE(two.json["search"]["face_box"], f.search["face_box"]) << "face 1 is another face";
}

// Every route of the OpenAPI document (except login) for every role and for
// an anonymous caller; the test fails if a route is added without a row here.
TEST_F(Server, EveryRoleReachesOnlyWhatItMay) {
  Flow f = IvanSearches();
  Agent anon(port_);
  Reply pending = anon.Post("/api/v1/register", {{"username", "pend1"}, {"password", kPassword}, {"unit", "CID North"}});
  ASSERT_EQ(pending.status, 202) << pending.body;
  ASSERT_EQ(anon.Post("/api/v1/register", {{"username", "pend2"}, {"password", kPassword}, {"unit", "CID North"}}).status, 202);
  Reply token = As("ivan").Post("/api/v1/tokens", {{"name", "matrix"}, {"password", kPassword}});
  ASSERT_EQ(token.status, 201) << token.body;
  int64_t iris_id = 0, pend_id = 0, pend2_id = 0;
  Reply users = As("admin").Get("/api/v1/users");
  for (const auto& u : users.json["users"]) {
    if (u["username"] == "iris") iris_id = u["id"];
    if (u["username"] == "pend1") pend_id = u["id"];
    if (u["username"] == "pend2") pend2_id = u["id"];
  }
  std::string c = std::to_string(f.case_id), p = std::to_string(f.probe_id), s = std::to_string(f.search_id),
              face = std::to_string(f.face_id), pend = std::to_string(pend_id),
              tok = std::to_string(token.json["token"]["id"].get<int64_t>());
  // Statuses per caller, in this order: anonymous, admin, ivan (owner), iris
  // (same unit, not owner), sam (supervisor of the unit), sue (supervisor of
  // another unit), ada (auditor). 2xx is written 200.
  const std::vector<std::string> callers = {"", "admin", "ivan", "iris", "sam", "sue", "ada"};
  struct Call {
    std::string method, route, path;  // route: the OpenAPI path
    std::vector<int> expect;
    std::function<nlohmann::json(const std::string& user)> body;
  };
  auto none = [](const std::string&) { return nlohmann::json::object(); };
  auto named = [](const std::string& prefix) {
    return [prefix](const std::string& user) {
      return nlohmann::json{{"username", prefix + (user.empty() ? "anon" : user)}, {"password", kPassword},
                            {"role", "auditor"}};
    };
  };
  const std::vector<Call> calls = {
      {"GET", "/api/v1/me", "/api/v1/me", {401, 200, 200, 200, 200, 200, 200}, none},
      {"POST", "/api/v1/register", "/api/v1/register", {200, 200, 200, 200, 200, 200, 200}, named("reg")},
      {"GET", "/api/v1/users", "/api/v1/users", {401, 200, 403, 403, 403, 403, 403}, none},
      {"POST", "/api/v1/users", "/api/v1/users", {401, 200, 403, 403, 403, 403, 403}, named("new")},
      {"PATCH", "/api/v1/users/{id}", "/api/v1/users/" + std::to_string(iris_id), {401, 200, 403, 403, 403, 403, 403},
       [](const std::string&) { return nlohmann::json{{"active", true}}; }},
      {"POST", "/api/v1/users/{id}/unlock", "/api/v1/users/" + std::to_string(iris_id) + "/unlock",
       {401, 200, 403, 403, 403, 403, 403}, none},
      {"POST", "/api/v1/users/{id}/password-reset", "/api/v1/users/" + pend + "/password-reset",
       {401, 200, 403, 403, 403, 403, 403}, none},
      {"GET", "/api/v1/approvals", "/api/v1/approvals", {401, 200, 403, 403, 200, 200, 403}, none},
      // The admin approves first; sam then finds it already approved, sue never sees it.
      {"POST", "/api/v1/users/{id}/approve", "/api/v1/users/" + pend + "/approve", {401, 200, 403, 403, 409, 404, 403},
       none},
      // The admin refuses pend2 first (the account goes); the supervisors then find nothing.
      {"POST", "/api/v1/users/{id}/reject", "/api/v1/users/" + std::to_string(pend2_id) + "/reject",
       {401, 200, 403, 403, 404, 404, 403}, none},
      {"POST", "/api/v1/tokens", "/api/v1/tokens", {401, 200, 200, 200, 200, 200, 200},
       [](const std::string&) { return nlohmann::json{{"name", "matrix"}, {"password", kPassword}}; }},
      {"GET", "/api/v1/tokens", "/api/v1/tokens", {401, 200, 200, 200, 200, 200, 200}, none},
      {"DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/" + tok, {401, 404, 200, 404, 404, 404, 404}, none},
      {"POST", "/api/v1/password", "/api/v1/password", {401, 400, 400, 400, 400, 400, 400},
       [](const std::string&) { return nlohmann::json{{"current", "not my password"}, {"new", "another long password"}}; }},
      {"POST", "/api/v1/totp/begin", "/api/v1/totp/begin", {401, 200, 200, 200, 200, 200, 200}, none},
      {"POST", "/api/v1/totp/confirm", "/api/v1/totp/confirm", {401, 400, 400, 400, 400, 400, 400},
       [](const std::string&) { return nlohmann::json{{"code", "abcdef"}}; }},
      // TOTP is off for everyone here: turning it off needs no proof.
      {"POST", "/api/v1/totp/disable", "/api/v1/totp/disable", {401, 200, 200, 200, 200, 200, 200}, none},
      {"POST", "/api/v1/cases", "/api/v1/cases", {401, 403, 200, 200, 403, 403, 403},
       [](const std::string& user) {
         return nlohmann::json{{"number", "M-" + user}, {"purpose", "matrix test"}, {"category", "other"}};
       }},
      {"GET", "/api/v1/cases", "/api/v1/cases", {401, 403, 200, 200, 200, 200, 200}, none},
      {"GET", "/api/v1/cases/{id}", "/api/v1/cases/" + c, {401, 404, 200, 404, 200, 404, 200}, none},
      {"UPLOAD", "/api/v1/cases/{id}/probes", "/api/v1/cases/" + c + "/probes", {401, 404, 200, 404, 403, 404, 403},
       none},
      {"GET", "/api/v1/probes/{id}/image", "/api/v1/probes/" + p + "/image", {401, 404, 200, 404, 200, 404, 200}, none},
      {"POST", "/api/v1/searches", "/api/v1/searches", {401, 403, 200, 404, 403, 403, 403},
       [&](const std::string&) { return nlohmann::json{{"probe_id", f.probe_id}, {"top_k", 3}}; }},
      {"GET", "/api/v1/searches", "/api/v1/searches", {401, 403, 200, 200, 200, 200, 200}, none},
      {"GET", "/api/v1/searches/{id}", "/api/v1/searches/" + s, {401, 404, 200, 404, 200, 404, 200}, none},
      {"GET", "/api/v1/searches/{id}/candidates/{id2}", "/api/v1/searches/" + s + "/candidates/" + face,
       {401, 404, 200, 404, 200, 404, 200}, none},
      {"POST", "/api/v1/searches/{id}/decisions", "/api/v1/searches/" + s + "/decisions",
       {401, 404, 200, 404, 403, 404, 403},
       [&](const std::string&) { return nlohmann::json{{"face_id", f.face_id}, {"decision", "inconclusive"}}; }},
      {"GET", "/api/v1/faces/{id}/crop", "/api/v1/faces/" + face + "/crop", {401, 404, 200, 404, 200, 404, 200}, none},
      {"GET", "/api/v1/faces/{id}/image", "/api/v1/faces/" + face + "/image", {401, 404, 200, 404, 200, 404, 200},
       none},
      {"GET", "/api/v1/collections", "/api/v1/collections", {401, 200, 200, 200, 200, 200, 403}, none},
      {"GET", "/api/v1/jobs", "/api/v1/jobs", {401, 200, 403, 403, 403, 403, 403}, none},
      {"GET", "/api/v1/jobs/{id}", "/api/v1/jobs/999", {401, 404, 403, 403, 403, 403, 403}, none},
      {"GET", "/api/v1/audit", "/api/v1/audit", {401, 403, 403, 403, 403, 403, 200}, none},
      {"GET", "/api/v1/audit/verify", "/api/v1/audit/verify", {401, 403, 403, 403, 403, 403, 200}, none},
      {"GET", "/api/v1/audit/export", "/api/v1/audit/export?format=jsonl", {401, 403, 403, 403, 403, 403, 200}, none},
      {"GET", "/api/v1/report", "/api/v1/report?format=csv", {401, 403, 403, 403, 403, 403, 200}, none},
      {"GET", "/api/v1/optouts", "/api/v1/optouts", {401, 200, 403, 403, 403, 403, 403}, none},
      // The admin reaches the endpoint but the upload names no request: 400.
      {"UPLOAD", "/api/v1/optouts", "/api/v1/optouts", {401, 400, 403, 403, 403, 403, 403}, none},
      {"POST", "/api/v1/optouts/{id}/withdraw", "/api/v1/optouts/999/withdraw", {401, 404, 403, 403, 403, 403, 403},
       [](const std::string&) { return nlohmann::json{{"reason", "matrix"}}; }},
      // Near the end: the owner deletes the case, so later callers find nothing.
      {"DELETE", "/api/v1/cases/{id}", "/api/v1/cases/" + c, {401, 404, 200, 404, 404, 404, 404}, none},
      {"POST", "/api/v1/logout", "/api/v1/logout", {401, 200, 200, 200, 200, 200, 200}, none},  // last: ends sessions
  };
  std::set<std::string> covered = {"post /api/v1/login"};
  for (const Call& call : calls) {
    std::string method = call.method == "UPLOAD" ? "post" : call.method;
    std::transform(method.begin(), method.end(), method.begin(), [](unsigned char ch) { return std::tolower(ch); });
    covered.insert(method + " " + call.route);
  }
  // Held in a variable: a range-for over OpenApi()["paths"].items() would iterate a
  // temporary document destroyed before the loop body runs (ASan: heap-use-after-free).
  const nlohmann::json openapi = HttpServer::OpenApi();
  for (const auto& [path, operations] : openapi.at("paths").items()) {
    if (path.rfind("/api/v1/", 0) != 0 || path == "/api/v1/openapi.json") continue;
    for (const auto& [method, op] : operations.items()) {
      EXPECT_TRUE(covered.count(method + " " + path)) << method << " " << path << " has no row in the matrix";
    }
  }
  std::map<std::string, Agent> agents;
  for (const std::string& user : callers) agents.emplace(user, user.empty() ? Agent(port_) : As(user));
  std::string photo = ReadFileText(testing::DemoPhoto(2));
  for (const Call& call : calls) {
    for (size_t i = 0; i < callers.size(); ++i) {
      const std::string& user = callers[i];
      Agent& a = agents.at(user);
      Reply r = call.method == "GET"     ? a.Get(call.path)
                : call.method == "POST"  ? a.Post(call.path, call.body(user))
                : call.method == "PATCH" ? a.Patch(call.path, call.body(user))
                : call.method == "UPLOAD" ? a.Upload(call.path, photo, "p.jpg")
                                          : a.Delete(call.path);
      int got = r.status / 100 == 2 ? 200 : r.status;
      EXPECT_EQ(got, call.expect[i]) << call.method << " " << call.path << " as "
                                     << (user.empty() ? "anonymous" : user) << ": " << r.body;
    }
  }
}

TEST_F(Server, StateChangesWithTheCookieNeedTheCsrfToken) {
  Agent ivan = As("ivan");
  std::string token = ivan.csrf();
  ivan.csrf().clear();
  Reply r = ivan.Post("/api/v1/cases", {{"number", "C-1"}, {"purpose", "fraud enquiry"}, {"category", "other"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json["error"], "csrf");
  ivan.csrf() = (token[0] == '0' ? "1" : "0") + token.substr(1);  // one character wrong
  EXPECT_EQ(ivan.Post("/api/v1/cases", {{"number", "C-1"}, {"purpose", "fraud"}, {"category", "other"}}).status, 403);
  ivan.csrf() = token;
  EXPECT_EQ(ivan.Post("/api/v1/cases", {{"number", "C-1"}, {"purpose", "fraud"}, {"category", "other"}}).status, 201);
  // A form post (not JSON) is refused even with the token.
  httplib::Client raw("127.0.0.1", port_);
  httplib::Headers h = {{"Cookie", ivan.cookie()}, {"X-CSRF-Token", token}};
  auto form = raw.Post("/api/v1/cases", h, "number=C-2&purpose=x&category=other", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 400);
}

TEST_F(Server, ForgedAndExpiredSessionsAndTokens) {
  Agent ivan = As("ivan");
  std::string cookie = ivan.cookie();
  ivan.cookie() = "lineup_session=" + std::string(64, 'a');
  EXPECT_EQ(ivan.Get("/api/v1/me").status, 401);
  ivan.cookie() = cookie;
  EXPECT_EQ(ivan.Get("/api/v1/me").status, 200);
  now_ += 31 * 60;  // idle longer than the session's idle limit
  EXPECT_EQ(ivan.Get("/api/v1/me").status, 401);

  Agent fresh = As("ivan");
  Reply t = fresh.Post("/api/v1/tokens", {{"name", "script"}, {"scope", "search"}, {"password", kPassword}});
  ASSERT_EQ(t.status, 201) << t.body;
  Agent program(port_);
  program.bearer() = t.json["token"]["token"];
  EXPECT_EQ(program.Get("/api/v1/cases").status, 200);
  EXPECT_EQ(program.Post("/api/v1/cases", {{"number", "T-1"}, {"purpose", "by script"}, {"category", "other"}}).status,
            201)
      << "bearer requests need no CSRF token";
  EXPECT_EQ(fresh.Delete("/api/v1/tokens/" + std::to_string(t.json["token"]["id"].get<int64_t>())).status, 200);
  EXPECT_EQ(program.Get("/api/v1/cases").status, 401);
  program.bearer() = "not-a-token";
  EXPECT_EQ(program.Get("/api/v1/cases").status, 401);
}

TEST_F(Server, DeletingACaseDeletesItsProbePhotosAndKeepsTheAuditTrail) {
  Flow f = IvanSearches();
  fs::path folder = data_ / "cases" / std::to_string(f.case_id);
  ASSERT_FALSE(fs::is_empty(folder));
  std::string path = "/api/v1/cases/" + std::to_string(f.case_id);
  EXPECT_EQ(As("sue").Delete(path).status, 404) << "another unit";
  EXPECT_EQ(As("ada").Delete(path).status, 403) << "auditors read, never delete";
  Reply gone = As("ivan").Delete(path);
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(gone.json["probes"], 1);
  EXPECT_FALSE(fs::exists(folder));
  EXPECT_EQ(As("ivan").Get(path).status, 404);
  EXPECT_EQ(As("ivan").Get("/api/v1/searches/" + std::to_string(f.search_id)).status, 404);
  EXPECT_EQ(As("ivan").Get("/api/v1/probes/" + std::to_string(f.probe_id) + "/image").status, 404);
  EXPECT_EQ(As("ivan").Get("/api/v1/faces/" + std::to_string(f.face_id) + "/crop").status, 404)
      << "no search shows the face any more";
  Reply audit = As("ada").Get("/api/v1/audit?case=2026/CID/1");
  bool search = false, deleted = false;
  for (const auto& r : audit.json["records"]) {
    search |= r["action"] == "search";
    deleted |= r["action"] == "case_delete";
  }
  EXPECT_TRUE(search && deleted) << audit.body;
  EXPECT_EQ(As("ada").Get("/api/v1/audit/verify").json["ok"], true);
  // The probe's sha256 stays in the audit trail (by design), but its stored
  // path, which only the probe row held, is nowhere in the governance files.
  std::string stored = "cases/" + std::to_string(f.case_id) + "/";
  for (const char* file : {"governance.db", "governance.db-wal"}) {
    if (!fs::exists(data_ / file)) continue;
    EXPECT_EQ(ReadFileText(data_ / file).find(stored), std::string::npos) << file;
  }
  // A folder left by a deletion interrupted after its commit is swept at the next start.
  fs::create_directories(data_ / "cases" / "999");
  std::ofstream(data_ / "cases" / "999" / "left.jpg") << "x";
  GovernanceDb second_connection(data_ / "governance.db");
  Cases reopened(second_connection, data_);
  EXPECT_FALSE(fs::exists(data_ / "cases" / "999"));
}

TEST_F(Server, SearchesSeeFacesThatAnotherWriterIngestedMeanwhile) {
  Flow first = IvanSearches();
  int64_t before = first.search["faces_searched"];
  {
    // Another writer (as `lineup ingest` in another process would) adds a mirrored demo photo.
    fs::path more = testing::TempDir("server-more");
    cv::Mat image = cv::imread(testing::DemoPhoto(1).string());
    cv::Mat mirrored;
    cv::flip(image, mirrored, 1);
    cv::imwrite((more / "mirrored.jpg").string(), mirrored);
    GalleryOptions go;
    go.data_dir = data_;
    const ModelEntry& e = manifest_->Model(manifest_->GetProfile("").embedder);
    auto writer = Gallery::Open(go, {e.id, e.output_dim});
    IngestOptions io;
    io.collection = "demo";
    io.show_progress = false;
    ASSERT_EQ(RunIngest(*writer, *manifest_, more, io).counters.images_added, 1);
  }
  // The next look at the gallery starts its reopen in the background (and is
  // answered by the gallery in use); once it is done, searches see the new face.
  service_->GalleryFaces();
  service_->WaitForGalleryReopen();
  Agent ivan = As("ivan");
  Reply again = ivan.Post("/api/v1/searches", {{"probe_id", first.probe_id}, {"top_k", 5}});
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_GT(again.json["search"]["faces_searched"].get<int64_t>(), before);
  bool mirrored_found = false;
  for (const auto& c : again.json["search"]["candidates"]) {
    mirrored_found |= c["image"]["original_name"].get<std::string>().find("mirrored.jpg") != std::string::npos;
  }
  EXPECT_TRUE(mirrored_found) << "the mirrored copy of the probe photo is a candidate";
}

// Opt-out through the API: a group photo asks which face; the chosen face's
// matches leave the gallery and the search results at once; the photo is
// not stored; withdrawing is audited. While another writer holds the
// gallery the removal waits for the maintenance job.
TEST_F(Server, OptOutByFaceRemovesTheMatchesAndHidesThemFromSearches) {
  Flow before = IvanSearches();  // searches the largest face of demo photo 1, which is in the gallery
  ASSERT_GT(before.search["candidates"][0]["score"].get<double>(), 0.99);
  Agent admin = As("admin");
  const std::string photo = ReadFileText(testing::DemoPhoto(1));
  Reply ask = admin.Upload("/api/v1/optouts", photo, "person.jpg", {{"request_id", "OPT-1"}});
  ASSERT_EQ(ask.status, 409) << ask.body;
  EXPECT_EQ(ask.json["error"], "choose_face");
  ASSERT_GT(ask.json["faces"].size(), 1u);
  EXPECT_EQ(admin.Upload("/api/v1/optouts", photo, "person.jpg", {{"request_id", "OPT-1"}, {"face", "99"}}).status, 409);
  Reply accepted = admin.Upload("/api/v1/optouts", photo, "person.jpg", {{"request_id", "OPT-1"}, {"face", "0"}});
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  int64_t id = accepted.json["optout"]["id"];
  const std::string job = "/api/v1/jobs/" + accepted.json["job"]["id"].dump();
  service_->WaitForJobs();
  Reply done = admin.Get(job);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.json["job"]["state"], "done") << done.body;
  EXPECT_GE(done.json["job"]["progress"]["faces_removed"].get<int64_t>(), 1);
  EXPECT_EQ(admin.Get("/api/v1/optouts").json["optouts"][0]["status"], "done");

  Agent ivan = As("ivan");
  Reply after = ivan.Post("/api/v1/searches", {{"probe_id", before.probe_id}, {"top_k", 5}});
  ASSERT_EQ(after.status, 201) << after.body;
  for (const auto& c : after.json["search"]["candidates"]) {
    EXPECT_NE(c["face_id"], before.face_id);
    EXPECT_NE(c["band"], "strong") << c;
  }

  Agent ada = As("ada");
  Reply audit = ada.Get("/api/v1/audit?action=optout_add");
  ASSERT_EQ(audit.json["records"].size(), 1u) << audit.body;
  const nlohmann::json& details = audit.json["records"][0]["details"];
  EXPECT_EQ(details["request_id"], "OPT-1");
  EXPECT_FALSE(details["photo_kept"].get<bool>());

  EXPECT_EQ(admin.Post("/api/v1/optouts/" + std::to_string(id) + "/withdraw", nlohmann::json::object()).status, 400);
  EXPECT_EQ(admin.Post("/api/v1/optouts/" + std::to_string(id) + "/withdraw", {{"reason", "entered by mistake"}}).status, 200);
  EXPECT_TRUE(admin.Get("/api/v1/optouts").json["optouts"].empty());
  EXPECT_EQ(ada.Get("/api/v1/audit?action=optout_remove").json["records"].size(), 1u);

  // Another writer holds the gallery: the opt-out is recorded (and hides
  // matches at once) but the removal is left to the maintenance job.
  const std::string other = ReadFileText(testing::DemoPhoto(2));
  {
    GalleryOptions go;
    go.data_dir = data_;
    const ModelEntry& e = manifest_->Model(manifest_->GetProfile("").embedder);
    auto writer = Gallery::Open(go, {e.id, e.output_dim});
    Reply pending = admin.Upload("/api/v1/optouts", other, "p2.jpg", {{"request_id", "OPT-2"}, {"face", "0"}});
    ASSERT_EQ(pending.status, 202) << pending.body;
    service_->WaitForJobs();
    EXPECT_EQ(admin.Get("/api/v1/jobs/" + pending.json["job"]["id"].dump()).json["job"]["state"], "deferred");
    nlohmann::json busy = service_->RunMaintenance();
    EXPECT_TRUE(busy.contains("gallery")) << busy;
  }
  nlohmann::json ran = service_->RunMaintenance();
  ASSERT_EQ(ran["optouts"].size(), 1u) << ran;
  EXPECT_GE(ran["optouts"][0]["faces_removed"].get<int64_t>(), 1);
  EXPECT_EQ(admin.Get("/api/v1/optouts").json["optouts"][0]["status"], "done");
  EXPECT_EQ(ada.Get("/api/v1/audit?action=optout_process").json["records"].size(), 2u) << "the job's and the maintenance's";
}

// A search by face number embeds the face as detected at upload (no second
// detection); it must find exactly what a search by the same face's box,
// which detects again, finds.
TEST_F(Server, SearchByFaceNumberMatchesASearchThatDetectsAgain) {
  Flow f = IvanSearches();
  Agent ivan = As("ivan");
  Reply probe = ivan.Get("/api/v1/cases/" + std::to_string(f.case_id));
  ASSERT_EQ(probe.status, 200) << probe.body;
  const nlohmann::json& faces = probe.json["probes"][0]["faces"];
  ASSERT_GE(faces.size(), 2u);
  for (int face : {0, 1}) {
    Reply stored = ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"face", face}, {"top_k", 5}});
    Reply again = ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"box", faces[face]["box"]}, {"top_k", 5}});
    ASSERT_EQ(stored.status, 201) << stored.body;
    ASSERT_EQ(again.status, 201) << again.body;
    const auto& a = stored.json["search"]["candidates"];
    const auto& b = again.json["search"]["candidates"];
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i]["face_id"], b[i]["face_id"]);
      EXPECT_NEAR(a[i]["score"].get<double>(), b[i]["score"].get<double>(), 1e-6);
    }
    EXPECT_EQ(stored.json["search"]["face_box"], again.json["search"]["face_box"]);
  }
}

// A rate-limited answer says how long to wait (the limiter's own figure),
// and a caller without the role learns nothing from a malformed query: 403
// comes before the parameters are read.
TEST_F(Server, RateLimitsSayWhenToRetryAndRolesComeBeforeParameters) {
  HttpServerOptions ho;
  ho.port = 0;
  ho.logins_per_minute = 6;  // a token every 10 s
  ho.login_burst = 1;
  HttpServer strict(*service_, ho);
  int port = strict.Bind();
  std::thread serving([&] { strict.Run(); });
  Agent a(port);
  a.Login("ivan", kPassword);
  Reply limited = a.Login("ivan", kPassword);
  strict.Stop();
  serving.join();
  ASSERT_EQ(limited.status, 429) << limited.body;
  auto retry = limited.headers.find("Retry-After");
  ASSERT_NE(retry, limited.headers.end());
  int seconds = std::stoi(retry->second);
  EXPECT_GE(seconds, 1);
  EXPECT_LE(seconds, 10);
  EXPECT_EQ(limited.json["retry_after"], seconds);

  Agent ivan = As("ivan");
  EXPECT_EQ(ivan.Get("/api/v1/report?since=yesterday").status, 403);
  EXPECT_EQ(ivan.Get("/api/v1/audit?since=yesterday").status, 403);
  EXPECT_EQ(ivan.Get("/api/v1/audit/export?until=never").status, 403);
  EXPECT_EQ(As("ada").Get("/api/v1/report?since=yesterday").status, 400);
}

TEST_F(Server, OversightReportCountsTheSearchesOfTheRun) {
  IvanSearches();
  fs::path html = testing::TempDir("server-report") / "report.html";
  std::string cmd = std::string(LINEUP_BINARY) + " report --json --html '" + html.string() + "' --data '" +
                    data_.string() + "' --since 2020-01-01 --until 2030-12-31 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ASSERT_EQ(pclose(pipe), 0) << out;
  nlohmann::json report = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << out;
  EXPECT_NE(out.find("\"ivan\""), std::string::npos) << out;
  EXPECT_NE(out.find("serious_crime"), std::string::npos) << out;
  std::string page = ReadFileText(html);
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos) << "no scripts, and the hostile purpose is escaped";
}

TEST_F(Server, AuditorsGetTheOversightReportAsAPage) {
  IvanSearches();
  Agent ada = As("ada");
  Reply page = ada.Get("/api/v1/report?since=2020-01-01&until=2030-12-31");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("<svg"), std::string::npos);
  EXPECT_NE(page.body.find("ivan"), std::string::npos);
  EXPECT_EQ(page.body.find("<script"), std::string::npos);
  size_t policies = 0;
  for (const auto& [name, value] : page.headers) policies += name == "Content-Security-Policy";
  EXPECT_EQ(policies, 1u) << "one policy, the report's own";
  Reply csv = ada.Get("/api/v1/report?format=csv&since=2020-01-01&until=2030-12-31");
  EXPECT_EQ(csv.status, 200);
  EXPECT_NE(csv.body.find("ivan"), std::string::npos);
  EXPECT_EQ(ada.Get("/api/v1/report?since=yesterday").status, 400);
  EXPECT_EQ(ada.Get("/api/v1/report?format=pdf").status, 400);
  Reply audited = ada.Get("/api/v1/audit?action=report");
  ASSERT_EQ(audited.json["records"].size(), 2u) << audited.body;
  const nlohmann::json details = audited.json["records"][1]["details"];
  EXPECT_EQ(details["format"], "csv");
  EXPECT_EQ(details["options"]["min_excess"], 10) << "the thresholds used, as lineup report records them";
}

TEST_F(Server, UsersChangeTheirOwnPassword) {
  Agent ivan = As("ivan");
  EXPECT_EQ(ivan.Post("/api/v1/password", {{"current", "wrong"}, {"new", "a brand new password"}}).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/password", {{"current", kPassword}, {"new", "short"}}).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/password", {{"current", kPassword}, {"new", "a brand new password"}}).status, 200);
  EXPECT_EQ(ivan.Get("/api/v1/me").status, 401);
  EXPECT_EQ(Agent(port_).Login("ivan", kPassword).status, 401);
  EXPECT_EQ(Agent(port_).Login("ivan", "a brand new password").status, 200);
}

TEST_F(Server, BruteForceLocksTheAccountAndIsAudited) {
  Agent a(port_);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.Login("ivan", "wrong password " + std::to_string(i)).status, 401);
  EXPECT_EQ(a.Login("ivan", "wrong password 4").status, 423) << "the fifth failure locks";
  Reply locked = a.Login("ivan", kPassword);
  EXPECT_EQ(locked.status, 423) << "even the right password, while locked: " << locked.body;
  EXPECT_FALSE(locked.headers.find("Retry-After") == locked.headers.end());
  EXPECT_EQ(a.Login("nobody", "whatever password").json["error"], "bad_credentials");
  now_ += 301;
  EXPECT_EQ(a.Login("ivan", kPassword).status, 200);
  Agent ada = As("ada");
  Reply failed = ada.Get("/api/v1/audit?action=login_failed");
  EXPECT_GE(failed.json["records"].size(), 6u) << failed.body;
}

// A failed login's name is audited as the actor; cut at 64 bytes inside a
// character it was invalid UTF-8, and every audit page that held the record
// answered 500 for good. Bytes already stored like that still page.
TEST_F(Server, ClientTextThatIsNotUtf8NeverBreaksTheAuditPages) {
  const std::string name = std::string(63, 'a') + "\xc3\xa9";  // byte 64 is inside the é
  EXPECT_EQ(Agent(port_).Login(name, "whatever password").status, 401);
  Agent ada = As("ada");
  Reply page = ada.Get("/api/v1/audit?action=login_failed");
  ASSERT_EQ(page.status, 200) << page.body;
  ASSERT_EQ(page.json["records"].size(), 1u);
  EXPECT_EQ(page.json["records"][0]["actor"], std::string(63, 'a'));

  {  // a record written behind Lineup's back (or by an older version)
    GovernanceDb direct(data_ / "governance.db");
    direct.Write([](SqliteDb& db) {
      db.Exec("INSERT INTO audit_records (seq, time, actor_id, actor, role, action, client, case_number, "
              "details_json, prev_hash, hash) SELECT seq + 1, 0, 0, CAST(X'61FF62' AS TEXT), '', 'login_failed', "
              "CAST(X'C3' AS TEXT), '', '{}', hash, hash FROM audit_head");
      db.Exec("UPDATE audit_head SET seq = seq + 1");
    });
  }
  Reply all = ada.Get("/api/v1/audit");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.json["records"].back()["actor"], "a\xef\xbf\xbd" "b");
  EXPECT_EQ(ada.Get("/api/v1/audit/export?format=jsonl").status, 200);
  EXPECT_EQ(ada.Get("/api/v1/audit/export?format=csv").status, 200);
  EXPECT_EQ(ada.Get("/api/v1/report?format=csv").status, 200);

  // An upload's name cut at 100 bytes inside a character, in the 400 message.
  Agent ivan = As("ivan");
  Reply c = ivan.Post("/api/v1/cases", {{"number", "U-1"}, {"purpose", "names"}, {"category", "other"}});
  Reply bad = ivan.Upload("/api/v1/cases/" + std::to_string(c.json["case"]["id"].get<int64_t>()) + "/probes",
                          "not a photo", std::string(99, 'f') + "\xe5\xb1\xb1.jpg");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json["error"], "bad_image");
}

// Validating a session is a read: last_seen_at is written at most once a
// minute per session, so a run of requests (the clock stands still here)
// adds nothing to the governance database's WAL. Prints the rate of
// authenticated GETs over real HTTP (docs/PERFORMANCE.md).
TEST_F(Server, AuthenticatedRequestsDoNotWriteTheGovernanceDatabase) {
  HttpServerOptions ho;
  ho.port = 0;
  ho.requests_per_minute = 1e9;
  ho.request_burst = 1e9;
  // A new connection per request, closed by the server after it answers: the
  // next may open before the last is closed, so no per-address cap here.
  ho.max_connections_per_address = 0;
  HttpServer unlimited(*service_, ho);
  int port = unlimited.Bind();
  std::thread serving([&] { unlimited.Run(); });
  Agent ivan(port);
  ASSERT_EQ(ivan.Login("ivan", kPassword).status, 200);
  ASSERT_EQ(ivan.Get("/api/v1/me").status, 200);
  const fs::path wal = data_ / "governance.db-wal";
  const uintmax_t wal_bytes = fs::exists(wal) ? fs::file_size(wal) : 0;
  constexpr int kRequests = 1000;
  int answered = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) answered += ivan.Get("/api/v1/me").status == 200;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  unlimited.Stop();
  serving.join();
  EXPECT_EQ(answered, kRequests);
  EXPECT_EQ(fs::exists(wal) ? fs::file_size(wal) : 0, wal_bytes) << "requests wrote to the governance database";
  std::printf("[ measured ] %d authenticated GET /api/v1/me in %.2f s: %.0f requests/s\n", kRequests, seconds,
              kRequests / seconds);
}

// POST /register answers the same whether or not the name exists (it used
// to say "username admin is already taken"); the trail says which it was.
TEST_F(Server, RegistrationDoesNotTellWhichNamesExist) {
  Agent anon(port_);
  Reply taken = anon.Post("/api/v1/register", {{"username", "admin"}, {"password", kPassword}, {"unit", "CID North"}});
  Reply free = anon.Post("/api/v1/register", {{"username", "newcomer"}, {"password", kPassword}, {"unit", "CID North"}});
  ASSERT_EQ(taken.status, 202) << taken.body;
  EXPECT_EQ(free.status, taken.status);
  nlohmann::json a = taken.json, b = free.json;
  a.erase("username");
  b.erase("username");
  EXPECT_EQ(a, b);
  EXPECT_EQ(As("admin").Get("/api/v1/me").status, 200) << "the admin account is untouched";
  Reply trail = As("ada").Get("/api/v1/audit?action=account_change&text=registration%20refused");
  ASSERT_EQ(trail.json["records"].size(), 1u) << trail.body;
  EXPECT_EQ(trail.json["records"][0]["actor"], "admin");
}

// An admin clears a lock-out (API; `lineup users unlock` at the command line); audited.
TEST_F(Server, AdminsUnlockALockedAccount) {
  Agent a(port_);
  for (int i = 0; i < 5; ++i) a.Login("ivan", "wrong password " + std::to_string(i));
  ASSERT_EQ(a.Login("ivan", kPassword).status, 423);
  int64_t ivan_id = 0;
  Reply users = As("admin").Get("/api/v1/users");
  for (const auto& u : users.json["users"]) {
    if (u["username"] == "ivan") ivan_id = u["id"];
  }
  const std::string unlock = "/api/v1/users/" + std::to_string(ivan_id) + "/unlock";
  EXPECT_EQ(As("sam").Post(unlock, nlohmann::json::object()).status, 403);
  Reply done = As("admin").Post(unlock, nlohmann::json::object());
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(a.Login("ivan", kPassword).status, 200);
  Reply trail = As("ada").Get("/api/v1/audit?action=account_change&text=login%20lock%20cleared");
  ASSERT_EQ(trail.json["records"].size(), 1u) << trail.body;
  EXPECT_EQ(trail.json["records"][0]["actor"], "admin");
}

// The way back from a forgotten password (issue 13 #5): an admin gives a new
// one-time password, shown once; the old one and the user's sessions and
// tokens stop working, the new one must be changed first; audited without it.
TEST_F(Server, AdminsResetAForgottenPasswordToAOneTimeOne) {
  Agent ivan = As("ivan");
  int64_t ivan_id = 0, admin_id = 0;
  Reply users = As("admin").Get("/api/v1/users");
  for (const auto& u : users.json["users"]) {
    if (u["username"] == "ivan") ivan_id = u["id"];
    if (u["username"] == "admin") admin_id = u["id"];
  }
  const std::string reset = "/api/v1/users/" + std::to_string(ivan_id) + "/password-reset";
  EXPECT_EQ(As("sam").Post(reset, nlohmann::json::object()).status, 403);
  Reply self = As("admin").Post("/api/v1/users/" + std::to_string(admin_id) + "/password-reset", nlohmann::json::object());
  EXPECT_EQ(self.status, 400) << "an admin changes their own password, with the current one";
  EXPECT_EQ(As("admin").Post("/api/v1/users/999999/password-reset", nlohmann::json::object()).status, 404);

  Reply done = As("admin").Post(reset, nlohmann::json::object());
  ASSERT_EQ(done.status, 200) << done.body;
  const std::string one_time = done.json["one_time_password"];
  EXPECT_GE(one_time.size(), 12u);
  EXPECT_TRUE(done.json["user"]["must_change_password"].get<bool>());
  EXPECT_EQ(ivan.Get("/api/v1/me").status, 401) << "the reset ends the user's sessions";
  Agent fresh(port_);
  EXPECT_EQ(fresh.Login("ivan", kPassword).status, 401) << "the old password stops working";
  ASSERT_EQ(fresh.Login("ivan", one_time).status, 200);
  EXPECT_EQ(fresh.Get("/api/v1/cases").json["error"], "password_change_required");
  ASSERT_EQ(fresh.Post("/api/v1/password", {{"current", one_time}, {"new", "ivan's own new phrase"}}).status, 200);

  Reply trail = As("ada").Get("/api/v1/audit?action=account_change&text=password%20reset");
  ASSERT_EQ(trail.json["records"].size(), 1u) << trail.body;
  EXPECT_EQ(trail.json["records"][0]["actor"], "admin");
  EXPECT_EQ(trail.body.find(one_time), std::string::npos) << "the trail never holds the password";
}

// Tokens: the password is asked again, the scope is enforced by route, they
// expire, and a new password revokes them.
TEST_F(Server, ApiTokensHaveAScopeAnExpiryAndDieWithThePassword) {
  Agent ivan = As("ivan");
  EXPECT_EQ(ivan.Post("/api/v1/tokens", {{"name", "no password"}}).status, 400);
  Reply wrong = ivan.Post("/api/v1/tokens", {{"name", "wrong"}, {"password", "not my password"}});
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(wrong.json["error"], "bad_password");
  Reply read = ivan.Post("/api/v1/tokens", {{"name", "reader"}, {"password", kPassword}, {"days", 7}});
  Reply search = ivan.Post("/api/v1/tokens", {{"name", "searcher"}, {"password", kPassword}, {"scope", "search"}});
  ASSERT_EQ(read.status, 201) << read.body;
  ASSERT_EQ(search.status, 201) << search.body;
  EXPECT_EQ(read.json["token"]["scope"], "read");
  EXPECT_EQ(search.json["token"]["scope"], "search");
  EXPECT_EQ(ivan.Post("/api/v1/tokens", {{"name", "x"}, {"password", kPassword}, {"scope", "root"}}).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/tokens", {{"name", "x"}, {"password", kPassword}, {"days", 9999}}).status, 400);

  Agent reader(port_), searcher(port_);
  reader.bearer() = read.json["token"]["token"];
  searcher.bearer() = search.json["token"]["token"];
  const nlohmann::json new_case = {{"number", "TOK-1"}, {"purpose", "scope test"}, {"category", "other"}};
  EXPECT_EQ(reader.Get("/api/v1/cases").status, 200);
  Reply refused = reader.Post("/api/v1/cases", new_case);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.json["error"], "token_scope");
  EXPECT_EQ(searcher.Post("/api/v1/cases", new_case).status, 201);
  EXPECT_EQ(searcher.Post("/api/v1/tokens", {{"name", "more"}, {"password", kPassword}}).status, 403)
      << "a search token cannot make tokens";

  now_ += 7 * kSecondsPerDay;
  EXPECT_EQ(reader.Get("/api/v1/cases").status, 401) << "expired";
  Agent again = As("ivan");
  ASSERT_EQ(again.Post("/api/v1/password", {{"current", kPassword}, {"new", "a brand new password"}}).status, 200);
  EXPECT_EQ(searcher.Get("/api/v1/cases").status, 401) << "a new password revokes the tokens";
}

// With TOTP on, the authenticator cannot be replaced or removed with only
// the session: the request carries the current code or the password.
TEST_F(Server, TotpChangesNeedTheCodeOrThePassword) {
  Agent ivan = As("ivan");
  Reply begun = ivan.Post("/api/v1/totp/begin", nlohmann::json::object());
  ASSERT_EQ(begun.status, 200) << begun.body;
  std::string uri = begun.json["uri"];
  size_t at = uri.find("secret=") + 7;
  std::vector<uint8_t> secret = *Base32Decode(uri.substr(at, uri.find('&', at) - at));
  ASSERT_EQ(ivan.Post("/api/v1/totp/confirm", {{"code", TotpCode(secret, now_)}}).status, 200);
  EXPECT_EQ(ivan.Post("/api/v1/totp/begin", nlohmann::json::object()).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/totp/disable", nlohmann::json::object()).status, 400);
  EXPECT_EQ(ivan.Post("/api/v1/totp/disable", {{"password", "not my password"}}).status, 400);
  EXPECT_TRUE(ivan.Get("/api/v1/me").json["user"]["totp_enabled"].get<bool>());
  EXPECT_EQ(ivan.Post("/api/v1/totp/disable", {{"password", kPassword}}).status, 200);
  EXPECT_FALSE(ivan.Get("/api/v1/me").json["user"]["totp_enabled"].get<bool>());
  Reply trail = As("ada").Get("/api/v1/audit?action=account_change&text=TOTP%20disabled");
  EXPECT_EQ(trail.json["records"].size(), 1u) << trail.body;
}

TEST_F(Server, RecentSearchesFollowOwnershipAndUnit) {
  Flow f = IvanSearches();
  EXPECT_EQ(As("ivan").Get("/api/v1/searches").json["searches"].size(), 1u);
  EXPECT_EQ(As("iris").Get("/api/v1/searches").json["searches"].size(), 0u);
  Reply sam = As("sam").Get("/api/v1/searches?limit=10");
  ASSERT_EQ(sam.json["searches"].size(), 1u) << sam.body;
  EXPECT_EQ(sam.json["searches"][0]["id"], f.search_id);
  EXPECT_EQ(sam.json["searches"][0]["case_number"], "2026/CID/1");
  EXPECT_EQ(As("sue").Get("/api/v1/searches").json["searches"].size(), 0u) << "another unit";
  EXPECT_EQ(As("ada").Get("/api/v1/searches").json["searches"].size(), 1u);
}

TEST_F(Server, NewInvestigatorsWaitForTheirSupervisor) {
  Agent anon(port_);
  Reply r = anon.Post("/api/v1/register",
                      {{"username", "nina"}, {"password", kPassword}, {"display_name", "Nina"}, {"unit", "CID North"}});
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(anon.Login("nina", kPassword).status, 403);
  int64_t id = 0;
  Reply users = As("admin").Get("/api/v1/users");
  for (const auto& u : users.json["users"]) {
    if (u["username"] != "nina") continue;
    id = u["id"];
    EXPECT_FALSE(u["active"].get<bool>());
  }
  ASSERT_NE(id, 0);
  Agent sue = As("sue");
  EXPECT_EQ(sue.Post("/api/v1/users/" + std::to_string(id) + "/approve", nlohmann::json::object()).status, 404)
      << "another unit's supervisor";
  Agent sam = As("sam");
  Reply pending = sam.Get("/api/v1/approvals");
  ASSERT_EQ(pending.json["users"].size(), 1u) << pending.body;
  EXPECT_EQ(sam.Post("/api/v1/users/" + std::to_string(id) + "/approve", nlohmann::json::object()).status, 200);
  EXPECT_EQ(Agent(port_).Login("nina", kPassword).status, 200);
}

TEST_F(Server, HostileUploadsGetClearErrorsAndStoreNothing) {
  Agent ivan = As("ivan");
  Reply c = ivan.Post("/api/v1/cases", {{"number", "H-1"}, {"purpose", "upload tests"}, {"category", "other"}});
  std::string probes = "/api/v1/cases/" + std::to_string(c.json["case"]["id"].get<int64_t>()) + "/probes";
  Reply text = ivan.Upload(probes, "#!/bin/sh\nrm -rf /\n", "photo.jpg");
  EXPECT_EQ(text.status, 400);
  EXPECT_EQ(text.json["error"], "bad_image");
  std::string jpeg = ReadFileText(testing::DemoPhoto(2));
  EXPECT_EQ(ivan.Upload(probes, jpeg.substr(0, jpeg.size() / 3), "cut.jpg").status, 400) << "truncated";
  EXPECT_EQ(ivan.Upload(probes, "", "empty.jpg").status, 400);
  Reply big = ivan.Upload(probes, std::string(4 << 20, 'x'), "big.jpg");
  EXPECT_EQ(big.status, 413);
  Reply blank = ivan.Upload(probes, std::string("P5\n64 64\n255\n") + std::string(64 * 64, '\x80'), "grey.pgm");
  ASSERT_EQ(blank.status, 201) << blank.body;
  EXPECT_TRUE(blank.json["probe"]["faces"].empty());
  Reply none = ivan.Post("/api/v1/searches", {{"probe_id", blank.json["probe"]["id"]}});
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(none.json["error"], "no_face");
  EXPECT_EQ(ivan.Get("/api/v1/cases/999999999999999999999").status, 404) << "ids too long match no route";
  Reply junk = ivan.Post("/api/v1/searches", nlohmann::json::array({1, 2}));
  EXPECT_EQ(junk.status, 400);
}

TEST_F(Server, ClientErrorsHaveAStableCodeAndNameTheFieldAtFault) {
  Flow f = IvanSearches();
  Agent ivan = As("ivan");
  Reply category = ivan.Post("/api/v1/cases", {{"number", "E-1"}, {"purpose", "error tests"}, {"category", "gossip"}});
  EXPECT_EQ(category.status, 400) << category.body;
  EXPECT_EQ(category.json["error"], "bad_request");
  EXPECT_EQ(category.json["field"], "category");
  EXPECT_NE(category.json["message"].get<std::string>().find("serious_crime"), std::string::npos);
  Reply taken = ivan.Post("/api/v1/cases", {{"number", "2026/CID/1"}, {"purpose", "once more"}, {"category", "other"}});
  EXPECT_EQ(taken.status, 409) << taken.body;
  EXPECT_EQ(taken.json["error"], "conflict");
  EXPECT_EQ(taken.json["field"], "number");
  Reply shown = ivan.Post("/api/v1/searches/" + std::to_string(f.search_id) + "/decisions",
                          {{"face_id", 987654}, {"decision", "inconclusive"}});
  EXPECT_EQ(shown.status, 400) << shown.body;
  EXPECT_EQ(shown.json["field"], "face_id");
  Reply collection = ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"collections", nlohmann::json::array({"no-such-one"})}});
  EXPECT_EQ(collection.status, 400) << collection.body;
  EXPECT_EQ(collection.json["field"], "collections");
  Reply missing = ivan.Post("/api/v1/cases", {{"purpose", "no number"}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.json["field"], "number");
  for (const Reply* r : {&category, &taken, &shown, &collection, &missing}) {
    EXPECT_EQ(r->body.find(data_.string()), std::string::npos) << r->body;
    EXPECT_FALSE(r->json.contains("error_id")) << r->body;
  }
}

// issue 12 #12: a probe photo gone from the disk used to answer 400 with the
// server's path; it is the server's fault, a 500 whose id leads to the log.
TEST_F(Server, AnUnexpectedErrorIsA500WithAnIdThatLeadsToTheLogLine) {
  Flow f = IvanSearches();
  for (const auto& entry : fs::recursive_directory_iterator(data_ / "cases")) {
    if (entry.is_regular_file()) fs::remove(entry.path());
  }
  Agent ivan = As("ivan");
  ivan.extra_headers()["X-Request-Id"] = "search-after-loss";
  Reply search = ivan.Post("/api/v1/searches", {{"probe_id", f.probe_id}, {"top_k", 3}});
  ASSERT_EQ(search.status, 500) << search.body;
  EXPECT_EQ(search.json["error"], "internal");
  const std::string error_id = search.json["error_id"];
  EXPECT_EQ(error_id.size(), 16u);
  EXPECT_NE(search.json["message"].get<std::string>().find("error id " + error_id), std::string::npos);
  EXPECT_EQ(search.body.find(data_.string()), std::string::npos) << search.body;
  EXPECT_EQ(search.body.find("cases/"), std::string::npos) << search.body;
  nlohmann::json line = LogLineOf("search-after-loss");
  EXPECT_EQ(line["status"], 500);
  EXPECT_EQ(line["error_id"], error_id);
  EXPECT_EQ(line["route"], "/api/v1/searches");
  EXPECT_EQ(line["user_id"], UserId("ivan"));
  EXPECT_NE(line["error"].get<std::string>().find("cases/"), std::string::npos) << "the log has the details: " << line;

  ivan.extra_headers()["X-Request-Id"] = "photo-after-loss";
  Reply image = ivan.Get("/api/v1/probes/" + std::to_string(f.probe_id) + "/image");
  EXPECT_EQ(image.status, 500) << image.body;
  EXPECT_EQ(image.body.find(data_.string()), std::string::npos) << image.body;
  EXPECT_EQ(LogLineOf("photo-after-loss")["route"], "/api/v1/probes/{id}/image");
  httplib::Client raw("127.0.0.1", port_);
  auto metrics = raw.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("lineup_http_internal_errors_total 2\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("route=\"/api/v1/searches\",status=\"500\"} 1"), std::string::npos);
}

TEST_F(Server, EveryAnswerHasARequestIdThatTheLogLineAndTheAuditRecordShare) {
  httplib::Client raw("127.0.0.1", port_);
  auto health = raw.Get("/healthz");
  ASSERT_TRUE(health);
  const std::string made = health->get_header_value("X-Request-Id");
  EXPECT_EQ(made.size(), 32u);
  EXPECT_EQ(LogLineOf(made)["route"], "/healthz");
  auto unknown = raw.Get("/api/v1/cases/12/nothing-here?token=secret", {{"X-Request-Id", "x y\"<script>"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  const std::string replaced = unknown->get_header_value("X-Request-Id");
  EXPECT_EQ(replaced.size(), 32u) << "a malformed incoming id is replaced: " << replaced;
  nlohmann::json unmatched = LogLineOf(replaced);
  EXPECT_TRUE(unmatched["route"].is_null()) << unmatched;
  EXPECT_EQ(unmatched.dump().find("secret"), std::string::npos);
  EXPECT_EQ(unmatched.dump().find("nothing-here"), std::string::npos);

  Agent ivan = As("ivan");
  ivan.extra_headers()["X-Request-Id"] = "trace-7.case_open";
  Reply opened = ivan.Post("/api/v1/cases", {{"number", "R-1"}, {"purpose", "request ids"}, {"category", "other"}});
  ASSERT_EQ(opened.status, 201) << opened.body;
  EXPECT_EQ(opened.headers.find("X-Request-Id")->second, "trace-7.case_open");
  const int64_t case_id = opened.json["case"]["id"];
  ivan.extra_headers()["X-Request-Id"] = "trace-8";
  ASSERT_EQ(ivan.Get("/api/v1/cases/" + std::to_string(case_id) + "?purpose=hidden").status, 200);

  nlohmann::json line = LogLineOf("trace-7.case_open");
  EXPECT_EQ(line["method"], "POST");
  EXPECT_EQ(line["route"], "/api/v1/cases");
  EXPECT_EQ(line["status"], 201);
  EXPECT_EQ(line["user_id"], UserId("ivan"));
  EXPECT_EQ(line["client"], "127.0.0.1");
  EXPECT_TRUE(line["duration_ms"].is_number());
  EXPECT_TRUE(line["time"].is_string());
  nlohmann::json read = LogLineOf("trace-8");
  EXPECT_EQ(read["route"], "/api/v1/cases/{id}") << "the template, not the path with the id";
  EXPECT_EQ(read.dump().find("hidden"), std::string::npos) << "no query strings";
  EXPECT_EQ(read.dump().find("request ids"), std::string::npos) << "no bodies";

  nlohmann::json records = AuditRecords("case_create");
  ASSERT_EQ(records.size(), 1u) << records;
  EXPECT_EQ(records[0]["request_id"], "trace-7.case_open");
  Agent ada = As("ada");
  Reply joined = ada.Get("/api/v1/audit?request_id=trace-7.case_open");
  ASSERT_EQ(joined.json["records"].size(), 1u) << joined.body;
  EXPECT_EQ(joined.json["records"][0]["action"], "case_create");
  Reply exported = ada.Get("/api/v1/audit/export?format=jsonl&action=case_create");
  ASSERT_EQ(exported.status, 200);
  EXPECT_NE(exported.body.find("\"request_id\":\"trace-7.case_open\""), std::string::npos) << exported.body;
  EXPECT_TRUE(ada.Get("/api/v1/audit/verify").json["ok"]);
}

// A server with --trusted-proxy on `proxies` and a login limit of `burst`,
// logging to `log`, for the duration of `test`.
void WithServer(Service& service, const std::vector<std::string>& proxies, double burst, const fs::path& log,
                const std::function<void(int port)>& test) {
  HttpServerOptions ho;
  ho.port = 0;
  ho.trusted_proxies = proxies;
  ho.login_burst = burst;
  ho.logins_per_minute = 1;
  ho.log_file = log.string();
  HttpServer server(service, ho);
  int port = server.Bind();
  std::thread serving([&] { server.Run(); });
  test(port);
  server.Stop();
  serving.join();
}

int MetricsStatus(int port, const std::string& forwarded_for) {
  httplib::Client raw("127.0.0.1", port);
  auto r = raw.Get("/metrics", {{"X-Forwarded-For", forwarded_for}});
  return r ? r->status : 0;
}

TEST_F(Server, ForgedForwardedForCannotChooseTheClientAddress) {
  // Without trusted proxies the header is ignored: the loopback client is
  // loopback whatever it claims, and recorded as such.
  EXPECT_EQ(MetricsStatus(port_, "203.0.113.9"), 200);
  Agent claims(port_);
  claims.extra_headers()["X-Forwarded-For"] = "198.51.100.1";
  ASSERT_EQ(claims.Login("ivan", kPassword).status, 200);
  EXPECT_EQ(AuditRecords("login", "ivan").back()["client"], "127.0.0.1");

  // Behind a proxy on loopback: the proxy appends the address it saw; what the
  // client put before it does not count.
  const fs::path log = testing::TempDir("server-proxy-log") / "requests.log";
  WithServer(*service_, {"127.0.0.1/32", "::1"}, 2, log, [&](int port) {
    EXPECT_EQ(MetricsStatus(port, "127.0.0.1, 203.0.113.9"), 403) << "a forged loopback entry on the left";
    EXPECT_EQ(MetricsStatus(port, "127.0.0.1"), 200) << "a client on the proxy's own host";
    std::vector<int> statuses;
    for (int i = 0; i < 3; ++i) {
      Agent a(port);
      a.extra_headers()["X-Forwarded-For"] = "10.0.0." + std::to_string(i) + ", 198.51.100.7";
      a.extra_headers()["X-Request-Id"] = "proxied-login-" + std::to_string(i);
      statuses.push_back(a.Login("ivan", kPassword).status);
    }
    EXPECT_EQ(statuses, (std::vector<int>{200, 200, 429})) << "one client, one login budget";
    EXPECT_EQ(LogLineOf("proxied-login-0", log)["client"], "198.51.100.7");
    Agent junk(port);
    junk.extra_headers()["X-Forwarded-For"] = "\xff\xfe\x01";
    junk.extra_headers()["X-Request-Id"] = "junk";
    junk.Get("/api/v1/me");
    EXPECT_EQ(LogLineOf("junk", log)["client"], "127.0.0.1") << "not an address: the proxy's own";
  });
  nlohmann::json logins = AuditRecords("login", "ivan");
  EXPECT_EQ(logins.back()["client"], "198.51.100.7");
  EXPECT_EQ(logins.back()["request_id"], "proxied-login-1");
}

TEST_F(Server, OpenApiHealthMetricsAndTheWebAppAreServed) {
  httplib::Client raw("127.0.0.1", port_);
  auto health = raw.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto doc = raw.Get("/api/v1/openapi.json");
  ASSERT_TRUE(doc);
  nlohmann::json openapi = nlohmann::json::parse(doc->body);
  EXPECT_EQ(openapi["openapi"], "3.0.3");
  for (const char* path : {"/api/v1/login", "/api/v1/searches", "/api/v1/cases/{id}/probes",
                           "/api/v1/searches/{id}/candidates/{id2}", "/api/v1/audit/export"}) {
    EXPECT_TRUE(openapi["paths"].contains(path)) << path;
  }
  EXPECT_TRUE(openapi["paths"]["/api/v1/users/{id}"].contains("patch"));
  IvanSearches();
  auto metrics = raw.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("lineup_search_duration_seconds_count 1"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("lineup_http_requests_total{method=\"POST\",route=\"/api/v1/searches\",status=\"201\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("lineup_gallery_faces "), std::string::npos);
  auto page = raw.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  auto traversal = raw.Get("/../../etc/passwd");
  ASSERT_TRUE(traversal);
  EXPECT_EQ(traversal->status, 404);
}

TEST_F(Server, ServesHttpsWithSecureCookiesAndHsts) {
  fs::path dir = testing::TempDir("server-tls");
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -keyout '" + key +
                    "' -out '" + cert + "' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
  HttpServerOptions ho;
  ho.port = 0;
  ho.tls_cert = cert;
  ho.tls_key = key;
  HttpServer tls_server(*service_, ho);
  int port = tls_server.Bind();
  std::thread serving([&] { tls_server.Run(); });
  httplib::SSLClient client("127.0.0.1", port);
  client.enable_server_certificate_verification(false);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health) << "no HTTPS answer";
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->get_header_value("Strict-Transport-Security"), "max-age=31536000");
  auto login = client.Post("/api/v1/login", nlohmann::json{{"username", "ivan"}, {"password", kPassword}}.dump(),
                           "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 200);
  EXPECT_NE(login->get_header_value("Set-Cookie").find("; Secure"), std::string::npos);
  EXPECT_NE(login->get_header_value("Set-Cookie").find("HttpOnly"), std::string::npos);
  httplib::Client plain("127.0.0.1", port);
  auto refused = plain.Get("/healthz");
  EXPECT_TRUE(!refused || refused->status != 200) << "plain HTTP on the TLS port must not be served";
  tls_server.Stop();
  serving.join();
  HttpServerOptions bad = ho;
  bad.tls_cert = key;  // not a certificate
  EXPECT_THROW(HttpServer(*service_, bad), Error);
}

}  // namespace
}  // namespace lineup

namespace lineup {
namespace {

// The fixture's accounts, made by the admin through the API, under the
// two-person rule: all wait for a second person.
class ServerTwoPersonRule : public Server {
 protected:
  bool TwoPersonRule() const override { return true; }
  testing::CliRun Users(const std::string& args) { return testing::RunLineup("users " + args + " --data '" + data_.string() + "'"); }
};

TEST_F(ServerTwoPersonRule, AdminsGrantsWaitForASecondPerson) {
  Agent admin = As("admin");
  const Reply users = admin.Get("/api/v1/users");
  for (const auto& u : users.json["users"]) {
    if (u["username"] == "admin") continue;
    EXPECT_FALSE(u["active"].get<bool>()) << u.dump();
    EXPECT_EQ(u["pending_role"], u["role"]) << u.dump();
  }
  Reply inactive = Agent(port_).Login("ivan", kPassword);
  EXPECT_EQ(inactive.status, 403) << "inactive until approved: " << inactive.body;
  // The admin sees nothing to approve: every grant is their own request.
  EXPECT_TRUE(admin.Get("/api/v1/approvals").json["users"].empty());
  const int64_t ivan = UserId("ivan"), ada = UserId("ada");
  Reply own = admin.Post("/api/v1/users/" + std::to_string(ivan) + "/approve", nlohmann::json::object());
  EXPECT_EQ(own.status, 403) << own.body;
  EXPECT_NE(own.json["message"].get<std::string>().find("second person"), std::string::npos) << own.body;
  EXPECT_EQ(admin.Patch("/api/v1/users/" + std::to_string(ivan), {{"active", true}}).status, 403);

  // At the server's machine the operator lists and approves the first supervisor.
  testing::CliRun pending = Users("pending");
  ASSERT_EQ(pending.status, 0) << pending.output();
  for (const char* name : {"ivan", "iris", "sam", "sue", "ada"}) {
    EXPECT_NE(pending.out.find(name), std::string::npos) << pending.out;
  }
  EXPECT_NE(pending.out.find("supervisor (new account)"), std::string::npos) << pending.out;
  testing::CliRun approved = Users("approve sam");
  ASSERT_EQ(approved.status, 0) << approved.output();
  EXPECT_NE(approved.out.find("approved sam"), std::string::npos) << approved.out;
  EXPECT_NE(Users("approve nobody").status, 0);

  // sam approves his unit's investigators, not the auditor.
  Agent supervisor = As("sam");
  std::set<std::string> awaiting;
  const Reply approvals = supervisor.Get("/api/v1/approvals");
  for (const auto& u : approvals.json["users"]) awaiting.insert(u["username"]);
  EXPECT_EQ(awaiting, (std::set<std::string>{"ivan", "iris"}));
  EXPECT_EQ(supervisor.Post("/api/v1/users/" + std::to_string(ivan) + "/approve", nlohmann::json::object()).status, 200);
  // ada (auditor, no unit) is not sam's to approve, nor even to see.
  EXPECT_EQ(supervisor.Post("/api/v1/users/" + std::to_string(ada) + "/approve", nlohmann::json::object()).status, 404);
  Agent investigator = As("ivan");
  EXPECT_EQ(investigator.Get("/api/v1/me").json["user"]["role"], "investigator");

  // A role grant leaves the old role in force until approved.
  Reply grant = admin.Patch("/api/v1/users/" + std::to_string(ivan), {{"role", "auditor"}});
  ASSERT_EQ(grant.status, 200) << grant.body;
  EXPECT_EQ(grant.json["user"]["role"], "investigator");
  EXPECT_EQ(grant.json["user"]["pending_role"], "auditor");
  EXPECT_NE(grant.json["message"].get<std::string>().find("another admin"), std::string::npos) << grant.body;
  EXPECT_EQ(supervisor.Post("/api/v1/users/" + std::to_string(ivan) + "/approve", nlohmann::json::object()).status, 403);
  ASSERT_EQ(Users("approve ivan").status, 0);
  EXPECT_EQ(As("ivan").Get("/api/v1/me").json["user"]["role"], "auditor");

  // Every step is in the trail, as the auditor (approved at the machine) reads it.
  ASSERT_EQ(Users("approve ada").status, 0);
  std::vector<std::string> events;
  for (const auto& r : AuditRecords("account_change")) events.push_back(r["details"]["event"]);
  for (const char* e : {"user created, awaiting a second person's approval", "account approved", "role grant approved"}) {
    EXPECT_NE(std::find(events.begin(), events.end(), e), events.end()) << e;
  }
}

}  // namespace
}  // namespace lineup
