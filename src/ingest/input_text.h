// Text checks shared by the ingest readers (folder, archive, manifest).
#pragma once

#include <string>
#include <string_view>

#include "common/ascii.h"
#include "common/utf8.h"

namespace lineup::ingest_internal {

// `text` made safe to print on one line: C0 controls, DEL, C1 controls and
// bytes that are not part of valid UTF-8 become "\xNN"; everything else
// (including non-ASCII letters) is kept. The result is valid UTF-8 without
// control characters. Used for labels (file / member names in messages),
// never for paths that are opened.
std::string PrintableLabel(std::string_view text);

// PrintableLabel(text) in single quotes, for names inside messages.
std::string Quoted(std::string_view text);

using lineup::ToLowerAscii;  // common/ascii.h
using lineup::IsValidUtf8;   // common/utf8.h

}  // namespace lineup::ingest_internal
