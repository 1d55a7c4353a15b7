#include "eval/verification.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace lineup {
namespace {

ScoredPair Pair(double score, bool same, int fold = -1) { return {score, same, fold}; }
ScoredPair Missing(bool same) { return {std::nullopt, same, -1}; }

TEST(EvalVerification, PerfectSeparation) {
  std::vector<ScoredPair> pairs;
  for (int i = 0; i < 20; ++i) {
    pairs.push_back(Pair(0.6 + 0.01 * i, true));
    pairs.push_back(Pair(0.1 + 0.01 * i, false));
  }
  VerificationReport r = EvaluateVerification(pairs);
  EXPECT_TRUE(r.folds_assigned);
  ASSERT_EQ(r.folds.size(), 10u);
  EXPECT_DOUBLE_EQ(r.kfold_accuracy_mean, 1.0);
  EXPECT_DOUBLE_EQ(r.kfold_accuracy_std, 0.0);
  EXPECT_DOUBLE_EQ(r.best_accuracy, 1.0);
  EXPECT_NEAR(r.best_threshold, (0.6 + 0.29) / 2, 1e-12);  // between 0.29 and 0.6
  EXPECT_DOUBLE_EQ(r.auc, 1.0);
  ASSERT_EQ(r.tar_at_far.size(), 2u);
  EXPECT_TRUE(r.tar_at_far[0].reached);
  EXPECT_DOUBLE_EQ(r.tar_at_far[0].tar, 1.0);
  EXPECT_DOUBLE_EQ(r.tar_at_far[0].far, 0.0);
  EXPECT_FALSE(r.tar_at_far[0].resolvable);  // 20 impostors cannot resolve 1e-3
  EXPECT_EQ(r.num_genuine_pairs, 20);
  EXPECT_EQ(r.num_impostor_pairs, 20);
}

// Ten folds of one genuine (0.8) and one impostor (0.2) pair, except fold 0 where
// the genuine scores 0.3 and the impostor 0.7. Fold 0 trains on clean folds ->
// threshold 0.5 -> both test pairs wrong. Other folds train on 0.8 x8 (g),
// 0.7 (i), 0.3 (g), 0.2 x8 (i): thresholds 0.75 and 0.25 both get 17/18 right,
// the lower (0.25) wins and classifies 0.8 / 0.2 correctly.
std::vector<ScoredPair> OneBadFold(bool explicit_folds) {
  std::vector<ScoredPair> genuine, impostor;
  for (int f = 0; f < 10; ++f) {
    genuine.push_back(Pair(f == 0 ? 0.3 : 0.8, true, explicit_folds ? f : -1));
    impostor.push_back(Pair(f == 0 ? 0.7 : 0.2, false, explicit_folds ? f : -1));
  }
  // Genuine pairs at positions 0..9, impostors at 10..19: interleaved fold
  // assignment (i % 10) puts pair f of each class in fold f.
  genuine.insert(genuine.end(), impostor.begin(), impostor.end());
  return genuine;
}

void ExpectOneBadFold(const VerificationReport& r) {
  ASSERT_EQ(r.folds.size(), 10u);
  EXPECT_DOUBLE_EQ(r.folds[0].accuracy, 0.0);
  EXPECT_DOUBLE_EQ(r.folds[0].threshold, 0.5);
  for (int f = 1; f < 10; ++f) {
    EXPECT_DOUBLE_EQ(r.folds[f].accuracy, 1.0) << f;
    EXPECT_DOUBLE_EQ(r.folds[f].threshold, 0.25) << f;
    EXPECT_EQ(r.folds[f].num_pairs, 2);
  }
  EXPECT_NEAR(r.kfold_accuracy_mean, 0.9, 1e-12);
  EXPECT_NEAR(r.kfold_accuracy_std, 0.3, 1e-12);
  EXPECT_DOUBLE_EQ(r.best_accuracy, 0.95);
  EXPECT_DOUBLE_EQ(r.best_threshold, 0.25);
  EXPECT_NEAR(r.auc, 0.99, 1e-12);  // only 0.3 (g) < 0.7 (i) of 100 pairings is out of order
}

TEST(EvalVerification, TenFoldWithFoldsFromPairs) {
  VerificationReport r = EvaluateVerification(OneBadFold(true));
  EXPECT_FALSE(r.folds_assigned);
  ExpectOneBadFold(r);
}

TEST(EvalVerification, TenFoldWithInterleavedFolds) {
  VerificationReport r = EvaluateVerification(OneBadFold(false));
  EXPECT_TRUE(r.folds_assigned);
  ExpectOneBadFold(r);
}

// 1000 impostors at 0.000 .. 0.999; genuine: 5 at 2.0, 3 at 0.9985, 2 at 0.9955.
TEST(EvalVerification, TarAtFar) {
  std::vector<ScoredPair> pairs;
  for (int k = 0; k < 1000; ++k) pairs.push_back(Pair(k / 1000.0, false));
  for (int i = 0; i < 5; ++i) pairs.push_back(Pair(2.0, true));
  for (int i = 0; i < 3; ++i) pairs.push_back(Pair(0.9985, true));
  for (int i = 0; i < 2; ++i) pairs.push_back(Pair(0.9955, true));
  VerificationOptions options;
  options.target_fars = {1e-4, 1e-3, 1e-2};
  VerificationReport r = EvaluateVerification(pairs, options);
  EXPECT_EQ(r.num_impostor_pairs, 1000);
  ASSERT_EQ(r.tar_at_far.size(), 3u);

  const TarAtFar& at_1e4 = r.tar_at_far[0];  // only FAR = 0 qualifies
  EXPECT_FALSE(at_1e4.resolvable);
  EXPECT_TRUE(at_1e4.reached);
  EXPECT_DOUBLE_EQ(at_1e4.tar, 0.5);
  EXPECT_DOUBLE_EQ(at_1e4.far, 0.0);
  EXPECT_NEAR(*at_1e4.threshold, (2.0 + 0.999) / 2, 1e-12);

  const TarAtFar& at_1e3 = r.tar_at_far[1];  // one impostor (0.999) accepted
  EXPECT_TRUE(at_1e3.resolvable);
  EXPECT_DOUBLE_EQ(at_1e3.tar, 0.8);
  EXPECT_DOUBLE_EQ(at_1e3.far, 0.001);
  EXPECT_NEAR(*at_1e3.threshold, (0.9985 + 0.998) / 2, 1e-12);

  const TarAtFar& at_1e2 = r.tar_at_far[2];  // ten impostors (0.990 .. 0.999) accepted
  EXPECT_DOUBLE_EQ(at_1e2.tar, 1.0);
  EXPECT_DOUBLE_EQ(at_1e2.far, 0.01);
  EXPECT_NEAR(*at_1e2.threshold, (0.990 + 0.989) / 2, 1e-12);

  // ROC runs from (0, 0) upward with increasing FAR.
  ASSERT_FALSE(r.roc.empty());
  EXPECT_DOUBLE_EQ(r.roc.front().far, 0.0);
  EXPECT_DOUBLE_EQ(r.roc.front().tar, 0.0);
  EXPECT_DOUBLE_EQ(r.roc.back().far, 1.0);
  EXPECT_DOUBLE_EQ(r.roc.back().tar, 1.0);
  for (size_t i = 1; i < r.roc.size(); ++i) {
    EXPECT_GE(r.roc[i].far, r.roc[i - 1].far);
    EXPECT_GE(r.roc[i].tar, r.roc[i - 1].tar);
    EXPECT_LT(r.roc[i].threshold, r.roc[i - 1].threshold);
  }
}

std::vector<ScoredPair> WithMissing() {
  return {Pair(0.9, true), Pair(0.8, true), Pair(0.1, false), Pair(0.2, false), Missing(true),
          Missing(false)};
}

TEST(EvalVerification, MissingScoresExcluded) {
  VerificationOptions options;
  options.missing = MissingScorePolicy::kExclude;
  VerificationReport r = EvaluateVerification(WithMissing(), options);
  EXPECT_EQ(r.num_pairs, 6);
  EXPECT_EQ(r.num_missing_genuine, 1);
  EXPECT_EQ(r.num_missing_impostor, 1);
  EXPECT_EQ(r.num_evaluated, 4);
  EXPECT_DOUBLE_EQ(r.best_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.auc, 1.0);
}

TEST(EvalVerification, MissingScoresCountedAsWrong) {
  VerificationReport r = EvaluateVerification(WithMissing());  // the default policy
  EXPECT_EQ(r.num_evaluated, 6);
  EXPECT_DOUBLE_EQ(r.best_accuracy, 4.0 / 6);
  EXPECT_DOUBLE_EQ(r.kfold_accuracy_mean, 4.0 / 6);
  EXPECT_DOUBLE_EQ(r.auc, 4.0 / 9);
  EXPECT_DOUBLE_EQ(r.roc.front().far, 1.0 / 3);  // the missing impostor is always accepted
  EXPECT_FALSE(r.tar_at_far[0].reached);
  EXPECT_FALSE(r.tar_at_far[0].threshold.has_value());
}

TEST(EvalVerification, MissingScoresCountedAsRejected) {
  VerificationOptions options;
  options.missing = MissingScorePolicy::kCountAsRejected;
  VerificationReport r = EvaluateVerification(WithMissing(), options);
  EXPECT_DOUBLE_EQ(r.best_accuracy, 5.0 / 6);
  EXPECT_DOUBLE_EQ(r.auc, 6.5 / 9);  // the two missing pairs tie
  EXPECT_DOUBLE_EQ(r.roc.front().far, 0.0);
  EXPECT_DOUBLE_EQ(r.tar_at_far[0].tar, 2.0 / 3);
}

TEST(EvalVerification, RejectsInconsistentInput) {
  EXPECT_THROW(EvaluateVerification({}), Error);
  EXPECT_THROW(EvaluateVerification({Pair(0.5, true, 0), Pair(0.4, false)}), Error);
  VerificationOptions exclude;
  exclude.missing = MissingScorePolicy::kExclude;
  EXPECT_THROW(EvaluateVerification({Missing(true)}, exclude), Error);
  VerificationOptions one_fold;
  one_fold.num_folds = 1;
  EXPECT_THROW(EvaluateVerification({Pair(0.5, true)}, one_fold), Error);
}

TEST(EvalVerification, Json) {
  nlohmann::json j = ToJson(EvaluateVerification(OneBadFold(true)));
  EXPECT_NEAR(j["kfold"]["accuracy_mean"].get<double>(), 0.9, 1e-12);
  EXPECT_EQ(j["kfold"]["folds"].size(), 10u);
  EXPECT_EQ(j["kfold"]["folds_assigned"], "from_pairs");
  EXPECT_EQ(j["impostor_pairs"], 10);
  EXPECT_EQ(j["missing_policy"], "count_as_wrong");
  EXPECT_TRUE(j["tar_at_far"][0].contains("resolvable"));
  EXPECT_FALSE(j["roc"].empty());
  // One class only: AUC is undefined and serialises as null.
  nlohmann::json one_class = ToJson(EvaluateVerification({Pair(0.5, true), Pair(0.6, true)}));
  EXPECT_TRUE(one_class["auc"].is_null());
}

}  // namespace
}  // namespace lineup
