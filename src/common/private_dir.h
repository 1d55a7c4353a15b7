// The data directory holds what a police system must keep from other local
// users: Argon2 password hashes and TOTP secrets (governance.db), probe
// photos of cases, the gallery's images, crops and provenance. Lineup keeps
// it private to the account that runs it.
//
// Invariants:
//  - `lineup` sets its umask to 077 at start (cli/main.cc), so everything it
//    creates is 0600 / 0700 whatever the caller's umask.
//  - A server refuses a data directory that others can enter or read
//    (CheckPrivate) until it is fixed (MakePrivate, `--fix-permissions`).
//    Checking the directory itself is enough: no one else can reach its
//    contents through a 0700 folder. The top-level entries are checked too,
//    as a second line, so a fix is not forgotten when the folder is moved.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lineup {

// Entries (the directory and its top-level entries) that give group or other
// users any access, as "path (mode 0755)"; empty when all are private.
// Symlinks are not followed. A directory that does not exist is private.
std::vector<std::string> ExposedEntries(const std::filesystem::path& dir);

// Throws Error naming the first exposed entries and the fix, unless none is.
void CheckPrivate(const std::filesystem::path& dir);

// Removes group and other access from the directory and everything below
// it (symlinks are not followed); returns the number of entries changed.
int64_t MakePrivate(const std::filesystem::path& dir);

}  // namespace lineup
