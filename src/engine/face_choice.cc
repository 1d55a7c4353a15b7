#include "engine/face_choice.h"

#include <cstdio>

#include "common/error.h"
#include "detect/nms.h"

namespace lineup {

std::string FaceList(const std::vector<FaceResult>& faces) {
  std::string s;
  for (size_t i = 0; i < faces.size(); ++i) {
    const cv::Rect2f& b = faces[i].face.box;
    char line[160];
    std::snprintf(line, sizeof line, "\n  #%zu box %.0f,%.0f,%.0f,%.0f score %.2f", FaceNumber(i), b.x, b.y, b.width, b.height,
                  faces[i].face.score);
    s += line;
  }
  return s;
}

size_t FindFaceInBox(FacePipeline& pipeline, const cv::Mat& image, const cv::Rect2f& box,
                     std::vector<FaceResult>& faces) {
  size_t best = faces.size();
  float best_iou = 0.3f;
  for (size_t i = 0; i < faces.size(); ++i) {
    float iou = IntersectionOverUnion(faces[i].face.box, box);
    if (iou >= best_iou) best_iou = iou, best = i;
  }
  if (best < faces.size()) return best;
  cv::Rect grown(cvRound(box.x - box.width / 2), cvRound(box.y - box.height / 2), cvRound(box.width * 2),
                 cvRound(box.height * 2));
  grown &= cv::Rect(0, 0, image.cols, image.rows);
  if (grown.area() > 0) {
    std::vector<FaceResult> inside = pipeline.Detect(image(grown).clone());
    if (!inside.empty()) {
      FaceResult f = inside[0];
      f.face.box.x += grown.x;
      f.face.box.y += grown.y;
      for (auto& p : f.face.landmarks) p += cv::Point2f(grown.x, grown.y);
      faces.push_back(f);
      return faces.size() - 1;
    }
  }
  throw InvalidArgument("box", "no face found in box " + std::to_string(box.x) + "," + std::to_string(box.y) + "," +
              std::to_string(box.width) + "," + std::to_string(box.height) + "; faces found:" + FaceList(faces));
}

size_t OptOutFaceIndex(const std::vector<FaceResult>& faces, std::optional<size_t> choice, const std::string& photo) {
  if (faces.empty()) throw Error(Context(photo, "no face found; an opt-out needs a photo that shows the face clearly"));
  if (choice) {
    if (*choice >= faces.size()) {
      throw InvalidArgument("face", Context(photo, "there is no face #" + std::to_string(FaceNumber(*choice)) + "; the faces found:" + FaceList(faces)));
    }
    return *choice;
  }
  size_t confident = 0, index = 0;
  for (size_t i = 0; i < faces.size(); ++i) {
    if (faces[i].face.score >= kConfidentFaceScore) ++confident, index = i;
  }
  if (confident == 0 && faces.size() == 1) return 0;
  if (confident == 1) return index;
  throw InvalidArgument("face", Context(photo, "shows " + std::to_string(faces.size()) +
                                 " faces; ask the requester which one is theirs and give its number:" + FaceList(faces)));
}

}  // namespace lineup
