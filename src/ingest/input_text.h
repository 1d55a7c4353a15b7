// Text checks shared by the ingest readers (folder, archive, manifest).
#pragma once

#include <string>
#include <string_view>

#include "common/ascii.h"

namespace lineup::ingest_internal {

// True if `text` is well-formed UTF-8: no overlong forms, no surrogates,
// nothing above U+10FFFF, no truncated sequence.
bool IsValidUtf8(std::string_view text);

// `text` made safe to print on one line: C0 controls, DEL, C1 controls and
// bytes that are not part of valid UTF-8 become "\xNN"; everything else
// (including non-ASCII letters) is kept. The result is valid UTF-8 without
// control characters. Used for labels (file / member names in messages),
// never for paths that are opened.
std::string PrintableLabel(std::string_view text);

using lineup::ToLowerAscii;  // common/ascii.h

}  // namespace lineup::ingest_internal
