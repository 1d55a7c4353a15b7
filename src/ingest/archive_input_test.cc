#include "ingest/archive_input.h"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/file_util.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

enum class Kind { kZip, kTar, kTarGz, kTarBz2, kTarXz };

struct Member {
  std::string name;
  std::string data;
  bool directory = false;
  bool declare_size = true;  // false: zip streams it with a data descriptor
};

const char* FileName(Kind kind) {
  switch (kind) {
    case Kind::kZip: return "photos.zip";
    case Kind::kTar: return "photos.tar";
    case Kind::kTarGz: return "photos.tar.gz";
    case Kind::kTarBz2: return "photos.tar.bz2";
    case Kind::kTarXz: return "photos.tar.xz";
  }
  return "";
}

// Writes an archive with libarchive's writer.
void WriteArchive(const fs::path& path, Kind kind, const std::vector<Member>& members) {
  struct archive* out = archive_write_new();
  ASSERT_NE(out, nullptr);
  if (kind == Kind::kZip) {
    archive_write_set_format_zip(out);
  } else {
    archive_write_set_format_pax_restricted(out);
  }
  if (kind == Kind::kTarGz) archive_write_add_filter_gzip(out);
  if (kind == Kind::kTarBz2) archive_write_add_filter_bzip2(out);
  if (kind == Kind::kTarXz) archive_write_add_filter_xz(out);
  ASSERT_EQ(archive_write_open_filename(out, path.c_str()), ARCHIVE_OK) << archive_error_string(out);
  for (const Member& member : members) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, member.name.c_str());
    archive_entry_set_filetype(entry, member.directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry, member.directory ? 0755 : 0644);
    if (member.declare_size) {
      archive_entry_set_size(entry, static_cast<la_int64_t>(member.data.size()));
    } else {
      archive_entry_unset_size(entry);
    }
    ASSERT_EQ(archive_write_header(out, entry), ARCHIVE_OK) << archive_error_string(out);
    if (!member.data.empty()) {
      ASSERT_EQ(archive_write_data(out, member.data.data(), member.data.size()),
                static_cast<la_ssize_t>(member.data.size()));
    }
    archive_entry_free(entry);
  }
  ASSERT_EQ(archive_write_close(out), ARCHIVE_OK);
  archive_write_free(out);
}

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
  return bytes;
}

std::string Bytes(const IngestItem& item) { return std::string(item.bytes.begin(), item.bytes.end()); }

std::vector<IngestItem> ReadAll(IngestInput& input, size_t cap = 100000) {
  std::vector<IngestItem> items;
  while (items.size() < cap) {
    auto item = input.Next();
    if (!item) break;
    items.push_back(std::move(*item));
  }
  return items;
}

void Truncate(const fs::path& path, double fraction) {
  const auto size = fs::file_size(path);
  fs::resize_file(path, static_cast<uintmax_t>(static_cast<double>(size) * fraction));
}

class ArchiveKinds : public ::testing::TestWithParam<Kind> {};

TEST_P(ArchiveKinds, ImageMembersInOrderOthersSkippedNamesAreLabelsOnly) {
  const fs::path dir = testing::TempDir("archive-kinds");
  const fs::path path = dir / FileName(GetParam());
  const std::string b = RandomBytes(3000, 1), a = RandomBytes(100, 2), p = "root:x:0:0",
                    c = RandomBytes(10, 3);
  WriteArchive(path, GetParam(),
               {{"b.jpg", b},
                {"notes.txt", "not an image"},
                {"dir/", "", true},
                {"dir/a.PNG", a},
                {"../../etc/passwd.jpg", p},
                {"ctl\x01\x1b[2J.jpg", c},
                {"empty.jpg", ""}});
  auto input = OpenIngestInput(path);
  EXPECT_FALSE(input->EstimatedCount().has_value());
  auto items = ReadAll(*input);
  const std::string label = std::string(FileName(GetParam())) + ":";
  ASSERT_EQ(items.size(), 5u);
  EXPECT_EQ(items[0].name, label + "b.jpg");
  EXPECT_EQ(Bytes(items[0]), b);
  EXPECT_EQ(items[1].name, label + "dir/a.PNG");
  EXPECT_EQ(Bytes(items[1]), a);
  EXPECT_EQ(items[2].name, label + "../../etc/passwd.jpg");
  EXPECT_EQ(Bytes(items[2]), p);
  EXPECT_EQ(items[3].name, label + "ctl\\x01\\x1b[2J.jpg");
  EXPECT_EQ(Bytes(items[3]), c);
  EXPECT_EQ(items[4].name, label + "empty.jpg");
  EXPECT_TRUE(items[4].bytes.empty());
  EXPECT_EQ(items[4].error, "empty member (0 bytes)");
  items.pop_back();
  for (const auto& item : items) {
    EXPECT_TRUE(item.error.empty()) << item.name << ": " << item.error;
    EXPECT_TRUE(item.file.empty());
    EXPECT_FALSE(item.source.has_value());
  }
  EXPECT_FALSE(input->Next().has_value());
  // Nothing was written anywhere: the folder holds only the archive.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_FALSE(fs::exists(dir.parent_path().parent_path() / "etc" / "passwd.jpg"));
}

