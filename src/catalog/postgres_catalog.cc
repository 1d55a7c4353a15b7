#include "catalog/postgres_catalog.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <regex>
#include <pqxx/pqxx>
#include <type_traits>
#include <unordered_map>

#include "catalog/row_encoding.h"
#include "common/error.h"
#include "common/file_util.h"

namespace lineup {
namespace {

using row_encoding::HasAnyField;
using row_encoding::PackFloats;
using row_encoding::PrefixSuccessor;
using row_encoding::UnpackFloats;

// --- connection strings (for messages only; libpq itself parses them)

struct ConnInfoFields {
  std::string host, hostaddr, port, dbname, user;
  std::vector<std::string> passwords;  // only to redact them from messages
};

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(const std::string& text) {
  std::string out;
  for (size_t k = 0; k < text.size(); ++k) {
    if (text[k] == '%' && k + 2 < text.size() && HexDigit(text[k + 1]) >= 0 &&
        HexDigit(text[k + 2]) >= 0) {
      out += static_cast<char>(HexDigit(text[k + 1]) * 16 + HexDigit(text[k + 2]));
      k += 2;
    } else {
      out += text[k];
    }
  }
  return out;
}

void SetField(ConnInfoFields& f, const std::string& key, const std::string& value) {
  if (key == "password") {
    f.passwords.push_back(value);
    return;
  }
  const std::pair<const char*, std::string*> fields[] = {{"host", &f.host},
                                                         {"hostaddr", &f.hostaddr},
                                                         {"port", &f.port},
                                                         {"dbname", &f.dbname},
                                                         {"user", &f.user}};
  for (const auto& [name, field] : fields) {
    if (key == name) *field = value;
  }
}

// postgresql://[user[:password]@][host][:port][/dbname][?key=value&...]
void ParseUri(const std::string& uri, size_t scheme_end, ConnInfoFields& f) {
  std::string rest = uri.substr(scheme_end);
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    f.dbname = PercentDecode(rest.substr(slash + 1));
    rest.resize(slash);
  }
  if (size_t at = rest.rfind('@'); at != std::string::npos) {
    const std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    f.user = PercentDecode(userinfo.substr(0, colon));
    if (colon != std::string::npos) {
      f.passwords.push_back(userinfo.substr(colon + 1));
      f.passwords.push_back(PercentDecode(userinfo.substr(colon + 1)));
    }
  }
  // host[:port], or [v6]:port; several hosts are comma-separated.
  const size_t bracket = rest.rfind(']');
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket) &&
      rest.find(',') == std::string::npos) {
    f.port = rest.substr(colon + 1);
    rest.resize(colon);
  }
  f.host = PercentDecode(rest);
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (eq != std::string::npos) {
      const std::string raw_value = pair.substr(eq + 1);
      SetField(f, PercentDecode(pair.substr(0, eq)), PercentDecode(raw_value));
      if (PercentDecode(pair.substr(0, eq)) == "password") f.passwords.push_back(raw_value);
    }
    start = end + 1;
  }
}

// key = value pairs; values may be single-quoted, with \' and \\ escapes.
void ParseKeywords(const std::string& text, ConnInfoFields& f) {
  size_t k = 0;
  auto skip_space = [&] {
    while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
  };
  while (true) {
    skip_space();
    if (k >= text.size()) return;
    std::string key;
    while (k < text.size() && text[k] != '=' &&
           !std::isspace(static_cast<unsigned char>(text[k]))) {
      key += text[k++];
    }
    skip_space();
    if (k >= text.size() || text[k] != '=') return;  // malformed: libpq will say so
    ++k;
    skip_space();
    std::string value;
    if (k < text.size() && text[k] == '\'') {
      for (++k; k < text.size() && text[k] != '\''; ++k) {
        if (text[k] == '\\' && k + 1 < text.size()) ++k;
        value += text[k];
      }
      ++k;
    } else {
      for (; k < text.size() && !std::isspace(static_cast<unsigned char>(text[k])); ++k) {
        if (text[k] == '\\' && k + 1 < text.size()) ++k;
        value += text[k];
      }
    }
    SetField(f, key, value);
  }
}

ConnInfoFields ParseConnInfo(const std::string& conninfo) {
  ConnInfoFields f;
  for (const char* scheme : {"postgresql://", "postgres://"}) {
    if (conninfo.rfind(scheme, 0) == 0) {
      ParseUri(conninfo, std::string(scheme).size(), f);
      return f;
    }
  }
  ParseKeywords(conninfo, f);
  return f;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// Replaces every non-empty password of the connection string in `text`.
std::string Redact(std::string text, const ConnInfoFields& f) {
  for (const std::string& secret : f.passwords) {
    if (secret.empty()) continue;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "***");
      at += 3;
    }
  }
  return text;
}

// --- schema

constexpr int64_t kMigrationLockKey = 0x4C494E4555500001;  // "LINEUP" 00 01

// kPgMigrations[v] upgrades a database of schema v to v + 1. Released entries
// are never edited; a change is a new entry at the end.
constexpr const char* kPgMigrations[] = {
    // v0 -> v1
    R"sql(
CREATE TABLE settings (
  key   BYTEA NOT NULL,
  value BYTEA NOT NULL
);
CREATE UNIQUE INDEX settings_key ON settings (sha256(key));

CREATE TABLE collections (
  id             BIGSERIAL PRIMARY KEY,
  name           BYTEA NOT NULL CHECK (length(name) > 0),
  description    BYTEA NOT NULL,
  legal_basis    BYTEA NOT NULL CHECK (length(legal_basis) > 0),
  jurisdiction   BYTEA NOT NULL,
  retention_days BIGINT NOT NULL CHECK (retention_days >= 0),
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX collections_name ON collections (sha256(name));

-- A source row exists only while at least one image refers to it. Identical
-- sources (all six fields equal) share one row: fingerprint is the SHA-256
-- (hex) of the length-prefixed fields.
CREATE TABLE sources (
  id           BIGSERIAL PRIMARY KEY,
  fingerprint  TEXT NOT NULL UNIQUE,
  source_url   BYTEA NOT NULL,
  page_url     BYTEA NOT NULL,
  title        BYTEA NOT NULL,
  captured_at  BYTEA NOT NULL,
  published_at BYTEA NOT NULL,
  licence      BYTEA NOT NULL
);
CREATE INDEX sources_source_url_head ON sources (substr(source_url, 1, 256));
CREATE INDEX sources_page_url_head ON sources (substr(page_url, 1, 256));

CREATE TABLE ingest_jobs (
  id            BIGSERIAL PRIMARY KEY,
  collection_id BIGINT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
  input         BYTEA NOT NULL,
  options_json  BYTEA NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'done', 'failed')),
  images_seen   BIGINT NOT NULL DEFAULT 0,
  images_added  BIGINT NOT NULL DEFAULT 0,
  duplicates    BIGINT NOT NULL DEFAULT 0,
  no_face       BIGINT NOT NULL DEFAULT 0,
  faces_added   BIGINT NOT NULL DEFAULT 0,
  errors        BIGINT NOT NULL DEFAULT 0,
  started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at   TIMESTAMPTZ
);
CREATE INDEX ingest_jobs_by_input ON ingest_jobs (collection_id, sha256(input));

CREATE TABLE job_errors (
  id     BIGSERIAL PRIMARY KEY,
  job_id BIGINT NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
  item   BYTEA NOT NULL,
  reason BYTEA NOT NULL
);
CREATE INDEX job_errors_by_job ON job_errors (job_id, id);

