#include "server/http_server.h"

#include <httplib.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <regex>
#include <unordered_map>

#include "common/error.h"
#include "common/file_util.h"
#include "governance/audit_checkpoints.h"
#include "server/connection_guard.h"
#include "server/metrics.h"
#include "server/request_body.h"
#include "server/request_log.h"
#include "server/trusted_proxies.h"
#include "server/web_assets.h"

namespace lineup {

namespace {

constexpr char kSessionCookie[] = "lineup_session";
constexpr char kRequestIdHeader[] = "X-Request-Id";

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// What a handler returns: JSON (the default), a file, or text.
struct Reply {
  int status = 200;
  nlohmann::json json;
  std::optional<FileReply> file;
  std::string text;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct RouteContext {
  const httplib::Request& req;
  Caller caller;
  std::string session_token;  // "" when authenticated by a bearer token
  std::string csrf_token;     // the session's, "" for bearer tokens
  std::vector<int64_t> ids;   // the {id} path parameters, in order
  nlohmann::json body;        // parsed JSON body (object) for JSON routes
};

enum class Access { kPublic, kUser };
enum class Body { kNone, kJson, kMultipart };

struct Route {
  std::string method;
  std::string path;  // OpenAPI style: "/api/v1/cases/{id}"
  std::string summary;
  std::string who;   // roles, for the document
  Access access;
  Body body;
  std::function<Reply(Service&, RouteContext&)> handle;
};

Reply Json(nlohmann::json j, int status = 200) {
  Reply r;
  r.status = status;
  r.json = std::move(j);
  return r;
}

// 429 with the limiter's wait, whole seconds rounded up (Retry-After and the body's retry_after).
ApiError RateLimited(const std::string& what, double wait_seconds) {
  int64_t seconds = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_seconds)));
  return ApiError(429, "rate_limited", what + "; retry in " + std::to_string(seconds) + " s",
                  {{"retry_after", seconds}});
}

// The day a query parameter names (00:00 UTC), nullopt when it is absent.
std::optional<int64_t> DayParam(const httplib::Request& req, const char* name) {
  std::string text = req.get_param_value(name);
  if (text.empty()) return std::nullopt;
  std::optional<int64_t> day = ParseIsoDay(text);
  if (!day) throw ApiError(400, "bad_request", std::string(name) + ": a date as YYYY-MM-DD");
  return day;
}

AuditFilter FilterFromQuery(const httplib::Request& req) {
  AuditFilter f;
  f.actor = req.get_param_value("user");
  f.case_number = req.get_param_value("case");
  f.action = req.get_param_value("action");
  f.text = req.get_param_value("text");
  f.request_id = req.get_param_value("request_id");
  f.since = DayParam(req, "since").value_or(0);
  std::optional<int64_t> until = DayParam(req, "until");
  f.until = until ? *until + kSecondsPerDay : 0;  // the whole day named
  try {
    if (req.has_param("after")) f.after_seq = std::stoll(req.get_param_value("after"));
    if (req.has_param("limit")) f.limit = std::clamp<int64_t>(std::stoll(req.get_param_value("limit")), 1, 1000);
  } catch (const std::exception&) {
    throw ApiError(400, "bad_request", "after and limit are numbers");
  }
  return f;
}

// anchor=SEQ:HASH, repeatable (or several in one, comma-separated).
std::vector<AuditAnchor> AnchorsFromQuery(const httplib::Request& req) {
  constexpr size_t kMaxAnchors = 100;
  std::vector<AuditAnchor> anchors;
  const size_t n = req.get_param_value_count("anchor");
  for (size_t i = 0; i < n; ++i) {
    const std::string value = req.get_param_value("anchor", i);
    size_t at = 0;
    while (at <= value.size()) {
      size_t comma = value.find(',', at);
      if (comma == std::string::npos) comma = value.size();
      std::string one = value.substr(at, comma - at);
      at = comma + 1;
      if (one.empty()) continue;
      if (anchors.size() == kMaxAnchors) throw InvalidArgument("anchor", "anchor: at most 100 anchors per request");
      anchors.push_back(ParseAuditAnchor(one, "anchor"));
    }
  }
  return anchors;
}

std::string SessionCookie(const std::string& value, int64_t max_age, bool secure) {
  return std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
         std::to_string(max_age) + (secure ? "; Secure" : "");
}

std::function<Reply(Service&, RouteContext&)> FaceMediaHandler(bool full_image) {
  return [full_image](Service& s, RouteContext& c) {
    Reply r;
    r.file = s.FaceMedia(c.caller, c.ids[0], full_image);
    return r;
  };
}