INSTANTIATE_TEST_SUITE_P(ArchiveInput, ArchiveKinds,
                         ::testing::Values(Kind::kZip, Kind::kTar, Kind::kTarGz, Kind::kTarBz2,
                                           Kind::kTarXz));

TEST(ArchiveInput, OversizedMemberIsAnErrorAndTheRestIsRead) {
  for (Kind kind : {Kind::kZip, Kind::kTarGz}) {
    const fs::path path = testing::TempDir("archive-big") / FileName(kind);
    WriteArchive(path, kind,
                 {{"1.jpg", RandomBytes(1000, 1)},
                  {"big.jpg", RandomBytes(5000, 2)},
                  {"2.jpg", RandomBytes(10, 3)}});
    IngestInputOptions options;
    options.max_file_bytes = 1000;
    auto items = ReadAll(*OpenIngestInput(path, options));
    ASSERT_EQ(items.size(), 3u) << FileName(kind);
    EXPECT_TRUE(items[0].error.empty()) << items[0].error;
    EXPECT_EQ(items[0].bytes.size(), 1000u);
    EXPECT_NE(items[1].error.find("5000 bytes, over the limit of 1000"), std::string::npos)
        << items[1].error;
    EXPECT_TRUE(items[1].bytes.empty());
    EXPECT_TRUE(items[2].error.empty()) << items[2].error;
    EXPECT_EQ(Bytes(items[2]), RandomBytes(10, 3));
  }
}

TEST(ArchiveInput, TotalLimitStopsTheArchiveWithOneError) {
  for (Kind kind : {Kind::kZip, Kind::kTarGz}) {
    const fs::path path = testing::TempDir("archive-total") / FileName(kind);
    WriteArchive(path, kind,
                 {{"1.jpg", RandomBytes(1000, 1)},
                  {"skipped.txt", RandomBytes(500, 2)},
                  {"2.jpg", RandomBytes(1000, 3)},
                  {"3.jpg", RandomBytes(1000, 4)},
                  {"4.jpg", RandomBytes(1000, 5)}});
    IngestInputOptions options;
    options.max_archive_total_bytes = 3000;  // 1.jpg + skipped.txt + 2.jpg fit, 3.jpg passes it
    auto input = OpenIngestInput(path, options);
    auto items = ReadAll(*input);
    ASSERT_EQ(items.size(), 3u) << FileName(kind);
    EXPECT_TRUE(items[0].error.empty());
    EXPECT_TRUE(items[1].error.empty());
    EXPECT_NE(items[2].error.find("limit of 3000 bytes for one archive"), std::string::npos)
        << items[2].error;
    EXPECT_FALSE(input->Next().has_value());
  }
}

// Checks a damaged archive: the members before the damage come out intact,
// then exactly one error item, then the end.
void ExpectIntactThenOneError(const std::vector<IngestItem>& items,
                              const std::vector<std::string>& originals) {
  ASSERT_FALSE(items.empty());
  for (size_t i = 0; i + 1 < items.size(); ++i) {
    ASSERT_TRUE(items[i].error.empty()) << items[i].name << ": " << items[i].error;
    ASSERT_LT(i, originals.size());
    EXPECT_EQ(Bytes(items[i]), originals[i]) << items[i].name;
  }
  EXPECT_FALSE(items.back().error.empty()) << items.back().name;
}

