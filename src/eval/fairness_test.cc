// The fairness report on synthetic sets whose figures are computed by hand
// in the comments: labels files, pair sampling, per-group FMR / FNMR /
// FNIR / FPIR, ratios, resolvability, the thresholds set on the set, the
// exhaustive 1:N search and the three outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "eval/fairness.h"
#include "eval/fairness_pairs.h"
#include "eval/fairness_report.h"
#include "eval/fairness_search.h"
#include "eval/labels_csv.h"
#include "eval/svg_bars.h"

namespace lineup {
namespace {

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LabelsCsv, ParsesColumnsQuotingAndEmptyLabels) {
  LabelledSet set = ParseLabelsCsv(
      "path,identity,sex,capture_condition\r\n"
      "a/1.jpg,alice,F,indoor\n"
      "\n"
      "\"b/with, comma.jpg\",bob,,\"out\"\"door\"\n"
      "/abs/c.jpg,carol,F,\n",
      "labels.csv", "/root");
  EXPECT_EQ(set.group_columns, (std::vector<std::string>{"sex", "capture_condition"}));
  ASSERT_EQ(set.images.size(), 3u);
  EXPECT_EQ(set.images[0].path, "/root/a/1.jpg");
  EXPECT_EQ(set.images[0].groups, (std::vector<std::string>{"F", "indoor"}));
  EXPECT_EQ(set.images[1].path, "/root/b/with, comma.jpg");
  EXPECT_EQ(set.images[1].groups, (std::vector<std::string>{"", "out\"door"}));
  EXPECT_EQ(set.images[1].line, 4);
  EXPECT_EQ(set.images[2].path, "/abs/c.jpg");
  EXPECT_EQ(set.images[2].identity, "carol");

  LabelledSet bare = ParseLabelsCsv("PATH,Identity\nx.jpg,x\n", "l.csv", "/r");
  EXPECT_TRUE(bare.group_columns.empty());
  EXPECT_EQ(bare.images.size(), 1u);
}

TEST(LabelsCsv, ErrorsNameTheLine) {
  auto parse = [](const std::string& text) {
    return ErrorOf([&] { ParseLabelsCsv(text, "l.csv", "/r"); });
  };
  EXPECT_NE(parse("img,id\na,b\n").find("l.csv:1: header must start with 'path,identity'"), std::string::npos);
  EXPECT_NE(parse("path,identity,sex\na.jpg,x,F\nb.jpg,y\n").find("l.csv:3: expected 3 fields"), std::string::npos);
  EXPECT_NE(parse("path,identity\na.jpg,x\n\n./a.jpg,y\n").find("l.csv:4: image ./a.jpg is already listed on line 2"),
            std::string::npos);
  EXPECT_NE(parse("path,identity\na.jpg,\n").find("l.csv:2: empty identity"), std::string::npos);
  EXPECT_NE(parse("path,identity,sex,Sex\n").find("l.csv:1: column 'Sex' appears twice"), std::string::npos);
  EXPECT_NE(parse("path,identity,\n").find("l.csv:1: group column 3 has no name"), std::string::npos);
  EXPECT_NE(parse("path,identity\n\"a.jpg,x\n").find("l.csv:2: unterminated quoted field"), std::string::npos);
  EXPECT_NE(parse("").find("l.csv: empty labels file"), std::string::npos);
  EXPECT_NE(ErrorOf([] { ReadLabelsCsv("/nonexistent/labels.csv", "/"); }).find("no such labels file"),
            std::string::npos);
}

TEST(FairnessPairs, AllPairsThenCappedSamples) {
  // A A A B B C: genuine 3 (A) + 1 (B) = 4; all pairs 15, impostors 11.
  const std::vector<std::string> ids = {"A", "A", "A", "B", "B", "C"};
  FairnessPairOptions all;
  all.max_impostors = 0;
  FairnessPairs p = MakeFairnessPairs(ids, all);
  EXPECT_EQ(p.genuine_available, 4);
  EXPECT_EQ(p.impostor_available, 11);
  EXPECT_EQ(p.genuine_used, 4);
  EXPECT_EQ(p.impostor_used, 11);
  ASSERT_EQ(p.pairs.size(), 15u);
  EXPECT_TRUE(p.pairs[0].same && p.pairs[0].a == 0 && p.pairs[0].b == 1);
  EXPECT_FALSE(p.pairs[4].same);

  FairnessPairOptions capped;
  capped.genuine_per_identity = 2;  // A keeps 2 of 3, B its 1
  capped.max_impostors = 5;
  capped.seed = 7;
  FairnessPairs c = MakeFairnessPairs(ids, capped);
  EXPECT_EQ(c.genuine_available, 4);
  EXPECT_EQ(c.genuine_used, 3);
  EXPECT_EQ(c.impostor_available, 11);
  EXPECT_EQ(c.impostor_used, 5);
  std::set<std::pair<int, int>> seen;
  for (const IndexPair& q : c.pairs) {
    EXPECT_LT(q.a, q.b);
    EXPECT_EQ(q.same, ids[q.a] == ids[q.b]);
    EXPECT_TRUE(seen.insert({q.a, q.b}).second);
  }
  FairnessPairs again = MakeFairnessPairs(ids, capped);
  ASSERT_EQ(again.pairs.size(), c.pairs.size());
  for (size_t i = 0; i < c.pairs.size(); ++i) EXPECT_EQ(again.pairs[i].b, c.pairs[i].b);
  capped.max_impostors = -1;
  EXPECT_THROW(MakeFairnessPairs(ids, capped), Error);
}

// Images: 0,1 p1 F; 2,3 p2 F; 4,5 p3 M; 6 p4 M without a face.
std::vector<FairnessImage> Images() {
  return {{"p1", {"F"}, true}, {"p1", {"F"}, true}, {"p2", {"F"}, true}, {"p2", {"F"}, true},
          {"p3", {"M"}, true}, {"p3", {"M"}, true}, {"p4", {"M"}, false}};
}

std::vector<ScoredIndexPair> Pairs() {
  return {{0, 1, true, 0.9},  {2, 3, true, 0.4},  {4, 5, true, 0.8},              // genuine
          {0, 2, false, 0.6}, {0, 3, false, 0.2}, {1, 2, false, 0.1}, {1, 3, false, 0.3},  // F-F
          {4, 6, false, {}},  {5, 6, false, {}},                                  // M-M, no face
          {0, 4, false, 0.55}, {1, 5, false, 0.1}};                               // F-M
}

FairnessOptions Options() {
  FairnessOptions o;
  o.thresholds = {{"possible", 0.5, 0, "test"}};
  o.min_trials = 2;
  return o;
}

TEST(Fairness, SameGroupRatesRatiosAndResolvability) {
  FairnessReport r = EvaluateFairness({"sex"}, Images(), Pairs(), {}, Options());
  // Overall at 0.5: genuine 0.9 0.4 0.8 -> 1 of 3 rejected; impostors 8 (the two
  // without a score are rejected, NIST FRTE style) -> 0.6 and 0.55 accepted.
  EXPECT_EQ(r.overall.fnmr[0].errors, 1);
  EXPECT_EQ(r.overall.fnmr[0].trials, 3);
  EXPECT_EQ(r.overall.fmr[0].errors, 2);
  EXPECT_EQ(r.overall.fmr[0].trials, 8);
  EXPECT_DOUBLE_EQ(r.overall.fmr[0].rate, 0.25);
  EXPECT_EQ(r.overall.images_without_face, 1);
  EXPECT_EQ(r.overall.impostor_without_score, 2);
  ASSERT_EQ(r.groups.size(), 2u);
  const GroupFigures& f = r.groups[0];
  const GroupFigures& m = r.groups[1];
  EXPECT_EQ(f.value, "F");
  EXPECT_EQ(m.value, "M");
  // F: same-group impostors (0,2) (0,3) (1,2) (1,3): 1 of 4; genuine 1 of 2.
  EXPECT_EQ(f.fmr[0].errors, 1);
  EXPECT_EQ(f.fmr[0].trials, 4);
  EXPECT_EQ(f.fnmr[0].errors, 1);
  EXPECT_EQ(f.fnmr[0].trials, 2);
  EXPECT_DOUBLE_EQ(*f.fmr[0].ratio_to_overall, 1.0);    // 0.25 / 0.25
  EXPECT_FALSE(f.fmr[0].ratio_to_best.has_value());     // best (M) is 0
  EXPECT_DOUBLE_EQ(*f.fnmr[0].ratio_to_overall, 1.5);   // 0.5 / (1/3)
  EXPECT_DOUBLE_EQ(*f.fnmr[0].ratio_to_best, 1.0);      // the only resolvable one
  // M: 2 impostor pairs, both without a score: 0 of 2; 1 genuine pair < min_trials.
  EXPECT_EQ(m.images, 3);
  EXPECT_EQ(m.images_without_face, 1);
  EXPECT_EQ(m.identities, 2);
  EXPECT_EQ(m.impostor_without_score, 2);
  EXPECT_TRUE(m.fmr[0].resolvable);
  EXPECT_EQ(m.fmr[0].errors, 0);
  EXPECT_FALSE(m.fnmr[0].resolvable);
  EXPECT_FALSE(m.fnmr[0].ratio_to_overall.has_value());
  // Cross F x M: (0,4) 0.55 accepted, (1,5) rejected; no genuine pairs.
  ASSERT_EQ(r.cross.size(), 1u);
  EXPECT_EQ(r.cross[0].value_a, "F");
  EXPECT_EQ(r.cross[0].fmr[0].errors, 1);
  EXPECT_EQ(r.cross[0].fmr[0].trials, 2);
  EXPECT_EQ(r.cross[0].fnmr[0].trials, 0);
  EXPECT_FALSE(r.cross[0].fnmr[0].resolvable);
}

TEST(Fairness, MissingPolicyAndNominalFmrRule) {
  FairnessOptions o = Options();
  o.missing = MissingScorePolicy::kExclude;
  FairnessReport excluded = EvaluateFairness({"sex"}, Images(), Pairs(), {}, o);
  EXPECT_EQ(excluded.overall.fmr[0].trials, 6);
  EXPECT_EQ(excluded.groups[1].fmr[0].trials, 0);
  EXPECT_FALSE(excluded.groups[1].fmr[0].resolvable);
  EXPECT_EQ(excluded.groups[1].impostor_without_score, 2);  // still counted

  o.missing = MissingScorePolicy::kCountAsWrong;
  FairnessReport wrong = EvaluateFairness({"sex"}, Images(), Pairs(), {}, o);
  EXPECT_EQ(wrong.groups[1].fmr[0].errors, 2);  // impostors without a score accepted

  // A threshold standing for FMR 0.1 needs 10 impostor pairs: 8 overall, 4 for F.
  o = Options();
  o.thresholds = {{"weak", 0.5, 0.1, "test"}};
  FairnessReport nominal = EvaluateFairness({"sex"}, Images(), Pairs(), {}, o);
  EXPECT_FALSE(nominal.overall.fmr[0].resolvable);
  EXPECT_FALSE(nominal.groups[0].fmr[0].resolvable);
  EXPECT_TRUE(nominal.groups[0].fnmr[0].resolvable);  // FNMR needs only min_trials
}

TEST(Fairness, ThresholdSetOnTheSetAtATargetFmr) {
  FairnessOptions o = Options();
  o.target_fmrs = {0.125, 0.01};
  FairnessReport r = EvaluateFairness({"sex"}, Images(), Pairs(), {}, o);
  // 8 impostors, 1 may pass: the cut between 0.6 and 0.55 is their midpoint.
  ASSERT_EQ(r.thresholds.size(), 2u);
  EXPECT_EQ(r.thresholds[1].name, "FMR 0.125 on this set");
  EXPECT_DOUBLE_EQ(r.thresholds[1].value, 0.575);
  EXPECT_DOUBLE_EQ(r.thresholds[1].nominal_fmr, 0.125);
  EXPECT_EQ(r.overall.fmr[1].errors, 1);
  EXPECT_EQ(r.groups[0].fmr[1].errors, 1);  // (0,2) at 0.6
  EXPECT_EQ(r.cross[0].fmr[1].errors, 0);   // 0.55 no longer passes
  ASSERT_EQ(r.notes.size(), 1u);            // 0.01 needs 100 impostor pairs
  EXPECT_NE(r.notes[0].find("FMR 0.01 on this set: not resolvable (8 impostor pairs; needs at least 100)"),
            std::string::npos);
}

ProbeOutcome Outcome(bool mated, bool face, std::optional<int> rank, float mate, float top) {
  ProbeOutcome o;
  o.mated = mated;
  o.face_found = face;
  o.mate_rank = rank;
  o.mate_score = mate;
  o.top_score = top;
  return o;
}

TEST(Fairness, IdentificationByGroupOfTheProbe) {
  std::vector<FairnessProbe> probes = {
      {1, Outcome(true, true, 1, 0.7f, 0.7f)},           // F, hit
      {3, Outcome(true, true, 2, 0.45f, 0.6f)},          // F, mate below 0.5
      {5, Outcome(true, true, 1, 0.9f, 0.9f)},           // M, hit
      {6, Outcome(false, false, {}, kNoScore, kNoScore)},  // M, non-mated, no face
      {2, Outcome(false, true, {}, kNoScore, 0.52f)}};   // F, non-mated, false positive
  FairnessReport r = EvaluateFairness({"sex"}, Images(), Pairs(), probes, Options());
  ASSERT_TRUE(r.identification);
  EXPECT_EQ(r.overall.fnir[0].errors, 1);
  EXPECT_EQ(r.overall.fnir[0].trials, 3);
  EXPECT_EQ(r.overall.fpir[0].errors, 1);
  EXPECT_EQ(r.overall.fpir[0].trials, 2);
  EXPECT_NEAR(*r.overall.rank1, 2.0 / 3.0, 1e-12);
  const GroupFigures& f = r.groups[0];
  EXPECT_EQ(f.mated_probes, 2);
  EXPECT_EQ(f.non_mated_probes, 1);
  EXPECT_EQ(f.fnir[0].errors, 1);
  EXPECT_DOUBLE_EQ(*f.rank1, 0.5);
  EXPECT_FALSE(f.fpir[0].resolvable);  // 1 non-mated probe < min_trials
  const GroupFigures& m = r.groups[1];
  EXPECT_EQ(m.non_mated_without_face, 1);
  EXPECT_EQ(m.fpir[0].errors, 0);
  EXPECT_DOUBLE_EQ(*m.rank1, 1.0);
}

TEST(Fairness, RejectsBadInput) {
  EXPECT_NE(ErrorOf([] { EvaluateFairness({"sex"}, Images(), {}, {}, Options()); }).find("no pairs"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { EvaluateFairness({"sex"}, Images(), {{0, 9, false, 0.1}}, {}, Options()); })
                .find("does not name two images"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { EvaluateFairness({"sex", "age"}, Images(), Pairs(), {}, Options()); })
                .find("1 group labels for 2 columns"),
            std::string::npos);
}

TEST(Fairness, WilsonInterval) {
  double low = 0, high = 0;
  WilsonInterval(0, 10, &low, &high);
  EXPECT_DOUBLE_EQ(low, 0);
  EXPECT_NEAR(high, 0.2775328, 1e-6);
  WilsonInterval(5, 10, &low, &high);
  EXPECT_NEAR(low, 0.2365931, 1e-6);
  EXPECT_NEAR(high, 0.7634069, 1e-6);
  WilsonInterval(0, 0, &low, &high);
  EXPECT_EQ(high, 1);
}

TEST(FairnessSearch, RanksByScoreAndFindsTheMate) {
  std::vector<EnrolledDescriptor> gallery = {{"A", {1, 0}}, {"B", {0, 1}}, {"C", {0.6f, 0.8f}}};
  ProbeImage probe{"A", "/p.jpg", true};
  // Scores: A 0.8, B 0.6, C 0.96.
  ProbeOutcome o = SearchExhaustive(probe, std::vector<float>{0.8f, 0.6f}, gallery, 20);
  EXPECT_TRUE(o.face_found);
  EXPECT_EQ(o.top_identity, "C");
  EXPECT_NEAR(o.top_score, 0.96, 1e-6);
  ASSERT_TRUE(o.mate_rank.has_value());
  EXPECT_EQ(*o.mate_rank, 2);
  EXPECT_NEAR(o.mate_score, 0.8, 1e-6);
  ProbeOutcome short_list = SearchExhaustive(probe, std::vector<float>{0.8f, 0.6f}, gallery, 1);
  EXPECT_FALSE(short_list.mate_rank.has_value());
  ProbeOutcome no_face = SearchExhaustive(probe, std::nullopt, gallery, 20);
  EXPECT_FALSE(no_face.face_found);
  EXPECT_EQ(no_face.top_score, kNoScore);
  EXPECT_THROW(SearchExhaustive(probe, std::nullopt, gallery, 0), Error);
}

TEST(FairnessSearch, SplitsALabelledSetByIdentity) {
  LabelledSet set = ParseLabelsCsv("path,identity\nb/2.jpg,b\nb/1.jpg,b\na/1.jpg,a\na/3.jpg,a\na/2.jpg,a\n",
                                   "l.csv", "/r");
  IdentificationSplitOptions options;
  options.enrol_fraction = 1.0;
  IdentificationSplit split = SplitLabelledSet(set, options);
  ASSERT_EQ(split.gallery.size(), 2u);
  EXPECT_EQ(split.gallery[0].image, "/r/a/1.jpg");  // first by file name
  EXPECT_EQ(split.gallery[1].image, "/r/b/1.jpg");
  EXPECT_EQ(split.probes.size(), 3u);
  EXPECT_TRUE(split.non_mated.empty());
}

TEST(FairnessReport, OutputsSayNotResolvableAndHaveNoScripts) {
  FairnessReport r = EvaluateFairness({"sex"}, Images(), Pairs(), {}, Options());
  nlohmann::json j = ToJson(r);
  EXPECT_EQ(j["thresholds"][0]["name"], "possible");
  EXPECT_EQ(j["groups"][1]["group"], "M");
  EXPECT_TRUE(j["groups"][1]["verification"][0]["fnmr"]["rate"].is_null());
  EXPECT_EQ(j["groups"][1]["verification"][0]["fnmr"]["trials"], 1);
  EXPECT_DOUBLE_EQ(j["groups"][0]["verification"][0]["fmr_same_group_impostors"]["rate"].get<double>(), 0.25);
  EXPECT_EQ(j["missing_policy"], MissingScorePolicyName(MissingScorePolicy::kCountAsRejected));

  std::string csv = FairnessCsv(r);
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "table,column,group,group_b,threshold_name,threshold,metric,errors,trials,rate,ci_low,ci_high,"
            "resolvable,ratio_to_overall,ratio_to_best");
  EXPECT_NE(csv.find("group,sex,F,,possible,0.5,fmr,1,4,0.25,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("group,sex,M,,possible,0.5,fnmr,0,1,,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("cross,sex,F,M,possible,0.5,fmr,1,2,0.5,"), std::string::npos) << csv;
  // 3 (overall) + 2 x 3 (groups) + 2 (cross) rows after the header.
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 12);

  std::string html = FairnessHtml(r, {{"labels", "<l>.csv"}, {"images", 7}});
  EXPECT_NE(html.find("&lt;l&gt;.csv"), std::string::npos);
  EXPECT_NE(html.find("not resolvable"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("F × M"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(PrimaryThreshold(r), 0);
}

TEST(SvgBars, MutedBarsAreOutlinedAndTextEscaped) {
  BarChart chart{"FMR <by> group", {{"a&b", 0.5, "0.5", false}, {"c", 0, "not resolvable", true}}, 400};
  std::string svg = RenderBarChartSvg(chart);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("FMR &lt;by&gt; group"), std::string::npos);
  EXPECT_NE(svg.find("a&amp;b"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_NE(svg.find("not resolvable"), std::string::npos);
}

}  // namespace
}  // namespace lineup