// The routes, in dispatch order. Handlers translate HTTP to Service calls.
const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      {"POST", "/api/v1/login", "Log in; sets the session cookie and returns the CSRF token", "anyone",
       Access::kPublic, Body::kJson,
       [](Service&, RouteContext&) -> Reply { return {}; }},  // handled by Impl::Login (cookies)
      {"POST", "/api/v1/logout", "End the session", "any user", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) {
         s.Logout(c.caller, c.session_token);
         Reply r = Json({{"logged_out", true}});
         r.headers.push_back({"Set-Cookie", SessionCookie("", 0, false)});
         return r;
       }},
      {"GET", "/api/v1/me", "The logged-in user, the deployment's settings shown to users and the CSRF token", "any user", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) {
         nlohmann::json me = s.Me(c.caller);
         if (!c.csrf_token.empty()) me["csrf_token"] = c.csrf_token;
         return Json(me);
       }},
      {"POST", "/api/v1/register",
       "Request an investigator account (inactive until approved); the same answer whether or not the name is free",
       "anyone", Access::kPublic, Body::kJson,
       [](Service& s, RouteContext& c) { return Json(s.Register(c.body, c.caller), 202); }},
      {"GET", "/api/v1/users", "List users", "admin", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.ListUsers(c.caller)); }},
      {"POST", "/api/v1/users", "Create a user: active, or pending a second person under the two-person rule", "admin", Access::kUser, Body::kJson,
       [](Service& s, RouteContext& c) { return Json(s.CreateUser(c.caller, c.body), 201); }},
      {"PATCH", "/api/v1/users/{id}", "Change a user's role, activation or unit", "admin", Access::kUser, Body::kJson,
       [](Service& s, RouteContext& c) { return Json(s.UpdateUser(c.caller, c.ids[0], c.body)); }},
      {"POST", "/api/v1/users/{id}/unlock", "Clear a user's login lock-out (every address); audited", "admin",
       Access::kUser, Body::kNone, [](Service& s, RouteContext& c) { return Json(s.UnlockUser(c.caller, c.ids[0])); }},
      {"POST", "/api/v1/users/{id}/password-reset",
       "Give another user a new one-time password (shown once; changed at their next sign-in; sessions and "
       "tokens end); audited", "admin", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.ResetUserPassword(c.caller, c.ids[0])); }},
      {"GET", "/api/v1/approvals", "Accounts awaiting approval", "supervisor (own unit), admin", Access::kUser,
       Body::kNone, [](Service& s, RouteContext& c) { return Json(s.PendingApprovals(c.caller)); }},
      {"POST", "/api/v1/users/{id}/approve", "Approve a pending account or role grant (two-person rule: never one's own request)", "supervisor (same unit), admin",
       Access::kUser, Body::kNone, [](Service& s, RouteContext& c) { return Json(s.Approve(c.caller, c.ids[0])); }},
      {"POST", "/api/v1/users/{id}/reject",
       "Refuse a pending account (deleted) or role grant (withdrawn; the role in force stays); never one's own",
       "supervisor (same unit), admin", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.Reject(c.caller, c.ids[0])); }},
      {"POST", "/api/v1/tokens",
       "Create an API token ({name, scope: read|search|admin, days, password, code}; value shown once)", "any user",
       Access::kUser, Body::kJson,
       [](Service& s, RouteContext& c) { return Json(s.CreateToken(c.caller, c.body), 201); }},
      {"GET", "/api/v1/tokens", "Own API tokens, without values", "any user", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.ListTokens(c.caller)); }},
      {"DELETE", "/api/v1/tokens/{id}", "Revoke an own API token", "owner", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.RevokeToken(c.caller, c.ids[0])); }},
      {"POST", "/api/v1/password", "Change the own password ({current, new}); ends the sessions: log in again",
       "any user", Access::kUser, Body::kJson,
       [](Service& s, RouteContext& c) {
         Reply r = Json(s.ChangePassword(c.caller, c.body));
         r.headers.push_back({"Set-Cookie", SessionCookie("", 0, false)});
         return r;
       }},
      {"POST", "/api/v1/totp/begin",
       "Start TOTP enrolment: otpauth URI (replacing an enabled one needs {password} or {code})", "any user",
       Access::kUser, Body::kJson, [](Service& s, RouteContext& c) { return Json(s.BeginTotp(c.caller, c.body)); }},
      {"POST", "/api/v1/totp/confirm", "Enable TOTP with a code from the authenticator", "any user", Access::kUser,
       Body::kJson, [](Service& s, RouteContext& c) { return Json(s.ConfirmTotp(c.caller, c.body)); }},
      {"POST", "/api/v1/totp/disable", "Turn TOTP off ({password} or {code}); audited", "any user", Access::kUser,
       Body::kJson, [](Service& s, RouteContext& c) { return Json(s.DisableTotp(c.caller, c.body)); }},
      {"POST", "/api/v1/cases", "Open a case (number, purpose, category)", "investigator", Access::kUser, Body::kJson,
       [](Service& s, RouteContext& c) { return Json(s.CreateCase(c.caller, c.body), 201); }},
      {"GET", "/api/v1/cases", "Cases the caller may read", "investigator (own), supervisor (unit), auditor",
       Access::kUser, Body::kNone, [](Service& s, RouteContext& c) { return Json(s.ListCases(c.caller)); }},
      {"GET", "/api/v1/cases/{id}", "A case with its probes and searches",
       "investigator (own), supervisor (unit), auditor", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.GetCase(c.caller, c.ids[0])); }},
      {"DELETE", "/api/v1/cases/{id}", "Delete a case with its probe photos, searches and decisions (audited)",
       "case owner, supervisor (unit)", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.DeleteCase(c.caller, c.ids[0])); }},
      {"POST", "/api/v1/cases/{id}/probes", "Upload a probe photo (multipart field \"photo\"); detects faces",
       "case owner", Access::kUser, Body::kMultipart,
       [](Service& s, RouteContext& c) {
         PhotoPart f = PhotoField(c.req);
         return Json(s.AddProbe(c.caller, c.ids[0], f.content, f.filename), 201);
       }},
      {"GET", "/api/v1/probes/{id}/image", "The stored probe photo", "case owner, supervisor (unit), auditor",
       Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) {
         Reply r;
         r.file = s.ProbeImage(c.caller, c.ids[0]);
         return r;
       }},
      {"POST", "/api/v1/searches", "Search the gallery with a face of a probe", "case owner", Access::kUser,
       Body::kJson, [](Service& s, RouteContext& c) { return Json(s.Search(c.caller, c.body), 201); }},
      {"GET", "/api/v1/searches", "The newest searches the caller may read (limit, default 100)",
       "investigator (own), supervisor (unit), auditor", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) {
         int64_t limit = 100;
         try {
           if (c.req.has_param("limit")) limit = std::stoll(c.req.get_param_value("limit"));
         } catch (const std::exception&) {
           throw ApiError(400, "bad_request", "limit is a number");
         }
         return Json(s.RecentSearches(c.caller, limit));
       }},
      {"GET", "/api/v1/searches/{id}", "A search with its candidates and decisions",
       "case owner, supervisor (unit), auditor", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.GetSearch(c.caller, c.ids[0])); }},
      {"GET", "/api/v1/searches/{id}/candidates/{id}", "One candidate with full provenance (audited)",
       "case owner, supervisor (unit), auditor", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.GetCandidate(c.caller, c.ids[0], c.ids[1])); }},
      {"POST", "/api/v1/searches/{id}/decisions", "Record a decision on a candidate", "case owner", Access::kUser,
       Body::kJson, [](Service& s, RouteContext& c) { return Json(s.RecordDecision(c.caller, c.ids[0], c.body), 201); }},
      {"GET", "/api/v1/faces/{id}/crop", "Face crop of a candidate", "users who can see a search that showed it",
       Access::kUser, Body::kNone,
       FaceMediaHandler(false)},
      {"GET", "/api/v1/faces/{id}/image", "Full gallery image of a candidate",
       "users who can see a search that showed it", Access::kUser, Body::kNone,
       FaceMediaHandler(true)},
      {"GET", "/api/v1/collections", "Gallery collections with counts and legal basis",
       "admin, investigator, supervisor", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.Collections(c.caller)); }},
      {"GET", "/api/v1/jobs", "Ingest jobs with counters", "admin", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) { return Json(s.Jobs(c.caller)); }},
      {"GET", "/api/v1/optouts", "Opt-out requests with what each removed (no descriptors)", "admin", Access::kUser,
       Body::kNone, [](Service& s, RouteContext& c) { return Json(s.ListOptOuts(c.caller)); }},
      {"POST", "/api/v1/optouts",
       "Opt-out by face (multipart: photo, request_id, note, face): blocklists the face at once (202 with the "
       "entry and a job) and removes matching gallery faces in the background; the photo is not kept; audited",
       "admin", Access::kUser, Body::kMultipart,
       [](Service& s, RouteContext& c) {
         PhotoPart f = PhotoField(c.req);
         std::optional<size_t> face = FaceNumberPart(c.req);
         return Json(s.AddOptOut(c.caller, f.content, f.filename, TextPart(c.req, "request_id"),
                                 TextPart(c.req, "note"), face), 202);
       }},
      {"GET", "/api/v1/jobs/{id}", "A background job of this server (an opt-out's removal): state and progress",
       "admin", Access::kUser, Body::kNone, [](Service& s, RouteContext& c) { return Json(s.GetJob(c.caller, c.ids[0])); }},
      {"POST", "/api/v1/optouts/{id}/withdraw", "Withdraw an opt-out ({reason}); audited", "admin", Access::kUser,
       Body::kJson, [](Service& s, RouteContext& c) { return Json(s.WithdrawOptOut(c.caller, c.ids[0], c.body)); }},
      {"GET", "/api/v1/audit", "Audit records (filters: user, case, action, text, since, until, after, limit)", "auditor",
       Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) {
         s.RequireRole(c.caller, {Role::kAuditor});  // before the query is read: 403 beats 400
         return Json(s.AuditQuery(c.caller, FilterFromQuery(c.req)));
       }},
      {"GET", "/api/v1/audit/verify",
       "Verify the audit trail: the hash chain, anchors you kept (anchor=SEQ:HASH, repeatable), the signed "
       "checkpoints and the decisions against the trail; audited",
       "auditor", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) {
         s.RequireRole(c.caller, {Role::kAuditor});
         return Json(s.AuditVerify(c.caller, AnchorsFromQuery(c.req)));
       }},
      {"GET", "/api/v1/report", "Oversight report of a period (since, until: YYYY-MM-DD; format=html|csv); audited",
       "auditor", Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) {
         s.RequireRole(c.caller, {Role::kAuditor});
         std::string format = c.req.has_param("format") ? c.req.get_param_value("format") : "html";
         FileText report =
             s.OversightReportFile(c.caller, DayParam(c.req, "since"), DayParam(c.req, "until"), format);
         Reply r;
         r.text = std::move(report.text);
         r.content_type = report.content_type;
         // The page is self-contained: its own inline CSS, inline SVG, no scripts.
         if (format == "html") {
           r.headers.push_back({"Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"});
         } else {
           r.headers.push_back({"Content-Disposition", "attachment; filename=\"lineup-oversight.csv\""});
         }
         return r;
       }},
      {"GET", "/api/v1/audit/export", "Export audit records (format=csv|jsonl, same filters); audited", "auditor",
       Access::kUser, Body::kNone,
       [](Service& s, RouteContext& c) {
         s.RequireRole(c.caller, {Role::kAuditor});
         std::string format = c.req.has_param("format") ? c.req.get_param_value("format") : "csv";
         Reply r;
         r.text = s.AuditExport(c.caller, format, FilterFromQuery(c.req));
         r.content_type = format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
         r.headers.push_back({"Content-Disposition", "attachment; filename=\"lineup-audit." + format + "\""});
         return r;
       }},
  };
  return kRoutes;
}

