#include "governance/cases.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "common/error.h"
#include "common/file_util.h"

namespace lineup {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kCasesMigrations = {
    R"sql(
CREATE TABLE cases (
  id             INTEGER PRIMARY KEY,
  number         TEXT NOT NULL UNIQUE,
  purpose        TEXT NOT NULL,
  category       TEXT NOT NULL,
  owner_id       INTEGER NOT NULL,
  owner          TEXT NOT NULL,
  unit           TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  retention_days INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX cases_by_owner ON cases (owner_id);
CREATE INDEX cases_by_unit ON cases (unit);
CREATE TABLE probes (
  id          INTEGER PRIMARY KEY,
  case_id     INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
  user_id     INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  stored_path TEXT NOT NULL,
  width       INTEGER NOT NULL,
  height      INTEGER NOT NULL,
  faces_json  TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE INDEX probes_by_case ON probes (case_id);
CREATE TABLE searches (
  id             INTEGER PRIMARY KEY,
  case_id        INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
  probe_id       INTEGER NOT NULL REFERENCES probes (id) ON DELETE CASCADE,
  user_id        INTEGER NOT NULL,
  username       TEXT NOT NULL,
  client         TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  box_x REAL NOT NULL, box_y REAL NOT NULL, box_w REAL NOT NULL, box_h REAL NOT NULL,
  top_k          INTEGER NOT NULL,
  index_used     TEXT NOT NULL,
  faces_searched INTEGER NOT NULL
);
CREATE INDEX searches_by_case ON searches (case_id);
CREATE TABLE search_candidates (
  search_id INTEGER NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
  rank      INTEGER NOT NULL,
  face_id   INTEGER NOT NULL,
  score     REAL NOT NULL,
  band      TEXT NOT NULL,
  PRIMARY KEY (search_id, rank)
);
CREATE INDEX candidates_by_face ON search_candidates (face_id);
CREATE TABLE decisions (
  search_id  INTEGER NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
  face_id    INTEGER NOT NULL,
  user_id    INTEGER NOT NULL,
  username   TEXT NOT NULL,
  decision   TEXT NOT NULL CHECK (decision IN ('possible_match', 'not_a_match', 'inconclusive')),
  note       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (search_id, face_id, user_id)
);
)sql"};

constexpr size_t kMaxNumber = 64;
constexpr int64_t kMaxRetentionDays = 36500;
constexpr size_t kMaxPurpose = 2000;
constexpr size_t kMaxNote = 4000;

bool HasControlCharacters(const std::string& text, bool allow_newlines) {
  return std::any_of(text.begin(), text.end(), [&](char ch) {
    auto c = static_cast<unsigned char>(ch);
    if (allow_newlines && (c == '\n' || c == '\r' || c == '\t')) return false;
    return c < 0x20 || c == 0x7f;
  });
}

std::string Trimmed(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

void ValidateCase(const NewCase& c) {
  if (c.number.empty() || c.number.size() > kMaxNumber || HasControlCharacters(c.number, false)) {
    throw InvalidArgument("number", "case number: give 1 to 64 printable characters");
  }
  if (Trimmed(c.purpose).size() < 3 || c.purpose.size() > kMaxPurpose || HasControlCharacters(c.purpose, true)) {
    throw InvalidArgument("purpose", "purpose: say why this search is made (3 to 2000 characters)");
  }
  const auto& known = CaseCategories();
  if (std::find(known.begin(), known.end(), c.category) == known.end()) {
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    throw InvalidArgument("category", "category: one of " + list);
  }
  if (c.retention_days < 0 || c.retention_days > kMaxRetentionDays) {
    throw InvalidArgument("retention_days", "retention days: 0 (the default) to 36500");
  }
}

constexpr char kCaseColumns[] =
    "c.id, c.number, c.purpose, c.category, c.owner_id, c.owner, c.unit, c.created_at, c.retention_days, "
    "(SELECT count(*) FROM searches s WHERE s.case_id = c.id)";

Case ReadCase(const SqliteQuery& q) {
  Case c;
  c.id = q.Int64(0);
  c.number = q.Text(1);
  c.purpose = q.Text(2);
  c.category = q.Text(3);
  c.owner_id = q.Int64(4);
  c.owner = q.Text(5);
  c.unit = q.Text(6);
  c.created_at = q.Int64(7);
  c.retention_days = q.Int64(8);
  c.searches = q.Int64(9);
  return c;
}

// One line per face: "x y w h score" and, when known, the 10 landmark
// coordinates; %.9g, so every float reads back exactly.
std::string FacesToText(const std::vector<ProbeFace>& faces) {
  std::string out;
  char number[32];
  auto add = [&](float v, char after) {
    std::snprintf(number, sizeof number, "%.9g%c", static_cast<double>(v), after);
    out += number;
  };
  for (const ProbeFace& f : faces) {
    for (int k = 0; k < 4; ++k) add(f.box[k], ' ');
    add(f.score, f.has_landmarks ? ' ' : '\n');
    if (!f.has_landmarks) continue;
    for (int k = 0; k < 10; ++k) add(f.landmarks[k], k == 9 ? '\n' : ' ');
  }
  return out;
}

std::vector<ProbeFace> FacesFromText(const std::string& text) {
  std::vector<ProbeFace> faces;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ProbeFace f;
    float* l = f.landmarks;
    int read = std::sscanf(text.substr(start, end - start).c_str(), "%f %f %f %f %f %f %f %f %f %f %f %f %f %f %f",
                           &f.box[0], &f.box[1], &f.box[2], &f.box[3], &f.score, &l[0], &l[1], &l[2], &l[3], &l[4],
                           &l[5], &l[6], &l[7], &l[8], &l[9]);
    if (read == 5 || read == 15) {
      f.has_landmarks = read == 15;
      faces.push_back(f);
    }
    start = end + 1;
  }
  return faces;
}

constexpr char kProbeColumns[] =
    "id, case_id, user_id, sha256, stored_path, width, height, faces_json, created_at";

Probe ReadProbe(const SqliteQuery& q) {
  Probe p;
  p.id = q.Int64(0);
  p.case_id = q.Int64(1);
  p.user_id = q.Int64(2);
  p.sha256 = q.Text(3);
  p.stored_path = q.Text(4);
  p.width = static_cast<int>(q.Int64(5));
  p.height = static_cast<int>(q.Int64(6));
  p.faces = FacesFromText(q.Text(7));
  p.created_at = q.Int64(8);
  return p;
}

constexpr char kSearchColumns[] =
    "id, case_id, probe_id, user_id, username, client, created_at, box_x, box_y, box_w, box_h, top_k, "
    "index_used, faces_searched, "
    "(SELECT count(*) FROM search_candidates c WHERE c.search_id = searches.id)";

SearchRecord ReadSearch(const SqliteQuery& q) {
  SearchRecord s;
  s.id = q.Int64(0);
  s.case_id = q.Int64(1);
  s.probe_id = q.Int64(2);
  s.user_id = q.Int64(3);
  s.username = q.Text(4);
  s.client = q.Text(5);
  s.created_at = q.Int64(6);
  for (int i = 0; i < 4; ++i) s.face_box[i] = static_cast<float>(q.Double(7 + i));
  s.top_k = static_cast<int>(q.Int64(11));
  s.index_used = q.Text(12);
  s.faces_searched = q.Int64(13);
  s.candidate_count = q.Int64(14);
  return s;
}

}  // namespace

const std::vector<std::string>& CaseCategories() {
  static const std::vector<std::string> kCategories = {"serious_crime", "missing_person", "victim_identification",
                                                       "counter_terrorism", "other"};
  return kCategories;
}

Cases::Cases(GovernanceDb& db, fs::path data_dir) : db_(db), data_dir_(std::move(data_dir)) {
  db_.EnsureSchema("cases", kCasesMigrations);
  SweepOrphanFolders();
}

// Probe folders whose case is gone (a deletion interrupted after its commit).
void Cases::SweepOrphanFolders() {
  std::error_code ec;
  fs::path root = data_dir_ / "cases";
  if (!fs::is_directory(root, ec)) return;
  for (const fs::directory_entry& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    bool numeric = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!numeric || name.size() > 18) continue;  // not ours
    if (!Get(std::stoll(name))) fs::remove_all(entry.path(), ec);
  }
}

std::optional<Cases::Deletion> Cases::Delete(int64_t case_id, const DeletionRecorder& record) {
  std::optional<Deletion> deleted = db_.Write([&](SqliteDb& db) -> std::optional<Deletion> {
    Deletion d{case_id, 0, 0};
    auto count = db.Query(
        "SELECT (SELECT count(*) FROM probes WHERE case_id = ?1), (SELECT count(*) FROM searches WHERE case_id = ?1)");
    count.Bind(1, case_id);
    if (count.Step()) d.probes = count.Int64(0), d.searches = count.Int64(1);
    db.Query("DELETE FROM cases WHERE id = ?1").Bind(1, case_id).Run();
    if (db.Changes() == 0) return std::nullopt;
    if (record) record(db, d);
    return d;
  });
  db_.ScrubWal();
  const fs::path folder = data_dir_ / "cases" / std::to_string(case_id);
  std::error_code ec;
  fs::remove_all(folder, ec);
  if (ec) throw Error(Context(folder.string(), "cannot remove: " + ec.message()));
  return deleted;
}

std::vector<CaseExpiry> Cases::ExpireProbes(int64_t default_days, int64_t now, bool dry_run,
                                            const ExpiryRecorder& record) {
  // Per case: its retention in force (?1 = the default for cases without
  // their own), and the probes (with their searches) older than it (?3 =
  // seconds per day).
  constexpr char kExpired[] =
      "SELECT c.id, c.number, c.days, count(p.id), "
      "  (SELECT count(*) FROM searches s JOIN probes q ON q.id = s.probe_id "
      "   WHERE q.case_id = c.id AND q.created_at < ?2 - c.days * ?3) "
      "FROM (SELECT id, number, CASE WHEN retention_days > 0 THEN retention_days ELSE ?1 END AS days "
      "      FROM cases) c "
      "JOIN probes p ON p.case_id = c.id "
      "WHERE c.days > 0 AND p.created_at < ?2 - c.days * ?3 GROUP BY c.id ORDER BY c.id";
  std::vector<CaseExpiry> expired = db_.Read([&](SqliteDb& db) {
    std::vector<CaseExpiry> out;
    auto q = db.Query(kExpired);
    q.Bind(1, default_days).Bind(2, now).Bind(3, kSecondsPerDay);
    while (q.Step()) out.push_back({q.Int64(0), q.Text(1), q.Int64(2), q.Int64(3), q.Int64(4)});
    return out;
  });
  if (dry_run) return expired;
  std::vector<std::string> files;  // of the deleted probes
  for (CaseExpiry& e : expired) {
    db_.Write([&](SqliteDb& db) {
      const int64_t cutoff = now - e.retention_days * kSecondsPerDay;
      auto f = db.Query("SELECT stored_path FROM probes WHERE case_id = ?1 AND created_at < ?2");
      f.Bind(1, e.case_id).Bind(2, cutoff);
      e.probes = 0;
      while (f.Step()) files.push_back(f.Text(0)), ++e.probes;
      auto s = db.Query("SELECT count(*) FROM searches s JOIN probes q ON q.id = s.probe_id "
                        "WHERE q.case_id = ?1 AND q.created_at < ?2");
      s.Bind(1, e.case_id).Bind(2, cutoff);
      e.searches = s.Step() ? s.Int64(0) : 0;  // counted in the deleting transaction: what its record says
      // Searches, candidates and decisions cascade.
      db.Query("DELETE FROM probes WHERE case_id = ?1 AND created_at < ?2").Bind(1, e.case_id).Bind(2, cutoff).Run();
      if (record) record(db, e);
    });
  }
  db_.ScrubWal();
  RemoveFilesNoProbeNames(files);
  RemoveUnreferencedProbeFiles();
  return expired;
}

// Each file, unless a probe row names it, removed under the write lock:
// AddProbe writes a file and its row under that lock too, so a file that a
// new probe of the same photo is about to name cannot go.
void Cases::RemoveFilesNoProbeNames(const std::vector<std::string>& files) {
  for (const std::string& path : files) {
    db_.Write([&](SqliteDb& db) {
      auto kept = db.Query("SELECT 1 FROM probes WHERE stored_path = ?1");
      kept.BindText(1, path);
      if (kept.Step()) return;
      std::error_code ec;
      fs::remove(data_dir_ / path, ec);
    });
  }
}

// Files under cases/<id>/ that no probe row names and that are older than
// an hour: the photos of expired probes (also those a crash left after
// their rows were deleted).
void Cases::RemoveUnreferencedProbeFiles() {
  std::set<std::string> named = db_.Read([&](SqliteDb& db) {
    std::set<std::string> paths;
    auto q = db.Query("SELECT stored_path FROM probes");
    while (q.Step()) paths.insert(q.Text(0));
    return paths;
  });
  std::error_code ec, ignored;  // a file that cannot be removed must not end the walk
  const fs::path root = data_dir_ / "cases";
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    // A file younger than an hour may be a probe being added (its file is
    // written before its row).
    std::error_code age_ec;
    auto modified = fs::last_write_time(it->path(), age_ec);
    if (age_ec || fs::file_time_type::clock::now() - modified < std::chrono::hours(1)) continue;
    if (!named.count(fs::relative(it->path(), data_dir_).string())) fs::remove(it->path(), ignored);
  }
}

