#include "index/vector_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "common/error.h"
#include "index/crc32c.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using Mode = VectorStore::Mode;

constexpr size_t kHeaderBytes = 4096;
constexpr int kDim = 8;
constexpr size_t kRecordBytes = 16 + 4 * kDim;

#define EXPECT_ERROR_CONTAINING(statement, needle)                                \
  try {                                                                           \
    statement;                                                                    \
    ADD_FAILURE() << "no Error thrown";                                           \
  } catch (const Error& e) {                                                      \
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what(); \
  }

// The vector of face `id`: deterministic, so a reopened store can be checked.
std::vector<float> VectorOf(int64_t id, int dim = kDim) {
  std::vector<float> v(dim);
  for (int j = 0; j < dim; ++j) v[j] = std::sin(0.37f * static_cast<float>(id) + 1.3f * j);
  return v;
}

uint32_t CollectionOf(int64_t id) { return static_cast<uint32_t>(id % 3 + 1); }

// Appends faces [first, first + n) (ids first..) in batches of at most `batch`.
void AppendIds(VectorStore& store, int64_t first, size_t n, size_t batch = 64) {
  for (size_t done = 0; done < n;) {
    size_t m = std::min(batch, n - done);
    std::vector<int64_t> ids;
    std::vector<uint32_t> collections;
    std::vector<float> vectors;
    for (size_t i = 0; i < m; ++i) {
      int64_t id = first + static_cast<int64_t>(done + i);
      ids.push_back(id);
      collections.push_back(CollectionOf(id));
      auto v = VectorOf(id, store.dim());
      vectors.insert(vectors.end(), v.begin(), v.end());
    }
    store.Append(ids.data(), collections.data(), vectors.data(), m);
    done += m;
  }
}

// Expects slots [0, store.size()) to hold ids first, first+1, ... with their vectors.
void ExpectConsecutive(const VectorStore& store, int64_t first) {
  for (size_t slot = 0; slot < store.size(); ++slot) {
    int64_t id = first + static_cast<int64_t>(slot);
    ASSERT_EQ(store.id(slot), id) << "slot " << slot;
    ASSERT_EQ(store.collection(slot), CollectionOf(id));
    auto v = VectorOf(id, store.dim());
    ASSERT_EQ(std::memcmp(store.Vector(slot), v.data(), v.size() * sizeof(float)), 0) << "slot " << slot;
  }
}

std::vector<uint8_t> ReadAllBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteAllBytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A record with a correct CRC, built by hand to test the id-order checks.
std::vector<uint8_t> RawRecord(int64_t id, uint32_t collection, const std::vector<float>& v) {
  std::vector<uint8_t> r(16 + 4 * v.size());
  std::memcpy(&r[0], &id, 8);
  std::memcpy(&r[8], &collection, 4);
  std::memcpy(&r[16], v.data(), 4 * v.size());
  uint32_t crc = Crc32cExtend(Crc32c(r.data(), 12), &r[16], 4 * v.size());
  std::memcpy(&r[12], &crc, 4);
  return r;
}

fs::path StorePath(const std::string& tag) { return testing::TempDir("store-" + tag) / "vectors.lnv"; }

fs::path MakeStore(const std::string& tag, size_t n) {
  fs::path path = StorePath(tag);
  VectorStore store(path, kDim, Mode::kReadWrite);
  AppendIds(store, 1, n);
  store.Sync();
  return path;
}

TEST(Crc32c, KnownValuesAndBothImplementationsAgree) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);  // the standard CRC-32C check value
  EXPECT_EQ(Crc32c("", 0), 0u);
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4 test vector
  std::mt19937 rng(7);
  std::vector<uint8_t> data(1000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t size : {1u, 7u, 8u, 9u, 63u, 64u, 999u, 1000u}) {
    uint32_t whole = Crc32c(data.data(), size);
    EXPECT_EQ(whole, Crc32cExtendPortable(0, data.data(), size)) << size;
    size_t split = size / 3;
    EXPECT_EQ(whole, Crc32cExtend(Crc32c(data.data(), split), data.data() + split, size - split)) << size;
  }
}

