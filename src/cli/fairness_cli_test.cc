// `lineup eval fairness` as users run it: the three report files, images
// without a face counted per group (never dropped), and clear errors naming
// the line of an ill-formed labels file.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/file_util.h"
#include "cli_run.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

using testing::CliRun;
std::string Quote(const std::string& s) { return testing::ShellQuote(s); }
CliRun Lineup(const std::string& args, const std::string& prefix = "") { return testing::RunLineup(args, prefix); }

// Two demo photos, each also at half size (same identity), and two blank
// images of a third identity; column "size" is full / half.
fs::path MakeSet() {
  fs::path dir = testing::TempDir("fairness-set");
  for (int n : {1, 2}) {
    cv::Mat photo = cv::imread(testing::DemoPhoto(n).string());
    cv::Mat half;
    cv::resize(photo, half, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
    cv::imwrite((dir / ("full" + std::to_string(n) + ".jpg")).string(), photo);
    cv::imwrite((dir / ("half" + std::to_string(n) + ".jpg")).string(), half);
  }
  cv::Mat blank(200, 300, CV_8UC3, cv::Scalar(200, 180, 160));
  cv::imwrite((dir / "blank_full.png").string(), blank);
  cv::imwrite((dir / "blank_half.png").string(), blank);
  std::ofstream(dir / "labels.csv") << "path,identity,size\n"
                                       "full1.jpg,p1,full\nhalf1.jpg,p1,half\n"
                                       "full2.jpg,p2,full\nhalf2.jpg,p2,half\n"
                                       "blank_full.png,p3,full\nblank_half.png,p3,half\n";
  return dir;
}

TEST(FairnessCli, WritesTheReportsAndCountsImagesWithoutAFace) {
  fs::path dir = MakeSet();
  CliRun r = Lineup("eval fairness --json --min-trials 1 --labels " + Quote((dir / "labels.csv").string()) +
                    " --out " + Quote((dir / "report").string()));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["group_columns"], nlohmann::json({"size"}));
  EXPECT_EQ(j["overall"]["images"], 6);
  EXPECT_EQ(j["overall"]["images_without_face"], 2);
  EXPECT_EQ(j["overall"]["genuine_pairs_without_score"], 1);  // the blank pair
  EXPECT_EQ(j["pairs"]["genuine_used"], 3);
  EXPECT_EQ(j["pairs"]["impostor_used"], 12);
  ASSERT_EQ(j["groups"].size(), 2u);
  for (const auto& g : j["groups"]) EXPECT_EQ(g["images_without_face"], 1) << g["group"];
  // Strong / possible / weak bands of the default model, then FMR 1e-3 (not
  // resolvable on 12 impostor pairs: a note, no threshold).
  ASSERT_EQ(j["thresholds"].size(), 3u);
  EXPECT_EQ(j["thresholds"][1]["name"], "possible");
  ASSERT_EQ(j["notes"].size(), 1u);
  // At "possible" the blank genuine pair is a false non-match; the FMR of 12
  // impostor pairs cannot resolve 1e-3.
  const auto& at = j["overall"]["verification"][1];
  EXPECT_GE(at["fnmr"]["errors"].get<int>(), 1);
  EXPECT_EQ(at["fnmr"]["trials"], 3);
  EXPECT_FALSE(at["fmr_same_group_impostors"]["resolvable"].get<bool>());
  EXPECT_TRUE(at["fmr_same_group_impostors"]["rate"].is_null());
  EXPECT_TRUE(j.contains("identification_protocol"));
  for (const char* file : {"report.json", "report.csv", "report.html"}) {
    EXPECT_TRUE(fs::exists(dir / "report" / file)) << file;
  }
  std::string html = ReadFileText(dir / "report/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("not resolvable"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(ReadFileText(dir / "report/report.csv").rfind("table,column,group,", 0), 0u);
}

TEST(FairnessCli, IllFormedLabelsNameTheLine) {
  fs::path dir = testing::TempDir("fairness-bad");
  std::ofstream(dir / "labels.csv") << "path,identity,sex\na.jpg,a,F\nb.jpg,b\n";
  CliRun r = Lineup("eval fairness --labels " + Quote((dir / "labels.csv").string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("labels.csv:3: expected 3 fields"), std::string::npos) << r.err;
  std::ofstream(dir / "header.csv") << "file,person\n";
  CliRun h = Lineup("eval fairness --labels " + Quote((dir / "header.csv").string()));
  EXPECT_EQ(h.status, 1);
  EXPECT_NE(h.err.find("header.csv:1: header must start with 'path,identity'"), std::string::npos) << h.err;
  EXPECT_NE(Lineup("eval fairness --labels " + Quote((dir / "missing.csv").string())).status, 0);
}

}  // namespace
}  // namespace lineup