Case Cases::Create(const NewCase& c, int64_t owner_id, const std::string& owner, const std::string& unit) {
  ValidateCase(c);
  int64_t id = db_.Write([&](SqliteDb& db) {
    auto taken = db.Query("SELECT 1 FROM cases WHERE number = ?1");
    taken.BindText(1, c.number);
    if (taken.Step()) throw Conflict("number", "case number " + c.number + " is already in use");
    auto q = db.Query(
        "INSERT INTO cases (number, purpose, category, owner_id, owner, unit, created_at, retention_days) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    q.BindText(1, c.number).BindText(2, c.purpose).BindText(3, c.category).Bind(4, owner_id);
    q.BindText(5, owner).BindText(6, unit).Bind(7, db_.Now()).Bind(8, c.retention_days).Run();
    return db.LastInsertRowId();
  });
  return *Get(id);
}

std::optional<Case> Cases::Get(int64_t case_id) {
  return db_.Read([&](SqliteDb& db) -> std::optional<Case> {
    auto q = db.Query(std::string("SELECT ") + kCaseColumns + " FROM cases c WHERE c.id = ?1");
    q.Bind(1, case_id);
    if (!q.Step()) return std::nullopt;
    return ReadCase(q);
  });
}

std::vector<Case> Cases::List(int64_t owner_id, const std::string& unit) {
  return db_.Read([&](SqliteDb& db) {
    std::string sql = std::string("SELECT ") + kCaseColumns + " FROM cases c";
    if (owner_id != 0) {
      sql += " WHERE c.owner_id = ?1";
    } else if (!unit.empty()) {
      sql += " WHERE c.unit = ?2";
    }
    sql += " ORDER BY c.id DESC";
    auto q = db.Query(sql);
    if (owner_id != 0) q.Bind(1, owner_id);
    if (owner_id == 0 && !unit.empty()) q.BindText(2, unit);
    std::vector<Case> cases;
    while (q.Step()) cases.push_back(ReadCase(q));
    return cases;
  });
}

Probe Cases::AddProbe(int64_t case_id, int64_t user_id, const std::vector<uint8_t>& bytes,
                      const std::string& extension, int width, int height, const std::vector<ProbeFace>& faces) {
  Probe p;
  p.case_id = case_id;
  p.user_id = user_id;
  p.sha256 = Sha256Hex(bytes.data(), bytes.size());
  p.stored_path = (fs::path("cases") / std::to_string(case_id) / (p.sha256 + extension)).string();
  p.width = width;
  p.height = height;
  p.faces = faces;
  p.created_at = db_.Now();
  p.id = db_.Write([&](SqliteDb& db) {
    // Under the write lock (see the header): the file, then its row.
    WriteFileAtomically(data_dir_ / p.stored_path, bytes.data(), bytes.size(), FileSync::kFsync);
    auto q = db.Query(
        "INSERT INTO probes (case_id, user_id, sha256, stored_path, width, height, faces_json, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    q.Bind(1, case_id).Bind(2, user_id).BindText(3, p.sha256).BindText(4, p.stored_path);
    q.Bind(5, width).Bind(6, height).BindText(7, FacesToText(faces)).Bind(8, p.created_at).Run();
    return db.LastInsertRowId();
  });
  return p;
}

std::optional<Probe> Cases::GetProbe(int64_t probe_id) {
  return db_.Read([&](SqliteDb& db) -> std::optional<Probe> {
    auto q = db.Query(std::string("SELECT ") + kProbeColumns + " FROM probes WHERE id = ?1");
    q.Bind(1, probe_id);
    if (!q.Step()) return std::nullopt;
    return ReadProbe(q);
  });
}

std::vector<Probe> Cases::ProbesOf(int64_t case_id) {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query(std::string("SELECT ") + kProbeColumns + " FROM probes WHERE case_id = ?1 ORDER BY id");
    q.Bind(1, case_id);
    std::vector<Probe> probes;
    while (q.Step()) probes.push_back(ReadProbe(q));
    return probes;
  });
}