TEST(VectorStore, AppendReopenReadBack) {
  fs::path path = StorePath("basic");
  std::string generation;
  {
    VectorStore store(path, kDim, Mode::kReadWrite);
    EXPECT_EQ(store.size(), 0u);
    EXPECT_EQ(store.dim(), kDim);
    EXPECT_EQ(store.FileBytes(), kHeaderBytes);
    generation = store.GenerationHex();
    EXPECT_EQ(generation.size(), 32u);
    AppendIds(store, 10, 100, 30);
    EXPECT_EQ(store.size(), 100u);
    store.Sync();
    ExpectConsecutive(store, 10);
    EXPECT_EQ(store.FindSlot(10), 0u);
    EXPECT_EQ(store.FindSlot(57), 47u);
    EXPECT_EQ(store.FindSlot(109), 99u);
    EXPECT_FALSE(store.FindSlot(9).has_value());
    EXPECT_FALSE(store.FindSlot(110).has_value());
    EXPECT_EQ(store.FileBytes(), kHeaderBytes + 100 * kRecordBytes);
  }
  EXPECT_EQ(fs::file_size(path), kHeaderBytes + 100 * kRecordBytes);
  for (Mode mode : {Mode::kReadWrite, Mode::kReadOnly}) {
    VectorStore store(path, kDim, mode);
    EXPECT_EQ(store.size(), 100u);
    EXPECT_EQ(store.dropped_on_open(), 0u);
    EXPECT_EQ(store.GenerationHex(), generation);
    ExpectConsecutive(store, 10);
    EXPECT_TRUE(store.Verify().empty());
  }
  VectorStore any_dim(path, 0, Mode::kReadOnly);
  EXPECT_EQ(any_dim.dim(), kDim);
  EXPECT_ERROR_CONTAINING(any_dim.Vector(100), "out of range");
}

TEST(VectorStore, EmptyStoreFindsNothing) {
  VectorStore store(StorePath("empty"), kDim, Mode::kReadWrite);
  EXPECT_FALSE(store.FindSlot(1).has_value());
  EXPECT_TRUE(store.Verify().empty());
  store.Sync();
}

TEST(VectorStore, AppendRefusesBadInputAndKeepsTheStore) {
  fs::path path = MakeStore("refuse", 5);
  VectorStore store(path, kDim, Mode::kReadWrite);
  std::vector<float> v(3 * kDim, 0.5f);
  std::vector<uint32_t> c(3, 1);
  int64_t equal_to_last[] = {5, 6, 7};
  EXPECT_ERROR_CONTAINING(store.Append(equal_to_last, c.data(), v.data(), 3), "strictly increase");
  int64_t not_increasing[] = {8, 10, 10};
  EXPECT_ERROR_CONTAINING(store.Append(not_increasing, c.data(), v.data(), 3), "strictly increase");
  int64_t fine[] = {8, 9, 10};
  v[kDim + 2] = std::nanf("");
  EXPECT_ERROR_CONTAINING(store.Append(fine, c.data(), v.data(), 3), "non-finite");
  std::vector<int64_t> many(VectorStore::kMaxAppendBatch + 1);
  EXPECT_ERROR_CONTAINING(store.Append(many.data(), nullptr, nullptr, many.size()), "batch limit");
  EXPECT_EQ(store.size(), 5u);
  EXPECT_EQ(fs::file_size(path), kHeaderBytes + 5 * kRecordBytes);
  AppendIds(store, 6, 2);
  EXPECT_EQ(store.size(), 7u);
  ExpectConsecutive(store, 1);

  VectorStore reader(path, kDim, Mode::kReadOnly);
  EXPECT_ERROR_CONTAINING(AppendIds(reader, 100, 1), "read-only");
  EXPECT_ERROR_CONTAINING(reader.Compact([](size_t) { return true; }), "read-only");
}

