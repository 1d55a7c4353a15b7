#include "ingest/ingest_input.h"

#include <array>
#include <string_view>

#include "common/error.h"
#include "ingest/archive_input.h"
#include "ingest/folder_input.h"
#include "ingest/input_paths.h"
#include "ingest/input_text.h"
#include "ingest/manifest_input.h"

namespace lineup {
namespace {

std::string LowerExtension(const std::filesystem::path& path) {
  return ingest_internal::ToLowerAscii(path.extension().string());
}

}  // namespace

bool HasImageExtension(const std::filesystem::path& path) {
  static constexpr std::array<std::string_view, 8> kImageExtensions = {
      ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"};
  const std::string extension = LowerExtension(path);
  for (std::string_view known : kImageExtensions) {
    if (extension == known) return true;
  }
  return false;
}

std::unique_ptr<IngestInput> OpenIngestInput(const std::filesystem::path& path,
                                             const IngestInputOptions& options) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    throw Error(Context(path.string(), "no such file or folder"));
  }
  const std::string refused = InputPathRules({}, options.forbidden_roots).CheckInput(path);
  if (!refused.empty()) throw Error(Context(path.string(), refused));
  if (std::filesystem::is_directory(status)) return std::make_unique<FolderInput>(path, options);
  if (!std::filesystem::is_regular_file(status)) {
    throw Error(Context(path.string(), "not a folder, a manifest or an archive file"));
  }
  const std::string extension = LowerExtension(path);
  if (extension == ".jsonl" || extension == ".ndjson") {
    return std::make_unique<ManifestInput>(path, ManifestFormat::kJsonLines, options);
  }
  if (extension == ".csv") return std::make_unique<ManifestInput>(path, ManifestFormat::kCsv, options);
  if (HasImageExtension(path)) {
    throw Error(Context(path.string(),
                        "a single image is not an ingest input: give the folder that holds it, "
                        "an archive or a manifest"));
  }
  return std::make_unique<ArchiveInput>(path, options);
}

}  // namespace lineup
