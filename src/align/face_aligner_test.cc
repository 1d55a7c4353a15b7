#include "align/face_aligner.h"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "common/error.h"

namespace lineup {
namespace {

std::vector<cv::Point2f> Transform(const std::vector<cv::Point2f>& pts, double angle_deg,
                                   double scale, cv::Point2f shift) {
  double a = angle_deg * CV_PI / 180.0;
  std::vector<cv::Point2f> out;
  for (const auto& p : pts) {
    out.emplace_back(float(scale * (std::cos(a) * p.x - std::sin(a) * p.y) + shift.x),
                     float(scale * (std::sin(a) * p.x + std::cos(a) * p.y) + shift.y));
  }
  return out;
}

TEST(FaceAligner, SimilarityRecoversKnownTransformExactly) {
  const auto& t = ArcFace112Template();
  std::vector<cv::Point2f> tmpl(t.points.begin(), t.points.end());
  std::vector<cv::Point2f> detected = Transform(tmpl, 23.0, 3.5, {400, 250});
  cv::Matx23d m = EstimateSimilarity(detected, tmpl);
  for (size_t i = 0; i < tmpl.size(); ++i) {
    double x = m(0, 0) * detected[i].x + m(0, 1) * detected[i].y + m(0, 2);
    double y = m(1, 0) * detected[i].x + m(1, 1) * detected[i].y + m(1, 2);
    EXPECT_NEAR(x, tmpl[i].x, 1e-3);
    EXPECT_NEAR(y, tmpl[i].y, 1e-3);
  }
  EXPECT_NEAR(std::hypot(m(0, 0), m(1, 0)), 1 / 3.5, 1e-6);
}

TEST(FaceAligner, DegenerateAndWrongCountLandmarksAreErrors) {
  std::vector<cv::Point2f> same(5, cv::Point2f(10, 10));
  std::vector<cv::Point2f> tmpl(ArcFace112Template().points.begin(), ArcFace112Template().points.end());
  EXPECT_THROW(EstimateSimilarity(same, tmpl), Error);
  cv::Mat image(100, 100, CV_8UC3, cv::Scalar::all(0));
  EXPECT_THROW(AlignFace(image, {{1, 1}, {2, 2}}, ArcFace112Template()), Error);
  EXPECT_THROW(TemplateByName("nope"), Error);
}

// Paints a marker disc at each of five points of a rotated, scaled "face";
// after alignment the markers must sit on the template points.
void ExpectMarkersLandOnTemplate(const AlignmentTemplate& t, double angle, double scale) {
  std::vector<cv::Point2f> tmpl(t.points.begin(), t.points.end());
  std::vector<cv::Point2f> pts = Transform(tmpl, angle, scale, {700, 500});
  cv::Mat image(1400, 1600, CV_8UC3, cv::Scalar::all(0));
  for (const auto& p : pts) cv::circle(image, p, int(4 * scale), cv::Scalar(255, 255, 255), cv::FILLED);
  cv::Mat chip = AlignFace(image, pts, t);
  ASSERT_EQ(chip.size(), t.size);
  for (const auto& p : tmpl) {
    cv::Vec3b v = chip.at<cv::Vec3b>(cvRound(p.y), cvRound(p.x));
    EXPECT_GT(v[0], 200) << t.name << " angle " << angle << " scale " << scale << " at " << p;
  }
  // A point well away from every marker stays dark.
  EXPECT_LT(chip.at<cv::Vec3b>(5, 5)[0], 30);
}

TEST(FaceAligner, MarkersLandOnTemplatePoints) {
  for (const auto* t : {&ArcFace112Template(), &DlibChip150Template()}) {
    ExpectMarkersLandOnTemplate(*t, 0, 1.0);
    ExpectMarkersLandOnTemplate(*t, -30, 2.0);
    ExpectMarkersLandOnTemplate(*t, 45, 6.0);  // large face: downsampled path
  }
}

TEST(FaceAligner, TemplatesAreUprightWithImageLeftEyeFirst) {
  for (const auto* t : {&ArcFace112Template(), &DlibChip150Template()}) {
    EXPECT_LT(t->points[0].x, t->points[1].x);
    EXPECT_LT(t->points[0].y, t->points[2].y);
    EXPECT_LT(t->points[2].y, t->points[3].y);
    EXPECT_LT(t->points[3].x, t->points[4].x);
  }
}

}  // namespace
}  // namespace lineup
