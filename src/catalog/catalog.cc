#include "catalog/catalog.h"

#include "common/error.h"

namespace lineup {

std::string ToString(JobStatus status) {
  switch (status) {
    case JobStatus::kRunning:
      return "running";
    case JobStatus::kInterrupted:
      return "interrupted";
    case JobStatus::kDone:
      return "done";
    case JobStatus::kFailed:
      return "failed";
  }
  throw Error("job status: unknown value " + std::to_string(static_cast<int>(status)));
}

JobStatus JobStatusFromString(const std::string& text) {
  for (JobStatus status :
       {JobStatus::kRunning, JobStatus::kInterrupted, JobStatus::kDone, JobStatus::kFailed}) {
    if (ToString(status) == text) return status;
  }
  throw Error(Context("job status '" + text + "'",
                      "unknown (expected running, interrupted, done or failed)"));
}

namespace {

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// libpq's two forms: a URI, or keyword=value pairs. A file path containing
// "dbname=" or "host=" is taken for the latter (documented in catalog.h).
bool IsPostgresLocation(const std::string& location) {
  return StartsWith(location, "postgresql://") || StartsWith(location, "postgres://") ||
         location.find("dbname=") != std::string::npos ||
         location.find("host=") != std::string::npos;
}

}  // namespace

std::unique_ptr<Catalog> OpenCatalog(const std::string& location) {
  if (IsPostgresLocation(location)) return OpenPostgresCatalog(location);
  return OpenSqliteCatalog(location);
}

}  // namespace lineup
