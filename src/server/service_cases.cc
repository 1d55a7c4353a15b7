// Service: cases, probes, searches, candidates, decisions and gallery media.
#include <algorithm>
#include <map>

#include "common/utf8.h"
#include "engine/face_choice.h"
#include "image/image_loader.h"
#include "server/pipeline_pool.h"
#include "server/request_fields.h"
#include "server/service.h"

namespace lineup {

namespace {

namespace fs = std::filesystem;

constexpr char kLeadNotice[] = "Investigative leads for human review — not identifications.";
constexpr char kLeadLabel[] = "investigative lead — not an identification";

const std::map<std::string, std::pair<std::string, std::string>>& ImageFormats() {
  // header format -> (stored extension, MIME type)
  static const std::map<std::string, std::pair<std::string, std::string>> kFormats = {
      {"jpeg", {".jpg", "image/jpeg"}}, {"png", {".png", "image/png"}},   {"webp", {".webp", "image/webp"}},
      {"bmp", {".bmp", "image/bmp"}},   {"tiff", {".tif", "image/tiff"}}, {"pnm", {".pnm", "image/x-portable-anymap"}}};
  return kFormats;
}

std::string ContentTypeOf(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".jpeg") ext = ".jpg";
  for (const auto& [format, info] : ImageFormats()) {
    if (info.first == ext) return info.second;
  }
  return "application/octet-stream";
}

nlohmann::json CaseJson(const Case& c) {
  return {{"id", c.id},
          {"number", c.number},
          {"purpose", c.purpose},
          {"category", c.category},
          {"owner", {{"id", c.owner_id}, {"username", c.owner}}},
          {"unit", c.unit},
          {"created_at", IsoTime(c.created_at)},
          {"retention_days", c.retention_days},
          {"searches", c.searches}};
}

nlohmann::json ProbeJson(const Probe& p) {
  nlohmann::json faces = nlohmann::json::array();
  for (size_t i = 0; i < p.faces.size(); ++i) {
    const ProbeFace& f = p.faces[i];
    faces.push_back({{"index", i}, {"box", {f.box[0], f.box[1], f.box[2], f.box[3]}}, {"score", f.score}});
  }
  return {{"id", p.id},
          {"case_id", p.case_id},
          {"width", p.width},
          {"height", p.height},
          {"sha256", p.sha256},
          {"created_at", IsoTime(p.created_at)},
          {"image_url", "/api/v1/probes/" + std::to_string(p.id) + "/image"},
          {"faces", faces}};
}

nlohmann::json SourceJson(const std::optional<Source>& s) {
  if (!s) return nullptr;
  return {{"source_url", s->source_url}, {"page_url", s->page_url},         {"title", s->title},
          {"captured_at", s->captured_at}, {"published_at", s->published_at}, {"legal_basis", s->legal_basis}};
}

// A candidate whose face has since been erased from the gallery keeps its
// rank, score and decision but has no provenance or media.
nlohmann::json CandidateJson(const SearchCandidate& c, const FaceProvenance* p, const std::vector<Decision>& decisions) {
  std::string face = std::to_string(c.face_id);
  nlohmann::json out = {{"rank", c.rank},   {"face_id", c.face_id}, {"score", c.score},
                        {"band", c.band},   {"label", kLeadLabel},  {"erased", p == nullptr},
                        {"decision", nullptr}};
  for (const Decision& d : decisions) {
    if (d.face_id == c.face_id) {
      out["decision"] = {{"decision", d.decision}, {"note", d.note}, {"user", d.username}, {"at", IsoTime(d.created_at)}};
    }
  }
  if (!p) return out;
  out["crop_url"] = "/api/v1/faces/" + face + "/crop";
  out["image_url"] = "/api/v1/faces/" + face + "/image";
  out["face_box"] = p->face.box;
  out["image"] = {{"id", p->image.id},
                  {"width", p->image.width},
                  {"height", p->image.height},
                  {"original_name", p->image.original_name},
                  {"sha256", p->image.content_sha256},
                  {"ingested_at", p->image.ingested_at}};
  out["collection"] = {{"id", p->collection.id}, {"name", p->collection.name}, {"legal_basis", p->collection.legal_basis}};
  out["source"] = SourceJson(p->source);
  return out;
}

// Holds one of the service's decode slots while it lives.
class DecodeSlot {
 public:
  explicit DecodeSlot(std::counting_semaphore<>& slots) : slots_(slots) { slots_.acquire(); }
  DecodeSlot(const DecodeSlot&) = delete;
  DecodeSlot& operator=(const DecodeSlot&) = delete;
  ~DecodeSlot() { slots_.release(); }

