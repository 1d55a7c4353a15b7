// The ingest job: read inputs -> decode -> detect -> align -> embed -> write,
// as a pipeline of threads joined by bounded queues:
//
//   reader (this thread): IngestInput, file bytes, SHA-256, de-duplication
//   workers (N threads, one FacePipeline each): decode, analyse, crops, perceptual hash
//   writer (1 thread): batches into Gallery::WriteBatch, job errors, progress
//
// Invariants:
//  - A bad input item is recorded as a job error with its reason and the job
//    goes on; only a failure to write the gallery (disk full, catalog gone)
//    stops the job, which is then marked failed with nothing half-written.
//  - An image whose content hash is already in the collection is not added
//    again. Items already added by the same job before it was interrupted
//    are skipped without being counted twice, so re-running an interrupted
//    ingest (same collection, same input) resumes it.
//  - Nothing is read from inside the gallery's data directory (its probe
//    photos, crops and copies): the input is refused, or the item is an
//    error (IngestInputOptions::forbidden_roots always holds the data dir).
//  - Which collection an item goes to, decided before anything is created:
//    with options.collection, every item goes there (created with
//    options.legal_basis if new), and a manifest whose rows name another
//    collection is refused as a whole (never silently overridden); without
//    it, each row goes to the collection it names (new ones created with
//    options.legal_basis, which they then need), a row naming none is an
//    error, and an input that names none (folders, archives) is refused.
//    The job belongs to options.collection, or the first collection named.
//  - Faces go into the gallery only if they score at least
//    min_gallery_face_score and are at least min_gallery_face_px wide;
//    images without such a face are still catalogued (no_face counter).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "engine/face_pipeline.h"
#include "gallery/gallery.h"
#include "ingest/ingest_input.h"
#include "models/model_manifest.h"

namespace lineup {

struct IngestOptions {
  std::string collection;          // "" = the collections a manifest's rows name
  // Used when `collection` does not exist yet (legal_basis required then).
  std::string legal_basis, description, jurisdiction;
  int64_t retention_days = 0;
  int workers = 0;                 // 0 = one per core
  bool show_progress = true;
  PipelineOptions pipeline;
  float min_gallery_face_score = kConfidentFaceScore;
  float min_gallery_face_px = 24.f;  // box side in source pixels
  IngestInputOptions input;
  size_t batch_images = 32;        // images per gallery transaction
};

struct IngestSummary {
  int64_t job_id = 0;
  bool resumed = false;
  int64_t already_done = 0;        // items skipped because this job added them before an interruption
  JobCounters counters;            // this run only
  std::vector<JobError> errors;    // this run's first errors (up to 100)
  int64_t images_opted_out = 0;    // images not added: every face in them matched an opt-out
                                   // (the faces: counters.opted_out)
  double seconds = 0;
};

IngestSummary RunIngest(Gallery& gallery, const ModelManifest& manifest,
                        const std::filesystem::path& input, const IngestOptions& options);

// The face thumbnail stored for display: the box grown by 30% per side,
// square, 160 x 160, JPEG.
std::vector<uint8_t> MakeFaceCrop(const cv::Mat& bgr, const DetectedFace& face);

}  // namespace lineup
