#include "ingest/manifest_input.h"

#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

void WriteBytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::vector<IngestItem> ReadAll(IngestInput& input, size_t cap = 100000) {
  std::vector<IngestItem> items;
  while (items.size() < cap) {
    auto item = input.Next();
    if (!item) break;
    items.push_back(std::move(*item));
  }
  return items;
}

// A folder with a manifest `name` holding `text` and the images a.jpg,
// b.jpg, "sub/c d.jpg" beside it.
fs::path ManifestIn(const std::string& tag, const std::string& name, const std::string& text) {
  const fs::path dir = testing::TempDir(tag);
  WriteBytes(dir / "a.jpg", "a");
  WriteBytes(dir / "b.jpg", "b");
  WriteBytes(dir / "sub" / "c d.jpg", "c");
  WriteBytes(dir / name, text);
  return dir / name;
}

// Asserts that opening throws Error whose message holds every needle.
void ExpectOpenError(const fs::path& path, const std::vector<std::string>& needles) {
  try {
    OpenIngestInput(path);
    ADD_FAILURE() << "no Error for " << path;
  } catch (const Error& e) {
    for (const auto& needle : needles) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

#define EXPECT_ITEM_ERROR(item, needle) \
  EXPECT_NE((item).error.find(needle), std::string::npos) << (item).name << ": " << (item).error

TEST(ManifestInput, NamesTheCollectionsItsRowsNameOnOpening) {
  const fs::path csv = ManifestIn("csv-collections", "list.csv",
                                  "path,collection\n"
                                  "a.jpg,press\n"
                                  "b.jpg,\n"
                                  "c.jpg,custody\n"
                                  "d.jpg,press\n"
                                  "e.jpg,\"bad\x01name\"\n"
                                  "f.jpg,\"open\n");  // a quote left open: a row error, no name
  EXPECT_EQ(OpenIngestInput(csv)->NamedCollections(), (std::vector<std::string>{"press", "custody"}));
  const fs::path jsonl = ManifestIn("jsonl-collections", "list.jsonl",
                                    "{\"path\": \"a.jpg\", \"collection\": \"custody\"}\n"
                                    "{\"path\": \"b.jpg\", \"collection\": 7}\n"
                                    "{\"path\": \"c.jpg\", \"collection\": null}\n"
                                    "{\"path\": \"d.jpg\", \"collection\": \"press\"}\n");
  EXPECT_EQ(OpenIngestInput(jsonl)->NamedCollections(), (std::vector<std::string>{"custody", "press"}));
  const fs::path none = ManifestIn("csv-no-collection", "list.csv", "path\na.jpg\n");
  EXPECT_TRUE(OpenIngestInput(none)->NamedCollections().empty());
}

TEST(ManifestInput, CsvQuotedCommasQuotesNewlinesWithBomAndCrlf) {
  const std::string csv =
      "\xEF\xBB\xBFpath,source_url,title,date,published,page_url,legal_basis,collection\r\n"
      "a.jpg,https://example.org/a.jpg,\"Smith, John\",2020-01-02,2020-02-03,https://example.org/"
      "page,CC-BY-4.0,press\r\n"
      "b.jpg,,\"He said \"\"hi\"\"\r\nand left\",,,,,\r\n"
      "\r\n"
      "sub/c d.jpg,,plain,,,,,\r\n"
      "a.jpg,,,,,,,\r\n";  // a duplicate row is passed through
  const fs::path manifest = ManifestIn("csv-basic", "list.csv", csv);
  auto input = OpenIngestInput(manifest);
  ASSERT_TRUE(input->EstimatedCount().has_value());
  EXPECT_EQ(*input->EstimatedCount(), 4);
  auto items = ReadAll(*input);
  ASSERT_EQ(items.size(), 4u);
  for (const auto& item : items) EXPECT_TRUE(item.error.empty()) << item.name << ": " << item.error;

  EXPECT_EQ(items[0].name, "list.csv:2");
  EXPECT_EQ(items[0].file, manifest.parent_path() / "a.jpg");
  ASSERT_TRUE(items[0].source.has_value());
  EXPECT_EQ(items[0].source->source_url, "https://example.org/a.jpg");
  EXPECT_EQ(items[0].source->page_url, "https://example.org/page");
  EXPECT_EQ(items[0].source->title, "Smith, John");
  EXPECT_EQ(items[0].source->captured_at, "2020-01-02");
  EXPECT_EQ(items[0].source->published_at, "2020-02-03");
  EXPECT_EQ(items[0].source->legal_basis, "CC-BY-4.0");
  EXPECT_EQ(items[0].collection, "press");
  EXPECT_TRUE(items[0].bytes.empty());

  EXPECT_EQ(items[1].name, "list.csv:3");
  ASSERT_TRUE(items[1].source.has_value());
  EXPECT_EQ(items[1].source->title, "He said \"hi\"\r\nand left");  // byte for byte
  EXPECT_TRUE(items[1].source->source_url.empty());
  EXPECT_TRUE(items[1].collection.empty());

  EXPECT_EQ(items[2].name, "list.csv:6");  // the quoted newline and a blank line came before
  EXPECT_EQ(items[2].file, manifest.parent_path() / "sub" / "c d.jpg");
  EXPECT_EQ(items[2].source->title, "plain");

  EXPECT_EQ(items[3].name, "list.csv:7");
  EXPECT_EQ(items[3].file, items[0].file);
  EXPECT_FALSE(items[3].source.has_value());  // only a path: no source row
  EXPECT_FALSE(input->Next().has_value());
}

TEST(ManifestInput, CsvHeaderMayBeAnyOrderAndCaseWithFewerFieldsInRows) {
  const fs::path manifest =
      ManifestIn("csv-order", "list.csv", "Title , PATH\nfirst,a.jpg\nonly title\n");
  auto items = ReadAll(*OpenIngestInput(manifest));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_TRUE(items[0].error.empty()) << items[0].error;
  EXPECT_EQ(items[0].source->title, "first");
  EXPECT_ITEM_ERROR(items[1], "missing path");
}

TEST(ManifestInput, HostileStringsAreKeptOrRefusedByTheRules) {
  const std::string long_title(kMaxFieldBytes, 't');
  const std::string long_url = "https://example.org/" + std::string(10 * 1024, 'u');
  const std::string csv =
      "path,source_url,title\n"
      "a.jpg,,\"quote \"\" comma , newline\n tab\t bell\x07 esc\x1b end\"\n"  // 2: kept
      "a.jpg,,'; DROP TABLE images; -- \\\" %s %n {{x}} <script>\n"           // 4: kept
      "a.jpg,," + long_title + "\n"                                           // 5: 8 kB OK
      "a.jpg," + long_url + ",\n"                                             // 6: 10 kB URL
      "a.jpg,,\"" + long_title + "x\"\n"                                      // 7: 1 byte over
      "a.jpg,https://example.org/a b.jpg,\n"                                  // 8: space in URL
      "a.jpg,https://example.org/\x01.jpg,\n"                                 // 9: control in URL
      "a.jpg,https://example.org/\xC2\x85.jpg,\n"                             // 10: C1 control
      "a.jpg,,bad \xff\xfe utf8\n"                                            // 11
      "a.jpg,,overlong \xC0\xAF\n"                                            // 12
      "a.jpg,,nul " + std::string(1, '\0') + " inside\n"                      // 13
      "a.jpg,https://example.org/caf\xC3\xA9.jpg,caf\xC3\xA9 \xE2\x9C\x93\n";  // 14: UTF-8 OK
  const fs::path manifest = ManifestIn("csv-hostile", "list.csv", csv);
  auto items = ReadAll(*OpenIngestInput(manifest));
  ASSERT_EQ(items.size(), 12u);
  EXPECT_TRUE(items[0].error.empty()) << items[0].error;
  EXPECT_EQ(items[0].source->title, "quote \" comma , newline\n tab\t bell\x07 esc\x1b end");
  EXPECT_EQ(items[1].name, "list.csv:4");
  EXPECT_TRUE(items[1].error.empty()) << items[1].error;
  EXPECT_EQ(items[1].source->title, "'; DROP TABLE images; -- \\\" %s %n {{x}} <script>");
  EXPECT_TRUE(items[2].error.empty()) << items[2].error;
  EXPECT_EQ(items[2].source->title, long_title);
  EXPECT_EQ(items[3].name, "list.csv:6");
  EXPECT_ITEM_ERROR(items[3], "field 'source_url' is 10260 bytes, over the limit of 8192");
  EXPECT_ITEM_ERROR(items[4], "field 'title' is 8193 bytes");
  EXPECT_ITEM_ERROR(items[5], "field 'source_url' contains whitespace or a control character");
  EXPECT_ITEM_ERROR(items[6], "field 'source_url' contains whitespace or a control character");
  EXPECT_ITEM_ERROR(items[7], "field 'source_url' contains whitespace or a control character");
  EXPECT_ITEM_ERROR(items[8], "field 'title' is not valid UTF-8");
  EXPECT_ITEM_ERROR(items[9], "field 'title' is not valid UTF-8");
  EXPECT_ITEM_ERROR(items[10], "field 'title' contains a NUL byte");
  EXPECT_EQ(items[10].name, "list.csv:13");
  EXPECT_TRUE(items[11].error.empty()) << items[11].error;
  EXPECT_EQ(items[11].source->source_url, "https://example.org/caf\xC3\xA9.jpg");
}

TEST(ManifestInput, PathRules) {
  const fs::path dir = testing::TempDir("paths");
  WriteBytes(dir / "list" / "a.jpg", "a");
  WriteBytes(dir / "elsewhere" / "x y%.jpg", "x");
  const std::string elsewhere = (dir / "elsewhere").string();
  const std::string csv =
      "path,title\n"
      ",no path\n"                                                     // 2
      "http://example.org/a.jpg,\n"                                    // 3
      "HTTPS://example.org/a.jpg,\n"                                   // 4
      "ftp://example.org/a.jpg,\n"                                     // 5
      "file://" + elsewhere + "/x%20y%25.jpg,\n"                       // 6: decoded
      "file://localhost" + elsewhere + "/x%20y%25.jpg,\n"              // 7
      "file://evil.example/etc/passwd,\n"                              // 8
      "file://" + elsewhere + "/bad%2,\n"                              // 9
      "missing.jpg,\n"                                                 // 10
      + elsewhere + "/x y%.jpg,\n"                                     // 11: absolute
      "../elsewhere/x y%.jpg,\n"                                       // 12: relative to the manifest
      "sub,\n"                                                         // 13: a folder
      "a.jpg,\n";                                                      // 14
  WriteBytes(dir / "list" / "list.csv", csv);
  fs::create_directories(dir / "list" / "sub");
  const fs::path saved = fs::current_path();
  fs::current_path("/");  // relative paths must not depend on the working directory
  IngestInputOptions options;
  options.allow_outside = {dir / "elsewhere"};  // rows 6, 7, 11 and 12 name files there
  auto items = ReadAll(*OpenIngestInput(dir / "list" / "list.csv", options));
  fs::current_path(saved);
  ASSERT_EQ(items.size(), 13u);
  EXPECT_ITEM_ERROR(items[0], "missing path");
  EXPECT_ITEM_ERROR(items[1], "not a local file: Lineup does not download");
  EXPECT_ITEM_ERROR(items[2], "not a local file: Lineup does not download");
  EXPECT_ITEM_ERROR(items[3], "Lineup does not download");
  EXPECT_ITEM_ERROR(items[3], "'ftp'");
  const fs::path x = dir / "elsewhere" / "x y%.jpg";
  EXPECT_TRUE(items[4].error.empty()) << items[4].error;
  EXPECT_EQ(items[4].file, x);
  EXPECT_TRUE(items[5].error.empty()) << items[5].error;
  EXPECT_EQ(items[5].file, x);
  EXPECT_ITEM_ERROR(items[6], "host 'evil.example'");
  EXPECT_ITEM_ERROR(items[7], "%-escape");
  EXPECT_ITEM_ERROR(items[8], "no such file");
  EXPECT_ITEM_ERROR(items[8], "missing.jpg");
  EXPECT_EQ(items[8].file, dir / "list" / "missing.jpg");  // set even on the error
  EXPECT_TRUE(items[9].error.empty()) << items[9].error;
  EXPECT_EQ(items[9].file, x);
  EXPECT_TRUE(items[10].error.empty()) << items[10].error;
  EXPECT_EQ(items[10].file, x);
  EXPECT_ITEM_ERROR(items[11], "not a regular file");
  EXPECT_TRUE(items[12].error.empty()) << items[12].error;
  EXPECT_EQ(items[12].file, dir / "list" / "a.jpg");
  EXPECT_EQ(items[12].name, "list.csv:14");
}

// A manifest reads files of its own folder and of the folders it is allowed,
// never of a forbidden one (the gallery's data directory), judging links by
// their target; the reasons name the path, never the file's bytes.
TEST(ManifestInput, RowsOutsideTheirFolderOrInsideAForbiddenOneAreErrors) {
  const fs::path dir = testing::TempDir("paths-confined");
  WriteBytes(dir / "list" / "a.jpg", "a");
  WriteBytes(dir / "list" / "data" / "cases" / "1" / "probe.png", "secret probe bytes");
  WriteBytes(dir / "outside" / "x.jpg", "x");
  WriteBytes(dir / "allowed" / "y.jpg", "y");
  fs::create_symlink(dir / "outside" / "x.jpg", dir / "list" / "link.jpg");
  fs::create_symlink(dir / "list" / "data" / "cases" / "1" / "probe.png", dir / "allowed" / "probe-link.png");
  const std::string csv = "path\n"
                          "a.jpg\n"                                   // 2: its own folder
                          "../outside/x.jpg\n"                        // 3: escapes
                          + (dir / "outside" / "x.jpg").string() + "\n" // 4: absolute, elsewhere
                          "link.jpg\n"                                // 5: a link out of the folder
                          + (dir / "allowed" / "y.jpg").string() + "\n" // 6: allowed folder
                          "data/cases/1/probe.png\n"                  // 7: inside the forbidden root
                          + (dir / "allowed" / "probe-link.png").string() + "\n"  // 8: a link into it
                          "sub/../../list/a.jpg\n";                   // 9: back inside
  WriteBytes(dir / "list" / "list.csv", csv);
  IngestInputOptions options;
  options.allow_outside = {dir / "allowed"};
  options.forbidden_roots = {dir / "list" / "data"};
  auto items = ReadAll(*OpenIngestInput(dir / "list" / "list.csv", options));
  ASSERT_EQ(items.size(), 8u);
  EXPECT_TRUE(items[0].error.empty()) << items[0].error;
  for (size_t i : {1u, 2u, 3u}) {
    EXPECT_ITEM_ERROR(items[i], "outside the manifest's folder");
    EXPECT_ITEM_ERROR(items[i], "--allow-outside");
  }
  EXPECT_TRUE(items[4].error.empty()) << items[4].error;
  for (size_t i : {5u, 6u}) {
    EXPECT_ITEM_ERROR(items[i], "inside the gallery's data directory");
    EXPECT_EQ(items[i].error.find("secret"), std::string::npos) << items[i].error;
  }
  EXPECT_TRUE(items[7].error.empty()) << items[7].error;

  // Without allow_outside, the allowed folder is outside too.
  options.allow_outside.clear();
  items = ReadAll(*OpenIngestInput(dir / "list" / "list.csv", options));
  ASSERT_EQ(items.size(), 8u);
  EXPECT_ITEM_ERROR(items[4], "outside the manifest's folder");
}

// A folder or archive inside a forbidden root, or holding one, is refused
// whole; a file linked into one from a folder being walked is an item error.
TEST(IngestInput, ForbiddenRootsAreNeverRead) {
  const fs::path dir = testing::TempDir("paths-forbidden");
  WriteBytes(dir / "data" / "cases" / "1" / "probe.jpg", "p");
  WriteBytes(dir / "photos" / "a.jpg", "a");
  fs::create_symlink(dir / "data" / "cases" / "1" / "probe.jpg", dir / "photos" / "b.jpg");
  IngestInputOptions options;
  options.forbidden_roots = {dir / "data"};
  for (const fs::path& input : {dir / "data" / "cases", dir, dir / "data"}) {
    try {
      OpenIngestInput(input, options);
      ADD_FAILURE() << "no Error for " << input;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("gallery's data directory"), std::string::npos) << e.what();
    }
  }
  auto items = ReadAll(*OpenIngestInput(dir / "photos", options));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_TRUE(items[0].error.empty()) << items[0].error;
  EXPECT_ITEM_ERROR(items[1], "inside the gallery's data directory");
}

TEST(ManifestInput, OversizedFileIsARowError) {
  const fs::path manifest = ManifestIn("csv-big", "list.csv", "path\na.jpg\n");
  WriteBytes(manifest.parent_path() / "a.jpg", std::string(100, 'x'));
  IngestInputOptions options;
  options.max_file_bytes = 99;
  auto items = ReadAll(*OpenIngestInput(manifest, options));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_ITEM_ERROR(items[0], "100 bytes, over the limit of 99");
}

TEST(ManifestInput, BadHeadersAreOneErrorForTheWholeManifest) {
  ExpectOpenError(ManifestIn("h1", "list.csv", "path,sourceurl,title\na.jpg,x,y\n"),
                  {"list.csv:1", "unknown column 'sourceurl'",
                   "valid ones: path, source_url, page_url, title, date, published, collection, "
                   "legal_basis"});
  ExpectOpenError(ManifestIn("h2", "list.csv", "path,title,path\n"), {"'path' appears twice"});
  ExpectOpenError(ManifestIn("h3", "list.csv", "title,date\nx,y\n"), {"no 'path' column"});
  ExpectOpenError(ManifestIn("h4", "list.csv", ""), {"no header row"});
  ExpectOpenError(ManifestIn("h5", "list.csv", "\xEF\xBB\xBF\r\n\n"), {"no header row"});
  ExpectOpenError(ManifestIn("h6", "list.csv", "path,,title\n"), {"column 2 has no name"});
  ExpectOpenError(ManifestIn("h7", "list.csv", "\"path\nx"), {"header row", "not closed"});
  ExpectOpenError(
      ManifestIn("h8", "list.jsonl",
                 "{\"path\":\"a.jpg\"}\n{\"path\":\"b.jpg\",\"Title\":\"x\"}\n{\"url\":1}\n"
                 "{\"path\":\"a.jpg\",\"Title\":\"y\"}\n"),
      {"unknown fields 'Title' (first on line 2), 'url' (first on line 3)", "valid ones: path"});
}

TEST(ManifestInput, CsvRowErrorsStayInTheirRow) {
  const std::string csv =
      "path,title\n"
      "a.jpg,x,extra\n"              // 2: too many fields
      "a.jpg,\"closed\"junk\n"       // 3: text after a closing quote
      "b.jpg,mid\"quote\n"           // 4: a quote inside an unquoted field is a character
      "\n"
      "   \n"                        // 6: not blank for CSV: a path of three spaces
      "b.jpg,\"open at the end\n"    // 7: swallows the rest
      "a.jpg,lost\n";
  const fs::path manifest = ManifestIn("csv-rows", "list.csv", csv);
  auto input = OpenIngestInput(manifest);
  EXPECT_EQ(*input->EstimatedCount(), 5);
  auto items = ReadAll(*input);
  ASSERT_EQ(items.size(), 5u);
  EXPECT_ITEM_ERROR(items[0], "row has 3 fields, the header 2");
  EXPECT_ITEM_ERROR(items[1], "text after the closing quote");
  EXPECT_EQ(items[1].name, "list.csv:3");
  EXPECT_TRUE(items[2].error.empty()) << items[2].error;
  EXPECT_EQ(items[2].source->title, "mid\"quote");
  EXPECT_EQ(items[3].name, "list.csv:6");
  EXPECT_ITEM_ERROR(items[3], "no such file");
  EXPECT_EQ(items[4].name, "list.csv:7");
  EXPECT_ITEM_ERROR(items[4], "quoted field not closed before the end of the file");
}

// Dates are checked, and kept as written (issue 13 #8: "not-a-date" was
// stored, and a date was shown with an invented time).
TEST(ManifestInput, DatesMustBeIsoDatesAndAreKeptAsWritten) {
  const std::string csv =
      "path,date,published\n"
      "a.jpg,2024-02-29,2024-03-01T10:15:00Z\n"   // 2: leap day, a time with Z
      "a.jpg,not-a-date,\n"                        // 3
      "a.jpg,2023-02-29,\n"                        // 4: not a leap year
      "b.jpg,2024-13-01,\n"                        // 5
      "b.jpg,,2024-05-06T07:08+02:00\n"            // 6: offset, no seconds
      "b.jpg,,2024-05-06 25:00\n";                 // 7
  const fs::path manifest = ManifestIn("csv-dates", "dates.csv", csv);
  auto input = OpenIngestInput(manifest);
  auto items = ReadAll(*input);
  ASSERT_EQ(items.size(), 6u);
  ASSERT_TRUE(items[0].error.empty()) << items[0].error;
  EXPECT_EQ(items[0].source->captured_at, "2024-02-29");
  EXPECT_EQ(items[0].source->published_at, "2024-03-01T10:15:00Z");
  EXPECT_ITEM_ERROR(items[1], "field 'date' is not a date: 'not-a-date'");
  EXPECT_ITEM_ERROR(items[2], "not a date");
  EXPECT_ITEM_ERROR(items[3], "not a date");
  ASSERT_TRUE(items[4].error.empty()) << items[4].error;
  EXPECT_EQ(items[4].source->published_at, "2024-05-06T07:08+02:00");
  EXPECT_ITEM_ERROR(items[5], "field 'published' is not a date");
}

TEST(ManifestInput, JsonLinesWithMalformedMiddleAndTruncatedLastLine) {
  const std::string jsonl =
      "\xEF\xBB\xBF{\"path\": \"a.jpg\", \"title\": \"first\", \"source_url\": \"https://e.org/1\"}\n"
      "{\"path\": \"b.jpg\", \"title\": \n"                                          // 2
      "{\"path\": \"sub/c d.jpg\", \"title\": \"line\\nbreak \\u0001 \\\"q\\\"\"}\r\n"  // 3
      "\n"
      "   \n"
      "[\"a.jpg\"]\n"                                                               // 6
      "{\"path\": 5}\n"                                                             // 7
      "{\"path\": \"a.jpg\", \"title\": null, \"collection\": \"c2\"}\n"            // 8
      "{\"path\": \"a.jpg\", \"title\": \"nul \\u0000\"}\n"                          // 9
      "{\"path\": \"http://example.org/x.jpg\"}\n"                                  // 10
      "{\"path\": \"b.jpg\", \"ti";                                                 // 11: cut
  const fs::path manifest = ManifestIn("jsonl", "list.jsonl", jsonl);
  auto input = OpenIngestInput(manifest);
  EXPECT_EQ(*input->EstimatedCount(), 9);
  auto items = ReadAll(*input);
  ASSERT_EQ(items.size(), 9u);
  EXPECT_EQ(items[0].name, "list.jsonl:1");
  EXPECT_TRUE(items[0].error.empty()) << items[0].error;
  EXPECT_EQ(items[0].source->title, "first");
  EXPECT_EQ(items[0].source->source_url, "https://e.org/1");
  EXPECT_EQ(items[1].name, "list.jsonl:2");
  EXPECT_ITEM_ERROR(items[1], "malformed JSON");
  EXPECT_EQ(items[2].name, "list.jsonl:3");
  EXPECT_TRUE(items[2].error.empty()) << items[2].error;
  EXPECT_EQ(items[2].source->title, "line\nbreak \x01 \"q\"");
  EXPECT_EQ(items[2].file, manifest.parent_path() / "sub" / "c d.jpg");
  EXPECT_EQ(items[3].name, "list.jsonl:6");
  EXPECT_ITEM_ERROR(items[3], "not a JSON object");
  EXPECT_ITEM_ERROR(items[4], "field 'path' must be a string, not number");
  EXPECT_TRUE(items[5].error.empty()) << items[5].error;
  EXPECT_FALSE(items[5].source.has_value());
  EXPECT_EQ(items[5].collection, "c2");
  EXPECT_ITEM_ERROR(items[6], "field 'title' contains a NUL byte");
  EXPECT_ITEM_ERROR(items[7], "Lineup does not download");
  EXPECT_EQ(items[8].name, "list.jsonl:11");
  EXPECT_ITEM_ERROR(items[8], "malformed JSON");
  EXPECT_FALSE(input->Next().has_value());
}

TEST(ManifestInput, OverlongLineIsOneRowErrorAndNotKept) {
  const std::string jsonl = "{\"path\": \"a.jpg\", \"title\": \"" +
                            std::string(kMaxManifestLineBytes + 10, 'x') + "\"}\n" +
                            "{\"path\": \"b.jpg\"}\n";
  auto items = ReadAll(*OpenIngestInput(ManifestIn("long-jsonl", "list.ndjson", jsonl)));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_ITEM_ERROR(items[0], "line is over");
  EXPECT_TRUE(items[1].error.empty()) << items[1].error;
  EXPECT_EQ(items[1].name, "list.ndjson:2");

  const std::string csv = "path,title\na.jpg,\"" + std::string(kMaxManifestLineBytes, 'y') +
                          "\n,\"\"\n\"\nb.jpg,ok\n";
  auto rows = ReadAll(*OpenIngestInput(ManifestIn("long-csv", "list.csv", csv)));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_ITEM_ERROR(rows[0], "record is over");
  EXPECT_TRUE(rows[1].error.empty()) << rows[1].error;
  EXPECT_EQ(rows[1].name, "list.csv:5");
}

TEST(ManifestInput, RandomAndMangledBytesNeverCrash) {
  const fs::path dir = testing::TempDir("manifest-fuzz");
  WriteBytes(dir / "a.jpg", "a");
  const std::string csv_seed =
      "path,title,source_url\na.jpg,\"x, \"\"y\"\"\",https://e.org/a\r\n\"a.jpg\",t,\n";
  const std::string json_seed =
      "{\"path\": \"a.jpg\", \"title\": \"x\\\"y\"}\n{\"path\": \"file:///tmp/a%20b.jpg\"}\n";
  static constexpr char kAlphabet[] = "\",\r\n\\{}[]:%\0\xff\xc3 apth";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);  // with the NUL
  std::mt19937 rng(99);
  int read_items = 0;
  for (int iteration = 0; iteration < 400; ++iteration) {
    const bool csv = iteration % 2 == 0;
    std::string bytes = csv ? csv_seed : json_seed;
    if (iteration % 4 < 2) {
      bytes.resize(rng() % 600);
      for (char& c : bytes) c = static_cast<char>(rng());
    } else {
      const int edits = 1 + static_cast<int>(rng() % 10);
      for (int k = 0; k < edits; ++k) {
        const char c = alphabet[rng() % alphabet.size()];
        const size_t at = rng() % (bytes.size() + 1);
        if (rng() % 2) {
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), c);
        } else if (at < bytes.size()) {
          bytes[at] = c;
        }
      }
    }
    const fs::path path = dir / (csv ? "fuzz.csv" : "fuzz.jsonl");
    WriteBytes(path, bytes);
    try {
      auto input = OpenIngestInput(path);
      auto items = ReadAll(*input, 10000);
      ASSERT_LT(items.size(), 10000u);
      EXPECT_LE(static_cast<int64_t>(items.size()), *input->EstimatedCount());
      read_items += static_cast<int>(items.size());
    } catch (const Error&) {
      // a manifest refused as a whole (header, unknown field) is fine
    }
  }
  EXPECT_GT(read_items, 0);
}

}  // namespace
}  // namespace lineup
