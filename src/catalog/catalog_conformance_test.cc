// The behaviour of the Catalog interface, run against every backend that
// instantiates CatalogConformance (see catalog_conformance_test.h).
#include "catalog/catalog_conformance_test.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "common/error.h"

namespace lineup {

// Instantiated by each backend's test file; a build without any backend
// (none compiled in) must not fail for it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CatalogConformance);

namespace {

Collection NewCollection(const std::string& name) {
  Collection c;
  c.name = name;
  c.description = "photos of " + name;
  c.legal_basis = "consent of the people shown";
  c.jurisdiction = "EU";
  c.retention_days = 365;
  return c;
}

FaceRecord NewFace(int64_t id, float seed = 1.0f) {
  FaceRecord f;
  f.id = id;
  f.box = {10.5f * seed, 20.25f, 64.0f, 80.125f};
  for (int k = 0; k < 10; ++k) f.landmarks[k] = seed * 3.0f + 0.1f * static_cast<float>(k);
  f.detection_score = 0.987654f;
  f.size_px = 42.5f;
  f.sharpness = 123.456f;
  f.yaw_deg = -12.5f;
  f.roll_deg = 3.25f;
  f.model_id = "mobilefacenet-192";
  return f;
}

ImageWrite NewImage(int64_t collection_id, const std::string& sha,
                    const std::vector<int64_t>& face_ids = {},
                    std::optional<Source> source = std::nullopt) {
  ImageWrite w;
  w.image.collection_id = collection_id;
  w.image.content_sha256 = sha;
  w.image.perceptual_hash = 0xF0E1D2C3B4A59687ULL;  // high bit set: must survive signed storage
  w.image.width = 640;
  w.image.height = 480;
  w.image.byte_size = 123456;
  w.image.stored_path = "/data/images/" + sha + ".jpg";
  w.image.original_name = "in/" + sha + ".jpg";
  w.source = std::move(source);
  for (int64_t id : face_ids) w.faces.push_back(NewFace(id, static_cast<float>(id)));
  return w;
}

// "prefix<k>" (appending avoids a GCC 12 -Wrestrict false positive on "x" + to_string).
std::string Numbered(std::string prefix, int64_t k) {
  prefix.append(std::to_string(k));
  return prefix;
}

Source NewSource(const std::string& source_url, const std::string& page_url = "") {
  Source s;
  s.source_url = source_url;
  s.page_url = page_url;
  s.title = "title of " + source_url;
  s.captured_at = "2023-04-05";
  s.published_at = "2023-04-06T07:08:09Z";
  s.legal_basis = "CC-BY-4.0";
  return s;
}

void ExpectSameFace(const FaceRecord& got, const FaceRecord& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.box, want.box);
  EXPECT_EQ(got.landmarks, want.landmarks);
  EXPECT_EQ(got.detection_score, want.detection_score);
  EXPECT_EQ(got.size_px, want.size_px);
  EXPECT_EQ(got.sharpness, want.sharpness);
  EXPECT_EQ(got.yaw_deg, want.yaw_deg);
  EXPECT_EQ(got.roll_deg, want.roll_deg);
  EXPECT_EQ(got.model_id, want.model_id);
}

void ExpectSameSource(const Source& got, const Source& want) {
  EXPECT_EQ(got.source_url, want.source_url);
  EXPECT_EQ(got.page_url, want.page_url);
  EXPECT_EQ(got.title, want.title);
  EXPECT_EQ(got.captured_at, want.captured_at);
  EXPECT_EQ(got.published_at, want.published_at);
  EXPECT_EQ(got.legal_basis, want.legal_basis);
}

std::vector<std::pair<int64_t, int64_t>> AllFaces(Catalog& catalog) {
  std::vector<std::pair<int64_t, int64_t>> out;
  catalog.ForEachFace([&](int64_t face, int64_t collection) { out.emplace_back(face, collection); });
  return out;
}

// Strings that break naive SQL splicing, CSV/line formats and C strings.
std::vector<std::string> HostileStrings() {
  std::string long_url = "https://example.org/";
  while (long_url.size() < 10'000) long_url += "a%2F_b%c/";
  return {
      "it's \"quoted\" \\ back`tick`",
      "line one\nline two\r\nthree\ttabbed",
      std::string("ctrl \x01\x02\x1b[31m\x7f end"),
      "'); DROP TABLE images; --",
      "\" OR 1=1 --",
      "emoji \xF0\x9F\x98\x80 and \xC3\xA9t\xC3\xA9 and \xE4\xB8\xAD\xE6\x96\x87",
      "100% _literal_ [brackets] *star* ?q=1&x=%27",
      long_url,
      " leading and trailing spaces ",
  };
}

#define EXPECT_ERROR(statement)                                  \
  EXPECT_THROW(                                                  \
      {                                                          \
        try {                                                    \
          statement;                                             \
        } catch (const Error& e) {                               \
          EXPECT_GT(std::string(e.what()).size(), 0u);           \
          throw;                                                 \
        }                                                        \
      },                                                         \
      Error)

// --- settings, schema

TEST_P(CatalogConformance, SchemaVersionIsPositiveAndReportedInStats) {
  EXPECT_GE(catalog().SchemaVersion(), 1);
  EXPECT_EQ(catalog().Stats().schema_version, catalog().SchemaVersion());
}

TEST_P(CatalogConformance, SettingsRoundTripAndOverwrite) {
  EXPECT_FALSE(catalog().GetSetting("embedder").has_value());
  catalog().SetSetting("embedder", "mobilefacenet-192");
  catalog().SetSetting("dim", "192");
  EXPECT_EQ(catalog().GetSetting("embedder"), "mobilefacenet-192");
  catalog().SetSetting("embedder", "dlib-resnet-128");
  EXPECT_EQ(catalog().GetSetting("embedder"), "dlib-resnet-128");
  EXPECT_EQ(catalog().GetSetting("dim"), "192");
  catalog().SetSetting("empty", "");
  EXPECT_EQ(catalog().GetSetting("empty"), "");
}

// --- collections

TEST_P(CatalogConformance, CreateFindGetAndListCollections) {
  Collection a = catalog().CreateCollection(NewCollection("alpha"));
  Collection b = catalog().CreateCollection(NewCollection("beta"));
  EXPECT_GT(a.id, 0);
  EXPECT_GT(b.id, a.id);
  EXPECT_FALSE(a.created_at.empty());
  EXPECT_EQ(a.created_at.back(), 'Z');  // ISO 8601 UTC

  auto found = catalog().FindCollection("beta");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, b.id);
  EXPECT_EQ(found->description, "photos of beta");
  EXPECT_EQ(found->legal_basis, "consent of the people shown");
  EXPECT_EQ(found->jurisdiction, "EU");
  EXPECT_EQ(found->retention_days, 365);
  EXPECT_EQ(found->created_at, b.created_at);

  auto got = catalog().GetCollection(a.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->name, "alpha");
  EXPECT_FALSE(catalog().GetCollection(b.id + 100).has_value());
  EXPECT_FALSE(catalog().FindCollection("gamma").has_value());
  EXPECT_FALSE(catalog().FindCollection("ALPHA").has_value());  // names are exact

  auto all = catalog().ListCollections();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alpha");  // creation order
  EXPECT_EQ(all[1].name, "beta");
}

TEST_P(CatalogConformance, SetRetentionDaysChangesOnlyThatCollection) {
  Collection a = catalog().CreateCollection(NewCollection("a"));
  Collection b = catalog().CreateCollection(NewCollection("b"));
  EXPECT_TRUE(catalog().SetRetentionDays(a.id, 30));
  EXPECT_EQ(catalog().GetCollection(a.id)->retention_days, 30);
  EXPECT_EQ(catalog().GetCollection(b.id)->retention_days, 365);
  EXPECT_TRUE(catalog().SetRetentionDays(a.id, 0));
  EXPECT_EQ(catalog().FindCollection("a")->retention_days, 0);
  EXPECT_FALSE(catalog().SetRetentionDays(b.id + 100, 5));
  EXPECT_ERROR(catalog().SetRetentionDays(a.id, -1));
}

TEST_P(CatalogConformance, CreateCollectionValidates) {
  catalog().CreateCollection(NewCollection("taken"));
  Collection no_name = NewCollection("");
  EXPECT_ERROR(catalog().CreateCollection(no_name));
  EXPECT_ERROR(catalog().CreateCollection(NewCollection("taken")));
  Collection no_basis = NewCollection("no-basis");
  no_basis.legal_basis = "";
  EXPECT_ERROR(catalog().CreateCollection(no_basis));
  Collection negative = NewCollection("negative");
  negative.retention_days = -1;
  EXPECT_ERROR(catalog().CreateCollection(negative));
  EXPECT_EQ(catalog().ListCollections().size(), 1u);
  EXPECT_FALSE(catalog().FindCollection("no-basis").has_value());
}

// --- face ids

TEST_P(CatalogConformance, ReserveFaceIdsIsConsecutiveMonotonicAndDurable) {
  const int64_t first = catalog().ReserveFaceIds(10);
  EXPECT_GE(first, 1);
  const int64_t second = catalog().ReserveFaceIds(1);
  EXPECT_EQ(second, first + 10);
  const int64_t third = catalog().ReserveFaceIds(5);
  EXPECT_EQ(third, second + 1);
  EXPECT_ERROR(catalog().ReserveFaceIds(0));
  EXPECT_ERROR(catalog().ReserveFaceIds(-3));
  Reopen();
  // Reserved but unused ids are never handed out again.
  EXPECT_EQ(catalog().ReserveFaceIds(2), third + 5);
}

TEST_P(CatalogConformance, ReserveFaceIdsFromThreadsAndConnectionsNeverOverlap) {
  auto other = OpenAnother();
  std::vector<std::vector<int64_t>> firsts(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Catalog& c = t % 2 == 0 ? catalog() : *other;
      for (int k = 0; k < 25; ++k) firsts[t].push_back(c.ReserveFaceIds(3));
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<int64_t> ids;
  for (const auto& list : firsts) {
    for (int64_t first : list) {
      for (int64_t id = first; id < first + 3; ++id) EXPECT_TRUE(ids.insert(id).second) << id;
    }
  }
  EXPECT_EQ(ids.size(), 4u * 25u * 3u);
}

// --- writing and reading images

TEST_P(CatalogConformance, AddImagesStoresImagesSourcesFacesAndCounters) {
  Collection c = catalog().CreateCollection(NewCollection("people"));
  IngestJob job = catalog().CreateJob(c.id, "/in/folder", "{\"min_face\":20}");
  const int64_t f = catalog().ReserveFaceIds(3);
  std::vector<ImageWrite> batch = {
      NewImage(c.id, "aaa", {f, f + 1}, NewSource("https://ex.org/a.jpg", "https://ex.org/page")),
      NewImage(c.id, "bbb", {}),
      NewImage(c.id, "ccc", {f + 2}),
  };
  JobCounters delta;
  delta.images_seen = 3;
  delta.images_added = 3;
  delta.no_face = 1;
  delta.faces_added = 3;
  std::vector<int64_t> ids = catalog().AddImages(batch, job.id, delta);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);

  auto image = catalog().GetImage(ids[0]);
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->collection_id, c.id);
  EXPECT_EQ(image->job_id, job.id);
  EXPECT_GT(image->source_id, 0);
  EXPECT_EQ(image->content_sha256, "aaa");
  EXPECT_EQ(image->perceptual_hash, 0xF0E1D2C3B4A59687ULL);
  EXPECT_EQ(image->width, 640);
  EXPECT_EQ(image->height, 480);
  EXPECT_EQ(image->byte_size, 123456);
  EXPECT_EQ(image->stored_path, "/data/images/aaa.jpg");
  EXPECT_EQ(image->original_name, "in/aaa.jpg");
  EXPECT_FALSE(image->ingested_at.empty());
  EXPECT_EQ(catalog().GetImage(ids[1])->source_id, 0);  // no source given

