#include "eval/identification.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "engine/face_pipeline.h"
#include "image/image_loader.h"
#include "models/model_manifest.h"
#include "test_env.h"

namespace lineup {
namespace {

// ROOT/<identity>/<image> with empty placeholder files: the split only looks
// at names. Identity "idNN" has 1 + (NN % 15) images.
std::filesystem::path MakeTree(const std::string& tag, int identities) {
  std::filesystem::path root = testing::TempDir(tag);
  for (int i = 0; i < identities; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "id%02d", i);
    std::filesystem::create_directories(root / name);
    for (int j = 0; j < 1 + i % 15; ++j) {
      std::ofstream(root / name / ("img" + std::to_string(100 + j) + ".jpg"));
    }
  }
  return root;
}

IdentificationSplit Split(const std::filesystem::path& root, IdentificationSplitOptions options = {}) {
  return SplitIdentities(ListIdentityImages({root}), options);
}

TEST(EvalIdentificationSplit, ListsOnlyImagesAndMergesRoots) {
  std::filesystem::path a = testing::TempDir("ident-a"), b = testing::TempDir("ident-b");
  std::filesystem::create_directories(a / "alice");
  std::filesystem::create_directories(b / "alice");
  std::filesystem::create_directories(a / "bob");
  std::filesystem::create_directories(a / "empty");
  std::ofstream(a / "alice" / "b.jpg");
  std::ofstream(b / "alice" / "a.PNG");
  std::ofstream(a / "alice" / "notes.txt");
  std::ofstream(a / "alice" / ".hidden.jpg");
  std::ofstream(a / "bob" / "1.pgm");
  std::ofstream(a / "loose.jpg");  // not in an identity folder
  std::vector<IdentityImages> ids = ListIdentityImages({a, b});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0].identity, "alice");
  ASSERT_EQ(ids[0].images.size(), 2u);
  EXPECT_EQ(ids[0].images[0].filename(), "a.PNG");  // sorted by file name across roots
  EXPECT_EQ(ids[0].images[1].filename(), "b.jpg");
  EXPECT_TRUE(ids[0].images[0].is_absolute());
  EXPECT_EQ(ids[1].identity, "bob");
  EXPECT_THROW(ListIdentityImages({a / "alice" / "b.jpg"}), Error);
}

TEST(EvalIdentificationSplit, DeterministicAndInvariantsHold) {
  std::filesystem::path root = MakeTree("ident-split", 40);
  IdentificationSplitOptions options;
  options.max_probes_per_id = 4;
  IdentificationSplit s = Split(root, options);
  IdentificationSplit again = Split(root, options);
  EXPECT_EQ(s.enrolled, again.enrolled);
  ASSERT_EQ(s.probes.size(), again.probes.size());
  for (size_t i = 0; i < s.probes.size(); ++i) EXPECT_EQ(s.probes[i].image, again.probes[i].image);

  EXPECT_EQ(s.enrolled.size(), 32u);  // round(0.8 x 40), exactly
  EXPECT_EQ(s.non_mated.size(), 8u);
  EXPECT_EQ(s.gallery.size(), 32u);
  std::set<std::string> enrolled(s.enrolled.begin(), s.enrolled.end());
  for (const auto& name : s.non_mated) EXPECT_FALSE(enrolled.count(name)) << name;

  std::set<std::filesystem::path> gallery_images;
  for (const GalleryImage& g : s.gallery) {
    EXPECT_TRUE(enrolled.count(g.identity));
    EXPECT_EQ(g.image.filename(), "img100.jpg");  // the first image by name
    gallery_images.insert(g.image);
  }
  std::set<std::filesystem::path> used = gallery_images;
  std::map<std::string, int> mated_per_id, non_mated_per_id;
  for (const ProbeImage& p : s.probes) {
    EXPECT_FALSE(gallery_images.count(p.image)) << p.image;
    EXPECT_TRUE(used.insert(p.image).second) << "image used twice: " << p.image;
    EXPECT_EQ(p.mated, enrolled.count(p.identity) == 1);
    (p.mated ? mated_per_id : non_mated_per_id)[p.identity]++;
  }
  for (const auto& [id, n] : mated_per_id) EXPECT_LE(n, 4) << id;  // the cap
  for (const auto& [id, n] : non_mated_per_id) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(non_mated_per_id.size(), 8u);
  // Identity idNN has 1 + NN % 15 images: min(NN % 15, 4) mated probes.
  for (const std::string& id : s.enrolled) {
    int n = std::stoi(id.substr(2)) % 15;
    EXPECT_EQ(mated_per_id.count(id) ? mated_per_id[id] : 0, std::min(n, 4)) << id;
  }
}