-- perceptual_hash holds the uint64 hash's bits as a signed 64-bit integer.
CREATE TABLE images (
  id              BIGSERIAL PRIMARY KEY,
  collection_id   BIGINT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
  source_id       BIGINT REFERENCES sources (id),
  job_id          BIGINT REFERENCES ingest_jobs (id) ON DELETE SET NULL,
  content_sha256  BYTEA NOT NULL,
  perceptual_hash BIGINT NOT NULL,
  width           INTEGER NOT NULL,
  height          INTEGER NOT NULL,
  byte_size       BIGINT NOT NULL,
  stored_path     BYTEA NOT NULL,
  original_name   BYTEA NOT NULL,
  ingested_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT images_id_collection UNIQUE (id, collection_id)
);
CREATE UNIQUE INDEX images_content ON images (collection_id, sha256(content_sha256));
CREATE INDEX images_by_source ON images (source_id);
CREATE INDEX images_by_job ON images (job_id);

-- box: 4 and landmarks: 10 little-endian float32. collection_id repeats the
-- image's (the composite key keeps it equal) so that ForEachFace reads one
-- index in id order without a join.
CREATE TABLE faces (
  id              BIGINT PRIMARY KEY CHECK (id > 0),
  image_id        BIGINT NOT NULL,
  collection_id   BIGINT NOT NULL,
  box             BYTEA NOT NULL CHECK (length(box) = 16),
  landmarks       BYTEA NOT NULL CHECK (length(landmarks) = 40),
  detection_score REAL NOT NULL,
  size_px         REAL NOT NULL,
  sharpness       REAL NOT NULL,
  yaw_deg         REAL NOT NULL,
  roll_deg        REAL NOT NULL,
  model_id        BYTEA NOT NULL,
  CONSTRAINT faces_image FOREIGN KEY (image_id, collection_id)
    REFERENCES images (id, collection_id) ON DELETE CASCADE
);
CREATE INDEX faces_by_image ON faces (image_id);

-- One row: the next face id ReserveFaceIds hands out. Only ever grows.
CREATE TABLE face_id_reservation (
  singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
  next_face_id BIGINT NOT NULL CHECK (next_face_id >= 1)
);
INSERT INTO face_id_reservation (singleton, next_face_id) VALUES (1, 1);
)sql",
    // v1 -> v2: faces an opt-out kept out of a job
    R"sql(
ALTER TABLE ingest_jobs ADD COLUMN opted_out BIGINT NOT NULL DEFAULT 0;
)sql",
    // v2 -> v3: sources.licence is called what it holds, an item's legal basis
    R"sql(
ALTER TABLE sources RENAME COLUMN licence TO legal_basis;
)sql",
};
static_assert(std::size(kPgMigrations) == kPostgresCatalogSchemaVersion);

// --- SQL text pieces (column lists; aliases f, i, s, c, j)

// A TIMESTAMPTZ column as ISO 8601 UTC with seconds, like the SQLite catalog.
std::string Iso(const std::string& column) {
  return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
}

const std::string kPgFaceColumns =
    "f.id, f.image_id, f.box, f.landmarks, f.detection_score, f.size_px, f.sharpness, "
    "f.yaw_deg, f.roll_deg, f.model_id";
constexpr int kPgFaceColumnCount = 10;
const std::string kPgImageColumns =
    "i.id, i.collection_id, i.source_id, i.job_id, i.content_sha256, i.perceptual_hash, "
    "i.width, i.height, i.byte_size, i.stored_path, i.original_name, " +
    Iso("i.ingested_at");
constexpr int kPgImageColumnCount = 12;
const std::string kPgCollectionColumns =
    "c.id, c.name, c.description, c.legal_basis, c.jurisdiction, c.retention_days, " +
    Iso("c.created_at");
constexpr int kPgCollectionColumnCount = 7;
const std::string kPgSourceColumns =
    "s.id, s.source_url, s.page_url, s.title, s.captured_at, s.published_at, s.legal_basis";
const std::string kPgJobColumns =
    "j.id, j.collection_id, j.input, j.options_json, j.status, j.images_seen, j.images_added, "
    "j.duplicates, j.no_face, j.faces_added, j.errors, " +
    Iso("j.started_at") + ", " + Iso("j.finished_at") + ", j.opted_out";

// The URL prefix indexes cover this many leading bytes.
constexpr size_t kUrlHeadBytes = 256;
// Stays well below PostgreSQL's limit of 65535 parameters per statement.
constexpr size_t kMaxParams = 30000;
constexpr size_t kDescribeChunk = 1000;
constexpr int64_t kSourcePage = 10000;  // rows per ForEachImageSource statement
constexpr int kForEachFacePage = 10000;

// --- values <-> text parameters and results