TEST(ArchiveInput, TruncatedArchiveEndsWithAnErrorItem) {
  std::vector<Member> members;
  std::vector<std::string> originals;
  for (int i = 0; i < 6; ++i) {
    originals.push_back(RandomBytes(20000, 10 + i));  // incompressible: truncation lands mid-data
    members.push_back({std::to_string(i) + ".jpg", originals.back()});
  }
  for (Kind kind : {Kind::kTar, Kind::kTarGz, Kind::kTarXz, Kind::kZip}) {
    SCOPED_TRACE(FileName(kind));
    const fs::path path = testing::TempDir("archive-cut") / FileName(kind);
    WriteArchive(path, kind, members);
    Truncate(path, 0.6);
    auto input = OpenIngestInput(path);
    auto items = ReadAll(*input);
    ExpectIntactThenOneError(items, originals);
    EXPECT_GE(items.size(), 3u);  // 60% of six members: at least two intact
    EXPECT_LT(items.size(), 6u);
    EXPECT_FALSE(input->Next().has_value());
  }
}

TEST(ArchiveInput, StreamedZipWithoutCentralDirectoryStillLimitsMemberSize) {
  // Members written without a declared size get a data descriptor; cutting
  // off the central directory makes libarchive stream the local headers, so
  // sizes are only known by reading.
  const fs::path path = testing::TempDir("archive-stream") / "photos.zip";
  WriteArchive(path, Kind::kZip,
               {{"big.jpg", RandomBytes(5000, 1), false, false},
                {"ok.jpg", RandomBytes(800, 2), false, false},
                {"tail.jpg", RandomBytes(3000, 3), false, false}});
  const auto size = fs::file_size(path);
  fs::resize_file(path, size - 200);  // central directory gone, 3rd member intact
  IngestInputOptions options;
  options.max_file_bytes = 1000;
  auto items = ReadAll(*OpenIngestInput(path, options));
  ASSERT_GE(items.size(), 2u);
  EXPECT_EQ(items[0].name, "photos.zip:big.jpg");
  EXPECT_NE(items[0].error.find("over"), std::string::npos) << items[0].error;
  EXPECT_NE(items[0].error.find("1000"), std::string::npos) << items[0].error;
  EXPECT_EQ(items[1].name, "photos.zip:ok.jpg");
  EXPECT_TRUE(items[1].error.empty()) << items[1].error;
  EXPECT_EQ(Bytes(items[1]), RandomBytes(800, 2));
}

TEST(ArchiveInput, ArchiveDamagedFromTheStartIsAnErrorForTheWholeInput) {
  const fs::path dir = testing::TempDir("archive-start");
  WriteArchive(dir / "photos.tar.gz", Kind::kTarGz, {{"a.jpg", RandomBytes(20000, 1)}});
  Truncate(dir / "photos.tar.gz", 0.01);  // the gzip header survives, the tar header does not
  EXPECT_THROW(OpenIngestInput(dir / "photos.tar.gz"), Error);
  WriteFileAtomically(dir / "empty.zip", "");
  EXPECT_THROW(OpenIngestInput(dir / "empty.zip"), Error);
  WriteFileAtomically(dir / "text.tar", "hello, I am not a tar file\n");
  EXPECT_THROW(OpenIngestInput(dir / "text.tar"), Error);
}

TEST(ArchiveInput, RandomAndMangledBytesNeverCrash) {
  const fs::path dir = testing::TempDir("archive-fuzz");
  std::vector<std::string> seeds;
  for (Kind kind : {Kind::kZip, Kind::kTarGz, Kind::kTar}) {
    const fs::path path = dir / FileName(kind);
    WriteArchive(path, kind,
                 {{"a.jpg", RandomBytes(700, 1)}, {"b/c.png", std::string(900, 'c')},
                  {"d.txt", "text"}, {"e.gif", RandomBytes(300, 2)}});
    auto bytes = ReadFileBytes(path);
    seeds.emplace_back(bytes.begin(), bytes.end());
  }
  std::mt19937 rng(1234);
  int opened = 0, items_seen = 0;
  for (int iteration = 0; iteration < 300; ++iteration) {
    std::string bytes;
    if (iteration % 3 == 0) {
      bytes = RandomBytes(rng() % 2048, rng());
    } else {
      bytes = seeds[rng() % seeds.size()];
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      if (rng() % 2) bytes.resize(rng() % bytes.size());
    }
    const fs::path path = dir / (iteration % 2 ? "fuzz.zip" : "fuzz.tar.gz");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      auto input = OpenIngestInput(path);
      ++opened;
      auto items = ReadAll(*input, 1000);
      ASSERT_LT(items.size(), 1000u) << "input did not end, iteration " << iteration;
      items_seen += static_cast<int>(items.size());
    } catch (const Error&) {
      // refusing the whole input is fine
    }
  }
  EXPECT_GT(opened, 0);  // mangled archives were opened and read, not all refused
  EXPECT_GT(items_seen, 0);
}

}  // namespace
}  // namespace lineup