TEST(EvalIdentificationSplit, SeedChangesTheSplitAndFractionIsRespected) {
  std::filesystem::path root = MakeTree("ident-seed", 40);
  IdentificationSplitOptions one, two;
  two.seed = 2;
  EXPECT_NE(Split(root, one).enrolled, Split(root, two).enrolled);
  EXPECT_EQ(Split(root, two).enrolled.size(), 32u);
  EXPECT_NE(EnrolmentKey(1, "id01"), EnrolmentKey(2, "id01"));
  EXPECT_EQ(EnrolmentKey(7, "id01"), EnrolmentKey(7, "id01"));

  IdentificationSplitOptions all;
  all.enrol_fraction = 1.0;  // closed set: no non-mated probes
  EXPECT_TRUE(Split(root, all).non_mated.empty());
  IdentificationSplitOptions none;
  none.enrol_fraction = 0.0;
  IdentificationSplit open = Split(root, none);
  EXPECT_TRUE(open.gallery.empty());
  EXPECT_EQ(open.probes.size(), 40u);
  IdentificationSplitOptions no_mated;
  no_mated.max_probes_per_id = 0;
  for (const ProbeImage& p : Split(root, no_mated).probes) EXPECT_FALSE(p.mated);

  IdentificationSplitOptions bad;
  bad.enrol_fraction = 1.5;
  EXPECT_THROW(Split(root, bad), Error);
}

TEST(EvalIdentificationSplit, ManifestQuotesFields) {
  IdentificationSplit s;
  s.gallery.push_back({"O\"Brien, Pat", "/data/a,b/x.jpg"});
  s.gallery.push_back({"plain", "/data/p.jpg"});
  EXPECT_EQ(GalleryManifestCsv(s),
            "path,title\n\"/data/a,b/x.jpg\",\"O\"\"Brien, Pat\"\n\"/data/p.jpg\",\"plain\"\n");
}

// --- metrics

ProbeOutcome Mated(std::optional<int> rank, float mate_score, float top_score) {
  ProbeOutcome p;
  p.mated = true;
  p.face_found = true;
  p.mate_rank = rank;
  p.mate_score = rank ? mate_score : kNoScore;
  p.top_score = top_score;
  return p;
}

ProbeOutcome NonMated(float top_score) {
  ProbeOutcome p;
  p.face_found = std::isfinite(top_score);
  p.top_score = top_score;
  return p;
}

TEST(EvalIdentificationMetrics, AllMatesAtRankOne) {
  std::vector<ProbeOutcome> outcomes;
  for (int i = 0; i < 10; ++i) outcomes.push_back(Mated(1, 0.9f, 0.9f));
  for (int i = 0; i < 100; ++i) outcomes.push_back(NonMated(0.1f + 0.001f * i));
  IdentificationReport r = EvaluateIdentification(outcomes, {});
  ASSERT_EQ(r.rank_rates.size(), 2u);
  EXPECT_DOUBLE_EQ(r.rank_rates[0].rate, 1.0);
  EXPECT_EQ(r.rank_rates[1].rank, 10);
  EXPECT_DOUBLE_EQ(r.rank_rates[1].rate, 1.0);
  EXPECT_EQ(r.mated, 10);
  EXPECT_EQ(r.non_mated, 100);
  ASSERT_EQ(r.operating_points.size(), 3u);
  const OperatingPoint& p = r.operating_points[0];  // 0.01 of 100: one false positive allowed
  ASSERT_TRUE(p.resolvable);
  EXPECT_GT(p.threshold, 0.1f + 0.001f * 98);
  EXPECT_LE(p.threshold, 0.1f + 0.001f * 99);
  EXPECT_EQ(p.false_positives, 1);
  EXPECT_DOUBLE_EQ(p.fpir, 0.01);
  EXPECT_DOUBLE_EQ(p.fnir, 0.0);
  EXPECT_DOUBLE_EQ(p.fnir_rank1, 0.0);
  EXPECT_FALSE(r.operating_points[1].resolvable);  // 0.001 needs 1000 non-mated probes
  EXPECT_TRUE(r.operating_points[2].resolvable);
}