std::string HexBytea(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  for (unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

// Decodes a BYTEA result field (bytea_output = hex, set per session).
std::string Bytes(const pqxx::field& field) {
  const char* text = field.c_str();
  const size_t size = field.size();
  if (size < 2 || text[0] != '\\' || text[1] != 'x' || size % 2 != 0) {
    throw Error("PostgreSQL catalog: unexpected BYTEA text for column " +
                std::string(field.name()));
  }
  std::string out((size - 2) / 2, '\0');
  for (size_t k = 0; k < out.size(); ++k) {
    const int hi = HexDigit(text[2 + 2 * k]);
    const int lo = HexDigit(text[3 + 2 * k]);
    if (hi < 0 || lo < 0) throw Error("PostgreSQL catalog: bad hex in a BYTEA value");
    out[k] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

int64_t Int(const pqxx::field& field) { return field.is_null() ? 0 : field.as<int64_t>(); }
std::string Text(const pqxx::field& field) { return field.is_null() ? "" : field.c_str(); }

// Nine significant digits round-trip every float exactly; NaN and the
// infinities are spelled the way float4 input accepts them.
std::string FloatText(float value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", static_cast<double>(value));
  return text;
}

float Float(const pqxx::field& field) { return std::strtof(field.c_str(), nullptr); }



// "{1,2,3}": a bigint[] parameter.
std::string IntArray(const std::vector<int64_t>& values, size_t begin, size_t end) {
  std::string out = "{";
  for (size_t k = begin; k < end; ++k) {
    if (k > begin) out += ',';
    out += std::to_string(values[k]);
  }
  return out + "}";
}

// The parameters of one statement. Each Add* returns the placeholder
// ("$3::bytea") to write into the SQL text: values never enter the text.
class Params {
 public:
  std::string Bytea(const std::string& bytes) { return Add(HexBytea(bytes)) + "::bytea"; }
  std::string Int(int64_t value) { return Add(std::to_string(value)) + "::bigint"; }
  // NULL for 0 (an absent optional reference).
  std::string IdOrNull(int64_t id) { return "NULLIF(" + Int(id) + ", 0)"; }
  std::string Real(float value) { return Add(FloatText(value)) + "::real"; }
  std::string Text(const std::string& text) { return Add(text) + "::text"; }
  std::string Ints(const std::vector<int64_t>& values, size_t begin, size_t end) {
    return Add(IntArray(values, begin, end)) + "::bigint[]";
  }

  size_t size() const { return values_.size(); }
  pqxx::result Exec(pqxx::transaction_base& tx, const std::string& sql) const {
    return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(values_));
  }

 private:
  std::string Add(std::string value) {
    values_.push_back(std::move(value));
    return "$" + std::to_string(values_.size());
  }
  std::vector<std::string> values_;
};

// --- row readers (column order = the lists above, from `first`)

Collection ReadCollection(const pqxx::row& r, int first) {
  Collection c;
  c.id = Int(r[first]);
  c.name = Bytes(r[first + 1]);
  c.description = Bytes(r[first + 2]);
  c.legal_basis = Bytes(r[first + 3]);
  c.jurisdiction = Bytes(r[first + 4]);
  c.retention_days = Int(r[first + 5]);
  c.created_at = Text(r[first + 6]);
  return c;
}

ImageRecord ReadImage(const pqxx::row& r, int first) {
  ImageRecord image;
  image.id = Int(r[first]);
  image.collection_id = Int(r[first + 1]);
  image.source_id = Int(r[first + 2]);  // NULL = no source
  image.job_id = Int(r[first + 3]);
  image.content_sha256 = Bytes(r[first + 4]);
  image.perceptual_hash = static_cast<uint64_t>(Int(r[first + 5]));
  image.width = static_cast<int>(Int(r[first + 6]));
  image.height = static_cast<int>(Int(r[first + 7]));
  image.byte_size = Int(r[first + 8]);
  image.stored_path = Bytes(r[first + 9]);
  image.original_name = Bytes(r[first + 10]);
  image.ingested_at = Text(r[first + 11]);
  return image;
}

FaceRecord ReadFace(const pqxx::row& r, int first) {
  FaceRecord face;
  face.id = Int(r[first]);
  face.image_id = Int(r[first + 1]);
  face.box = UnpackFloats<4>(Bytes(r[first + 2]), "PostgreSQL catalog");
  face.landmarks = UnpackFloats<10>(Bytes(r[first + 3]), "PostgreSQL catalog");
  face.detection_score = Float(r[first + 4]);
  face.size_px = Float(r[first + 5]);
  face.sharpness = Float(r[first + 6]);
  face.yaw_deg = Float(r[first + 7]);
  face.roll_deg = Float(r[first + 8]);
  face.model_id = Bytes(r[first + 9]);
  return face;
}

Source ReadSource(const pqxx::row& r, int first) {
  Source s;
  s.id = Int(r[first]);
  s.source_url = Bytes(r[first + 1]);
  s.page_url = Bytes(r[first + 2]);
  s.title = Bytes(r[first + 3]);
  s.captured_at = Bytes(r[first + 4]);
  s.published_at = Bytes(r[first + 5]);
  s.legal_basis = Bytes(r[first + 6]);
  return s;
}

IngestJob ReadJob(const pqxx::row& r) {
  IngestJob job;
  job.id = Int(r[0]);
  job.collection_id = Int(r[1]);
  job.input = Bytes(r[2]);
  job.options_json = Bytes(r[3]);
  job.status = JobStatusFromString(Text(r[4]));
  job.counters.images_seen = Int(r[5]);
  job.counters.images_added = Int(r[6]);
  job.counters.duplicates = Int(r[7]);
  job.counters.no_face = Int(r[8]);
  job.counters.faces_added = Int(r[9]);
  job.counters.errors = Int(r[10]);
  job.started_at = Text(r[11]);
  job.finished_at = Text(r[12]);  // NULL while running
  job.counters.opted_out = Int(r[13]);
  return job;
}

std::vector<int64_t> SortedIds(const pqxx::result& result) {
  std::vector<int64_t> ids;
  ids.reserve(result.size());
  for (const auto& row : result) ids.push_back(Int(row[0]));
  std::sort(ids.begin(), ids.end());
  return ids;
}


// Equal for identical sources only: the fields are length-prefixed.
std::string SourceFingerprint(const Source& s) {
  std::string encoded;
  for (const std::string* field :
       {&s.source_url, &s.page_url, &s.title, &s.captured_at, &s.published_at, &s.legal_basis}) {
    encoded += std::to_string(field->size());
    encoded += ':';
    encoded += *field;
  }
  return Sha256Hex(encoded.data(), encoded.size());
}


// Runs an INSERT of `rows` rows, as few statements as the parameter limit
// allows. `row(params, k)` adds row k's values and returns "(…)" of their
// placeholders; `tail` follows VALUES (ON CONFLICT, RETURNING). Returns the
// rows every statement returned.
template <typename RowFn>
std::vector<pqxx::result> InsertRows(pqxx::transaction_base& tx, const std::string& head,
                                     size_t rows, size_t params_per_row, const RowFn& row,
                                     const std::string& tail = "") {
  std::vector<pqxx::result> results;
  const size_t per_statement = std::max<size_t>(1, kMaxParams / params_per_row);
  for (size_t start = 0; start < rows; start += per_statement) {
    const size_t end = std::min(rows, start + per_statement);
    Params p;
    std::string sql = head + " VALUES ";
    for (size_t k = start; k < end; ++k) {
      if (k > start) sql += ", ";
      sql += row(p, k);
    }
    results.push_back(p.Exec(tx, sql + tail));
  }
  return results;
}

// --- the connection pool setting

// The pool size the connection string asks for with Lineup's own keyword
// `lineup_pool=N` (keyword form) or query parameter (URI form), removed from
// `conninfo` because libpq does not know it; kDefaultPoolSize without it.
size_t TakePoolSize(std::string& conninfo) {
  static const std::regex keyword(R"((^|\s)lineup_pool\s*=\s*(\d+)(\s|$))");
  static const std::regex parameter(R"(([?&])lineup_pool=(\d+)(&|$))");
  const bool uri = conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
  std::smatch m;
  if (!std::regex_search(conninfo, m, uri ? parameter : keyword)) return kDefaultPostgresPoolSize;
  const std::string digits = m[2].str();
  const size_t size = digits.size() > 3 ? 0 : std::stoul(digits);
  if (size < 1 || size > kMaxPostgresPoolSize) {
    throw Error("PostgreSQL catalog: lineup_pool=" + digits + " must be between 1 and " +
                std::to_string(kMaxPostgresPoolSize));
  }
  // Keep what separates the neighbours: a space, or the URI's '?' / '&'
  // when a parameter follows.
  const std::string keep = !uri ? " " : m[3].str() == "&" ? m[1].str() : "";
  conninfo = m.prefix().str() + keep + m.suffix().str();
  return size;
}

// --- the catalog

class PostgresCatalog final : public Catalog {
 public:
  PostgresCatalog(const std::string& conninfo, size_t pool_size)
      : conninfo_(conninfo),
        fields_(ParseConnInfo(conninfo)),
        where_(DescribePostgresLocation(conninfo)),
        pool_size_(pool_size) {
    Run("opening the catalog", [&](pqxx::connection& c) {
      Migrate(c);
      return 0;
    });
  }

  int SchemaVersion() override {
    return Run("reading the schema version", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      return static_cast<int>(Int(tx.exec1("SELECT max(version) FROM schema_migrations")[0]));
    });
  }

  std::optional<std::string> GetSetting(const std::string& key) override {
    return Run("reading a setting", [&](pqxx::connection& c) -> std::optional<std::string> {
      pqxx::nontransaction tx(c);
      Params p;
      const std::string k = p.Bytea(key);
      auto r = p.Exec(
          tx, "SELECT value FROM settings WHERE sha256(key) = sha256(" + k + ") AND key = " + k);
      if (r.empty()) return std::nullopt;
      return Bytes(r[0][0]);
    });
  }

  void SetSetting(const std::string& key, const std::string& value) override {
    Run("writing a setting", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      p.Exec(tx, "INSERT INTO settings (key, value) VALUES (" + p.Bytea(key) + ", " +
                     p.Bytea(value) +
                     ") ON CONFLICT ((sha256(key))) DO UPDATE SET value = EXCLUDED.value");
      tx.commit();
      return 0;
    });
  }

  // --- collections

  Collection CreateCollection(const Collection& collection) override {
    if (collection.name.empty()) throw Error(Context(where_, "a collection needs a name"));
    if (collection.legal_basis.empty()) {
      throw Error(Context(where_, "collection '" + collection.name + "' needs a legal basis"));
    }
    if (collection.retention_days < 0) {
      throw Error(Context(
          where_, "collection '" + collection.name + "': retention_days must not be negative"));
    }
    return Run("creating a collection", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      auto r =
          p.Exec(tx,
                 "INSERT INTO collections AS c (name, description, legal_basis, jurisdiction, "
                 "retention_days) VALUES (" +
                     p.Bytea(collection.name) + ", " + p.Bytea(collection.description) + ", " +
                     p.Bytea(collection.legal_basis) + ", " + p.Bytea(collection.jurisdiction) +
                     ", " + p.Int(collection.retention_days) +
                     ") ON CONFLICT DO NOTHING RETURNING " + kPgCollectionColumns);
      if (r.empty()) {
        throw Error(Context(where_, "collection name '" + collection.name + "' is taken"));
      }
      tx.commit();
      return ReadCollection(r[0], 0);
    });
  }

  bool SetRetentionDays(int64_t collection_id, int64_t days) override {
    if (days < 0) throw Error(Context(where_, "retention days must be 0 (keep) or more"));
    return Run("setting a collection's retention", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      auto r = p.Exec(tx, "UPDATE collections SET retention_days = " + p.Int(days) + " WHERE id = " +
                              p.Int(collection_id) + " RETURNING id");
      tx.commit();
      return !r.empty();
    });
  }

  std::optional<Collection> FindCollection(const std::string& name) override {
    return Run("finding a collection", [&](pqxx::connection& c) -> std::optional<Collection> {
      pqxx::nontransaction tx(c);
      Params p;
      const std::string n = p.Bytea(name);
      auto r = p.Exec(tx, "SELECT " + kPgCollectionColumns +
                              " FROM collections c WHERE "
                              "sha256(c.name) = sha256(" +
                              n + ") AND c.name = " + n);
      if (r.empty()) return std::nullopt;
      return ReadCollection(r[0], 0);
    });
  }

  std::optional<Collection> GetCollection(int64_t id) override {
    return Run("reading a collection", [&](pqxx::connection& c) -> std::optional<Collection> {
      pqxx::nontransaction tx(c);
      Params p;
      auto r = p.Exec(
          tx, "SELECT " + kPgCollectionColumns + " FROM collections c WHERE c.id = " + p.Int(id));
      if (r.empty()) return std::nullopt;
      return ReadCollection(r[0], 0);
    });
  }

  std::vector<Collection> ListCollections() override {
    return Run("listing collections", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      std::vector<Collection> out;
      for (const auto& row :
           tx.exec("SELECT " + kPgCollectionColumns + " FROM collections c ORDER BY c.id")) {
        out.push_back(ReadCollection(row, 0));
      }
      return out;
    });
  }

  // --- face ids

  // The counter row's lock serialises reservations from every connection;
  // the commit is synchronous whatever the server's default, because a lost
  // reservation could hand out ids already used in a vector store.
  int64_t ReserveFaceIds(int64_t count) override {
    if (count < 1) throw Error(Context(where_, "ReserveFaceIds needs a count of at least 1"));
    return Run("reserving face ids", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec0("SET LOCAL synchronous_commit = on");
      Params p;
      const std::string n = p.Int(count);
      auto r = p.Exec(tx, "UPDATE face_id_reservation SET next_face_id = next_face_id + " + n +
                              " WHERE singleton = 1 RETURNING next_face_id - " + n);
      if (r.size() != 1) throw Error(Context(where_, "face id counter row is missing"));
      const int64_t first = Int(r[0][0]);
      tx.commit();
      return first;
    });
  }

  // --- writing images

  std::vector<int64_t> AddImages(const std::vector<ImageWrite>& images, int64_t job_id,
                                 const JobCounters& delta) override {
    CheckBatch(images);
    return Run("adding images", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      if (job_id != 0) AddJobCountersIn(tx, job_id, delta);
      std::vector<int64_t> image_ids;
      if (!images.empty()) {
        CheckFaceIdsReserved(tx, images);
        const std::vector<int64_t> source_ids = UpsertSources(tx, images);
        image_ids = NewImageIds(tx, images.size());
        InsertImages(tx, images, image_ids, source_ids, job_id);
        InsertFaces(tx, images, image_ids);
      }
      tx.commit();
      return image_ids;
    });
  }

  // --- reading

  std::optional<ImageRecord> FindImageByHash(int64_t collection_id,
                                             const std::string& content_sha256) override {
    return Run("finding an image", [&](pqxx::connection& c) -> std::optional<ImageRecord> {
      pqxx::nontransaction tx(c);
      Params p;
      const std::string collection = p.Int(collection_id);
      const std::string hash = p.Bytea(content_sha256);
      auto r = p.Exec(tx, "SELECT " + kPgImageColumns + " FROM images i WHERE i.collection_id = " +
                              collection + " AND sha256(i.content_sha256) = sha256(" + hash +
                              ") AND i.content_sha256 = " + hash);
      if (r.empty()) return std::nullopt;
      return ReadImage(r[0], 0);
    });
  }

  std::optional<ImageRecord> GetImage(int64_t image_id) override {
    return Run("reading an image", [&](pqxx::connection& c) -> std::optional<ImageRecord> {
      pqxx::nontransaction tx(c);
      Params p;
      auto r =
          p.Exec(tx, "SELECT " + kPgImageColumns + " FROM images i WHERE i.id = " + p.Int(image_id));
      if (r.empty()) return std::nullopt;
      return ReadImage(r[0], 0);
    });
  }

  std::vector<FaceRecord> FacesOfImage(int64_t image_id) override {
    return Run("reading faces", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      Params p;
      std::vector<FaceRecord> out;
      for (const auto& row : p.Exec(tx, "SELECT " + kPgFaceColumns +
                                            " FROM faces f WHERE f.image_id = " + p.Int(image_id) +
                                            " ORDER BY f.id")) {
        out.push_back(ReadFace(row, 0));
      }
      return out;
    });
  }

  std::vector<FaceProvenance> DescribeFaces(const std::vector<int64_t>& face_ids) override {
    if (face_ids.empty()) return {};
    std::unordered_map<int64_t, FaceProvenance> found =
        Run("describing faces", [&](pqxx::connection& c) {
          pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
          std::unordered_map<int64_t, FaceProvenance> rows;
          for (size_t start = 0; start < face_ids.size(); start += kDescribeChunk) {
            DescribeChunk(tx, face_ids, start, std::min(face_ids.size(), start + kDescribeChunk),
                          rows);
          }
          tx.commit();
          return rows;
        });
    std::vector<FaceProvenance> out;
    out.reserve(face_ids.size());
    for (int64_t id : face_ids) {
      auto it = found.find(id);
      if (it != found.end()) out.push_back(it->second);
    }
    return out;
  }

  // A connection of its own, one REPEATABLE READ snapshot, read through a
  // cursor a page at a time: constant memory, and fn runs without the
  // catalog's lock (it may call the catalog).
  void ForEachFace(const std::function<void(int64_t, int64_t)>& fn) override {
    std::unique_ptr<pqxx::connection> reader;
    std::optional<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>> tx;
    auto no_op = [] {};
    Guard(
        "listing faces",
        [&] {
          reader = Connect();
          tx.emplace(*reader);
          tx->exec0(
              "DECLARE lineup_faces NO SCROLL CURSOR FOR SELECT id, collection_id FROM faces "
              "ORDER BY id");
          return 0;
        },
        no_op);
    const std::string fetch =
        "FETCH FORWARD " + std::to_string(kForEachFacePage) + " FROM lineup_faces";
    while (true) {
      pqxx::result page = Guard(
          "listing faces", [&] { return tx->exec(fetch); }, no_op);
      if (page.empty()) break;
      for (const auto& row : page) fn(Int(row[0]), Int(row[1]));
    }
    Guard(
        "listing faces",
        [&] {
          tx->commit();
          return 0;
        },
        no_op);
  }

  std::vector<int64_t> FindImagesBySourcePrefix(const std::string& prefix) override {
    // An empty prefix would select every image with a source; deleting by it
    // would wipe the gallery, so it is refused rather than guessed at.
    if (prefix.empty()) throw Error(Context(where_, "source prefix must not be empty"));
    // A URL starts with `prefix` only if its indexed head lies in
    // [head, successor(head)), head being the prefix's first 256 bytes; the
    // exact test then runs on the few rows in that range. BYTEA compares
    // bytes, so '%' and '_' are ordinary characters.
    const std::string head = prefix.substr(0, kUrlHeadBytes);
    const std::optional<std::string> upper = PrefixSuccessor(head);
    return Run("searching sources by prefix", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      Params p;
      const std::string low = p.Bytea(head);
      const std::string high = upper ? p.Bytea(*upper) : "";
      const std::string length = p.Int(static_cast<int64_t>(prefix.size()));
      const std::string exact = p.Bytea(prefix);
      auto match = [&](const std::string& column) {
        const std::string indexed =
            "substr(" + column + ", 1, " + std::to_string(kUrlHeadBytes) + ")";
        return "SELECT id FROM sources WHERE " + indexed + " >= " + low +
               (upper ? " AND " + indexed + " < " + high : "") + " AND substr(" + column + ", 1, " +
               length + "::integer) = " + exact;
      };
      return SortedIds(p.Exec(tx, "SELECT i.id FROM images i WHERE i.source_id IN (" +
                                      match("source_url") + " UNION " + match("page_url") + ")"));
    });
  }

  std::vector<int64_t> FindImagesOfJob(int64_t job_id) override {
    return Run("finding the images of an ingest job", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      Params p;
      return SortedIds(p.Exec(tx, "SELECT id FROM images WHERE job_id = " + p.Int(job_id)));
    });
  }

  std::vector<int64_t> FindImagesIngestedBefore(int64_t collection_id,
                                                const std::string& iso_time) override {
    return Run("finding images by ingest time", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      Params p;
      return SortedIds(p.Exec(tx, "SELECT id FROM images WHERE collection_id = " + p.Int(collection_id) +
                                      " AND ingested_at < " + p.Text(iso_time) + "::timestamptz"));
    });
  }

  // Keyset pages, one statement each; fn runs between statements.
  void ForEachImageSource(const std::function<void(int64_t, const std::string&, const std::string&)>&
                              fn) override {
    int64_t after = 0;
    while (true) {
      pqxx::result page = Run("listing image sources", [&](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        Params p;
        return p.Exec(tx,
                      "SELECT i.id, s.source_url, s.page_url FROM images i JOIN sources s ON "
                      "s.id = i.source_id WHERE i.id > " +
                          p.Int(after) + " ORDER BY i.id LIMIT " + std::to_string(kSourcePage));
      });
      if (page.empty()) return;
      for (const auto& row : page) fn(Int(row[0]), Bytes(row[1]), Bytes(row[2]));
      after = Int(page.back()[0]);
    }
  }

  // --- deleting
  //
  // As in the SQLite catalog: a source row lives only while an image refers
  // to it (deleting images removes sources left without any); DeleteFaces
  // removes faces only; deleting what does not exist deletes nothing.
  // Faces are deleted explicitly with RETURNING, so the ids returned are
  // exactly those this transaction deleted. Returned ids are ascending.

  std::vector<int64_t> DeleteFaces(const std::vector<int64_t>& face_ids) override {
    if (face_ids.empty()) return {};
    return Run("deleting faces", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      std::vector<int64_t> deleted;
      for (size_t start = 0; start < face_ids.size(); start += kDescribeChunk) {
        Params p;
        auto r = p.Exec(
            tx, "DELETE FROM faces WHERE id = ANY(" +
                    p.Ints(face_ids, start, std::min(face_ids.size(), start + kDescribeChunk)) +
                    ") RETURNING id");
        for (const auto& row : r) deleted.push_back(Int(row[0]));
      }
      tx.commit();
      std::sort(deleted.begin(), deleted.end());
      return deleted;
    });
  }

  std::vector<int64_t> DeleteImage(int64_t image_id) override {
    return Run("deleting an image", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      const std::string id = p.Int(image_id);
      std::vector<int64_t> faces =
          SortedIds(p.Exec(tx, "DELETE FROM faces WHERE image_id = " + id + " RETURNING id"));
      Params q;
      auto r =
          q.Exec(tx, "DELETE FROM images WHERE id = " + q.Int(image_id) + " RETURNING source_id");
      DeleteOrphanSources(tx, SortedIds(r));
      tx.commit();
      return faces;
    });
  }

  std::vector<int64_t> DeleteImages(const std::vector<int64_t>& image_ids) override {
    if (image_ids.empty()) return {};
    return Run("deleting images", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      std::vector<int64_t> faces, sources;
      for (size_t start = 0; start < image_ids.size(); start += kDescribeChunk) {
        const size_t end = std::min(image_ids.size(), start + kDescribeChunk);
        Params p;
        for (const auto& row :
             p.Exec(tx, "DELETE FROM faces WHERE image_id = ANY(" + p.Ints(image_ids, start, end) +
                            ") RETURNING id")) {
          faces.push_back(Int(row[0]));
        }
        Params q;
        for (const auto& row :
             q.Exec(tx, "DELETE FROM images WHERE id = ANY(" + q.Ints(image_ids, start, end) +
                            ") RETURNING source_id")) {
          sources.push_back(Int(row[0]));
        }
      }
      std::sort(sources.begin(), sources.end());
      sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
      DeleteOrphanSources(tx, sources);
      tx.commit();
      std::sort(faces.begin(), faces.end());
      return faces;
    });
  }

  // VACUUM cannot run inside a transaction block; FULL rewrites each table
  // into new files, so the dead rows' bytes leave the table files.
  void ScrubDeletedRows() override {
    Run("vacuuming the gallery tables", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec0("VACUUM FULL faces, images, sources");
      return 0;
    });
  }

  std::vector<int64_t> DeleteSource(int64_t source_id) override {
    return Run("deleting a source", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      const std::string id = p.Int(source_id);
      std::vector<int64_t> faces =
          SortedIds(p.Exec(tx,
                           "DELETE FROM faces f USING images i WHERE f.image_id = i.id AND "
                           "i.source_id = " +
                               id + " RETURNING f.id"));
      Params q;
      q.Exec(tx, "DELETE FROM images WHERE source_id = " + q.Int(source_id));
      Params r;
      r.Exec(tx, "DELETE FROM sources WHERE id = " + r.Int(source_id));
      tx.commit();
      return faces;
    });
  }

  std::vector<int64_t> DeleteCollection(int64_t collection_id) override {
    return Run("deleting a collection", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      std::vector<int64_t> faces =
          SortedIds(p.Exec(tx,
                           "DELETE FROM faces f USING images i WHERE f.image_id = i.id AND "
                           "i.collection_id = " +
                               p.Int(collection_id) + " RETURNING f.id"));
      Params q;
      auto sources =
          SortedIds(q.Exec(tx, "DELETE FROM images WHERE collection_id = " + q.Int(collection_id) +
                                   " RETURNING source_id"));
      sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
      Params r;  // cascades to its ingest jobs and their errors
      r.Exec(tx, "DELETE FROM collections WHERE id = " + r.Int(collection_id));
      DeleteOrphanSources(tx, sources);
      tx.commit();
      return faces;
    });
  }

  // --- ingest jobs

  IngestJob CreateJob(int64_t collection_id, const std::string& input,
                      const std::string& options_json) override {
    return Run("creating an ingest job", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      const std::string collection = p.Int(collection_id);
      auto r = p.Exec(tx,
                      "INSERT INTO ingest_jobs AS j (collection_id, input, options_json, "
                      "status) SELECT " +
                          collection + ", " + p.Bytea(input) + ", " + p.Bytea(options_json) + ", " +
                          p.Text(ToString(JobStatus::kRunning)) +
                          " WHERE EXISTS (SELECT 1 FROM collections WHERE id = " + collection +
                          ") RETURNING " + kPgJobColumns);
      if (r.empty()) {
        throw Error(Context(where_, "no collection with id " + std::to_string(collection_id)));
      }
      tx.commit();
      return ReadJob(r[0]);
    });
  }

  std::optional<IngestJob> GetJob(int64_t job_id) override {
    return Run("reading an ingest job", [&](pqxx::connection& c) -> std::optional<IngestJob> {
      pqxx::nontransaction tx(c);
      Params p;
      auto r =
          p.Exec(tx, "SELECT " + kPgJobColumns + " FROM ingest_jobs j WHERE j.id = " + p.Int(job_id));
      if (r.empty()) return std::nullopt;
      return ReadJob(r[0]);
    });
  }

  std::vector<IngestJob> ListJobs() override {
    return Run("listing ingest jobs", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      std::vector<IngestJob> out;
      for (const auto& row :
           tx.exec("SELECT " + kPgJobColumns + " FROM ingest_jobs j ORDER BY j.id DESC")) {
        out.push_back(ReadJob(row));
      }
      return out;
    });
  }

  std::optional<IngestJob> FindUnfinishedJob(int64_t collection_id,
                                             const std::string& input) override {
    return Run(
        "finding an unfinished ingest job", [&](pqxx::connection& c) -> std::optional<IngestJob> {
          pqxx::nontransaction tx(c);
          Params p;
          const std::string in = p.Bytea(input);
          auto r =
              p.Exec(tx, "SELECT " + kPgJobColumns +
                             " FROM ingest_jobs j WHERE j.collection_id = " + p.Int(collection_id) +
                             " AND sha256(j.input) = sha256(" + in + ") AND j.input = " + in +
                             " AND j.status IN ('running', 'interrupted') ORDER BY j.id DESC "
                             "LIMIT 1");
          if (r.empty()) return std::nullopt;
          return ReadJob(r[0]);
        });
  }

  void SetJobStatus(int64_t job_id, JobStatus status) override {
    const bool finished = status == JobStatus::kDone || status == JobStatus::kFailed;
    Run("setting an ingest job's status", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      auto r = p.Exec(tx, "UPDATE ingest_jobs SET status = " + p.Text(ToString(status)) +
                              ", finished_at = " + (finished ? "now()" : "NULL") +
                              " WHERE id = " + p.Int(job_id));
      if (r.affected_rows() != 1) throw NoJob(job_id);
      tx.commit();
      return 0;
    });
  }

  void AddJobCounters(int64_t job_id, const JobCounters& delta) override {
    Run("adding to an ingest job's counters", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      AddJobCountersIn(tx, job_id, delta);
      tx.commit();
      return 0;
    });
  }

  void AddJobError(int64_t job_id, const std::string& item, const std::string& reason) override {
    Run("recording an ingest error", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      Params p;
      const std::string job = p.Int(job_id);
      auto r = p.Exec(tx, "INSERT INTO job_errors (job_id, item, reason) SELECT " + job + ", " +
                              p.Bytea(item) + ", " + p.Bytea(reason) +
                              " WHERE EXISTS (SELECT 1 FROM ingest_jobs WHERE id = " + job + ")");
      if (r.affected_rows() != 1) throw NoJob(job_id);
      tx.commit();
      return 0;
    });
  }

  std::vector<JobError> JobErrors(int64_t job_id, int64_t limit) override {
    return Run("reading ingest errors", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      Params p;
      const std::string job = p.Int(job_id);
      // LIMIT NULL is no limit, as a negative limit means.
      const std::string max_rows = limit < 0 ? "NULL" : p.Int(limit);
      std::vector<JobError> out;
      for (const auto& row : p.Exec(tx,
                                    "SELECT job_id, item, reason FROM job_errors WHERE "
                                    "job_id = " +
                                        job + " ORDER BY id LIMIT " + max_rows)) {
        out.push_back(JobError{Int(row[0]), Bytes(row[1]), Bytes(row[2])});
      }
      return out;
    });
  }

  CatalogStats Stats() override {
    return Run("reading statistics", [&](pqxx::connection& c) {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
      CatalogStats stats;
      auto totals = tx.exec1(
          "SELECT (SELECT max(version) FROM schema_migrations), "
          "(SELECT count(*) FROM collections), (SELECT count(*) FROM images), "
          "(SELECT count(*) FROM sources), (SELECT count(*) FROM faces), "
          "(SELECT count(*) FROM ingest_jobs)");
      stats.schema_version = static_cast<int>(Int(totals[0]));
      stats.collections = Int(totals[1]);
      stats.images = Int(totals[2]);
      stats.sources = Int(totals[3]);
      stats.faces = Int(totals[4]);
      stats.jobs = Int(totals[5]);
      for (const auto& row :
           tx.exec("SELECT " + kPgCollectionColumns +
                   ", coalesce(im.n, 0), coalesce(fa.n, 0) "
                   "FROM collections c "
                   "LEFT JOIN (SELECT collection_id, count(*) AS n FROM images GROUP BY "
                   "collection_id) im ON im.collection_id = c.id "
                   "LEFT JOIN (SELECT collection_id, count(*) AS n FROM faces GROUP BY "
                   "collection_id) fa ON fa.collection_id = c.id "
                   "ORDER BY c.id")) {
        CollectionStats per;
        per.collection = ReadCollection(row, 0);
        per.images = Int(row[kPgCollectionColumnCount]);
        per.faces = Int(row[kPgCollectionColumnCount + 1]);
        stats.per_collection.push_back(std::move(per));
      }
      tx.commit();
      return stats;
    });
  }

 private:
  // Opens a connection with the session settings every reader relies on.
  std::unique_ptr<pqxx::connection> Connect() {
    auto connection = std::make_unique<pqxx::connection>(conninfo_);
    pqxx::nontransaction tx(*connection);
    // hex BYTEA text (what Bytes() decodes); floats printed exactly; no
    // NOTICE chatter on stderr.
    tx.exec0("SET bytea_output = 'hex'");
    tx.exec0("SET extra_float_digits = 3");
    tx.exec0("SET client_min_messages = warning");
    return connection;
  }

  // One connection of the pool, for one Run(): taken at construction
  // (waiting while all pool_size_ are in use), given back at destruction.
  // A lost or never-opened connection is given back as nullptr (its place
  // connects again on the next use).
  class Lease {
   public:
    explicit Lease(PostgresCatalog& owner) : owner_(owner), conn_(owner.Acquire()) {}
    ~Lease() { owner_.GiveBack(std::move(conn_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    std::unique_ptr<pqxx::connection>& conn() { return conn_; }

   private:
    PostgresCatalog& owner_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  std::unique_ptr<pqxx::connection> Acquire() {
    std::unique_lock lock(pool_mu_);
    pool_free_.wait(lock, [&] { return leased_ < pool_size_; });
    ++leased_;
    if (idle_.empty()) return nullptr;
    std::unique_ptr<pqxx::connection> c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }

  void GiveBack(std::unique_ptr<pqxx::connection> c) {
    {
      std::lock_guard lock(pool_mu_);
      --leased_;
      if (c && c->is_open()) idle_.push_back(std::move(c));
    }
    pool_free_.notify_one();
  }

  // Runs body(connection) on a connection of the pool, connecting first if
  // its place has none (the first use, or after one was lost); turns
  // libpq/libpqxx failures into Error naming the server and what was being
  // done. A body's transaction begins and ends inside it, so it stays on
  // one connection and no connection goes back to the pool mid-transaction.
  template <typename Body>
  std::invoke_result_t<Body&, pqxx::connection&> Run(const std::string& what, Body&& body) {
    Lease lease(*this);
    std::unique_ptr<pqxx::connection>& conn = lease.conn();
    return Guard(
        what,
        [&] {
          if (!conn) conn = Connect();
          return body(*conn);
        },
        [&] { conn.reset(); });
  }

  // Returns body(), turning pqxx and other library exceptions into Error
  // (an Error thrown by body passes unchanged); calls on_lost() when the
  // connection is gone.
  template <typename Body, typename OnLost>
  std::invoke_result_t<Body&> Guard(const std::string& what, Body&& body, OnLost&& on_lost) const {
    try {
      return body();
    } catch (const Error&) {
      throw;
    } catch (const pqxx::broken_connection& e) {
      on_lost();
      throw Error(Context(where_, what + ": connection failed or lost (nothing was committed): " +
                                      Clean(e.what())));
    } catch (const pqxx::in_doubt_error& e) {
      on_lost();
      throw Error(Context(where_, what +
                                      ": connection lost during commit; the outcome is "
                                      "unknown: " +
                                      Clean(e.what())));
    } catch (const pqxx::sql_error& e) {
      throw Error(Context(where_, what + ": " + Explain(e)));
    } catch (const std::exception& e) {
      throw Error(Context(where_, what + ": " + Clean(e.what())));
    }
  }

  // One line per message line, trailing newline dropped, passwords redacted.
  std::string Clean(const std::string& message) const {
    std::string text = Redact(message, fields_);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    for (char& c : text) {
      if (c == '\n' || c == '\t') c = ' ';
    }
    return text;
  }

  // Known constraints in words, followed by the server's own message.
  std::string Explain(const pqxx::sql_error& e) const {
    const std::string message = e.what();
    std::string plain;
    if (e.sqlstate() == "23505") {
      if (message.find("images_content") != std::string::npos) {
        plain = "an image's content hash is already in its collection";
      } else if (message.find("faces_pkey") != std::string::npos) {
        plain = "a face id is already used";
      } else if (message.find("collections_name") != std::string::npos) {
        plain = "the collection name is taken";
      }
    } else if (e.sqlstate() == "23503") {
      plain = "refers to a collection, source, image or ingest job that does not exist";
    } else if (e.sqlstate() == "57P01") {
      plain = "the server ended the connection";
    }
    return (plain.empty() ? "" : plain + " (") + Clean(message) + (plain.empty() ? "" : ")");
  }

  Error NoJob(int64_t job_id) const {
    return Error(Context(where_, "no ingest job with id " + std::to_string(job_id)));
  }

  void Migrate(pqxx::connection& c) {
    pqxx::work tx(c);
    // Held until commit: a second process opening the same fresh database
    // waits here, then finds the schema in place.
    Params lock;
    lock.Exec(tx, "SELECT pg_advisory_xact_lock(" + lock.Int(kMigrationLockKey) + ")");
    tx.exec0(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
    const int from = static_cast<int>(
        Int(tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0]));
    if (from > kPostgresCatalogSchemaVersion) {
      throw Error(Context(where_, "written by a newer Lineup (schema " + std::to_string(from) +
                                      ", this binary knows " +
                                      std::to_string(kPostgresCatalogSchemaVersion) + ")"));
    }
    for (int v = from; v < kPostgresCatalogSchemaVersion; ++v) {
      tx.exec0(kPgMigrations[v]);
      Params p;
      p.Exec(tx, "INSERT INTO schema_migrations (version) VALUES (" + p.Int(v + 1) + ")");
    }
    tx.commit();
  }

  void AddJobCountersIn(pqxx::transaction_base& tx, int64_t job_id, const JobCounters& d) {
    Params p;
    auto r = p.Exec(
        tx, "UPDATE ingest_jobs SET images_seen = images_seen + " + p.Int(d.images_seen) +
                ", images_added = images_added + " + p.Int(d.images_added) +
                ", duplicates = duplicates + " + p.Int(d.duplicates) + ", no_face = no_face + " +
                p.Int(d.no_face) + ", faces_added = faces_added + " + p.Int(d.faces_added) +
                ", errors = errors + " + p.Int(d.errors) + ", opted_out = opted_out + " + p.Int(d.opted_out) +
                " WHERE id = " + p.Int(job_id));
    if (r.affected_rows() != 1) throw NoJob(job_id);
  }

  // Checks that need no database: distinct positive face ids, distinct
  // content hashes per collection (the indexes catch the same, less legibly).
  void CheckBatch(const std::vector<ImageWrite>& images) const {
    std::vector<int64_t> face_ids;
    std::vector<std::pair<int64_t, std::string>> hashes;
    for (const ImageWrite& w : images) {
      hashes.emplace_back(w.image.collection_id, w.image.content_sha256);
      for (const FaceRecord& f : w.faces) face_ids.push_back(f.id);
    }
    std::sort(face_ids.begin(), face_ids.end());
    if (auto dup = std::adjacent_find(face_ids.begin(), face_ids.end()); dup != face_ids.end()) {
      throw Error(Context(where_, "face id " + std::to_string(*dup) + " appears twice in a batch"));
    }
    if (!face_ids.empty() && face_ids.front() < 1) {
      throw Error(
          Context(where_, "face id " + std::to_string(face_ids.front()) + " was never reserved"));
    }
    std::sort(hashes.begin(), hashes.end());
    if (auto dup = std::adjacent_find(hashes.begin(), hashes.end()); dup != hashes.end()) {
      throw Error(Context(where_, "image sha256 " + dup->second +
                                      " appears twice in a batch for collection " +
                                      std::to_string(dup->first)));
    }
  }

  // Ids at or above the counter were never reserved: refusing them keeps
  // "face ids come only from ReserveFaceIds" true even for buggy callers.
  void CheckFaceIdsReserved(pqxx::transaction_base& tx, const std::vector<ImageWrite>& images) {
    int64_t highest = 0;
    for (const ImageWrite& w : images) {
      for (const FaceRecord& f : w.faces) highest = std::max(highest, f.id);
    }
    if (highest == 0) return;
    const int64_t next =
        Int(tx.exec1("SELECT next_face_id FROM face_id_reservation WHERE singleton = 1")[0]);
    if (highest >= next) {
      throw Error(Context(where_, "face id " + std::to_string(highest) +
                                      " was never reserved (next id is " + std::to_string(next) +
                                      ")"));
    }
  }

  // Source row id per image (0 = none). Identical sources share a row: each
  // distinct one is inserted or, if present, locked and reused, in
  // fingerprint order so concurrent batches lock rows in the same order.
  std::vector<int64_t> UpsertSources(pqxx::transaction_base& tx,
                                     const std::vector<ImageWrite>& images) {
    std::vector<std::string> fingerprints(images.size());
    std::map<std::string, const Source*> distinct;
    for (size_t k = 0; k < images.size(); ++k) {
      const auto& source = images[k].source;
      if (!source || !HasAnyField(*source)) continue;
      fingerprints[k] = SourceFingerprint(*source);
      distinct.emplace(fingerprints[k], &*source);
    }
    std::vector<std::pair<const std::string*, const Source*>> rows;
    for (const auto& [fingerprint, source] : distinct) rows.emplace_back(&fingerprint, source);
    std::map<std::string, int64_t> ids;
    auto results = InsertRows(
        tx,
        "INSERT INTO sources (fingerprint, source_url, page_url, title, captured_at, "
        "published_at, legal_basis)",
        rows.size(), 7,
        [&](Params& p, size_t k) {
          const Source& s = *rows[k].second;
          return "(" + p.Text(*rows[k].first) + ", " + p.Bytea(s.source_url) + ", " +
                 p.Bytea(s.page_url) + ", " + p.Bytea(s.title) + ", " + p.Bytea(s.captured_at) +
                 ", " + p.Bytea(s.published_at) + ", " + p.Bytea(s.legal_basis) + ")";
        },
        " ON CONFLICT (fingerprint) DO UPDATE SET fingerprint = EXCLUDED.fingerprint "
        "RETURNING fingerprint, id");
    for (const auto& result : results) {
      for (const auto& row : result) ids[Text(row[0])] = Int(row[1]);
    }
    std::vector<int64_t> source_ids(images.size(), 0);
    for (size_t k = 0; k < images.size(); ++k) {
      if (!fingerprints[k].empty()) source_ids[k] = ids.at(fingerprints[k]);
    }
    return source_ids;
  }

  // `count` new image ids, ascending, so the batch's ids follow its order.
  std::vector<int64_t> NewImageIds(pqxx::transaction_base& tx, size_t count) {
    Params p;
    return SortedIds(p.Exec(tx,
                            "SELECT nextval(pg_get_serial_sequence('images', 'id')) FROM "
                            "generate_series(1, " +
                                p.Int(static_cast<int64_t>(count)) + ")"));
  }

  // The image row records the call's job; a write without one keeps the
  // job_id given in its record (0 = none).
  void InsertImages(pqxx::transaction_base& tx, const std::vector<ImageWrite>& images,
                    const std::vector<int64_t>& ids, const std::vector<int64_t>& source_ids,
                    int64_t job_id) {
    InsertRows(tx,
               "INSERT INTO images (id, collection_id, source_id, job_id, content_sha256, "
               "perceptual_hash, width, height, byte_size, stored_path, original_name)",
               images.size(), 11, [&](Params& p, size_t k) {
                 const ImageRecord& i = images[k].image;
                 return "(" + p.Int(ids[k]) + ", " + p.Int(i.collection_id) + ", " +
                        p.IdOrNull(source_ids[k]) + ", " +
                        p.IdOrNull(job_id != 0 ? job_id : i.job_id) + ", " +
                        p.Bytea(i.content_sha256) + ", " +
                        p.Int(static_cast<int64_t>(i.perceptual_hash)) + ", " + p.Int(i.width) +
                        ", " + p.Int(i.height) + ", " + p.Int(i.byte_size) + ", " +
                        p.Bytea(i.stored_path) + ", " + p.Bytea(i.original_name) + ")";
               });
  }

  void InsertFaces(pqxx::transaction_base& tx, const std::vector<ImageWrite>& images,
                   const std::vector<int64_t>& image_ids) {
    struct Row {
      const FaceRecord* face;
      int64_t image_id;
      int64_t collection_id;
    };
    std::vector<Row> faces;
    for (size_t k = 0; k < images.size(); ++k) {
      for (const FaceRecord& f : images[k].faces) {
        faces.push_back(Row{&f, image_ids[k], images[k].image.collection_id});
      }
    }
    InsertRows(tx,
               "INSERT INTO faces (id, image_id, collection_id, box, landmarks, detection_score, "
               "size_px, sharpness, yaw_deg, roll_deg, model_id)",
               faces.size(), 11, [&](Params& p, size_t k) {
                 const FaceRecord& f = *faces[k].face;
                 return "(" + p.Int(f.id) + ", " + p.Int(faces[k].image_id) + ", " +
                        p.Int(faces[k].collection_id) + ", " + p.Bytea(PackFloats(f.box)) + ", " +
                        p.Bytea(PackFloats(f.landmarks)) + ", " + p.Real(f.detection_score) + ", " +
                        p.Real(f.size_px) + ", " + p.Real(f.sharpness) + ", " + p.Real(f.yaw_deg) +
                        ", " + p.Real(f.roll_deg) + ", " + p.Bytea(f.model_id) + ")";
               });
  }

  void DescribeChunk(pqxx::transaction_base& tx, const std::vector<int64_t>& face_ids, size_t start,
                     size_t end, std::unordered_map<int64_t, FaceProvenance>& found) {
    Params p;
    auto r = p.Exec(tx, "SELECT " + kPgFaceColumns + ", " + kPgImageColumns + ", " +
                            kPgCollectionColumns + ", " + kPgSourceColumns +
                            " FROM faces f JOIN images i ON i.id = f.image_id "
                            "JOIN collections c ON c.id = i.collection_id "
                            "LEFT JOIN sources s ON s.id = i.source_id WHERE f.id = ANY(" +
                            p.Ints(face_ids, start, end) + ")");
    constexpr int kImageFirst = kPgFaceColumnCount;
    constexpr int kCollectionFirst = kImageFirst + kPgImageColumnCount;
    constexpr int kSourceFirst = kCollectionFirst + kPgCollectionColumnCount;
    for (const auto& row : r) {
      FaceProvenance provenance;
      provenance.face = ReadFace(row, 0);
      provenance.image = ReadImage(row, kImageFirst);
      provenance.collection = ReadCollection(row, kCollectionFirst);
      if (!row[kSourceFirst].is_null()) provenance.source = ReadSource(row, kSourceFirst);
      found[provenance.face.id] = std::move(provenance);
    }
  }

  void DeleteOrphanSources(pqxx::transaction_base& tx, const std::vector<int64_t>& source_ids) {
    std::vector<int64_t> ids;
    for (int64_t id : source_ids) {
      if (id != 0) ids.push_back(id);
    }
    if (ids.empty()) return;
    Params p;
    p.Exec(tx, "DELETE FROM sources s WHERE s.id = ANY(" + p.Ints(ids, 0, ids.size()) +
                   ") AND NOT EXISTS (SELECT 1 FROM images i WHERE i.source_id = s.id)");
  }

  const std::string conninfo_;              // may hold a password: never put in messages
  const ConnInfoFields fields_;             // for redaction
  const std::string where_;                 // "PostgreSQL host=... dbname=..." for messages
  const size_t pool_size_;                  // connections open or in use at most
  std::mutex pool_mu_;                      // guards idle_ and leased_
  std::condition_variable pool_free_;       // signalled when a lease ends
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // open, not in use
  size_t leased_ = 0;                       // in use (each with or without a connection yet)
};

}  // namespace

std::string DescribePostgresLocation(const std::string& conninfo) {
  const ConnInfoFields f = ParseConnInfo(conninfo);
  const std::string user = !f.user.empty() ? f.user : EnvOr("PGUSER", "(login name)");
  std::string host = !f.host.empty()       ? f.host
                     : !f.hostaddr.empty() ? f.hostaddr
                                           : EnvOr("PGHOST", "");
  if (host.empty()) host = "(default socket)";
  const std::string port = !f.port.empty() ? f.port : EnvOr("PGPORT", "5432");
  const std::string dbname = !f.dbname.empty() ? f.dbname : EnvOr("PGDATABASE", user);
  return Redact("PostgreSQL host=" + host + " port=" + port + " dbname=" + dbname + " user=" + user,
                f);
}

std::unique_ptr<Catalog> OpenPostgresCatalog(const std::string& conninfo) {
  std::string libpq_conninfo = conninfo;
  const size_t pool_size = TakePoolSize(libpq_conninfo);
  return std::make_unique<PostgresCatalog>(libpq_conninfo, pool_size);
}

}  // namespace lineup
