#include "eval/pairs.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/file_util.h"
#include "test_env.h"

namespace lineup {
namespace {

// Asserts that `statement` throws lineup::Error whose message contains `needle`.
#define EXPECT_ERROR_CONTAINING(statement, needle)                                    \
  try {                                                                               \
    statement;                                                                        \
    ADD_FAILURE() << "no Error thrown";                                               \
  } catch (const Error& e) {                                                          \
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();     \
  }

TEST(EvalPairs, LfwWithFoldHeaderAssignsFoldsInFileOrder) {
  const std::string text =
      "2\t2\n"
      "Abel_Pacheco\t1\t4\n"
      "Akhmed_Zakayev\t1\t3\n"
      "Abdel_Madi_Shabneh\t1\tDean_Barker\t1\n"
      "Abdel_Madi_Shabneh\t1\tGiancarlo_Fisichella\t1\n"
      "\n"
      "Ann_Veneman 10 11\n"
      "Ann_Veneman 3 7\n"
      "A 2 B 3\n"
      "C 4 D 5\n";
  auto pairs = ParseLfwPairs(text, "pairs.txt", "/lfw");
  ASSERT_EQ(pairs.size(), 8u);
  EXPECT_EQ(pairs[0].path_a, "/lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg");
  EXPECT_EQ(pairs[0].path_b, "/lfw/Abel_Pacheco/Abel_Pacheco_0004.jpg");
  EXPECT_TRUE(pairs[0].same);
  EXPECT_EQ(pairs[0].fold, 0);
  EXPECT_FALSE(pairs[2].same);
  EXPECT_EQ(pairs[2].path_b, "/lfw/Dean_Barker/Dean_Barker_0001.jpg");
  EXPECT_EQ(pairs[3].fold, 0);
  EXPECT_EQ(pairs[4].fold, 1);
  EXPECT_EQ(pairs[4].path_a, "/lfw/Ann_Veneman/Ann_Veneman_0010.jpg");
  EXPECT_TRUE(pairs[5].same);
  EXPECT_FALSE(pairs[7].same);
  EXPECT_EQ(pairs[7].fold, 1);
}

TEST(EvalPairs, LfwSingleCountHeaderAndNoHeaderGiveNoFolds) {
  auto counted = ParseLfwPairs("1\nX 1 2\nX 1 Y 2\n", "dev.txt", "r");
  ASSERT_EQ(counted.size(), 2u);
  EXPECT_EQ(counted[0].fold, -1);
  EXPECT_EQ(counted[1].path_b, "r/Y/Y_0002.jpg");
  auto with_bom = ParseLfwPairs("\xEF\xBB\xBF" "1 1\nX 1 2\nX 1 Y 2\n", "bom.txt", "r");
  ASSERT_EQ(with_bom.size(), 2u);
  EXPECT_EQ(with_bom[1].fold, 0);
  auto bare = ParseLfwPairs("X 1 Y 2\r\nX 1 2\r\n", "bare.txt", "r");
  ASSERT_EQ(bare.size(), 2u);
  EXPECT_FALSE(bare[0].same);
  EXPECT_TRUE(bare[1].same);
  EXPECT_EQ(bare[1].fold, -1);
}

TEST(EvalPairs, LfwMalformedLinesNameFileAndLine) {
  EXPECT_ERROR_CONTAINING(ParseLfwPairs("X 1 2\nX 1 2 3 4 5\n", "p.txt", "r"), "p.txt:2");
  EXPECT_ERROR_CONTAINING(ParseLfwPairs("X 1 2\n\nX one 2\n", "p.txt", "r"), "p.txt:3");
  EXPECT_ERROR_CONTAINING(ParseLfwPairs("X 0 2\n", "p.txt", "r"), "positive");
  // Header says 1 same then 1 different per fold; line 3 breaks that.
  EXPECT_ERROR_CONTAINING(ParseLfwPairs("1 1\nX 1 2\nX 1 3\n", "p.txt", "r"), "p.txt:3");
  EXPECT_ERROR_CONTAINING(ParseLfwPairs("2 1\nX 1 2\nX 1 Y 3\n", "p.txt", "r"),
                          "header promises 4 pairs, file has 2");
  EXPECT_ERROR_CONTAINING(ParseLfwPairs("1\nX 1 2\nX 1 Y 3\nX 1 2\n", "p.txt", "r"), "p.txt:4");
}

TEST(EvalPairs, CsvInDeepfaceMasterFormat) {
  // As /work/shared/.../master.csv: header "file_x,file_y,Decision", Yes/No, CRLF,
  // no newline at the end.
  const std::string text =
      "file_x,file_y,Decision\r\nimg20.jpg,img21.jpg,Yes\r\nimg19.jpg,img9.jpg,No";
  auto pairs = ParseCsvPairs(text, "master.csv", "/data/dataset");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].path_a, "/data/dataset/img20.jpg");
  EXPECT_EQ(pairs[0].path_b, "/data/dataset/img21.jpg");
  EXPECT_TRUE(pairs[0].same);
  EXPECT_FALSE(pairs[1].same);
  EXPECT_EQ(pairs[1].path_b, "/data/dataset/img9.jpg");
  EXPECT_EQ(pairs[1].fold, -1);
}

