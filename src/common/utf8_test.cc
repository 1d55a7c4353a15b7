#include "common/utf8.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace lineup {
namespace {

TEST(Utf8, ValidTextIsRecognised) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("Émilie 山田 \xF0\x9F\x98\x80"));  // 2-, 3- and 4-byte characters
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("caf\xC3"));            // cut inside a character
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));           // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));       // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));   // above U+10FFFF
  EXPECT_EQ(DecodeUtf8At("é", 0).code_point, 0xE9u);
  EXPECT_EQ(DecodeUtf8At("é", 0).length, 2u);
  EXPECT_EQ(DecodeUtf8At("é", 1).length, 0u) << "a continuation byte starts no character";
}

TEST(Utf8, InvalidRunsBecomeOneReplacementCharacter) {
  EXPECT_EQ(ToValidUtf8("ok"), "ok");
  EXPECT_EQ(ToValidUtf8("a\xFF\xFE" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(ToValidUtf8("caf\xC3"), "caf\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xC3\xA9\xC3"), "\xC3\xA9\xEF\xBF\xBD") << "the valid character before stays";
  for (const char* bad : {"\xFF", "x\xC0\xAFy", "\xED\xA0\x80", "a\x80\x80\x80"}) {
    std::string fixed = ToValidUtf8(bad);
    EXPECT_TRUE(IsValidUtf8(fixed)) << bad;
    EXPECT_NO_THROW((void)nlohmann::json(fixed).dump());
  }
}

TEST(Utf8, TruncationNeverSplitsACharacter) {
  const std::string name = std::string(63, 'a') + "é";  // byte 64 is inside the é
  ASSERT_EQ(name.size(), 65u);
  EXPECT_FALSE(IsValidUtf8(name.substr(0, 64))) << "what substr did";
  EXPECT_EQ(TruncateUtf8(name, 64), std::string(63, 'a'));
  EXPECT_EQ(TruncateUtf8(name, 65), name);
  EXPECT_EQ(TruncateUtf8("\xF0\x9F\x98\x80", 3), "");
  EXPECT_EQ(TruncateUtf8("abc", 0), "");
  EXPECT_EQ(SafeUtf8(std::string(99, 'f') + "\xE5\xB1\xB1" + "\xFF", 100), std::string(99, 'f'));
  EXPECT_EQ(SafeUtf8("\xFF\xFF", 100), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace lineup