TEST(EvalIdentificationMetrics, RanksMissesAndFnir) {
  // Mated: rank 1 @0.8, rank 3 @0.5, rank 12 @0.45, no mate, no face.
  std::vector<ProbeOutcome> outcomes = {Mated(1, 0.8f, 0.8f), Mated(3, 0.5f, 0.7f),
                                        Mated(12, 0.45f, 0.6f), Mated(std::nullopt, 0, 0.65f)};
  ProbeOutcome no_face;
  no_face.mated = true;
  outcomes.push_back(no_face);
  // Ten non-mated: tops 0.1 .. 0.55 step 0.05 -> at 0.1 one may pass.
  for (int i = 0; i < 10; ++i) outcomes.push_back(NonMated(0.1f + 0.05f * i));
  IdentificationOptions options;
  options.target_fpirs = {0.1};
  options.ranks = {1, 5, 10, 20, 30};
  IdentificationReport r = EvaluateIdentification(outcomes, options);
  EXPECT_EQ(r.mated_without_face, 1);
  ASSERT_EQ(r.rank_rates.size(), 4u);  // rank 30 > L = 20 is not reported
  EXPECT_DOUBLE_EQ(r.rank_rates[0].rate, 1.0 / 5);
  EXPECT_DOUBLE_EQ(r.rank_rates[1].rate, 2.0 / 5);
  EXPECT_DOUBLE_EQ(r.rank_rates[2].rate, 2.0 / 5);
  EXPECT_DOUBLE_EQ(r.rank_rates[3].rate, 3.0 / 5);
  ASSERT_EQ(r.cmc.size(), 20u);
  EXPECT_DOUBLE_EQ(r.cmc[11], 3.0 / 5);
  const OperatingPoint& p = r.operating_points[0];
  ASSERT_TRUE(p.resolvable);
  // T just above the 2nd highest non-mated top (0.5): only 0.55 passes.
  EXPECT_GT(p.threshold, 0.5f);
  EXPECT_LT(p.threshold, 0.5001f);
  EXPECT_EQ(p.false_positives, 1);
  // Mates >= T: only the 0.8 one (0.5 is tied with the rejected non-mated score).
  EXPECT_DOUBLE_EQ(p.fnir, 4.0 / 5);
  EXPECT_DOUBLE_EQ(p.fnir_rank1, 4.0 / 5);
}

TEST(EvalIdentificationMetrics, TiesAtThresholdAreRejectedTogether) {
  // 100 non-mated: one at 0.9, two at 0.8, the rest low. Target 0.02 allows two
  // false positives, but the two at 0.8 cannot be split: T goes above 0.8 and
  // the FPIR achieved is 0.01.
  std::vector<ProbeOutcome> outcomes = {NonMated(0.9f), NonMated(0.8f), NonMated(0.8f)};
  for (int i = 0; i < 97; ++i) outcomes.push_back(NonMated(0.2f));
  outcomes.push_back(Mated(1, 0.85f, 0.85f));
  outcomes.push_back(Mated(2, 0.8f, 0.95f));
  IdentificationOptions options;
  options.target_fpirs = {0.02, 0.03};
  IdentificationReport r = EvaluateIdentification(outcomes, options);
  const OperatingPoint& tight = r.operating_points[0];
  EXPECT_GT(tight.threshold, 0.8f);
  EXPECT_LT(tight.threshold, 0.80001f);
  EXPECT_EQ(tight.false_positives, 1);
  EXPECT_DOUBLE_EQ(tight.fpir, 0.01);
  EXPECT_DOUBLE_EQ(tight.fnir, 0.5);        // the mate at 0.8 is cut
  EXPECT_DOUBLE_EQ(tight.fnir_rank1, 0.5);
  const OperatingPoint& loose = r.operating_points[1];  // 3 allowed: T just above 0.2
  EXPECT_EQ(loose.false_positives, 3);
  EXPECT_DOUBLE_EQ(loose.fpir, 0.03);
  EXPECT_DOUBLE_EQ(loose.fnir, 0.0);
  EXPECT_DOUBLE_EQ(loose.fnir_rank1, 0.5);  // the second mate is at rank 2
}