TEST(EvalPairs, CsvWithoutHeaderQuotesAbsolutePathsAndExtraColumns) {
  const std::string text =
      "a.jpg,b.jpg,1\n"
      "\"with, comma.jpg\",\"say \"\"hi\"\".jpg\",FALSE,0.93\n"
      "/abs/c.jpg , d.jpg , true\n"
      "e.jpg,f.jpg,no\n";
  auto pairs = ParseCsvPairs(text, "x.csv", "root");
  ASSERT_EQ(pairs.size(), 4u);
  EXPECT_TRUE(pairs[0].same);
  EXPECT_EQ(pairs[0].path_a, "root/a.jpg");
  EXPECT_EQ(pairs[1].path_a, "root/with, comma.jpg");
  EXPECT_EQ(pairs[1].path_b, "root/say \"hi\".jpg");
  EXPECT_FALSE(pairs[1].same);
  EXPECT_EQ(pairs[2].path_a, "/abs/c.jpg");
  EXPECT_EQ(pairs[2].path_b, "root/d.jpg");
  EXPECT_TRUE(pairs[2].same);
  EXPECT_FALSE(pairs[3].same);
}

TEST(EvalPairs, CsvFoldColumn) {
  auto pairs = ParseCsvPairs("img1,img2,same,fold\na,b,1,3\nc,d,0,0\n", "f.csv", "");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].fold, 3);
  EXPECT_EQ(pairs[1].fold, 0);
  EXPECT_ERROR_CONTAINING(ParseCsvPairs("img1,img2,same,fold\na,b,1,x\n", "f.csv", ""),
                          "f.csv:2");
}

TEST(EvalPairs, CsvMalformedLinesNameFileAndLine) {
  EXPECT_ERROR_CONTAINING(ParseCsvPairs("a,b,same\nx,y,1\nx,y,maybe\n", "m.csv", ""), "m.csv:3");
  EXPECT_ERROR_CONTAINING(ParseCsvPairs("x,y,1\nx,y\n", "m.csv", ""), "m.csv:2");
  EXPECT_ERROR_CONTAINING(ParseCsvPairs("x,y,1\n\"x,y,1\n", "m.csv", ""), "unterminated");
  EXPECT_ERROR_CONTAINING(ParseCsvPairs("x,y,1\n,y,0\n", "m.csv", ""), "m.csv:2");
}

TEST(EvalPairs, ReadPairsFileChoosesFormat) {
  auto dir = testing::TempDir("eval-pairs");
  WriteFileAtomically(dir / "list.csv", "x.jpg,y.jpg,yes\n");
  WriteFileAtomically(dir / "list.txt", "a,b,no\n");
  WriteFileAtomically(dir / "pairs.txt", "10\t1\n");
  auto csv = ReadPairsFile(dir / "list.csv", dir);
  ASSERT_EQ(csv.size(), 1u);
  EXPECT_EQ(csv[0].path_a, (dir / "x.jpg").string());
  auto sniffed = ReadPairsFile(dir / "list.txt", dir);
  ASSERT_EQ(sniffed.size(), 1u);
  EXPECT_FALSE(sniffed[0].same);
  EXPECT_ERROR_CONTAINING(ReadPairsFile(dir / "pairs.txt", dir), "pairs.txt:1");
  EXPECT_ERROR_CONTAINING(ReadPairsFile(dir / "missing.txt", dir), "missing.txt");
}

}  // namespace
}  // namespace lineup