 private:
  std::counting_semaphore<>& slots_;
};

}  // namespace

nlohmann::json Service::CreateCase(const Caller& caller, const nlohmann::json& body) {
  RequireRole(caller, {Role::kInvestigator});
  NewCase n{StringField(body, "number"), StringField(body, "purpose"), StringField(body, "category"),
            IntField(body, "retention_days", 0)};
  Case c = AsClientError([&] { return cases_->Create(n, caller.user.id, caller.user.username, caller.user.unit); });
  RecordAudit(caller, "case_create", c.number, {{"purpose", c.purpose}, {"category", c.category}});
  return {{"case", CaseJson(c)}};
}

// The cases a reader's lists show, as Cases::List and RecentSearches take
// them (owner 0 and unit "" = all): the investigator's own, the supervisor's
// unit, every case for an auditor; nullopt for a supervisor without a unit.
// Throws ApiError 403 for the other roles. The same rule as CanRead.
std::optional<Service::ListScope> Service::ListScopeOf(const Caller& caller) const {
  RequireRole(caller, {Role::kInvestigator, Role::kSupervisor, Role::kAuditor});
  if (caller.user.role == Role::kInvestigator) return ListScope{caller.user.id, ""};
  if (caller.user.role == Role::kAuditor) return ListScope{0, ""};
  if (caller.user.unit.empty()) return std::nullopt;
  return ListScope{0, caller.user.unit};
}

nlohmann::json Service::ListCases(const Caller& caller) {
  std::vector<Case> cases;
  if (std::optional<ListScope> scope = ListScopeOf(caller)) cases = cases_->List(scope->owner_id, scope->unit);
  nlohmann::json out = nlohmann::json::array();
  for (const Case& c : cases) out.push_back(CaseJson(c));
  return {{"cases", out}};
}

nlohmann::json Service::GetCase(const Caller& caller, int64_t case_id) {
  Case c = VisibleCase(caller, case_id);
  nlohmann::json probes = nlohmann::json::array();
  for (const Probe& p : cases_->ProbesOf(case_id)) probes.push_back(ProbeJson(p));
  nlohmann::json searches = nlohmann::json::array();
  for (const SearchRecord& s : cases_->SearchesOf(case_id)) searches.push_back(SearchJson(s, c, false));
  if (caller.user.id != c.owner_id) RecordAudit(caller, "case_view", c.number, nlohmann::json::object());
  return {{"case", CaseJson(c)}, {"probes", probes}, {"searches", searches}};
}

nlohmann::json Service::DeleteCase(const Caller& caller, int64_t case_id) {
  Case c = VisibleCase(caller, case_id);
  bool owner = caller.user.role == Role::kInvestigator && c.owner_id == caller.user.id;
  if (!owner && caller.user.role != Role::kSupervisor) {
    throw ApiError(403, "forbidden", "only the case owner or a supervisor of the unit may delete a case");
  }
  // The deletion and its record commit in one transaction.
  AuditEvent e{caller.user.id, caller.user.username, ToString(caller.user.role), "case_delete", caller.client,
               c.number, ""};
  std::optional<Cases::Deletion> d = cases_->Delete(case_id, [&](SqliteDb& db, const Cases::Deletion& done) {
    e.details_json = nlohmann::json{{"case_id", case_id}, {"owner", c.owner}, {"probes", done.probes},
                                    {"searches", done.searches}}
                         .dump();
    audit_->AppendIn(db, e);
  });
  if (!d) throw ApiError(404, "not_found", "no such case");
  return {{"deleted", case_id}, {"probes", d->probes}, {"searches", d->searches}};
}