TEST(VectorStore, TornTailMidRecordIsDroppedOnWritableOpenOnly) {
  fs::path path = MakeStore("torn", 10);
  const size_t torn_size = kHeaderBytes + 9 * kRecordBytes + kRecordBytes / 2;
  fs::resize_file(path, torn_size);
  {
    VectorStore reader(path, kDim, Mode::kReadOnly);
    EXPECT_EQ(reader.size(), 9u);
    ExpectConsecutive(reader, 1);
  }
  EXPECT_EQ(fs::file_size(path), torn_size) << "a read-only open must not modify the file";
  VectorStore store(path, kDim, Mode::kReadWrite);
  EXPECT_EQ(store.size(), 9u);
  EXPECT_EQ(store.dropped_on_open(), 1u);
  EXPECT_EQ(fs::file_size(path), kHeaderBytes + 9 * kRecordBytes);
  ExpectConsecutive(store, 1);
  AppendIds(store, 10, 3);  // the lost id can be written again
  store.Sync();
  ExpectConsecutive(store, 1);
  EXPECT_TRUE(store.Verify().empty());
}

TEST(VectorStore, GarbageInLastRecordsIsDropped) {
  fs::path path = MakeStore("garbage", 10);
  auto bytes = ReadAllBytes(path);
  bytes[kHeaderBytes + 8 * kRecordBytes + 20] ^= 0x40;  // vector of slot 8
  bytes[kHeaderBytes + 9 * kRecordBytes + 3] ^= 0x01;   // id of slot 9
  WriteAllBytes(path, bytes);
  VectorStore store(path, kDim, Mode::kReadWrite);
  EXPECT_EQ(store.size(), 8u);
  EXPECT_EQ(store.dropped_on_open(), 2u);
  ExpectConsecutive(store, 1);
}

TEST(VectorStore, OutOfOrderTailWithValidCrcIsDropped) {
  fs::path path = MakeStore("order", 10);
  auto bytes = ReadAllBytes(path);
  auto stale = RawRecord(4, 1, VectorOf(4));  // a valid record that repeats an old id
  bytes.insert(bytes.end(), stale.begin(), stale.end());
  auto later = RawRecord(11, 1, VectorOf(11));
  bytes.insert(bytes.end(), later.begin(), later.end());
  WriteAllBytes(path, bytes);
  EXPECT_EQ(VectorStore(path, kDim, Mode::kReadOnly).size(), 10u);
  VectorStore store(path, kDim, Mode::kReadWrite);
  EXPECT_EQ(store.size(), 10u);
  EXPECT_EQ(store.dropped_on_open(), 2u);
}

TEST(VectorStore, GarbageBeforeTheTailWindowIsFoundByVerify) {
  const size_t n = VectorStore::kMaxAppendBatch + 500;
  fs::path path = MakeStore("middle", n);
  auto bytes = ReadAllBytes(path);
  bytes[kHeaderBytes + 100 * kRecordBytes + 30] ^= 0xFF;  // slot 100: bad CRC
  auto wrong = RawRecord(1000, CollectionOf(1000), VectorOf(1000));  // slot 200: valid CRC, id too big
  std::copy(wrong.begin(), wrong.end(), bytes.begin() + kHeaderBytes + 200 * kRecordBytes);
  WriteAllBytes(path, bytes);
  for (Mode mode : {Mode::kReadOnly, Mode::kReadWrite}) {
    VectorStore store(path, kDim, mode);
    EXPECT_EQ(store.size(), n) << "only the tail is checked on open";
    std::vector<size_t> progress;
    auto bad = store.Verify([&](size_t done, size_t total) {
      EXPECT_EQ(total, n);
      progress.push_back(done);
    });
    // Slot 200 passes (1000 > 199) but then slots 201..999 are out of order.
    ASSERT_FALSE(bad.empty());
    EXPECT_EQ(bad[0], 100u);
    EXPECT_EQ(bad[1], 201u);
    EXPECT_EQ(bad.size(), 1u + (1000 - 201));
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back(), n);
  }
}