  auto by_hash = catalog().FindImageByHash(c.id, "ccc");
  ASSERT_TRUE(by_hash.has_value());
  EXPECT_EQ(by_hash->id, ids[2]);
  EXPECT_FALSE(catalog().FindImageByHash(c.id, "zzz").has_value());
  EXPECT_FALSE(catalog().FindImageByHash(c.id + 1, "ccc").has_value());
  EXPECT_FALSE(catalog().GetImage(ids[2] + 1000).has_value());

  auto faces = catalog().FacesOfImage(ids[0]);
  ASSERT_EQ(faces.size(), 2u);
  ExpectSameFace(faces[0], batch[0].faces[0]);
  ExpectSameFace(faces[1], batch[0].faces[1]);
  EXPECT_EQ(faces[0].image_id, ids[0]);
  EXPECT_TRUE(catalog().FacesOfImage(ids[1]).empty());

  auto got_job = catalog().GetJob(job.id);
  ASSERT_TRUE(got_job.has_value());
  EXPECT_EQ(got_job->counters.images_seen, 3);
  EXPECT_EQ(got_job->counters.images_added, 3);
  EXPECT_EQ(got_job->counters.no_face, 1);
  EXPECT_EQ(got_job->counters.faces_added, 3);
  EXPECT_EQ(got_job->counters.duplicates, 0);
}

