#include "ingest/folder_input.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <set>
#include <utility>

#include "common/error.h"
#include "ingest/input_text.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

struct PendingFolder {
  fs::path path;
  std::string relative;  // "" for the root
};

// The non-hidden entries of `folder` in bytewise name order. On a listing
// error sets *ec and returns what was listed before it.
std::vector<fs::path> ListFolder(const fs::path& folder, std::error_code* ec) {
  std::vector<fs::path> children;
  fs::directory_iterator it(folder, *ec);
  for (; !*ec && it != fs::directory_iterator(); it.increment(*ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name.front() != '.') children.push_back(it->path());
  }
  std::sort(children.begin(), children.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().native() < b.filename().native();
  });
  return children;
}

std::string Join(const std::string& relative, const std::string& name) {
  return relative.empty() ? name : relative + "/" + name;
}

}  // namespace

FolderInput::FolderInput(const fs::path& root, const IngestInputOptions& options)
    : rules_({}, options.forbidden_roots) {
  std::error_code ec;
  fs::path absolute_root = fs::absolute(root, ec);
  if (ec) throw Error(Context(root.string(), "cannot make the path absolute: " + ec.message()));
  Walk(absolute_root.lexically_normal(), options);
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& a, const Entry& b) { return a.relative < b.relative; });
}

void FolderInput::Walk(const fs::path& root, const IngestInputOptions& options) {
  // Folders already walked, by (device, inode): ends link loops and reads a
  // folder reachable by several routes once.
  std::set<std::pair<dev_t, ino_t>> visited;
  // Real subfolders are walked first (depth first, in name order), linked
  // folders only when no real one is left, so a folder inside the tree is
  // read under its own path, not under the name of a link to it.
  std::vector<PendingFolder> pending = {{root, ""}};
  std::deque<PendingFolder> linked;
  while (!pending.empty() || !linked.empty()) {
    if (pending.empty()) {
      pending.push_back(std::move(linked.front()));
      linked.pop_front();
    }
    PendingFolder folder = std::move(pending.back());
    pending.pop_back();
    struct stat folder_stat {};
    if (::stat(folder.path.c_str(), &folder_stat) == 0 &&
        !visited.insert({folder_stat.st_dev, folder_stat.st_ino}).second) {
      continue;
    }
    std::error_code ec;
    std::vector<fs::path> children = ListFolder(folder.path, &ec);
    if (ec && folder.relative.empty()) {
      throw Error(Context(root.string(), "cannot read folder: " + ec.message()));
    }
    std::vector<PendingFolder> subfolders;
    for (const fs::path& path : children) {
      const std::string relative = Join(folder.relative, path.filename().string());
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) {  // dangling link, vanished entry
        if (HasImageExtension(path)) {
          entries_.push_back({relative, path, std::string("cannot read: ") + std::strerror(errno)});
        }
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        struct stat link_stat {};
        const bool is_link = ::lstat(path.c_str(), &link_stat) == 0 && S_ISLNK(link_stat.st_mode);
        if (is_link) {
          linked.push_back({path, relative});
        } else {
          subfolders.push_back({path, relative});
        }
        continue;
      }
      AddFile(relative, path, st, options);
    }
    if (ec) {
      entries_.push_back({folder.relative + "/", folder.path, "cannot read folder: " + ec.message()});
    }
    pending.insert(pending.end(), std::make_move_iterator(subfolders.rbegin()),
                   std::make_move_iterator(subfolders.rend()));
  }
}

void FolderInput::AddFile(const std::string& relative, const fs::path& path,
                          const struct stat& st, const IngestInputOptions& options) {
  if (!HasImageExtension(path)) return;
  if (!S_ISREG(st.st_mode)) {
    entries_.push_back({relative, path, "not a regular file"});
  } else if (std::string refused = rules_.Check(path); !refused.empty()) {
    entries_.push_back({relative, path, refused});
  } else if (st.st_size > options.max_file_bytes) {
    entries_.push_back({relative, path,
                        "file is " + std::to_string(st.st_size) + " bytes, over the limit of " +
                            std::to_string(options.max_file_bytes)});
  } else {
    entries_.push_back({relative, path, ""});
  }
}

std::optional<IngestItem> FolderInput::Next() {
  if (next_ >= entries_.size()) return std::nullopt;
  Entry& entry = entries_[next_++];
  IngestItem item;
  item.name = ingest_internal::PrintableLabel(entry.relative);
  item.file = std::move(entry.file);
  item.error = std::move(entry.error);
  return item;
}

std::optional<int64_t> FolderInput::EstimatedCount() const {
  return static_cast<int64_t>(entries_.size());
}

}  // namespace lineup