TEST(EvalIdentificationMetrics, NonMatedWithoutFaceNeverFalsePositive) {
  // 10 non-mated, only 1 with a face: target 0.1 allows one, so every
  // candidate passes (T = -inf) and FPIR is 0.1.
  std::vector<ProbeOutcome> outcomes = {Mated(4, 0.1f, 0.3f)};
  for (int i = 0; i < 9; ++i) outcomes.push_back(NonMated(kNoScore));
  outcomes.push_back(NonMated(0.7f));
  IdentificationOptions options;
  options.target_fpirs = {0.1, 0.01};
  IdentificationReport r = EvaluateIdentification(outcomes, options);
  EXPECT_EQ(r.non_mated_without_face, 9);
  const OperatingPoint& p = r.operating_points[0];
  ASSERT_TRUE(p.resolvable);
  EXPECT_TRUE(std::isinf(p.threshold) && p.threshold < 0);
  EXPECT_EQ(p.false_positives, 1);
  EXPECT_DOUBLE_EQ(p.fnir, 0.0);
  EXPECT_DOUBLE_EQ(p.fnir_rank1, 1.0);
  EXPECT_FALSE(r.operating_points[1].resolvable);
  nlohmann::json j = ToJson(r);
  EXPECT_TRUE(j["operating_points"][0]["threshold"].is_null());
  EXPECT_FALSE(j["operating_points"][1].contains("fnir"));
  EXPECT_DOUBLE_EQ(j["identification_rate"]["rank10"].get<double>(), 1.0);
}

TEST(EvalIdentificationMetrics, RejectsEmptyInputAndBadOptions) {
  EXPECT_THROW(EvaluateIdentification({}, {}), Error);
  IdentificationOptions bad;
  bad.candidates = 0;
  EXPECT_THROW(EvaluateIdentification({Mated(1, 1, 1)}, bad), Error);
}

TEST(EvalIdentificationMetrics, ProbeCsvHasOneRowPerProbe) {
  ProbeOutcome hit = Mated(2, 0.5f, 0.75f);
  hit.identity = "a,b";
  hit.image = "/x/1.jpg";
  hit.top_identity = "c";
  ProbeOutcome miss = NonMated(kNoScore);
  miss.identity = "d";
  miss.image = "/x/2.jpg";
  EXPECT_EQ(ProbeOutcomesCsv({hit, miss}),
            "probe,identity,mated,face_found,mate_rank,mate_score,top_score,top_identity\n"
            "\"/x/1.jpg\",\"a,b\",1,1,2,0.500000,0.750000,\"c\"\n"
            "\"/x/2.jpg\",\"d\",0,0,,,,\"\"\n");
}