nlohmann::json Service::AddProbe(const Caller& caller, int64_t case_id, const std::string& bytes,
                                 const std::string& filename) {
  Case c = OwnCase(caller, case_id);
  std::string extension;
  cv::Mat image = DecodeUpload(bytes, filename, &extension);
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  std::vector<FaceResult> faces;
  {
    auto pipeline = pipelines_->Acquire();
    faces = pipeline->Detect(image);
  }
  std::vector<ProbeFace> boxes;
  for (const FaceResult& f : faces) {
    ProbeFace p{{f.face.box.x, f.face.box.y, f.face.box.width, f.face.box.height}, f.face.score};
    if (f.face.landmarks.size() == 5) {
      p.has_landmarks = true;
      for (int k = 0; k < 5; ++k) {
        p.landmarks[2 * k] = f.face.landmarks[k].x;
        p.landmarks[2 * k + 1] = f.face.landmarks[k].y;
      }
    }
    boxes.push_back(p);
  }
  Probe p = cases_->AddProbe(case_id, caller.user.id, data, extension, image.cols,
                             image.rows, boxes);
  RecordAudit(caller, "probe_upload", c.number,
              {{"probe_id", p.id}, {"sha256", p.sha256}, {"faces", boxes.size()}, {"bytes", bytes.size()}});
  return {{"probe", ProbeJson(p)}};
}

// A photo upload decoded (400 bad_image otherwise) within max_upload_pixels
// (a JPEG over it reduced), one of at most `pipelines` decodes at a time;
// `extension` gets the file extension of its format. The decoder's Errors
// are about the bytes it was given (image/image_loader.h), here the
// client's, and name them by the client's own file name; its other
// exceptions (memory) are not caught.
cv::Mat Service::DecodeUpload(const std::string& bytes, const std::string& filename, std::string* extension) {
  if (bytes.empty()) throw ApiError(400, "bad_request", "the upload is empty: send the photo in the field \"photo\"");
  if (static_cast<int64_t>(bytes.size()) > options_.max_upload_bytes) {
    throw ApiError(413, "too_large", "the photo is larger than " + std::to_string(options_.max_upload_bytes >> 20) + " MB");
  }
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  std::string label = filename.empty() ? "upload" : "upload \"" + SafeUtf8(filename, 100) + "\"";
  LoadOptions limits;
  limits.max_pixels = options_.max_upload_pixels;
  limits.reduce_jpeg_to_fit = true;
  try {
    ImageHeader header = ReadImageHeader(data, label);
    if (!ImageFormats().count(header.format)) throw Error(label + ": " + header.format + " photos are not supported");
    *extension = ImageFormats().at(header.format).first;
    DecodeSlot slot(decode_slots_);
    return DecodeImage(data, label, limits);
  } catch (const Error& e) {
    throw ApiError(400, "bad_image", e.what());
  }
}

// The stored size is what the upload decoded to, so a cap of that many
// pixels picks the same reduction (none for probes stored before reductions).
cv::Mat Service::LoadProbe(const Probe& probe) {
  LoadOptions as_uploaded;
  if (probe.width > 0 && probe.height > 0) as_uploaded.max_pixels = int64_t{probe.width} * probe.height;
  as_uploaded.reduce_jpeg_to_fit = true;
  DecodeSlot slot(decode_slots_);
  return LoadImage(cases_->ProbePath(probe).string(), as_uploaded);
}

FileReply Service::ProbeImage(const Caller& caller, int64_t probe_id) {
  std::optional<Probe> p = cases_->GetProbe(probe_id);
  if (!p) throw ApiError(404, "not_found", "no such probe");
  Case c = VisibleCase(caller, p->case_id);
  if (caller.user.id != c.owner_id) RecordAudit(caller, "probe_view", c.number, {{"probe_id", probe_id}});
  fs::path path = cases_->ProbePath(*p);
  return {path, ContentTypeOf(path)};
}

