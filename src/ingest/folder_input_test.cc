#include "ingest/folder_input.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <optional>

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

std::vector<IngestItem> ReadAll(IngestInput& input) {
  std::vector<IngestItem> items;
  while (auto item = input.Next()) items.push_back(std::move(*item));
  return items;
}

std::vector<std::string> Names(const std::vector<IngestItem>& items) {
  std::vector<std::string> names;
  for (const auto& item : items) names.push_back(item.name);
  return names;
}

TEST(FolderInput, RecursiveSortedImagesOnlySkippingHidden) {
  const fs::path root = testing::TempDir("folder-basic");
  WriteBytes(root / "b.jpg", "b");
  WriteBytes(root / "a.PNG", "a");
  WriteBytes(root / "notes.txt", "not an image");
  WriteBytes(root / "jpg", "no extension");
  WriteBytes(root / ".hidden.jpg", "hidden");
  WriteBytes(root / ".git" / "x.jpg", "in a hidden folder");
  WriteBytes(root / "sub" / "c.jpeg", "c");
  WriteBytes(root / "sub" / "deep" / "d.webp", "d");
  WriteBytes(root / "sub" / "deep" / ".e.jpg", "hidden deep");
  WriteBytes(root / "a-b" / "e.gif", "e");
  WriteBytes(root / "z.TIFF", "z");
  WriteBytes(root / "y.bmp", "y");
  WriteBytes(root / "x.tif", "x");

  auto input = OpenIngestInput(root);
  ASSERT_TRUE(input->EstimatedCount().has_value());
  EXPECT_EQ(*input->EstimatedCount(), 8);
  auto items = ReadAll(*input);
  // Bytewise order of the relative path: '-' < '.' < '/' < letters.
  EXPECT_EQ(Names(items),
            (std::vector<std::string>{"a-b/e.gif", "a.PNG", "b.jpg", "sub/c.jpeg", "sub/deep/d.webp",
                                      "x.tif", "y.bmp", "z.TIFF"}));
}

TEST(FolderInput, ItemsCarryAbsoluteFileAndNoSource) {
  const fs::path root = testing::TempDir("folder-items");
  WriteBytes(root / "sub" / "c.jpg", "c");
  const fs::path saved = fs::current_path();
  fs::current_path(root);
  auto input = OpenIngestInput(".");  // relative root: files must still be absolute
  fs::current_path(saved);
  auto items = ReadAll(*input);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].name, "sub/c.jpg");
  EXPECT_TRUE(items[0].file.is_absolute()) << items[0].file;
  EXPECT_TRUE(fs::equivalent(items[0].file, root / "sub" / "c.jpg"));
  EXPECT_TRUE(items[0].bytes.empty());
  EXPECT_FALSE(items[0].source.has_value());
  EXPECT_TRUE(items[0].collection.empty());
  EXPECT_TRUE(items[0].error.empty());
  EXPECT_FALSE(input->Next().has_value());
  EXPECT_FALSE(input->Next().has_value());
}

TEST(FolderInput, LinksAreFollowedButLoopsEndAndFoldersAreReadOnce) {
  const fs::path root = testing::TempDir("folder-links");
  const fs::path outside = testing::TempDir("folder-links-outside");
  WriteBytes(root / "sub" / "c.jpg", "c");
  WriteBytes(outside / "e.jpg", "e");
  fs::create_directory_symlink("..", root / "sub" / "loop");      // back up the tree
  fs::create_directory_symlink(".", root / "sub" / "self");       // onto itself
  fs::create_directory_symlink(root / "sub", root / "alias");     // sorts before "sub"
  fs::create_directory_symlink(outside, root / "ext");            // a folder elsewhere
  fs::create_symlink(root / "sub" / "c.jpg", root / "link.jpg");  // a linked file is an item
  fs::create_symlink(root / "nowhere.jpg", root / "broken.jpg");  // dangling

  auto input = OpenIngestInput(root);
  auto items = ReadAll(*input);
  EXPECT_EQ(Names(items),
            (std::vector<std::string>{"broken.jpg", "ext/e.jpg", "link.jpg", "sub/c.jpg"}));
  ASSERT_EQ(items.size(), 4u);
  EXPECT_NE(items[0].error.find("cannot read"), std::string::npos) << items[0].error;
  EXPECT_TRUE(items[1].error.empty());
  EXPECT_TRUE(items[2].error.empty());
  EXPECT_TRUE(items[3].error.empty());
  EXPECT_EQ(*input->EstimatedCount(), 4);
}