TEST(VectorStore, NotAStoreIsAClearError) {
  fs::path dir = testing::TempDir("store-bad");
  fs::path good = MakeStore("bad-src", 3);
  auto good_bytes = ReadAllBytes(good);

  auto expect_refused = [&](const std::string& name, const std::vector<uint8_t>& bytes,
                            const std::string& needle, int dim = kDim) {
    fs::path path = dir / name;
    WriteAllBytes(path, bytes);
    for (Mode mode : {Mode::kReadOnly, Mode::kReadWrite}) {
      try {
        VectorStore store(path, dim, mode);
        ADD_FAILURE() << name << ": no Error thrown";
      } catch (const Error& e) {
        std::string message = e.what();
        EXPECT_NE(message.find(needle), std::string::npos) << name << ": " << message;
        EXPECT_NE(message.find(path.string()), std::string::npos) << name << ": " << message;
      }
      EXPECT_EQ(ReadAllBytes(path), bytes) << name << ": a refused file must stay untouched";
    }
  };
  expect_refused("empty", {}, "empty file");
  expect_refused("short", std::vector<uint8_t>(100, 'L'), "not a vector store");
  std::mt19937 rng(3);
  std::vector<uint8_t> random(kHeaderBytes * 3);
  for (auto& b : random) b = static_cast<uint8_t>(rng());
  expect_refused("random", random, "bad magic");
  auto magic = good_bytes;
  magic[0] = 'X';
  expect_refused("magic", magic, "bad magic");
  auto newer = good_bytes;
  newer[8] = 2;
  expect_refused("newer", newer, "newer");
  auto header = good_bytes;
  header[30] ^= 1;  // a generation byte
  expect_refused("header", header, "checksum");
  expect_refused("dim", good_bytes, "expected 16-d", 16);

  EXPECT_ERROR_CONTAINING(VectorStore(dir / "missing", kDim, Mode::kReadOnly), "no such");
  EXPECT_ERROR_CONTAINING(VectorStore(dir / "zero-dim", 0, Mode::kReadWrite), "dim 0");
  EXPECT_FALSE(fs::exists(dir / "zero-dim"));
}

