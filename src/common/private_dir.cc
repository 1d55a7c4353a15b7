#include "common/private_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace lineup {
namespace fs = std::filesystem;
namespace {

constexpr mode_t kGroupAndOther = S_IRWXG | S_IRWXO;

std::string ModeText(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// The entry's mode without following a symlink; false if it cannot be read.
bool ModeOf(const fs::path& path, mode_t* mode) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;
  *mode = st.st_mode;
  return true;
}

void AddIfExposed(const fs::path& path, std::vector<std::string>* out) {
  mode_t mode = 0;
  if (!ModeOf(path, &mode) || S_ISLNK(mode)) return;
  if (mode & kGroupAndOther) out->push_back(path.string() + " (mode " + ModeText(mode) + ")");
}

// True if the entry's mode was changed.
bool Restrict(const fs::path& path) {
  mode_t mode = 0;
  if (!ModeOf(path, &mode) || S_ISLNK(mode) || !(mode & kGroupAndOther)) return false;
  if (::chmod(path.c_str(), mode & 07777 & ~kGroupAndOther) != 0) {
    throw Error(Context(path.string(), std::string("cannot change its permissions: ") + std::strerror(errno)));
  }
  return true;
}

}  // namespace

std::vector<std::string> ExposedEntries(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  AddIfExposed(dir, &out);
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) AddIfExposed(it->path(), &out);
  return out;
}

void CheckPrivate(const fs::path& dir) {
  std::vector<std::string> exposed = ExposedEntries(dir);
  if (exposed.empty()) return;
  std::string list;
  for (size_t i = 0; i < exposed.size() && i < 3; ++i) list += (i ? ", " : "") + exposed[i];
  if (exposed.size() > 3) list += " and " + std::to_string(exposed.size() - 3) + " more";
  throw Error("the data directory " + dir.string() +
              " can be read by other local users (" + list +
              "); it holds password hashes, TOTP secrets and probe photos. Run once with --fix-permissions "
              "(or chmod -R go-rwx " + dir.string() + ")");
}

int64_t MakePrivate(const fs::path& dir) {
  int64_t changed = Restrict(dir) ? 1 : 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (Restrict(it->path())) ++changed;
  }
  if (ec) throw Error(Context(dir.string(), "cannot walk the folder: " + ec.message()));
  return changed;
}

}  // namespace lineup