TEST_P(CatalogConformance, AddImagesWithoutJobAndEmptyBatch) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  auto ids = catalog().AddImages({NewImage(c.id, "h1")}, 0, JobCounters{});
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(catalog().GetImage(ids[0])->job_id, 0);
  IngestJob job = catalog().CreateJob(c.id, "in", "{}");
  JobCounters delta;
  delta.duplicates = 4;
  EXPECT_TRUE(catalog().AddImages({}, job.id, delta).empty());
  EXPECT_EQ(catalog().GetJob(job.id)->counters.duplicates, 4);
}

TEST_P(CatalogConformance, AddImagesWithDuplicateHashWritesNothing) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  IngestJob job = catalog().CreateJob(c.id, "in", "{}");
  const int64_t f = catalog().ReserveFaceIds(10);
  catalog().AddImages({NewImage(c.id, "dup", {f})}, job.id, JobCounters{1, 1, 0, 0, 1, 0});
  const CatalogStats before = catalog().Stats();

  // The duplicate comes last, after a new image with a source and faces.
  std::vector<ImageWrite> batch = {NewImage(c.id, "new", {f + 1, f + 2}, NewSource("https://x/1")),
                                   NewImage(c.id, "dup", {f + 3})};
  EXPECT_ERROR(catalog().AddImages(batch, job.id, JobCounters{2, 2, 0, 0, 3, 0}));
  // Two copies of one new hash inside a batch.
  std::vector<ImageWrite> twice = {NewImage(c.id, "same", {}), NewImage(c.id, "same", {})};
  EXPECT_ERROR(catalog().AddImages(twice, job.id, JobCounters{2, 2, 0, 0, 0, 0}));

  const CatalogStats after = catalog().Stats();
  EXPECT_EQ(after.images, before.images);
  EXPECT_EQ(after.faces, before.faces);
  EXPECT_EQ(after.sources, before.sources);
  EXPECT_FALSE(catalog().FindImageByHash(c.id, "new").has_value());
  EXPECT_FALSE(catalog().FindImageByHash(c.id, "same").has_value());
  EXPECT_EQ(catalog().GetJob(job.id)->counters.images_seen, 1);
  EXPECT_EQ(catalog().GetJob(job.id)->counters.faces_added, 1);
  EXPECT_EQ(AllFaces(catalog()).size(), 1u);

  // The same content in another collection is a different image.
  Collection d = catalog().CreateCollection(NewCollection("d"));
  EXPECT_EQ(catalog().AddImages({NewImage(d.id, "dup")}, 0, JobCounters{}).size(), 1u);
}

TEST_P(CatalogConformance, AddImagesWithUsedFaceIdWritesNothing) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  const int64_t f = catalog().ReserveFaceIds(4);
  catalog().AddImages({NewImage(c.id, "one", {f})}, 0, JobCounters{});
  EXPECT_ERROR(catalog().AddImages({NewImage(c.id, "two", {f + 1}), NewImage(c.id, "three", {f})},
                                   0, JobCounters{}));
  EXPECT_ERROR(
      catalog().AddImages({NewImage(c.id, "four", {f + 2, f + 2})}, 0, JobCounters{}));
  EXPECT_FALSE(catalog().FindImageByHash(c.id, "two").has_value());
  EXPECT_FALSE(catalog().FindImageByHash(c.id, "four").has_value());
  EXPECT_EQ(catalog().Stats().faces, 1);
}

TEST_P(CatalogConformance, AddImagesToUnknownCollectionOrJobThrows) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  EXPECT_ERROR(catalog().AddImages({NewImage(c.id + 42, "x")}, 0, JobCounters{}));
  EXPECT_ERROR(catalog().AddImages({NewImage(c.id, "y")}, 9999, JobCounters{}));
  EXPECT_EQ(catalog().Stats().images, 0);
}

