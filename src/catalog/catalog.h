// The catalog: the source of truth for what a gallery holds and where each
// face came from. Collections hold images; an image may have a source (its
// provenance) and any number of faces; every face is one descriptor in the
// vector store under the same id (face id == vector id).
//
// Two implementations share this interface and one conformance test suite:
// SQLite (embedded default, one file in the data directory, WAL) and
// PostgreSQL (multi-user deployments).
//
// Invariants every implementation keeps:
//  - Each mutating call is one transaction: after a crash, a call either
//    happened completely or not at all.
//  - Face ids come only from ReserveFaceIds(), are positive, strictly
//    increasing in reservation order and never reused, even when the
//    reserving process dies before using them.
//  - Deleting a collection / source / image deletes everything below it
//    (images, faces) in the same transaction and returns the deleted face ids
//    so the caller can drop their vectors and crops.
//  - Strings are stored and returned byte for byte (quotes, newlines, control
//    characters, 10 kB URLs); nothing is ever spliced into SQL text.
// Errors (constraint violations, unreachable server, corrupt or newer schema)
// are thrown as lineup::Error with context.
//
// Thread safety: one Catalog object may be used from several threads; calls
// are serialised internally where the backend needs it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lineup {

// A collection an operator lawfully holds: the unit of legal basis and retention.
struct Collection {
  int64_t id = 0;
  std::string name;          // unique, non-empty
  std::string description;
  std::string legal_basis;   // required: why the operator may hold these photos
  std::string jurisdiction;
  int64_t retention_days = 0;  // 0 = keep until deleted
  std::string created_at;      // ISO 8601 UTC, set by the catalog
};

// Where an image came from. All fields are optional except that a source row
// exists only when at least one of them is set.
struct Source {
  int64_t id = 0;
  std::string source_url;    // URL of the image file itself (or the local path it came from)
  std::string page_url;      // page the image appeared on
  std::string title;
  std::string captured_at;   // as given (ISO date preferred)
  std::string published_at;
  std::string legal_basis;   // legal basis (or licence) of this item ("" = the collection's)
};

struct ImageRecord {
  int64_t id = 0;
  int64_t collection_id = 0;
  int64_t source_id = 0;     // 0 = no source row
  int64_t job_id = 0;        // ingest job that added it (0 = none)
  std::string content_sha256;  // of the file bytes; unique within a collection
  uint64_t perceptual_hash = 0;  // 64-bit DCT hash of the decoded image
  int width = 0;
  int height = 0;
  int64_t byte_size = 0;
  std::string stored_path;   // where the bytes are kept: relative to the data directory, or absolute
  std::string original_name; // path or archive member name in the ingest input
  std::string ingested_at;   // ISO 8601 UTC, set by the catalog
};

struct FaceRecord {
  int64_t id = 0;            // from ReserveFaceIds(); the vector id
  int64_t image_id = 0;
  std::array<float, 4> box{};         // x, y, width, height in image pixels
  std::array<float, 10> landmarks{};  // 5 points (x, y): left eye, right eye, nose, mouth left, mouth right
  float detection_score = 0;
  float size_px = 0;         // inter-ocular distance
  float sharpness = 0;
  float yaw_deg = 0;
  float roll_deg = 0;
  std::string model_id;      // embedder that made the descriptor
};

// Everything a search result shows about one face.
struct FaceProvenance {
  FaceRecord face;
  ImageRecord image;
  std::optional<Source> source;
  Collection collection;
};

enum class JobStatus { kRunning, kInterrupted, kDone, kFailed };
std::string ToString(JobStatus status);
JobStatus JobStatusFromString(const std::string& text);  // throws Error

struct JobCounters {
  int64_t images_seen = 0;     // inputs looked at (files, archive members, manifest rows)
  int64_t images_added = 0;
  int64_t duplicates = 0;      // skipped: same content hash already in the collection
  int64_t no_face = 0;         // added images in which no face was found
  int64_t faces_added = 0;
  int64_t errors = 0;          // inputs that failed (see JobError)
  int64_t opted_out = 0;       // faces not added: they match an opt-out (gallery/blocklist.h)
};

struct IngestJob {
  int64_t id = 0;
  int64_t collection_id = 0;
  std::string input;         // what was ingested (folder, archive or manifest path), as given
  std::string options_json;  // pipeline options, to resume with the same settings
  JobStatus status = JobStatus::kRunning;
  JobCounters counters;
  std::string started_at;
  std::string finished_at;   // "" while running
};

struct JobError {
  int64_t job_id = 0;
  std::string item;          // file / member / manifest line that failed
  std::string reason;
};

struct CollectionStats {
  Collection collection;
  int64_t images = 0;
  int64_t faces = 0;
};

struct CatalogStats {
  int schema_version = 0;
  int64_t collections = 0;
  int64_t images = 0;
  int64_t sources = 0;
  int64_t faces = 0;
  int64_t jobs = 0;
  std::vector<CollectionStats> per_collection;
};

// One image with everything derived from it, written in one transaction.
struct ImageWrite {
  ImageRecord image;              // id, ingested_at are set by the catalog
  std::optional<Source> source;   // id is set by the catalog
  std::vector<FaceRecord> faces;  // ids already reserved; image_id is set by the catalog
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  virtual int SchemaVersion() = 0;

  // Key/value settings of the gallery (embedder model id, descriptor size, ...).
  virtual std::optional<std::string> GetSetting(const std::string& key) = 0;
  virtual void SetSetting(const std::string& key, const std::string& value) = 0;