// --- the command end to end

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `lineup <args>` with the test's models; returns the exit status and stdout.
int RunLineup(const std::string& args, std::string* out, std::string* err) {
  std::filesystem::path dir = testing::TempDir("ident-cli");
  std::string cmd = "LINEUP_MODELS=" + ShellQuote(testing::ImportedModelsDir().string()) + " " +
                    ShellQuote(LINEUP_BINARY) + " " + args + " >" + ShellQuote((dir / "out").string()) +
                    " 2>" + ShellQuote((dir / "err").string()) + " </dev/null";
  int raw = std::system(cmd.c_str());
  *out = ReadFileText(dir / "out");
  *err = ReadFileText(dir / "err");
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

// Identities made from the demo photos: each confident face is one person,
// its crop (with margin) the gallery image "a.jpg" and a smaller, brighter
// copy the probe "b.jpg". Different faces are different people, so every
// mated probe must find its own crop at rank 1.
std::filesystem::path MakeFaceCropIdentities(int wanted) {
  ModelManifest manifest = ModelManifest::Load(testing::ImportedModelsDir());
  PipelineOptions options;
  options.load_embedder = false;
  FacePipeline pipeline(manifest, options);
  std::filesystem::path root = testing::TempDir("ident-crops");
  int made = 0;
  for (int n = 1; n <= 6 && made < wanted; ++n) {
    cv::Mat photo = LoadImage(testing::DemoPhoto(n).string());
    std::vector<FaceResult> faces = pipeline.Detect(photo);
    for (size_t i = 0; i < faces.size() && made < wanted; ++i) {
      const cv::Rect2f& box = faces[i].face.box;
      if (faces[i].face.score < kConfidentFaceScore || box.width < 60) continue;
      cv::Rect crop(cv::Point(int(box.x - 0.5f * box.width), int(box.y - 0.5f * box.height)),
                    cv::Size(int(2 * box.width), int(2 * box.height)));
      crop &= cv::Rect(0, 0, photo.cols, photo.rows);
      cv::Mat face = photo(crop).clone(), probe;
      cv::resize(face, probe, cv::Size(), 0.8, 0.8, cv::INTER_AREA);
      probe.convertTo(probe, -1, 1.0, 12);
      std::filesystem::path dir = root / ("person" + std::to_string(n) + "_" + std::to_string(i));
      std::filesystem::create_directories(dir);
      cv::imwrite((dir / "a.jpg").string(), face);
      cv::imwrite((dir / "b.jpg").string(), probe);
      ++made;
    }
  }
  return root;
}

TEST(EvalIdentifyCli, EndToEndThroughARealGallery) {
  std::filesystem::path root = MakeFaceCropIdentities(10);
  std::vector<IdentityImages> identities = ListIdentityImages({root});
  ASSERT_GE(identities.size(), 8u) << "the demo photos should give at least 8 large faces";
  IdentificationSplit split = SplitIdentities(identities, {});
  std::filesystem::path out = testing::TempDir("ident-out");
  std::filesystem::path data = testing::TempDir("ident-data") / "gallery";
  std::string stdout_text, stderr_text;
  int status = RunLineup("eval identify --json --workers 2 --out " + ShellQuote(out.string()) +
                             " --keep-data " + ShellQuote(data.string()) + " " + ShellQuote(root.string()),
                         &stdout_text, &stderr_text);
  ASSERT_EQ(status, 0) << stdout_text << stderr_text;
  nlohmann::json j = nlohmann::json::parse(stdout_text);
  int64_t mated = std::count_if(split.probes.begin(), split.probes.end(), [](auto& p) { return p.mated; });
  EXPECT_EQ(j["enrolled_identities"], split.enrolled.size());
  EXPECT_EQ(j["mated_probes"], mated);
  EXPECT_EQ(j["non_mated_probes"], int64_t(split.probes.size()) - mated);
  EXPECT_EQ(j["gallery"]["images"], split.gallery.size());
  EXPECT_EQ(j["gallery"]["enrolment_failures"], 0);
  EXPECT_GE(j["gallery"]["faces"].get<int64_t>(), int64_t(split.gallery.size()));
  EXPECT_EQ(j["mated_without_face"], 0);
  EXPECT_DOUBLE_EQ(j["identification_rate"]["rank1"].get<double>(), 1.0);
  EXPECT_FALSE(j["operating_points"][0]["resolvable"]);  // 2 non-mated probes cannot resolve 0.01
  EXPECT_TRUE(std::filesystem::exists(data / "catalog.db"));  // --keep-data kept the gallery
  EXPECT_TRUE(std::filesystem::exists(out / "report.json"));

  // probes.csv: one row per probe; mated probes' top candidate is their identity.
  std::string csv = ReadFileText(out / "probes.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), int64_t(split.probes.size()) + 1);
  for (const ProbeImage& p : split.probes) {
    std::string quoted = "\"" + p.identity + "\"";
    size_t row = csv.find("\"" + p.image.string() + "\"");
    ASSERT_NE(row, std::string::npos) << p.image;
    std::string line = csv.substr(row, csv.find('\n', row) - row);
    if (p.mated) {
      EXPECT_TRUE(line.ends_with("," + quoted)) << line;
      EXPECT_NE(line.find(",1,1,1,"), std::string::npos) << line;  // mated, face found, rank 1
    } else {
      EXPECT_FALSE(line.ends_with("," + quoted)) << line;
    }
  }

  // A second run into the same --keep-data folder is refused (fresh gallery only).
  EXPECT_EQ(RunLineup("eval identify --keep-data " + ShellQuote(data.string()) + " " + ShellQuote(root.string()),
                      &stdout_text, &stderr_text),
            1);
  EXPECT_NE(stderr_text.find("--keep-data"), std::string::npos) << stderr_text;
}

}  // namespace
}  // namespace lineup