TEST_P(CatalogConformance, SourceWithOnlyEmptyFieldsIsNoSource) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  auto ids = catalog().AddImages({NewImage(c.id, "h", {}, Source{})}, 0, JobCounters{});
  EXPECT_EQ(catalog().GetImage(ids[0])->source_id, 0);
  EXPECT_EQ(catalog().Stats().sources, 0);
}

TEST_P(CatalogConformance, DescribeFacesKeepsRequestOrderAndOmitsUnknownIds) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  const int64_t f = catalog().ReserveFaceIds(300);
  Source src = NewSource("https://ex.org/img.jpg", "https://ex.org/page.html");
  std::vector<ImageWrite> batch;
  for (int k = 0; k < 150; ++k) {
    batch.push_back(NewImage(c.id, Numbered("h", k), {f + 2 * k, f + 2 * k + 1},
                             k % 2 == 0 ? std::optional<Source>(src) : std::nullopt));
  }
  catalog().AddImages(batch, 0, JobCounters{});

  std::vector<int64_t> wanted = {f + 5, f + 299 + 1000, f, f + 5, f + 2};
  auto got = catalog().DescribeFaces(wanted);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].face.id, f + 5);
  EXPECT_EQ(got[1].face.id, f);
  EXPECT_EQ(got[2].face.id, f + 5);
  EXPECT_EQ(got[3].face.id, f + 2);
  ExpectSameFace(got[1].face, batch[0].faces[0]);
  EXPECT_EQ(got[1].image.content_sha256, "h0");
  EXPECT_EQ(got[1].collection.name, "c");
  EXPECT_EQ(got[1].collection.legal_basis, "consent of the people shown");
  ASSERT_TRUE(got[1].source.has_value());
  ExpectSameSource(*got[1].source, src);
  EXPECT_EQ(got[1].source->id, got[1].image.source_id);
  EXPECT_EQ(got[0].image.content_sha256, "h2");
  EXPECT_FALSE(got[3].source.has_value());  // h1 has no source
  EXPECT_TRUE(catalog().DescribeFaces({}).empty());

  // Many ids at once (more than any single IN list a backend might use).
  std::vector<int64_t> all;
  for (int64_t id = f + 299; id >= f; --id) all.push_back(id);
  auto many = catalog().DescribeFaces(all);
  ASSERT_EQ(many.size(), 300u);
  for (size_t k = 0; k < many.size(); ++k) EXPECT_EQ(many[k].face.id, all[k]);
}

TEST_P(CatalogConformance, ForEachFaceStreamsInAscendingIdOrderWithCollection) {
  Collection a = catalog().CreateCollection(NewCollection("a"));
  Collection b = catalog().CreateCollection(NewCollection("b"));
  const int64_t f = catalog().ReserveFaceIds(8);
  // Inserted out of id order, interleaved across collections.
  catalog().AddImages({NewImage(b.id, "b1", {f + 7, f + 1}), NewImage(a.id, "a1", {f + 4})}, 0,
                      JobCounters{});
  catalog().AddImages({NewImage(a.id, "a2", {f + 6, f + 0}), NewImage(b.id, "b2", {f + 3})}, 0,
                      JobCounters{});
  std::vector<std::pair<int64_t, int64_t>> want = {
      {f + 0, a.id}, {f + 1, b.id}, {f + 3, b.id}, {f + 4, a.id}, {f + 6, a.id}, {f + 7, b.id}};
  EXPECT_EQ(AllFaces(catalog()), want);

  // The callback may use the catalog (no lock held while it runs).
  int64_t described = 0;
  catalog().ForEachFace([&](int64_t face, int64_t) {
    described += static_cast<int64_t>(catalog().DescribeFaces({face}).size());
  });
  EXPECT_EQ(described, 6);
}

TEST_P(CatalogConformance, FindImagesBySourcePrefixIsALiteralBytePrefix) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  auto ids = catalog().AddImages(
      {
          NewImage(c.id, "1", {}, NewSource("https://site.org/100%_off/a.jpg")),
          NewImage(c.id, "2", {}, NewSource("https://site.org/100XYoff/b.jpg")),  // % and _ as LIKE wildcards would match
          NewImage(c.id, "3", {}, NewSource("", "https://site.org/100%_off/page")),
          NewImage(c.id, "4", {}, NewSource("https://SITE.org/100%_off/c.jpg")),
          NewImage(c.id, "5", {}, NewSource("https://site.org/caf\xC3\xA9/d.jpg")),
          NewImage(c.id, "6", {}),
          NewImage(c.id, "7", {}, NewSource("https://site.org/100%_off")),
      },
      0, JobCounters{});
  auto match = catalog().FindImagesBySourcePrefix("https://site.org/100%_off");
  EXPECT_EQ(match, (std::vector<int64_t>{ids[0], ids[2], ids[6]}));
  EXPECT_EQ(catalog().FindImagesBySourcePrefix("https://site.org/100%_off/"),
            (std::vector<int64_t>{ids[0], ids[2]}));
  EXPECT_EQ(catalog().FindImagesBySourcePrefix("https://site.org/caf\xC3\xA9"),
            (std::vector<int64_t>{ids[4]}));
  EXPECT_EQ(catalog().FindImagesBySourcePrefix("https://site.org/100%_off/a.jpg"),
            (std::vector<int64_t>{ids[0]}));
  EXPECT_TRUE(catalog().FindImagesBySourcePrefix("https://site.org/100%_off/a.jpgX").empty());
  EXPECT_TRUE(catalog().FindImagesBySourcePrefix("%").empty());
  EXPECT_TRUE(catalog().FindImagesBySourcePrefix("_").empty());
  EXPECT_EQ(catalog().FindImagesBySourcePrefix("https://").size(), 6u);
  EXPECT_ERROR(catalog().FindImagesBySourcePrefix(""));  // would match everything
}