TEST(FolderInput, OversizedFilesAndSpecialFilesAreItemErrors) {
  const fs::path root = testing::TempDir("folder-limits");
  WriteBytes(root / "big.jpg", std::string(2000, 'x'));
  WriteBytes(root / "small.jpg", std::string(1000, 'x'));
  ASSERT_EQ(::mkfifo((root / "pipe.jpg").c_str(), 0644), 0);  // opening it would block
  IngestInputOptions options;
  options.max_file_bytes = 1000;
  auto items = ReadAll(*OpenIngestInput(root, options));
  ASSERT_EQ(Names(items), (std::vector<std::string>{"big.jpg", "pipe.jpg", "small.jpg"}));
  EXPECT_NE(items[0].error.find("2000 bytes, over the limit of 1000"), std::string::npos)
      << items[0].error;
  EXPECT_NE(items[1].error.find("not a regular file"), std::string::npos) << items[1].error;
  EXPECT_TRUE(items[2].error.empty());
}

TEST(FolderInput, ControlCharactersInNamesAreEscapedInTheLabelOnly) {
  const fs::path root = testing::TempDir("folder-names");
  WriteBytes(root / "a\nb\x01\xff.jpg", "x");
  auto items = ReadAll(*OpenIngestInput(root));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].name, "a\\x0ab\\x01\\xff.jpg");
  EXPECT_TRUE(fs::exists(items[0].file));  // the real name, not the label
  EXPECT_EQ(items[0].file.filename().string(), "a\nb\x01\xff.jpg");
}

// Runs `fn` in a child process that has dropped root's right to read
// anything (as root, permission bits do not stop reads). Returns the child's
// output, or nullopt if privileges could not be dropped.
std::optional<std::string> RunWithoutRoot(const std::function<std::string()>& fn) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(77);
    std::string out;
    try {
      out = fn();
    } catch (const std::exception& e) {
      out = std::string("exception: ") + e.what();
    }
    ssize_t ignored = ::write(pipe_fds[1], out.data(), out.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) out.append(buffer, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

TEST(FolderInput, UnreadableSubfolderIsAnItemErrorAndTheWalkGoesOn) {
  const fs::path root = testing::TempDir("folder-locked");
  // The unprivileged child must get into the root and see the files.
  fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  WriteBytes(root / "a.jpg", "a");
  WriteBytes(root / "locked" / "x.jpg", "x");
  WriteBytes(root / "z.jpg", "z");
  fs::permissions(root / "locked", fs::perms::none);
  auto listing = RunWithoutRoot([&] {
    std::string out;
    for (const auto& item : ReadAll(*OpenIngestInput(root))) out += item.name + "|" + item.error + "\n";
    try {
      OpenIngestInput(root / "locked");
      out += "no error for an unreadable root\n";
    } catch (const Error& e) {
      out += std::string("root: ") + e.what() + "\n";
    }
    return out;
  });
  fs::permissions(root / "locked", fs::perms::owner_all);
  if (!listing) GTEST_SKIP() << "cannot drop privileges to test permissions";
  EXPECT_NE(listing->find("a.jpg|\n"), std::string::npos) << *listing;
  EXPECT_NE(listing->find("locked/|cannot read folder"), std::string::npos) << *listing;
  EXPECT_NE(listing->find("z.jpg|\n"), std::string::npos) << *listing;
  EXPECT_EQ(listing->find("x.jpg"), std::string::npos) << *listing;
  EXPECT_NE(listing->find("root: "), std::string::npos) << *listing;
  EXPECT_NE(listing->find("cannot read folder"), std::string::npos) << *listing;
  // Order: the folder error sorts between the files around it.
  EXPECT_LT(listing->find("a.jpg"), listing->find("locked/"));
  EXPECT_LT(listing->find("locked/"), listing->find("z.jpg"));
}

TEST(IngestInput, HasImageExtensionIgnoresCaseAndNeedsADot) {
  for (const char* name : {"a.jpg", "a.JPG", "b.jpeg", "c.png", "d.webp", "e.bmp", "f.tif",
                           "g.TIFF", "h.gif", "dir.x/i.Jpeg"}) {
    EXPECT_TRUE(HasImageExtension(name)) << name;
  }
  for (const char* name : {"a.txt", "jpg", ".jpg", "a.jpg.txt", "a.jp", "a.heic", "a.", ""}) {
    EXPECT_FALSE(HasImageExtension(name)) << name;
  }
}

TEST(IngestInput, OpenRefusesMissingPathsAndSingleImages) {
  const fs::path root = testing::TempDir("open-refuse");
  try {
    OpenIngestInput(root / "missing");
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such file or folder"), std::string::npos) << e.what();
  }
  WriteBytes(root / "one.jpg", "x");
  try {
    OpenIngestInput(root / "one.jpg");
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("single image"), std::string::npos) << e.what();
  }
  WriteBytes(root / "notes.dat", "just some text, not an archive\n");
  try {
    OpenIngestInput(root / "notes.dat");
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("notes.dat"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a folder, a manifest"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lineup