int64_t Cases::RecordSearchIn(SqliteDb& db, const SearchRecord& s) {
  auto q = db.Query(
      "INSERT INTO searches (case_id, probe_id, user_id, username, client, created_at, box_x, box_y, box_w, box_h, "
      "top_k, index_used, faces_searched) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
  q.Bind(1, s.case_id).Bind(2, s.probe_id).Bind(3, s.user_id).BindText(4, s.username).BindText(5, s.client);
  q.Bind(6, s.created_at);
  for (int i = 0; i < 4; ++i) q.BindDouble(7 + i, s.face_box[i]);
  q.Bind(11, s.top_k).BindText(12, s.index_used).Bind(13, s.faces_searched).Run();
  int64_t id = db.LastInsertRowId();
  for (const SearchCandidate& c : s.candidates) {
    auto insert = db.Query("INSERT INTO search_candidates (search_id, rank, face_id, score, band) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)");
    insert.Bind(1, id).Bind(2, c.rank).Bind(3, c.face_id).BindDouble(4, c.score).BindText(5, c.band).Run();
  }
  return id;
}

std::optional<SearchRecord> Cases::GetSearch(int64_t search_id) {
  return db_.Read([&](SqliteDb& db) -> std::optional<SearchRecord> {
    auto q = db.Query(std::string("SELECT ") + kSearchColumns + " FROM searches WHERE id = ?1");
    q.Bind(1, search_id);
    if (!q.Step()) return std::nullopt;
    SearchRecord s = ReadSearch(q);
    auto c = db.Query("SELECT rank, face_id, score, band FROM search_candidates WHERE search_id = ?1 ORDER BY rank");
    c.Bind(1, search_id);
    while (c.Step()) {
      s.candidates.push_back({static_cast<int>(c.Int64(0)), c.Int64(1), static_cast<float>(c.Double(2)), c.Text(3)});
    }
    return s;
  });
}

std::vector<SearchRecord> Cases::SearchesOf(int64_t case_id) {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query(std::string("SELECT ") + kSearchColumns + " FROM searches WHERE case_id = ?1 ORDER BY id DESC");
    q.Bind(1, case_id);
    std::vector<SearchRecord> searches;
    while (q.Step()) searches.push_back(ReadSearch(q));
    return searches;
  });
}