TEST_P(CatalogConformance, JobCountersIncludeOptedOutFaces) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  IngestJob job = catalog().CreateJob(c.id, "in/", "{}");
  JobCounters delta;
  delta.images_seen = 3;
  delta.opted_out = 2;
  catalog().AddImages({NewImage(c.id, "1")}, job.id, delta);
  catalog().AddJobCounters(job.id, delta);
  JobCounters got = catalog().GetJob(job.id)->counters;
  EXPECT_EQ(got.images_seen, 6);
  EXPECT_EQ(got.opted_out, 4);
  EXPECT_EQ(catalog().ListJobs().at(0).counters.opted_out, 4);
}

TEST_P(CatalogConformance, FindImagesOfJobAndIngestedBefore) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  Collection other = catalog().CreateCollection(NewCollection("other"));
  IngestJob job = catalog().CreateJob(c.id, "in/", "{}");
  auto by_job = catalog().AddImages({NewImage(c.id, "1"), NewImage(c.id, "2")}, job.id, JobCounters{});
  auto no_job = catalog().AddImages({NewImage(c.id, "3")}, 0, JobCounters{});
  auto elsewhere = catalog().AddImages({NewImage(other.id, "4")}, 0, JobCounters{});
  EXPECT_EQ(catalog().FindImagesOfJob(job.id), by_job);
  EXPECT_TRUE(catalog().FindImagesOfJob(job.id + 100).empty());
  EXPECT_EQ(catalog().FindImagesIngestedBefore(c.id, "9999-12-31T23:59:59Z"),
            (std::vector<int64_t>{by_job[0], by_job[1], no_job[0]}));
  EXPECT_TRUE(catalog().FindImagesIngestedBefore(c.id, "2000-01-01T00:00:00Z").empty());
  EXPECT_EQ(catalog().FindImagesIngestedBefore(other.id, "9999-12-31T23:59:59Z"), elsewhere);
  const std::string ingested = catalog().GetImage(by_job[0])->ingested_at;
  EXPECT_TRUE(catalog().FindImagesIngestedBefore(c.id, ingested).size() < 3u);  // strictly before
}

TEST_P(CatalogConformance, ForEachImageSourceVisitsImagesWithSourcesInOrder) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  std::vector<std::string> hostile = HostileStrings();
  std::vector<ImageWrite> writes;
  for (size_t k = 0; k < hostile.size(); ++k) writes.push_back(NewImage(c.id, Numbered("s", k), {}, NewSource(hostile[k], "p" + hostile[k])));
  writes.push_back(NewImage(c.id, "none"));
  auto ids = catalog().AddImages(writes, 0, JobCounters{});
  std::vector<int64_t> seen;
  catalog().ForEachImageSource([&](int64_t id, const std::string& url, const std::string& page) {
    size_t k = seen.size();
    seen.push_back(id);
    ASSERT_LT(k, hostile.size());
    EXPECT_EQ(url, hostile[k]);
    EXPECT_EQ(page, "p" + hostile[k]);
  });
  EXPECT_EQ(seen, std::vector<int64_t>(ids.begin(), ids.end() - 1));
}

// --- deleting

TEST_P(CatalogConformance, DeleteImagesRemovesAllInOneCallAndSkipsUnknownIds) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  const int64_t f = catalog().ReserveFaceIds(4);
  Source shared = NewSource("https://ex.org/shared.jpg");
  auto ids = catalog().AddImages(
      {NewImage(c.id, "a", {f, f + 1}, shared), NewImage(c.id, "b", {f + 2}, shared),
       NewImage(c.id, "c", {f + 3}, NewSource("https://ex.org/c.jpg"))},
      0, JobCounters{});
  EXPECT_EQ(catalog().DeleteImages({ids[1], ids[0], ids[0] + 1000}), (std::vector<int64_t>{f, f + 1, f + 2}));
  EXPECT_FALSE(catalog().GetImage(ids[0]).has_value());
  EXPECT_FALSE(catalog().GetImage(ids[1]).has_value());
  EXPECT_TRUE(catalog().GetImage(ids[2]).has_value());
  EXPECT_EQ(catalog().Stats().sources, 1);  // the shared source went with its last image
  EXPECT_EQ(AllFaces(catalog()).size(), 1u);
  EXPECT_TRUE(catalog().DeleteImages({ids[0]}).empty());  // idempotent
  EXPECT_TRUE(catalog().DeleteImages({}).empty());
  catalog().ScrubDeletedRows();
  EXPECT_EQ(catalog().DescribeFaces({f + 3}).size(), 1u);
}

TEST_P(CatalogConformance, DeleteImageCascadesToFacesAndOrphanSource) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  const int64_t f = catalog().ReserveFaceIds(3);
  Source shared = NewSource("https://ex.org/shared.jpg");
  auto ids = catalog().AddImages(
      {NewImage(c.id, "a", {f + 1, f}, NewSource("https://ex.org/a.jpg")),
       NewImage(c.id, "b", {f + 2}, shared)},
      0, JobCounters{});
  EXPECT_EQ(catalog().Stats().sources, 2);

  EXPECT_EQ(catalog().DeleteImage(ids[0]), (std::vector<int64_t>{f, f + 1}));
  EXPECT_FALSE(catalog().GetImage(ids[0]).has_value());
  EXPECT_TRUE(catalog().FacesOfImage(ids[0]).empty());
  EXPECT_TRUE(catalog().DescribeFaces({f, f + 1}).empty());
  EXPECT_EQ(catalog().Stats().sources, 1);  // a.jpg's source had no other image
  EXPECT_TRUE(catalog().FindImagesBySourcePrefix("https://ex.org/a").empty());
  EXPECT_EQ(AllFaces(catalog()).size(), 1u);
  // Deleting again deletes nothing.
  EXPECT_TRUE(catalog().DeleteImage(ids[0]).empty());
  EXPECT_TRUE(catalog().GetImage(ids[1]).has_value());
}