  // --- collections
  // Throws Error if the name is empty or taken, or legal_basis is empty.
  virtual Collection CreateCollection(const Collection& collection) = 0;
  virtual std::optional<Collection> FindCollection(const std::string& name) = 0;
  virtual std::optional<Collection> GetCollection(int64_t id) = 0;
  virtual std::vector<Collection> ListCollections() = 0;
  // Sets how long the collection's images are kept (0 = until deleted).
  // Throws Error for a negative value; returns false for an unknown id.
  virtual bool SetRetentionDays(int64_t collection_id, int64_t days) = 0;

  // --- faces ids
  // Reserves `count` >= 1 consecutive ids and returns the first. Durable
  // before it returns.
  virtual int64_t ReserveFaceIds(int64_t count) = 0;

  // --- writing images
  // Inserts the images (with their sources and faces) and adds `delta` to the
  // job's counters, all in one transaction. Returns the new image ids in order.
  // Throws Error (and writes nothing) if any image's content hash is already
  // in its collection or any face id is already used.
  virtual std::vector<int64_t> AddImages(const std::vector<ImageWrite>& images, int64_t job_id,
                                         const JobCounters& delta) = 0;

  // --- reading
  virtual std::optional<ImageRecord> FindImageByHash(int64_t collection_id,
                                                     const std::string& content_sha256) = 0;
  virtual std::optional<ImageRecord> GetImage(int64_t image_id) = 0;
  virtual std::vector<FaceRecord> FacesOfImage(int64_t image_id) = 0;
  // Provenance of each face id, in the order given; ids not found are omitted.
  virtual std::vector<FaceProvenance> DescribeFaces(const std::vector<int64_t>& face_ids) = 0;
  // Calls fn(face_id, collection_id) for every face in ascending id order.
  virtual void ForEachFace(const std::function<void(int64_t face_id, int64_t collection_id)>& fn) = 0;
  // Image ids whose source_url or page_url starts with `prefix` (prefix match, not LIKE).
  virtual std::vector<int64_t> FindImagesBySourcePrefix(const std::string& prefix) = 0;
  // Image ids added by this ingest job, ascending.
  virtual std::vector<int64_t> FindImagesOfJob(int64_t job_id) = 0;
  // Image ids of the collection ingested strictly before `iso_time` (ISO 8601
  // UTC, "YYYY-MM-DDTHH:MM:SSZ" as ingested_at), ascending.
  virtual std::vector<int64_t> FindImagesIngestedBefore(int64_t collection_id,
                                                        const std::string& iso_time) = 0;
  // Calls fn(image_id, source_url, page_url) for every image that has a
  // source, in ascending image id order, a page of rows at a time (for
  // matches no index serves, such as a URL's host). fn must not write to
  // the catalog.
  virtual void ForEachImageSource(
      const std::function<void(int64_t image_id, const std::string& source_url,
                               const std::string& page_url)>& fn) = 0;

  // --- deleting (each one transaction; returns the ids of the faces deleted)
  virtual std::vector<int64_t> DeleteFaces(const std::vector<int64_t>& face_ids) = 0;
  virtual std::vector<int64_t> DeleteImage(int64_t image_id) = 0;
  // Deletes all these images (unknown ids are skipped) in ONE transaction:
  // an erasure is searchable-all or gone-all, never half done.
  virtual std::vector<int64_t> DeleteImages(const std::vector<int64_t>& image_ids) = 0;
  // Deletes every image with this source and then the source.
  virtual std::vector<int64_t> DeleteSource(int64_t source_id) = 0;
  virtual std::vector<int64_t> DeleteCollection(int64_t collection_id) = 0;

  // Makes the bytes of deleted rows unreadable from the catalog's own files
  // as far as the backend allows. SQLite: nothing left to do (secure_delete
  // overwrites freed pages and each deletion truncates the WAL). PostgreSQL:
  // VACUUM FULL of the gallery tables rewrites them without the dead rows;
  // copies in the server's WAL segments and backups are outside the
  // catalog's reach (docs/GALLERY.md).
  virtual void ScrubDeletedRows() = 0;

  // --- ingest jobs
  virtual IngestJob CreateJob(int64_t collection_id, const std::string& input,
                              const std::string& options_json) = 0;
  virtual std::optional<IngestJob> GetJob(int64_t job_id) = 0;
  virtual std::vector<IngestJob> ListJobs() = 0;  // newest first
  // Most recent job for this collection and input whose status is running or
  // interrupted (a job left "running" by a killed process counts).
  virtual std::optional<IngestJob> FindUnfinishedJob(int64_t collection_id,
                                                     const std::string& input) = 0;
  virtual void SetJobStatus(int64_t job_id, JobStatus status) = 0;  // sets finished_at for done/failed
  // Adds to the counters without adding images (duplicates, errors).
  virtual void AddJobCounters(int64_t job_id, const JobCounters& delta) = 0;
  virtual void AddJobError(int64_t job_id, const std::string& item, const std::string& reason) = 0;
  virtual std::vector<JobError> JobErrors(int64_t job_id, int64_t limit = 1000) = 0;

  virtual CatalogStats Stats() = 0;
};

// Opens (creating if missing, migrating if older) the SQLite catalog at `path`.
// Throws Error if the file is not a Lineup catalog, is corrupt, or was written
// by a newer schema version than this binary knows.
std::unique_ptr<Catalog> OpenSqliteCatalog(const std::string& path);

// Connects to PostgreSQL with a libpq connection string (e.g.
// "host=/tmp/pg port=5433 dbname=lineup") and migrates the schema.
std::unique_ptr<Catalog> OpenPostgresCatalog(const std::string& conninfo);

// "postgresql://..." / "postgres://..." / "host=... dbname=..." -> PostgreSQL;
// anything else is a SQLite file path.
std::unique_ptr<Catalog> OpenCatalog(const std::string& location);

}  // namespace lineup
