// Choosing the probe face a search uses, shared by `lineup search` and the
// server: by a box the user drew, with a list of the faces for messages.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "engine/face_pipeline.h"

namespace lineup {

// People count faces from 1 (CLI flags and text, annotated images, the web
// app); code and the HTTP API index them from 0 (`index`). A face's number:
inline size_t FaceNumber(size_t index) { return index + 1; }

// "\n  #1 box 10,20,80,80 score 0.98" per face, numbered from 1: for error
// messages.
std::string FaceList(const std::vector<FaceResult>& faces);

// The detected face that overlaps `box` best (IoU >= 0.3); else a face
// detected inside the box grown by 50% on each side, appended to `faces`;
// else throws Error listing the faces found. Returns its index in `faces`.
size_t FindFaceInBox(FacePipeline& pipeline, const cv::Mat& image, const cv::Rect2f& box,
                     std::vector<FaceResult>& faces);

// The face of an opt-out photo, which must show the requester alone or say
// which face is theirs: `choice` (an index into `faces`) when given, else the
// only confident face (score >= kConfidentFaceScore). Throws Error when the
// photo has no face, when `choice` is out of range, and when several
// confident faces leave it open (the message lists them, so that the
// operator can ask the requester which). `photo` names it in messages.
size_t OptOutFaceIndex(const std::vector<FaceResult>& faces, std::optional<size_t> choice, const std::string& photo);

}  // namespace lineup