// "/api/v1/cases/{id}" -> "/api/v1/cases/(\d{1,18})"
std::string PatternOf(const std::string& path) {
  return std::regex_replace(path, std::regex(R"(\{id\})"), R"((\d{1,18}))");
}

void SetSecurityHeaders(httplib::Response& res, bool tls) {
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Permissions-Policy", "camera=(self), microphone=(), geolocation=()");
  if (!res.has_header("Content-Security-Policy")) {
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
                   "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  }
  if (tls) res.set_header("Strict-Transport-Security", "max-age=31536000");
}

void SendError(httplib::Response& res, int status, const std::string& code, const std::string& message,
               const nlohmann::json& details = nullptr) {
  res.status = status;
  nlohmann::json body{{"error", code}, {"message", message}};
  if (details.is_object()) body.update(details);
  // A message may quote the client's bytes (a case number), which need not be UTF-8.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

// The status and stable code of an Error of a client kind (common/error.h).
std::pair<int, const char*> StatusOf(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return {400, "bad_request"};
    case ErrorKind::kNotFound:
      return {404, "not_found"};
    case ErrorKind::kConflict:
      return {409, "conflict"};
    case ErrorKind::kPermissionDenied:
      return {403, "forbidden"};
    case ErrorKind::kUnavailable:
      return {503, "unavailable"};
    case ErrorKind::kInternal:
      break;
  }
  return {500, "internal"};
}

// A client error's own message: its thrower wrote it for the caller.
void SendClientError(httplib::Response& res, const Error& e) {
  const auto [status, code] = StatusOf(e.kind());
  nlohmann::json details = nullptr;
  if (!e.field().empty()) details = {{"field", e.field()}};
  SendError(res, status, code, e.what(), details);
}

// Every X-Forwarded-For header's value, in order, joined by commas.
std::string ForwardedFor(const httplib::Request& req) {
  std::string joined;
  const size_t n = req.get_header_value_count("X-Forwarded-For");
  for (size_t i = 0; i < n; ++i) joined += (i ? "," : "") + req.get_header_value("X-Forwarded-For", i);
  return joined;
}

// What the request log needs of a request between its routing and its log
// line: when it began, its route template and user, and an internal error.
struct RequestNote {
  double start = -1;  // monotonic seconds; -1 when refused before routing
  std::string route;
  int64_t user_id = 0;
  std::string error_id, error;
};

// The notes of the requests being answered, keyed by their Response (one per
// request, alive from routing until the logger has run). Thread-safe.
class InFlightRequests {
 public:
  void Begin(const httplib::Response& res, double start) {
    std::lock_guard lock(mu_);
    if (notes_.size() >= kMaxNotes) DropOlderThan(start - kStaleSeconds);
    notes_[&res] = RequestNote{start, "", 0, "", ""};
  }
  void Note(const httplib::Response& res, const std::string& route, int64_t user_id) {
    std::lock_guard lock(mu_);
    RequestNote& n = notes_[&res];
    n.route = route;
    n.user_id = user_id;
  }
  void NoteError(const httplib::Response& res, const std::string& error_id, const std::string& error) {
    std::lock_guard lock(mu_);
    RequestNote& n = notes_[&res];
    n.error_id = error_id;
    n.error = error;
  }
  RequestNote End(const httplib::Response& res) {
    std::lock_guard lock(mu_);
    auto it = notes_.find(&res);
    if (it == notes_.end()) return {};
    RequestNote n = std::move(it->second);
    notes_.erase(it);
    return n;
  }

 private:
  // A note whose request never reached the logger (none is known to) must
  // not stay forever.
  static constexpr size_t kMaxNotes = 10000;
  static constexpr double kStaleSeconds = 3600;
  void DropOlderThan(double start) {
    for (auto it = notes_.begin(); it != notes_.end();) {
      it = it->second.start < start ? notes_.erase(it) : std::next(it);
    }
  }
  std::mutex mu_;
  std::unordered_map<const httplib::Response*, RequestNote> notes_;
};

std::string CookieValue(const httplib::Request& req, const std::string& name) {
  std::string cookies = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < cookies.size()) {
    size_t end = cookies.find(';', pos);
    if (end == std::string::npos) end = cookies.size();
    std::string pair = cookies.substr(pos, end - pos);
    size_t start = pair.find_first_not_of(' ');
    if (start != std::string::npos) pair = pair.substr(start);
    if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

// The token of an "Authorization: Bearer <token>" header, if there is one.
std::optional<std::string> BearerToken(const httplib::Request& req) {
  std::string authorization = req.get_header_value("Authorization");
  if (authorization.rfind("Bearer ", 0) != 0) return std::nullopt;
  return authorization.substr(7);
}

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(Service& service, HttpServerOptions options) : service_(service), options_(std::move(options)),
        proxies_(options_.trusted_proxies), log_(options_.log_file),
        requests_(options_.requests_per_minute, options_.request_burst),
        logins_(options_.logins_per_minute, options_.login_burst) {
    tls_ = !options_.tls_cert.empty() && !options_.tls_key.empty();
    if (tls_) {
      server_ = std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
      if (!server_->is_valid()) throw Error("TLS: cannot load the certificate or key (" + options_.tls_cert + ")");
    } else {
      ConnectionLimits limits;
      limits.header_timeout_seconds = options_.header_timeout_seconds;
      limits.max_connections_per_address = options_.max_connections_per_address;
      auto guarded = std::make_unique<GuardedServer>(limits);
      guard_ = guarded.get();
      server_ = std::move(guarded);
    }
    const size_t threads = static_cast<size_t>(WorkerThreadsFor(options_.threads));
    server_->new_task_queue = [threads] { return new ElasticThreadPool(threads); };
    Configure();
  }

  int Bind() {
    if (options_.port == 0) {
      port_ = server_->bind_to_any_port(options_.host);
    } else {
      port_ = server_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
    }
    if (port_ < 0) {
      throw Error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                  " (in use? try --listen HOST:PORT)");
    }
    return port_;
  }
  void Run() { server_->listen_after_bind(); }
  void Stop() { server_->stop(); }

 private:
  void Configure() {
    server_->set_payload_max_length(static_cast<size_t>(service_.options().max_upload_bytes) + (1 << 20));
    server_->set_read_timeout(options_.timeout_seconds);
    server_->set_write_timeout(options_.timeout_seconds);
    server_->set_keep_alive_timeout(5);
    for (const Route& route : Routes()) Register(route);
    server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      in_flight_.Note(res, "/healthz", 0);
      res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    server_->Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      in_flight_.Note(res, "/metrics", 0);
      ServeMetrics(req, res);
    });
    server_->Get("/api/v1/openapi.json", [this](const httplib::Request&, httplib::Response& res) {
      in_flight_.Note(res, "/api/v1/openapi.json", 0);
      res.set_content(OpenApi().dump(2), "application/json");
    });
    server_->Get(R"(/[A-Za-z0-9_./\-]*)", [this](const httplib::Request& req, httplib::Response& res) {
      // The web app's files are a fixed set: their paths are templates; any other path is not logged.
      if (ServeAsset(req.path, res)) in_flight_.Note(res, req.path, 0);
    });
    server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      BeginRequest(req, res);
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_->set_logger([this](const httplib::Request& req, const httplib::Response& res) { LogRequest(req, res); });
    server_->set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // Refused before routing (a malformed request line, ...): still an id.
      if (!res.has_header(kRequestIdHeader)) res.set_header(kRequestIdHeader, NewRequestId());
      SetSecurityHeaders(res, tls_);
      if (req.path.rfind("/api/", 0) == 0) res.set_header("Cache-Control", "no-store");
    });
    server_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      // httplib fails a body cut off by the guard's budget with 400.
      if (guard_ && guard_->BodyOverBudget(req)) res.status = 413;
      if (!res.body.empty()) return;
      if (res.status == 413) return SendError(res, 413, "too_large", "the request is too large");
      if (res.status == 404) return SendError(res, 404, "not_found", "no such page or endpoint");
      SendError(res, res.status, "error", "the request could not be handled");
    });
    // Exceptions of the handlers outside Dispatch (metrics, assets).
    server_->set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        SendInternalError(res, x.what());
      } catch (...) {
        SendInternalError(res, "an exception that is not a std::exception");
      }
    });
  }

  // Before routing: the request id (the client's if well-formed) on the
  // answer, and the request's start for the log.
  void BeginRequest(const httplib::Request& req, httplib::Response& res) {
    const std::string incoming = req.get_header_value(kRequestIdHeader);
    res.set_header(kRequestIdHeader, IsWellFormedRequestId(incoming) ? incoming : NewRequestId());
    in_flight_.Begin(res, MonotonicSeconds());
  }

  // After the answer is sent: its log line.
  void LogRequest(const httplib::Request& req, const httplib::Response& res) {
    const RequestNote note = in_flight_.End(res);
    RequestLogEntry e;
    e.unix_ms = UnixMillisNow();
    e.request_id = res.get_header_value(kRequestIdHeader);
    e.method = req.method;
    e.route = note.route;
    e.status = res.status;
    e.duration_seconds = note.start < 0 ? -1 : MonotonicSeconds() - note.start;
    e.user_id = note.user_id;
    e.client = ClientAddress(req);
    e.error_id = note.error_id;
    e.error = note.error;
    log_.Write(e);
  }

  // 500 with a fresh error id; `what` goes to the request log under that id.
  void SendInternalError(httplib::Response& res, const std::string& what) {
    const std::string error_id = NewErrorId();
    in_flight_.NoteError(res, error_id, what);
    metrics_.ObserveInternalError();
    SendError(res, 500, "internal",
              "internal error; the administrator can find the details in the server log under error id " + error_id,
              {{"error_id", error_id}});
  }

  void Register(const Route& route) {
    auto handler = [this, &route](const httplib::Request& req, httplib::Response& res) { Dispatch(route, req, res); };
    std::string pattern = PatternOf(route.path);
    if (route.method == "GET") server_->Get(pattern, handler);
    if (route.method == "POST") server_->Post(pattern, handler);
    if (route.method == "PATCH") server_->Patch(pattern, handler);
    if (route.method == "DELETE") server_->Delete(pattern, handler);
  }

  // The address rate limits, lockout, the audit trail and /metrics see.
  std::string ClientAddress(const httplib::Request& req) const {
    if (proxies_.empty()) return req.remote_addr;
    return proxies_.ClientAddress(req.remote_addr, ForwardedFor(req));
  }

  void Dispatch(const Route& route, const httplib::Request& req, httplib::Response& res) {
    double start = MonotonicSeconds();
    RouteContext context{req, Caller{}, "", "", {}, nlohmann::json::object()};
    context.caller.client = ClientAddress(req);
    context.caller.request_id = res.get_header_value(kRequestIdHeader);
    try {
      for (size_t i = 1; i < req.matches.size(); ++i) context.ids.push_back(std::stoll(req.matches[i].str()));
      if (route.path == "/api/v1/login") {
        Login(req, res, context.caller);
      } else {
        Authenticate(route, req, context);
        RequireFreshPassword(route, context.caller);
        ParseBody(route, req, context);
        Send(route.handle(service_, context), res);
      }
    } catch (const ApiError& e) {
      SendError(res, e.status(), e.code(), e.what(), e.details());
      if (e.status() == 429) res.set_header("Retry-After", std::to_string(e.details().value("retry_after", 60)));
    } catch (const Error& e) {
      if (e.is_client_error()) {
        SendClientError(res, e);
      } else {
        SendInternalError(res, e.what());
      }
    } catch (const std::exception& e) {
      SendInternalError(res, e.what());
    }
    in_flight_.Note(res, route.path, context.caller.user.id);
    double seconds = MonotonicSeconds() - start;
    metrics_.ObserveRequest(route.method, route.path, res.status, seconds);
    if (route.path == "/api/v1/searches" && res.status == 201) metrics_.ObserveSearch(seconds);
  }

  void Authenticate(const Route& route, const httplib::Request& req, RouteContext& c) {
    if (std::optional<std::string> bearer = BearerToken(req)) {
      std::optional<TokenUse> use = service_.accounts().UseApiToken(*bearer);
      if (!use) {
        throw ApiError(401, "unauthenticated", "the API token is not valid (revoked, expired, or the account inactive)");
      }
      c.caller.user = use->user;
      c.caller.via_token = true;
      c.caller.token_scope = use->scope;
      if (!TokenScopeAllows(use->scope, route.method, route.path)) {
        throw ApiError(403, "token_scope", "this API token's scope (" + ToString(use->scope) + ") does not allow this");
      }
    } else if (std::string token = CookieValue(req, kSessionCookie); !token.empty()) {
      auto session = service_.accounts().ValidateSession(token);
      if (!session) throw ApiError(401, "unauthenticated", "your session has ended; log in again");
      c.caller.user = session->second;
      c.session_token = token;
      bool changes_state = req.method != "GET" && req.method != "HEAD";
      if (changes_state && !SameSecret(req.get_header_value("X-CSRF-Token"), session->first.csrf_token)) {
        throw ApiError(403, "csrf", "missing or wrong X-CSRF-Token header (reload the page)");
      }
      c.csrf_token = session->first.csrf_token;
    } else if (route.access == Access::kUser) {
      throw ApiError(401, "unauthenticated", "log in first");
    }
    std::string key = c.caller.user.id ? "user:" + std::to_string(c.caller.user.id) : "addr:" + c.caller.client;
    if (double wait = requests_.Take(key, MonotonicSeconds()); wait > 0) {
      throw RateLimited("too many requests; slow down", wait);
    }
  }

  // An account whose password someone else chose (the first admin's) may
  // only look at itself, change the password, or log out.
  static void RequireFreshPassword(const Route& route, const Caller& caller) {
    if (!caller.user.must_change_password) return;
    if (route.path == "/api/v1/me" || route.path == "/api/v1/password" || route.path == "/api/v1/logout") return;
    throw ApiError(403, "password_change_required", "choose your own password first (it was set by someone else)");
  }

  void ParseBody(const Route& route, const httplib::Request& req, RouteContext& c) {
    if (route.body == Body::kMultipart) {
      if (!req.is_multipart_form_data()) throw ApiError(400, "bad_request", "send multipart/form-data");
      return;
    }
    if (route.body != Body::kJson) return;
    std::string type = req.get_header_value("Content-Type");
    if (type.rfind("application/json", 0) != 0) throw ApiError(400, "bad_request", "send the body as application/json");
    std::optional<nlohmann::json> body = JsonObjectBody(type, req.body);
    if (!body) throw ApiError(400, "bad_request", "the body is not a JSON object");
    c.body = std::move(*body);
  }

  // `caller`: the client address and request id; gets the user on success.
  void Login(const httplib::Request& req, httplib::Response& res, Caller& caller) {
    if (double wait = logins_.Take("login:" + caller.client, MonotonicSeconds()); wait > 0) {
      throw RateLimited("too many login attempts from this address", wait);
    }
    std::optional<nlohmann::json> body = JsonObjectBody(req.get_header_value("Content-Type"), req.body);
    if (!body) throw ApiError(400, "bad_request", "send {\"username\", \"password\"} as application/json");
    LoginResult r = service_.Login(*body, caller);
    switch (r.status) {
      case LoginStatus::kOk: {
        caller.user = *r.user;
        const Session& s = *r.session;
        res.set_header("Set-Cookie", SessionCookie(s.token, service_.accounts().policy().session_max_seconds,
                                                   tls_ || options_.secure_cookies));
        nlohmann::json out = service_.Me(caller);
        out["csrf_token"] = s.csrf_token;
        res.status = 200;
        res.set_content(out.dump(), "application/json");
        return;
      }
      case LoginStatus::kLocked:
        res.set_header("Retry-After", std::to_string(r.retry_after_seconds));
        throw ApiError(423, "locked", "too many failed logins; try again in " +
                                          std::to_string((r.retry_after_seconds + 59) / 60) + " minute(s)");
      case LoginStatus::kInactive:
        throw ApiError(403, "inactive", "this account is not active (awaiting a supervisor's approval?)");
      case LoginStatus::kTotpRequired:
        throw ApiError(401, "totp_required", "enter the code from your authenticator app");
      case LoginStatus::kBadTotp:
        throw ApiError(401, "bad_totp", "the authenticator code is wrong or already used");
      case LoginStatus::kBadCredentials:
        break;
    }
    throw ApiError(401, "bad_credentials", "wrong username or password");
  }

  void Send(const Reply& r, httplib::Response& res) {
    res.status = r.status;
    for (const auto& [name, value] : r.headers) res.set_header(name, value);
    if (r.file) {
      std::string bytes = ReadFileText(r.file->path);
      res.set_content(bytes, r.file->content_type);
      res.set_header("Cache-Control", "private, no-store");
      return;
    }
    if (!r.content_type.empty()) {
      res.set_content(r.text, r.content_type);
      return;
    }
    // Bytes that are not UTF-8 (stored before they were refused) show as U+FFFD, never as a 500.
    res.set_content(r.json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
  }

  void ServeMetrics(const httplib::Request& req, httplib::Response& res) {
    // The client's address as the rest of the server sees it: behind a
    // trusted proxy on this host every request comes from loopback.
    const std::string client = ClientAddress(req);
    bool loopback = client == "127.0.0.1" || client == "::1";
    if (!loopback) {
      std::optional<std::string> bearer = BearerToken(req);
      std::optional<User> u = bearer ? service_.accounts().ValidateApiToken(*bearer) : std::nullopt;
      if (!u || (u->role != Role::kAdmin && u->role != Role::kAuditor)) {
        return SendError(res, 403, "forbidden", "metrics: from loopback, or with an admin/auditor API token");
      }
    }
    res.set_content(metrics_.Render(service_.GalleryFaces()), "text/plain; version=0.0.4");
  }

  // Whether `path` is one of the web app's files (else 404).
  static bool ServeAsset(const std::string& path, httplib::Response& res) {
    std::string wanted = path == "/" ? "/index.html" : path;
    for (const WebAsset& a : WebAssets()) {
      if (a.path != wanted) continue;
      static const std::vector<std::pair<std::string, std::string>> kTypes = {
          {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
          {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
          {".svg", "image/svg+xml"}, {".png", "image/png"}, {".json", "application/json"},
          {".ico", "image/x-icon"}};
      std::string type = "application/octet-stream";
      for (const auto& [ext, mime] : kTypes) {
        if (wanted.size() >= ext.size() && wanted.compare(wanted.size() - ext.size(), ext.size(), ext) == 0) type = mime;
      }
      res.set_content(std::string(a.bytes), type);
      res.set_header("Cache-Control", "no-cache");
      return true;
    }
    SendError(res, 404, "not_found", "no such page");
    return false;
  }

  Service& service_;
  HttpServerOptions options_;
  TrustedProxies proxies_;
  RequestLog log_;
  InFlightRequests in_flight_;
  bool tls_ = false;
  std::unique_ptr<httplib::Server> server_;
  GuardedServer* guard_ = nullptr;  // server_ itself for plain HTTP; nullptr for TLS
  int port_ = -1;
  Metrics metrics_;
  RateLimiter requests_;
  RateLimiter logins_;
};

HttpServer::HttpServer(Service& service, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {}
HttpServer::~HttpServer() = default;
int HttpServer::Bind() { return impl_->Bind(); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Stop() { impl_->Stop(); }

nlohmann::json HttpServer::OpenApi() {
  nlohmann::json paths = nlohmann::json::object();
  const nlohmann::json error = {{"$ref", "#/components/schemas/Error"}};
  for (const Route& r : Routes()) {
    std::string path = r.path;
    int n = 0;
    nlohmann::json parameters = nlohmann::json::array();
    for (size_t pos = path.find("{id}"); pos != std::string::npos; pos = path.find("{id}", pos)) {
      std::string name = n == 0 ? "id" : "id" + std::to_string(n + 1);
      path.replace(pos, 4, "{" + name + "}");
      pos += name.size() + 2;
      parameters.push_back({{"name", name}, {"in", "path"}, {"required", true}, {"schema", {{"type", "integer"}}}});
      ++n;
    }
    nlohmann::json op = {{"summary", r.summary},
                         {"description", "Who: " + r.who + "."},
                         {"responses",
                          {{"200", {{"description", "OK (201 for creations)"}}},
                           {"400", {{"description", "bad input"}, {"content", {{"application/json", {{"schema", error}}}}}}},
                           {"401", {{"description", "not logged in"}}},
                           {"403", {{"description", "role not allowed, or CSRF token missing"}}},
                           {"404", {{"description", "not found (or not visible to the caller)"}}},
                           {"429", {{"description", "rate limited"}}},
                           {"500", {{"description", "internal error: error_id names the server log line"},
                                    {"content", {{"application/json", {{"schema", error}}}}}}}}}};
    if (!parameters.empty()) op["parameters"] = parameters;
    if (r.access == Access::kPublic) op["security"] = nlohmann::json::array();
    if (r.body == Body::kJson) {
      op["requestBody"] = {{"required", true}, {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
    } else if (r.body == Body::kMultipart) {
      op["requestBody"] = {
          {"required", true},
          {"content",
           {{"multipart/form-data",
             {{"schema",
               {{"type", "object"},
                {"properties", {{"photo", {{"type", "string"}, {"format", "binary"}}}}},
                {"required", {"photo"}}}}}}}}};
    }
    std::string method = r.method;
    std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::tolower(c); });
    paths[path][method] = op;
  }
  paths["/healthz"]["get"] = {{"summary", "Liveness"}, {"security", nlohmann::json::array()},
                              {"responses", {{"200", {{"description", "OK"}}}}}};
  paths["/metrics"]["get"] = {{"summary", "Prometheus metrics (loopback, or admin/auditor token)"},
                              {"responses", {{"200", {{"description", "text/plain exposition"}}}}}};
  paths["/api/v1/openapi.json"]["get"] = {{"summary", "This document"}, {"security", nlohmann::json::array()},
                                          {"responses", {{"200", {{"description", "OpenAPI 3 JSON"}}}}}};
  return {{"openapi", "3.0.3"},
          {"info",
           {{"title", "Lineup"},
            {"version", LINEUP_VERSION},
            {"description", "Face search with case-bound, audited searches. See docs/API.md."}}},
          {"paths", paths},
          {"components",
           {{"securitySchemes",
             {{"session", {{"type", "apiKey"}, {"in", "cookie"}, {"name", kSessionCookie}}},
              {"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
            {"schemas",
             {{"Error",
               {{"type", "object"},
                {"properties",
                 {{"error", {{"type", "string"}}},
                  {"message", {{"type", "string"}}},
                  {"field", {{"type", "string"}, {"description", "the request field at fault, when one is"}}},
                  {"error_id", {{"type", "string"}, {"description", "500 only: quote it to the administrator"}}}}},
                {"required", {"error", "message"}}}}}}}},
          {"security", {{{"session", nlohmann::json::array()}}, {{"bearer", nlohmann::json::array()}}}}};
}

}  // namespace lineup