std::vector<SearchRecord> Cases::RecentSearches(int64_t owner_id, const std::string& unit, int64_t limit) {
  return db_.Read([&](SqliteDb& db) {
    std::string sql = std::string("SELECT ") + kSearchColumns + " FROM searches WHERE case_id IN (SELECT id FROM cases";
    if (owner_id != 0) {
      sql += " WHERE owner_id = ?1";
    } else if (!unit.empty()) {
      sql += " WHERE unit = ?2";
    }
    sql += ") ORDER BY id DESC LIMIT ?3";
    auto q = db.Query(sql);
    if (owner_id != 0) q.Bind(1, owner_id);
    if (owner_id == 0 && !unit.empty()) q.BindText(2, unit);
    q.Bind(3, limit);
    std::vector<SearchRecord> searches;
    while (q.Step()) searches.push_back(ReadSearch(q));
    return searches;
  });
}

Decision Cases::RecordDecisionIn(SqliteDb& db, const Decision& d) {
  if (d.decision != "possible_match" && d.decision != "not_a_match" && d.decision != "inconclusive") {
    throw InvalidArgument("decision", "decision: one of possible_match, not_a_match, inconclusive");
  }
  if (d.note.size() > kMaxNote || HasControlCharacters(d.note, true)) {
    throw InvalidArgument("note", "note: at most 4000 characters, no control characters");
  }
  auto shown = db.Query("SELECT 1 FROM search_candidates WHERE search_id = ?1 AND face_id = ?2");
  shown.Bind(1, d.search_id).Bind(2, d.face_id);
  if (!shown.Step()) throw InvalidArgument("face_id", "face " + std::to_string(d.face_id) + " was not a candidate of this search");
  auto q = db.Query(
      "INSERT INTO decisions (search_id, face_id, user_id, username, decision, note, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (search_id, face_id, user_id) DO UPDATE SET "
      "decision = excluded.decision, note = excluded.note, created_at = excluded.created_at");
  q.Bind(1, d.search_id).Bind(2, d.face_id).Bind(3, d.user_id).BindText(4, d.username).BindText(5, d.decision);
  q.BindText(6, d.note).Bind(7, d.created_at).Run();
  return d;
}

std::vector<Decision> Cases::DecisionsOf(int64_t search_id) {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query(
        "SELECT search_id, face_id, user_id, username, decision, note, created_at FROM decisions "
        "WHERE search_id = ?1 ORDER BY face_id, created_at");
    q.Bind(1, search_id);
    std::vector<Decision> out;
    while (q.Step()) {
      out.push_back({q.Int64(0), q.Int64(1), q.Int64(2), q.Text(3), q.Text(4), q.Text(5), q.Int64(6)});
    }
    return out;
  });
}

std::vector<int64_t> Cases::CasesThatShowedFace(int64_t face_id) {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query(
        "SELECT DISTINCT s.case_id FROM search_candidates c JOIN searches s ON s.id = c.search_id "
        "WHERE c.face_id = ?1");
    q.Bind(1, face_id);
    std::vector<int64_t> ids;
    while (q.Step()) ids.push_back(q.Int64(0));
    return ids;
  });
}

}  // namespace lineup
