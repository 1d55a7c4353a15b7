// GalleryReloader over a real gallery that a writer grows: searches keep
// being served by the gallery in use while a reopen is held inside the
// opener, one open at a time, failures keep the old gallery.
#include "server/gallery_reloader.h"

#include <atomic>
#include <future>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"
#include "synthetic_gallery.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kDim = 16;
const GalleryModel kModel{"test-embedder-16", kDim};

class GalleryReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = testing::TempDir("reloader") / "data";
    writer_ = Gallery::Open(options_, kModel);
    Collection c;
    c.name = "bookings";
    c.legal_basis = "custody records (test)";
    collection_id_ = writer_->catalog().CreateCollection(c).id;
  }
  void TearDown() override { Release(); }

  // Writes one face and returns its descriptor.
  std::vector<float> AddFace() {
    std::vector<float> d = testing::RandomUnitVector(rng_, kDim);
    std::vector<AnalyzedImage> batch{
        testing::SyntheticImage(collection_id_, "face" + std::to_string(faces_++), {d}, "")};
    writer_->WriteBatch(batch, 0, {});
    return d;
  }

  fs::path Store() const { return options_.data_dir / "vectors.lvs"; }

  // Opens read-only; the second open says it started, then waits for Release().
  GalleryReloader::Opener HeldOpener() {
    return [this]() -> std::shared_ptr<Gallery> {
      if (opens_.fetch_add(1) == 1) {
        second_open_started_.set_value();
        gate_.wait();
      }
      GalleryOptions ro = options_;
      ro.read_only = true;
      return Gallery::Open(ro, kModel);
    };
  }
  // Declared after the reloader in a test, so that a failing assertion
  // releases a held open before the reloader's destructor waits for it.
  struct ReleaseOnExit {
    GalleryReloaderTest* test;
    ~ReleaseOnExit() { test->Release(); }
  };
  void Release() {
    if (!released_) {
      released_ = true;
      release_.set_value();
    }
  }

  // Current() on another thread, so that a reloader that blocks fails the
  // test instead of hanging it.
  std::shared_ptr<Gallery> CurrentWithoutWaiting(GalleryReloader& reloader) {
    auto answer = std::async(std::launch::async, [&] { return reloader.Current(); });
    if (answer.wait_for(60s) != std::future_status::ready) {
      ADD_FAILURE() << "Current() waited for the reopen held in the opener";
      Release();
    }
    return answer.get();
  }

  static bool FindsFirst(Gallery& gallery, const std::vector<float>& d) {
    SearchQuery q;
    q.descriptor = d;
    q.top_k = 1;
    SearchResult r = gallery.Search(q);
    return !r.candidates.empty() && r.candidates[0].score > 0.999f;
  }

  std::mt19937 rng_{5};
  GalleryOptions options_;
  std::unique_ptr<Gallery> writer_;
  int64_t collection_id_ = 0;
  int faces_ = 0;
  std::atomic<int> opens_{0};
  std::promise<void> second_open_started_;
  std::promise<void> release_;
  std::shared_future<void> gate_ = release_.get_future().share();
  bool released_ = false;
};

TEST_F(GalleryReloaderTest, SearchesUseTheGalleryInUseWhileAReopenIsHeld) {
  std::vector<float> first = AddFace();
  GalleryReloader reloader(Store(), 0s, HeldOpener());
  ReleaseOnExit release_on_exit{this};
  std::shared_ptr<Gallery> g1 = reloader.Current();
  ASSERT_TRUE(g1);
  EXPECT_EQ(g1->LiveFaces(), 1u);

  std::vector<float> second = AddFace();  // the store grows: the next Current() starts a reopen
  EXPECT_EQ(CurrentWithoutWaiting(reloader), g1);
  // The background open is now held in the opener.
  ASSERT_EQ(second_open_started_.get_future().wait_for(60s), std::future_status::ready) << "no reopen started";

  // While it is held: searches are served by g1, from several threads, and
  // a further growth starts no second open.
  std::vector<float> third = AddFace();
  std::vector<std::future<bool>> searches;
  for (int t = 0; t < 3; ++t) {
    searches.push_back(std::async(std::launch::async, [&] {
      std::shared_ptr<Gallery> g = reloader.Current();
      return g == g1 && FindsFirst(*g, first);
    }));
  }
  for (auto& s : searches) {
    ASSERT_EQ(s.wait_for(60s), std::future_status::ready) << "a search waited for the reopen";
    EXPECT_TRUE(s.get());
  }
  EXPECT_EQ(CurrentWithoutWaiting(reloader), g1);
  EXPECT_EQ(opens_.load(), 2);
  EXPECT_EQ(reloader.reopens_finished(), 0);

  Release();
  reloader.WaitForReopen();
  std::shared_ptr<Gallery> g2 = reloader.Current();
  EXPECT_NE(g2, g1);
  EXPECT_EQ(g2->LiveFaces(), 3u);
  EXPECT_TRUE(FindsFirst(*g2, third));
  EXPECT_TRUE(FindsFirst(*g1, first));  // the old gallery still serves whoever holds it
  // The held open had noted the store's size before the third face, so the Current() above
  // saw a growth and started one more reopen; it may or may not have finished by now.
  reloader.WaitForReopen();
  EXPECT_EQ(reloader.reopens_finished(), 2);
  EXPECT_EQ(reloader.last_reopen_error(), "");
  (void)second;
}

TEST_F(GalleryReloaderTest, AFailedReopenKeepsTheGalleryInUseAndIsRetried) {
  AddFace();
  int calls = 0;
  GalleryReloader reloader(Store(), 0s, [&]() -> std::shared_ptr<Gallery> {
    if (++calls == 2) throw Error("store replaced while opening (test)");
    GalleryOptions ro = options_;
    ro.read_only = true;
    return Gallery::Open(ro, kModel);
  });
  std::shared_ptr<Gallery> g1 = reloader.Current();
  AddFace();
  EXPECT_EQ(reloader.Current(), g1);
  reloader.WaitForReopen();
  EXPECT_EQ(reloader.last_reopen_error(), "store replaced while opening (test)");
  EXPECT_EQ(reloader.Current(), g1);  // and starts the retry
  reloader.WaitForReopen();
  EXPECT_EQ(reloader.last_reopen_error(), "");
  std::shared_ptr<Gallery> g2 = reloader.Current();
  EXPECT_NE(g2, g1);
  EXPECT_EQ(g2->LiveFaces(), 2u);
  EXPECT_EQ(calls, 3);
}

TEST_F(GalleryReloaderTest, ReopensAtMostOncePerInterval) {
  AddFace();
  int calls = 0;
  GalleryReloader reloader(Store(), 1h, [&]() -> std::shared_ptr<Gallery> {
    ++calls;
    GalleryOptions ro = options_;
    ro.read_only = true;
    return Gallery::Open(ro, kModel);
  });
  std::shared_ptr<Gallery> g1 = reloader.Current();
  AddFace();
  EXPECT_EQ(reloader.Current(), g1);
  reloader.WaitForReopen();
  EXPECT_EQ(reloader.Current(), g1);
  EXPECT_EQ(calls, 1);
}

TEST(GalleryReloader, NoStoreYetIsNoGalleryAndNoOpen) {
  int calls = 0;
  GalleryReloader reloader(testing::TempDir("reloader-empty") / "vectors.lvs", 0s,
                           [&]() -> std::shared_ptr<Gallery> {
                             ++calls;
                             return nullptr;
                           });
  EXPECT_EQ(reloader.Current(), nullptr);
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace lineup