nlohmann::json Service::Search(const Caller& caller, const nlohmann::json& body) {
  RequireRole(caller, {Role::kInvestigator});
  std::optional<Probe> probe = cases_->GetProbe(IntField(body, "probe_id", 0));
  if (!probe) throw ApiError(404, "not_found", "no such probe (upload the photo to the case first)");
  Case c = OwnCase(caller, probe->case_id);
  int64_t top_k = IntField(body, "top_k", options_.default_candidates);
  if (top_k < 1 || top_k > options_.max_candidates) {
    throw ApiError(400, "bad_request",
                   "top_k: ask for 1 to " + std::to_string(options_.max_candidates) + " candidates");
  }
  std::vector<std::string> collections = StringListField(body, "collections");
  const std::optional<std::array<float, 4>> box = BoxField(body, "box");
  std::shared_ptr<Gallery> gallery = CurrentGallery();
  cv::Mat image = LoadProbe(*probe);
  FaceResult chosen;
  bool by_box = box.has_value();
  int64_t face = IntField(body, "face", 0);
  if (!by_box && face >= 0 && face < static_cast<int64_t>(probe->faces.size()) &&
      probe->faces[static_cast<size_t>(face)].has_landmarks) {
    // The face as detected at upload: embedding it again gives the same
    // descriptor as detecting again would, without the detector's cost.
    const ProbeFace& stored = probe->faces[static_cast<size_t>(face)];
    FaceResult f;
    f.face.box = cv::Rect2f(stored.box[0], stored.box[1], stored.box[2], stored.box[3]);
    f.face.score = stored.score;
    for (int k = 0; k < 5; ++k) f.face.landmarks.emplace_back(stored.landmarks[2 * k], stored.landmarks[2 * k + 1]);
    std::vector<FaceResult> one = {f};
    auto pipeline = pipelines_->Acquire();
    pipeline->Embed(image, one);
    chosen = one[0];
  } else {
    auto pipeline = pipelines_->Acquire();
    std::vector<FaceResult> faces = pipeline->Detect(image);
    size_t index = 0;
    if (by_box) {
      const cv::Rect2f rect((*box)[0], (*box)[1], (*box)[2], (*box)[3]);
      try {
        index = FindFaceInBox(*pipeline, image, rect, faces);
      } catch (const Error& e) {
        if (!e.is_client_error()) throw;
        throw ApiError(400, "no_face", e.what(), {{"field", "box"}});
      }
    } else {
      if (faces.empty()) throw ApiError(400, "no_face", "no face found in this photo; draw a box around the face");
      if (face < 0 || face >= static_cast<int64_t>(faces.size())) {
        throw ApiError(400, "bad_request", "face: 0 to " + std::to_string(faces.size() - 1) + " (faces found:" +
                                               FaceList(faces) + ")");
      }
      index = static_cast<size_t>(face);
    }
    std::vector<FaceResult> one = {faces[index]};
    pipeline->Embed(image, one);
    chosen = one[0];
  }
  SearchQuery query;
  query.descriptor = chosen.embedding;
  query.top_k = static_cast<size_t>(top_k);
  query.collections = collections;
  SearchResult result = gallery->Search(query);
  SearchRecord s;
  s.case_id = c.id;
  s.probe_id = probe->id;
  s.user_id = caller.user.id;
  s.username = caller.user.username;
  s.client = caller.client;
  s.created_at = db_->Now();
  s.face_box[0] = chosen.face.box.x, s.face_box[1] = chosen.face.box.y;
  s.face_box[2] = chosen.face.box.width, s.face_box[3] = chosen.face.box.height;
  s.top_k = static_cast<int>(top_k);
  s.index_used = result.index_used;
  s.faces_searched = static_cast<int64_t>(result.faces_searched);
  nlohmann::json shown = nlohmann::json::array();
  for (const Candidate& cand : result.candidates) {
    s.candidates.push_back({cand.rank, cand.provenance.face.id, cand.score, ToString(cand.band)});
    shown.push_back(cand.provenance.face.id);
  }
  AuditEvent e{caller.user.id,  caller.user.username, ToString(caller.user.role), "search", caller.client,
               c.number,        "",                   caller.request_id};
  s.id = db_->Write([&](SqliteDb& db) {
    int64_t id = cases_->RecordSearchIn(db, s);
    e.details_json = nlohmann::json{{"search_id", id},
                                    {"purpose", c.purpose},
                                    {"category", c.category},
                                    {"probe_sha256", probe->sha256},
                                    {"face_box", {s.face_box[0], s.face_box[1], s.face_box[2], s.face_box[3]}},
                                    {"collections", collections},
                                    {"candidates", shown}}
                         .dump();
    audit_->AppendIn(db, e);
    return id;
  });
  nlohmann::json out = SearchJson(s, c, false);
  nlohmann::json candidates = nlohmann::json::array();
  for (size_t i = 0; i < result.candidates.size(); ++i) {
    candidates.push_back(CandidateJson(s.candidates[i], &result.candidates[i].provenance, {}));
  }
  out["candidates"] = candidates;
  return {{"search", out}};
}

