// Structural completeness checks that run before decoding.
//
// Some decoders (libjpeg in particular) turn a truncated file into a
// half-grey picture with only a warning on stderr. These checks walk the
// container structure, without decoding, and refuse files that end early.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lineup {

// Throws Error naming `name` if `bytes` of an image in `format` (as reported by
// ReadImageHeader) end before the format's end marker:
//   jpeg: marker segments and entropy-coded data are walked to EOI (FFD9);
//         bytes after EOI (camera trailers, motion-photo video) are allowed.
//   png:  chunks are walked to IEND; bytes after IEND are allowed.
//   webp: the file must hold as many bytes as its RIFF header declares.
// Other formats are left to their decoders, which fail on truncation themselves.
void CheckImageComplete(const std::vector<uint8_t>& bytes, const std::string& format,
                        const std::string& name);

}  // namespace lineup