TEST(VectorStore, SecondWriterIsRefusedReadersAreNot) {
  fs::path path = MakeStore("lock", 4);
  {
    VectorStore writer(path, kDim, Mode::kReadWrite);
    EXPECT_ERROR_CONTAINING(VectorStore(path, kDim, Mode::kReadWrite), "in use by another process");
    VectorStore reader(path, kDim, Mode::kReadOnly);
    EXPECT_EQ(reader.size(), 4u);
    // Another process is refused the same way (flock is per open file).
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      int code = 1;
      try {
        VectorStore second(path, kDim, Mode::kReadWrite);
      } catch (const Error& e) {
        code = std::string(e.what()).find("in use") != std::string::npos ? 0 : 2;
      }
      _exit(code);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  VectorStore after(path, kDim, Mode::kReadWrite);  // the lock went with the first writer
  EXPECT_EQ(after.size(), 4u);
}

TEST(VectorStore, ReaderSeesAppendsAfterRefreshAndIgnoresTornTail) {
  fs::path path = StorePath("refresh");
  VectorStore writer(path, kDim, Mode::kReadWrite);
  AppendIds(writer, 1, 5);
  writer.Sync();
  VectorStore reader(path, kDim, Mode::kReadOnly);
  ASSERT_EQ(reader.size(), 5u);
  const float* first = reader.Vector(0);
  AppendIds(writer, 6, 3000, 1000);
  writer.Sync();
  EXPECT_EQ(reader.size(), 5u);
  reader.Refresh();
  EXPECT_EQ(reader.size(), 3005u);
  EXPECT_EQ(reader.Vector(0), first) << "pointers stay valid as the store grows";
  ExpectConsecutive(reader, 1);

  {  // half a record appended behind the writer's back, as a crash mid-append would leave
    auto record = RawRecord(3006, 1, VectorOf(3006));
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write(reinterpret_cast<const char*>(record.data()), kRecordBytes / 2);
  }
  reader.Refresh();
  EXPECT_EQ(reader.size(), 3005u);

  writer.Compact([](size_t slot) { return slot % 2 == 0; });
  EXPECT_ERROR_CONTAINING(reader.Refresh(), "reopen");
  EXPECT_EQ(reader.size(), 3005u);  // the old file stays readable until reopened
  ExpectConsecutive(reader, 1);
}

TEST(VectorStore, ConcurrentReaderSeesOnlyCompleteRecords) {
  fs::path path = StorePath("concurrent");
  VectorStore store(path, kDim, Mode::kReadWrite);
  std::atomic<bool> done{false};
  std::atomic<size_t> checks{0};
  std::atomic<bool> reader_failed{false};
  std::thread reader([&] {
    while (!done.load()) {
      size_t n = store.size();
      if (n == 0) continue;
      size_t slot = n - 1;
      int64_t id = store.id(slot);
      auto v = VectorOf(id);
      if (id != static_cast<int64_t>(slot) + 1 ||
          std::memcmp(store.Vector(slot), v.data(), sizeof(float) * kDim) != 0) {
        ADD_FAILURE() << "slot " << slot << " read inconsistent";
        reader_failed = true;
        return;
      }
      checks++;
    }
  });
  // Half the appends, then (on a loaded machine the reader may not have run
  // yet) wait for the reader to have checked a record, then the rest.
  AppendIds(store, 1, 10000, 7);
  while (checks.load() == 0 && !reader_failed.load()) std::this_thread::yield();
  AppendIds(store, 10001, 10000, 7);
  done = true;
  reader.join();
  EXPECT_GT(checks.load(), 0u);
  EXPECT_EQ(store.size(), 20000u);
}

TEST(VectorStore, CompactKeepsChosenRecordsUnderANewGeneration) {
  fs::path path = MakeStore("compact", 100);
  VectorStore store(path, kDim, Mode::kReadWrite);
  const std::string old_generation = store.GenerationHex();
  size_t kept = store.Compact([](size_t slot) { return slot % 3 != 1; });
  EXPECT_EQ(kept, 67u);
  EXPECT_EQ(store.size(), 67u);
  EXPECT_NE(store.GenerationHex(), old_generation);
  auto check = [](const VectorStore& s) {
    for (size_t slot = 0; slot < s.size(); ++slot) {
      int64_t id = static_cast<int64_t>(slot / 2 * 3 + (slot % 2 == 0 ? 0 : 2)) + 1;
      ASSERT_EQ(s.id(slot), id);
      ASSERT_EQ(s.collection(slot), CollectionOf(id));
      ASSERT_EQ(s.Vector(slot)[3], VectorOf(id)[3]);
    }
  };
  check(store);
  EXPECT_TRUE(store.Verify().empty());
  EXPECT_EQ(store.FindSlot(2), std::nullopt);
  EXPECT_EQ(store.FindSlot(3), 1u);
  EXPECT_EQ(fs::file_size(path), kHeaderBytes + 67 * kRecordBytes);
  AppendIds(store, 101, 2);
  store.Sync();
  EXPECT_ERROR_CONTAINING(VectorStore(path, kDim, Mode::kReadWrite), "in use by another process");
  const std::string new_generation = store.GenerationHex();

  VectorStore reopened(path, kDim, Mode::kReadOnly);
  EXPECT_EQ(reopened.GenerationHex(), new_generation);
  EXPECT_EQ(reopened.size(), 69u);
  EXPECT_EQ(reopened.id(68), 102);
  EXPECT_EQ(store.Compact([](size_t) { return false; }), 0u);
  EXPECT_EQ(store.size(), 0u);
}

TEST(VectorStore, CrashedCompactLeftoverIsIgnoredAndCleaned) {
  fs::path path = MakeStore("compact-crash", 20);
  fs::path leftover = path;
  leftover += ".compact";
  auto half = ReadAllBytes(path);
  half.resize(kHeaderBytes + 7 * kRecordBytes + 5);  // a Compact() killed mid-write
  half[24] ^= 1;
  WriteAllBytes(leftover, half);
  std::string generation;
  {
    VectorStore reader(path, kDim, Mode::kReadOnly);
    EXPECT_EQ(reader.size(), 20u);
    generation = reader.GenerationHex();
  }
  EXPECT_TRUE(fs::exists(leftover)) << "read-only opens never modify";
  VectorStore store(path, kDim, Mode::kReadWrite);
  EXPECT_FALSE(fs::exists(leftover));
  EXPECT_EQ(store.size(), 20u);
  EXPECT_EQ(store.GenerationHex(), generation);
  ExpectConsecutive(store, 1);
}

// The kill -9 test: a child appends and syncs random batches and reports
// each synced count through a pipe; it is killed at a random moment.
// Whatever it wrote, reopening must give a valid prefix holding every
// record it reported synced.
TEST(VectorStore, KillNineDuringAppendsLeavesAValidPrefix) {
  fs::path path = StorePath("kill");
  std::mt19937 rng(12345);
  size_t synced_before = 0;
  for (int round = 0; round < 6; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      try {
        VectorStore store(path, 64, Mode::kReadWrite);
        std::mt19937 child_rng(static_cast<unsigned>(round));
        while (true) {
          int64_t first = static_cast<int64_t>(store.size()) + 1;
          AppendIds(store, first, 1 + child_rng() % 300, 300);
          store.Sync();
          uint64_t synced = store.size();
          if (write(fds[1], &synced, sizeof(synced)) != sizeof(synced)) _exit(3);
        }
      } catch (...) {
        _exit(2);
      }
    }
    ::close(fds[1]);
    // Let it report a few syncs, then kill it at a random moment.
    uint64_t last_synced = 0;
    const int reports = 3 + static_cast<int>(rng() % 20);
    for (int i = 0; i < reports; ++i) {
      ASSERT_EQ(read(fds[0], &last_synced, sizeof(last_synced)), static_cast<ssize_t>(sizeof(last_synced)));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child ended with status " << status;
    uint64_t value;
    while (read(fds[0], &value, sizeof(value)) == static_cast<ssize_t>(sizeof(value))) last_synced = value;
    ::close(fds[0]);

    VectorStore store(path, 64, Mode::kReadWrite);
    EXPECT_GE(store.size(), last_synced) << "round " << round;
    EXPECT_GT(last_synced, synced_before);
    EXPECT_TRUE(store.Verify().empty());
    ExpectConsecutive(store, 1);
    synced_before = store.size();
  }
}

// A failed write (here EFBIG from RLIMIT_FSIZE in a child, standing in for
// ENOSPC) throws and leaves the store exactly as before the batch.
TEST(VectorStore, FailedAppendIsTruncatedAway) {
  fs::path path = MakeStore("full", 10);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 0;
    try {
      VectorStore store(path, kDim, Mode::kReadWrite);
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit limit;
      limit.rlim_cur = limit.rlim_max = kHeaderBytes + 12 * kRecordBytes + kRecordBytes / 2;
      if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(10);
      try {
        AppendIds(store, 11, 5);
        code = 11;  // should have failed
      } catch (const Error& e) {
        if (std::string(e.what()).find("File too large") == std::string::npos) code = 12;
      }
      if (store.size() != 10) code = 13;
      if (fs::file_size(path) != kHeaderBytes + 10 * kRecordBytes) code = 14;
      AppendIds(store, 11, 2);  // fits under the limit
      store.Sync();
      if (store.size() != 12) code = 15;
    } catch (...) {
      code = 16;
    }
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  VectorStore store(path, kDim, Mode::kReadWrite);
  EXPECT_EQ(store.size(), 12u);
  EXPECT_EQ(store.dropped_on_open(), 0u);
  ExpectConsecutive(store, 1);
}

}  // namespace
}  // namespace lineup