SearchRecord Service::VisibleSearch(const Caller& caller, int64_t search_id, Case* c) {
  // A search of a case the caller may not read answers as one that does not
  // exist ("no such search", not "no such case": the caller asked for a search).
  std::optional<SearchRecord> s = cases_->GetSearch(search_id);
  std::optional<Case> owner = s ? cases_->Get(s->case_id) : std::nullopt;
  if (!s || !owner || !CanRead(caller, *owner)) throw ApiError(404, "not_found", "no such search");
  *c = *owner;
  return *s;
}

nlohmann::json Service::SearchJson(const SearchRecord& s, const Case& c, bool with_candidates) {
  nlohmann::json out = {{"id", s.id},
                        {"case_id", s.case_id},
                        {"case_number", c.number},
                        {"probe_id", s.probe_id},
                        {"user", s.username},
                        {"created_at", IsoTime(s.created_at)},
                        {"purpose", c.purpose},
                        {"category", c.category},
                        {"face_box", {s.face_box[0], s.face_box[1], s.face_box[2], s.face_box[3]}},
                        {"top_k", s.top_k},
                        {"index_used", s.index_used},
                        {"faces_searched", s.faces_searched},
                        {"notice", kLeadNotice},
                        {"candidate_count", s.candidate_count}};
  if (!with_candidates) return out;
  std::vector<int64_t> ids;
  for (const SearchCandidate& cand : s.candidates) ids.push_back(cand.face_id);
  std::vector<FaceProvenance> described;
  try {
    described = CurrentGallery()->DescribeVisibleFaces(ids);
  } catch (const ApiError&) {
  }
  std::map<int64_t, const FaceProvenance*> by_id;
  for (const FaceProvenance& p : described) by_id[p.face.id] = &p;
  std::vector<Decision> decisions = cases_->DecisionsOf(s.id);
  nlohmann::json candidates = nlohmann::json::array();
  for (const SearchCandidate& cand : s.candidates) {
    auto it = by_id.find(cand.face_id);
    candidates.push_back(CandidateJson(cand, it == by_id.end() ? nullptr : it->second, decisions));
  }
  out["candidates"] = candidates;
  return out;
}

nlohmann::json Service::GetSearch(const Caller& caller, int64_t search_id) {
  Case c;
  SearchRecord s = VisibleSearch(caller, search_id, &c);
  if (caller.user.id != c.owner_id) RecordAudit(caller, "search_view", c.number, {{"search_id", search_id}});
  return {{"search", SearchJson(s, c, true)}};
}

nlohmann::json Service::RecentSearches(const Caller& caller, int64_t limit) {
  limit = std::clamp<int64_t>(limit, 1, 500);
  std::vector<SearchRecord> searches;
  if (std::optional<ListScope> scope = ListScopeOf(caller)) {
    searches = cases_->RecentSearches(scope->owner_id, scope->unit, limit);
  }
  std::map<int64_t, Case> cases;
  nlohmann::json out = nlohmann::json::array();
  for (const SearchRecord& s : searches) {
    if (!cases.count(s.case_id)) {
      std::optional<Case> c = cases_->Get(s.case_id);
      if (!c) continue;  // deleted since the list was read
      cases[s.case_id] = *c;
    }
    out.push_back(SearchJson(s, cases[s.case_id], false));
  }
  return {{"searches", out}};
}

nlohmann::json Service::GetCandidate(const Caller& caller, int64_t search_id, int64_t face_id) {
  Case c;
  SearchRecord s = VisibleSearch(caller, search_id, &c);
  auto it = std::find_if(s.candidates.begin(), s.candidates.end(), [&](const auto& x) { return x.face_id == face_id; });
  if (it == s.candidates.end()) throw ApiError(404, "not_found", "this face was not a candidate of the search");
  std::vector<FaceProvenance> p = CurrentGallery()->DescribeVisibleFaces({face_id});
  RecordAudit(caller, "candidate_view", c.number, {{"search_id", search_id}, {"face_id", face_id}});
  nlohmann::json out = CandidateJson(*it, p.empty() ? nullptr : &p[0], cases_->DecisionsOf(search_id));
  out["search_id"] = search_id;
  out["case_number"] = c.number;
  return {{"candidate", out}};
}