TEST_P(CatalogConformance, DeleteSourceDeletesItsImagesAndFaces) {
  Collection a = catalog().CreateCollection(NewCollection("a"));
  Collection b = catalog().CreateCollection(NewCollection("b"));
  const int64_t f = catalog().ReserveFaceIds(4);
  Source shared = NewSource("https://ex.org/same.jpg", "https://ex.org/page");
  auto in_a = catalog().AddImages({NewImage(a.id, "s", {f, f + 1}, shared),
                                   NewImage(a.id, "t", {f + 2}, NewSource("https://ex.org/t"))},
                                  0, JobCounters{});
  auto in_b = catalog().AddImages({NewImage(b.id, "s", {f + 3}, shared)}, 0, JobCounters{});
  const int64_t source_id = catalog().GetImage(in_a[0])->source_id;
  ASSERT_GT(source_id, 0);
  EXPECT_EQ(catalog().GetImage(in_b[0])->source_id, source_id);  // identical source, one row

  EXPECT_EQ(catalog().DeleteSource(source_id), (std::vector<int64_t>{f, f + 1, f + 3}));
  EXPECT_FALSE(catalog().GetImage(in_a[0]).has_value());
  EXPECT_FALSE(catalog().GetImage(in_b[0]).has_value());
  EXPECT_TRUE(catalog().GetImage(in_a[1]).has_value());
  EXPECT_EQ(catalog().Stats().sources, 1);
  EXPECT_TRUE(catalog().DeleteSource(source_id).empty());
}

TEST_P(CatalogConformance, DeleteCollectionCascadesAndKeepsSharedSources) {
  Collection a = catalog().CreateCollection(NewCollection("a"));
  Collection b = catalog().CreateCollection(NewCollection("b"));
  IngestJob job = catalog().CreateJob(a.id, "in-a", "{}");
  catalog().AddJobError(job.id, "bad.jpg", "truncated");
  IngestJob job_b = catalog().CreateJob(b.id, "in-b", "{}");
  const int64_t f = catalog().ReserveFaceIds(5);
  Source shared = NewSource("https://ex.org/shared.jpg");
  catalog().AddImages({NewImage(a.id, "1", {f + 2, f}, shared),
                       NewImage(a.id, "2", {f + 4}, NewSource("https://ex.org/only-a"))},
                      job.id, JobCounters{});
  auto in_b = catalog().AddImages({NewImage(b.id, "1", {f + 1, f + 3}, shared)}, job_b.id,
                                  JobCounters{});

  EXPECT_EQ(catalog().DeleteCollection(a.id), (std::vector<int64_t>{f, f + 2, f + 4}));
  EXPECT_FALSE(catalog().GetCollection(a.id).has_value());
  EXPECT_FALSE(catalog().FindImageByHash(a.id, "1").has_value());
  EXPECT_FALSE(catalog().GetJob(job.id).has_value());
  EXPECT_TRUE(catalog().JobErrors(job.id).empty());
  EXPECT_EQ(AllFaces(catalog()), (std::vector<std::pair<int64_t, int64_t>>{{f + 1, b.id},
                                                                             {f + 3, b.id}}));
  CatalogStats stats = catalog().Stats();
  EXPECT_EQ(stats.collections, 1);
  EXPECT_EQ(stats.images, 1);
  EXPECT_EQ(stats.faces, 2);
  EXPECT_EQ(stats.sources, 1);  // the shared source still has b's image
  EXPECT_EQ(stats.jobs, 1);
  auto kept = catalog().GetImage(in_b[0]);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(catalog().FindImagesBySourcePrefix("https://ex.org/shared"), in_b);
  EXPECT_TRUE(catalog().DeleteCollection(a.id).empty());
  // The name is free again.
  EXPECT_NO_THROW(catalog().CreateCollection(NewCollection("a")));
}

TEST_P(CatalogConformance, DeleteFacesReturnsOnlyExistingAndKeepsImages) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  const int64_t f = catalog().ReserveFaceIds(3);
  auto ids = catalog().AddImages({NewImage(c.id, "a", {f, f + 1, f + 2}, NewSource("https://e/x"))},
                                 0, JobCounters{});
  EXPECT_EQ(catalog().DeleteFaces({f + 2, f + 999, f, f}), (std::vector<int64_t>{f, f + 2}));
  auto left = catalog().FacesOfImage(ids[0]);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, f + 1);
  EXPECT_TRUE(catalog().GetImage(ids[0]).has_value());
  EXPECT_EQ(catalog().Stats().sources, 1);
  EXPECT_TRUE(catalog().DeleteFaces({f}).empty());
  EXPECT_TRUE(catalog().DeleteFaces({}).empty());
}

// --- ingest jobs