nlohmann::json Service::RecordDecision(const Caller& caller, int64_t search_id, const nlohmann::json& body) {
  std::optional<SearchRecord> s = cases_->GetSearch(search_id);
  if (!s) throw ApiError(404, "not_found", "no such search");
  Case c = OwnCase(caller, s->case_id);
  Decision d{search_id, IntField(body, "face_id", 0), caller.user.id, caller.user.username,
             StringField(body, "decision"), StringField(body, "note"), db_->Now()};
  AuditEvent e{caller.user.id, caller.user.username, ToString(caller.user.role), "decision", caller.client, c.number,
               nlohmann::json{{"search_id", search_id}, {"face_id", d.face_id}, {"decision", d.decision}, {"note", d.note}}
                   .dump(),
               caller.request_id};
  AsClientError([&] {
    db_->Write([&](SqliteDb& db) {
      cases_->RecordDecisionIn(db, d);
      audit_->AppendIn(db, e);
    });
  });
  return {{"decision", {{"search_id", search_id}, {"face_id", d.face_id}, {"decision", d.decision}, {"note", d.note},
                        {"user", d.username}, {"at", IsoTime(d.created_at)}}}};
}

FileReply Service::FaceMedia(const Caller& caller, int64_t face_id, bool full_image) {
  bool visible = false;
  for (int64_t case_id : cases_->CasesThatShowedFace(face_id)) {
    std::optional<Case> c = cases_->Get(case_id);
    if (c && CanRead(caller, *c)) {
      visible = true;
      break;
    }
  }
  if (!visible) throw ApiError(404, "not_found", "no such face");
  std::shared_ptr<Gallery> gallery = CurrentGallery();
  std::vector<FaceProvenance> p = gallery->DescribeVisibleFaces({face_id});
  if (p.empty()) throw ApiError(404, "not_found", "this face has been erased from the gallery");
  fs::path path = full_image ? gallery->ImagePath(p[0].image) : gallery->CropPath(face_id);
  if (!fs::exists(path)) throw ApiError(404, "not_found", "the file of this face is missing");
  return {path, ContentTypeOf(path)};
}

nlohmann::json Service::Collections(const Caller& caller) {
  RequireRole(caller, {Role::kAdmin, Role::kInvestigator, Role::kSupervisor});
  nlohmann::json out = nlohmann::json::array();
  CatalogStats stats = CurrentGallery()->catalog().Stats();
  for (const CollectionStats& s : stats.per_collection) {
    out.push_back({{"id", s.collection.id},
                   {"name", s.collection.name},
                   {"description", s.collection.description},
                   {"legal_basis", s.collection.legal_basis},
                   {"jurisdiction", s.collection.jurisdiction},
                   {"retention_days", s.collection.retention_days},
                   {"created_at", s.collection.created_at},
                   {"images", s.images},
                   {"faces", s.faces}});
  }
  return {{"collections", out}};
}

nlohmann::json Service::Jobs(const Caller& caller) {
  RequireRole(caller, {Role::kAdmin});
  nlohmann::json out = nlohmann::json::array();
  for (const IngestJob& j : CurrentGallery()->catalog().ListJobs()) {
    const JobCounters& n = j.counters;
    out.push_back({{"id", j.id},
                   {"collection_id", j.collection_id},
                   {"input", j.input},
                   {"status", ToString(j.status)},
                   {"started_at", j.started_at},
                   {"finished_at", j.finished_at},
                   {"counters",
                    {{"images_seen", n.images_seen}, {"images_added", n.images_added}, {"duplicates", n.duplicates},
                     {"no_face", n.no_face}, {"faces_added", n.faces_added}, {"errors", n.errors},
                     {"opted_out", n.opted_out}}}});
  }
  return {{"jobs", out}};
}

}  // namespace lineup