TEST_P(CatalogConformance, JobsLifecycleCountersAndErrors) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  IngestJob job = catalog().CreateJob(c.id, "/in/a.zip", "{\"detector\":\"blazeface\"}");
  EXPECT_GT(job.id, 0);
  EXPECT_EQ(job.collection_id, c.id);
  EXPECT_EQ(job.input, "/in/a.zip");
  EXPECT_EQ(job.options_json, "{\"detector\":\"blazeface\"}");
  EXPECT_EQ(job.status, JobStatus::kRunning);
  EXPECT_FALSE(job.started_at.empty());
  EXPECT_TRUE(job.finished_at.empty());
  EXPECT_EQ(job.counters.images_seen, 0);

  catalog().AddJobCounters(job.id, JobCounters{5, 3, 1, 1, 2, 1});
  catalog().AddJobCounters(job.id, JobCounters{1, 1, 0, 0, 4, 0});
  JobCounters got = catalog().GetJob(job.id)->counters;
  EXPECT_EQ(got.images_seen, 6);
  EXPECT_EQ(got.images_added, 4);
  EXPECT_EQ(got.duplicates, 1);
  EXPECT_EQ(got.no_face, 1);
  EXPECT_EQ(got.faces_added, 6);
  EXPECT_EQ(got.errors, 1);

  catalog().SetJobStatus(job.id, JobStatus::kInterrupted);
  EXPECT_EQ(catalog().GetJob(job.id)->status, JobStatus::kInterrupted);
  EXPECT_TRUE(catalog().GetJob(job.id)->finished_at.empty());
  catalog().SetJobStatus(job.id, JobStatus::kDone);
  EXPECT_EQ(catalog().GetJob(job.id)->status, JobStatus::kDone);
  EXPECT_FALSE(catalog().GetJob(job.id)->finished_at.empty());

  for (int k = 0; k < 5; ++k) {
    catalog().AddJobError(job.id, Numbered("item", k), Numbered("reason", k));
  }
  auto errors = catalog().JobErrors(job.id);
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0].job_id, job.id);
  EXPECT_EQ(errors[0].item, "item0");  // oldest first
  EXPECT_EQ(errors[4].reason, "reason4");
  EXPECT_EQ(catalog().JobErrors(job.id, 2).size(), 2u);

  EXPECT_FALSE(catalog().GetJob(job.id + 100).has_value());
  EXPECT_ERROR(catalog().SetJobStatus(job.id + 100, JobStatus::kDone));
  EXPECT_ERROR(catalog().AddJobCounters(job.id + 100, JobCounters{1, 0, 0, 0, 0, 0}));
  EXPECT_ERROR(catalog().AddJobError(job.id + 100, "x", "y"));
  EXPECT_ERROR(catalog().CreateJob(c.id + 100, "in", "{}"));
}

TEST_P(CatalogConformance, FindUnfinishedJobAndListJobsNewestFirst) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  Collection d = catalog().CreateCollection(NewCollection("d"));
  IngestJob old_running = catalog().CreateJob(c.id, "/in", "{}");
  IngestJob interrupted = catalog().CreateJob(c.id, "/in", "{}");
  catalog().SetJobStatus(interrupted.id, JobStatus::kInterrupted);
  IngestJob done = catalog().CreateJob(c.id, "/in", "{}");
  catalog().SetJobStatus(done.id, JobStatus::kDone);
  IngestJob other_input = catalog().CreateJob(c.id, "/in2", "{}");
  IngestJob other_collection = catalog().CreateJob(d.id, "/in", "{}");
  catalog().SetJobStatus(other_collection.id, JobStatus::kFailed);

  auto unfinished = catalog().FindUnfinishedJob(c.id, "/in");
  ASSERT_TRUE(unfinished.has_value());
  EXPECT_EQ(unfinished->id, interrupted.id);  // the most recent unfinished one
  catalog().SetJobStatus(interrupted.id, JobStatus::kFailed);
  EXPECT_EQ(catalog().FindUnfinishedJob(c.id, "/in")->id, old_running.id);  // left running
  EXPECT_FALSE(catalog().FindUnfinishedJob(d.id, "/in").has_value());
  EXPECT_FALSE(catalog().FindUnfinishedJob(c.id, "/IN").has_value());
  EXPECT_EQ(catalog().FindUnfinishedJob(c.id, "/in2")->id, other_input.id);

  auto jobs = catalog().ListJobs();
  ASSERT_EQ(jobs.size(), 5u);
  EXPECT_EQ(jobs[0].id, other_collection.id);
  EXPECT_EQ(jobs[4].id, old_running.id);
  EXPECT_EQ(jobs[0].status, JobStatus::kFailed);
}

// --- strings, stats, persistence, concurrency

TEST_P(CatalogConformance, HostileStringsRoundTripByteForByte) {
  const auto strings = HostileStrings();
  for (size_t k = 0; k < strings.size(); ++k) {
    const std::string& s = strings[k];
    SCOPED_TRACE(k);
    catalog().SetSetting(s, s);
    EXPECT_EQ(catalog().GetSetting(s), s);

    Collection spec = NewCollection(s);
    spec.description = s;
    spec.legal_basis = s;
    spec.jurisdiction = s;
    Collection c = catalog().CreateCollection(spec);
    auto found = catalog().FindCollection(s);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->id, c.id);
    EXPECT_EQ(found->description, s);
    EXPECT_EQ(found->legal_basis, s);
    EXPECT_EQ(found->jurisdiction, s);

    IngestJob job = catalog().CreateJob(c.id, s, s);
    EXPECT_EQ(catalog().GetJob(job.id)->input, s);
    EXPECT_EQ(catalog().GetJob(job.id)->options_json, s);
    EXPECT_EQ(catalog().FindUnfinishedJob(c.id, s)->id, job.id);
    catalog().AddJobError(job.id, s, s);
    EXPECT_EQ(catalog().JobErrors(job.id).at(0).item, s);
    EXPECT_EQ(catalog().JobErrors(job.id).at(0).reason, s);

    Source src;
    src.source_url = s;
    src.page_url = s + "#page";
    src.title = s;
    src.captured_at = s;
    src.published_at = s;
    src.legal_basis = s;
    ImageWrite w = NewImage(c.id, s, {catalog().ReserveFaceIds(1)}, src);
    w.image.stored_path = s;
    w.image.original_name = s;
    w.faces[0].model_id = s;
    const int64_t image_id = catalog().AddImages({w}, job.id, JobCounters{})[0];
    auto image = catalog().FindImageByHash(c.id, s);
    ASSERT_TRUE(image.has_value());
    EXPECT_EQ(image->id, image_id);
    EXPECT_EQ(image->content_sha256, s);
    EXPECT_EQ(image->stored_path, s);
    EXPECT_EQ(image->original_name, s);
    auto described = catalog().DescribeFaces({w.faces[0].id});
    ASSERT_EQ(described.size(), 1u);
    EXPECT_EQ(described[0].face.model_id, s);
    EXPECT_EQ(described[0].collection.name, s);
    ASSERT_TRUE(described[0].source.has_value());
    ExpectSameSource(*described[0].source, src);
    auto by_prefix = catalog().FindImagesBySourcePrefix(s);
    EXPECT_NE(std::find(by_prefix.begin(), by_prefix.end(), image_id), by_prefix.end());
  }
  EXPECT_EQ(catalog().ListCollections().size(), strings.size());
  EXPECT_EQ(catalog().Stats().images, static_cast<int64_t>(strings.size()));
}

TEST_P(CatalogConformance, StatsCountEverythingPerCollection) {
  Collection a = catalog().CreateCollection(NewCollection("a"));
  Collection b = catalog().CreateCollection(NewCollection("b"));
  catalog().CreateCollection(NewCollection("empty"));
  IngestJob job = catalog().CreateJob(a.id, "in", "{}");
  const int64_t f = catalog().ReserveFaceIds(6);
  catalog().AddImages({NewImage(a.id, "1", {f, f + 1}, NewSource("https://1")),
                       NewImage(a.id, "2", {f + 2}, NewSource("https://2")),
                       NewImage(a.id, "3", {})},
                      job.id, JobCounters{});
  catalog().AddImages({NewImage(b.id, "1", {f + 3, f + 4, f + 5})}, 0, JobCounters{});
  CatalogStats stats = catalog().Stats();
  EXPECT_EQ(stats.collections, 3);
  EXPECT_EQ(stats.images, 4);
  EXPECT_EQ(stats.sources, 2);
  EXPECT_EQ(stats.faces, 6);
  EXPECT_EQ(stats.jobs, 1);
  ASSERT_EQ(stats.per_collection.size(), 3u);
  EXPECT_EQ(stats.per_collection[0].collection.name, "a");
  EXPECT_EQ(stats.per_collection[0].images, 3);
  EXPECT_EQ(stats.per_collection[0].faces, 3);
  EXPECT_EQ(stats.per_collection[1].collection.id, b.id);
  EXPECT_EQ(stats.per_collection[1].images, 1);
  EXPECT_EQ(stats.per_collection[1].faces, 3);
  EXPECT_EQ(stats.per_collection[2].images, 0);
  EXPECT_EQ(stats.per_collection[2].faces, 0);
}

TEST_P(CatalogConformance, EverythingPersistsAcrossReopen) {
  catalog().SetSetting("embedder", "m");
  Collection c = catalog().CreateCollection(NewCollection("c"));
  IngestJob job = catalog().CreateJob(c.id, "in", "{}");
  catalog().AddJobError(job.id, "item", "reason");
  const int64_t f = catalog().ReserveFaceIds(2);
  auto ids = catalog().AddImages({NewImage(c.id, "h", {f, f + 1}, NewSource("https://p/q"))},
                                 job.id, JobCounters{1, 1, 0, 0, 2, 0});
  catalog().SetJobStatus(job.id, JobStatus::kDone);
  Reopen();
  EXPECT_EQ(catalog().GetSetting("embedder"), "m");
  EXPECT_EQ(catalog().FindCollection("c")->id, c.id);
  EXPECT_EQ(catalog().GetJob(job.id)->status, JobStatus::kDone);
  EXPECT_EQ(catalog().GetJob(job.id)->counters.faces_added, 2);
  EXPECT_EQ(catalog().JobErrors(job.id).size(), 1u);
  EXPECT_EQ(catalog().FindImageByHash(c.id, "h")->id, ids[0]);
  EXPECT_EQ(catalog().FindImagesBySourcePrefix("https://p/"), ids);
  EXPECT_EQ(AllFaces(catalog()),
            (std::vector<std::pair<int64_t, int64_t>>{{f, c.id}, {f + 1, c.id}}));
  EXPECT_GT(catalog().ReserveFaceIds(1), f + 1);
}

TEST_P(CatalogConformance, ConcurrentWritersFromThreadsAndConnections) {
  Collection c = catalog().CreateCollection(NewCollection("c"));
  auto other = OpenAnother();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Catalog& cat = t % 2 == 0 ? catalog() : *other;
      try {
        for (int k = 0; k < 10; ++k) {
          const int64_t f = cat.ReserveFaceIds(2);
          const std::string sha = Numbered(Numbered("t", t) + "-", k);
          cat.AddImages({NewImage(c.id, sha, {f, f + 1})}, 0, JobCounters{});
          if (!cat.FindImageByHash(c.id, sha)) ++failures;
        }
      } catch (const Error&) {
        ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(catalog().Stats().images, 40);
  auto faces = AllFaces(*other);
  EXPECT_EQ(faces.size(), 80u);
  EXPECT_TRUE(std::is_sorted(faces.begin(), faces.end()));
}

}  // namespace

TEST(JobStatus, StringsRoundTripAndUnknownThrows) {
  for (JobStatus s :
       {JobStatus::kRunning, JobStatus::kInterrupted, JobStatus::kDone, JobStatus::kFailed}) {
    EXPECT_EQ(JobStatusFromString(ToString(s)), s);
  }
  EXPECT_EQ(ToString(JobStatus::kInterrupted), "interrupted");
  EXPECT_THROW(JobStatusFromString("Running"), Error);
  EXPECT_THROW(JobStatusFromString(""), Error);
}

}  // namespace lineup
