// The model manifest as the importer writes it, and the plug-in path: a
// user-supplied ONNX embedder registered by configuration runs through the
// same pipeline as the built-in ones.
#include "models/model_import.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/file_util.h"
#include "common/paths.h"
#include "embed/onnx_embedder.h"
#include "engine/face_pipeline.h"
#include "image/image_loader.h"
#include "models/onnx_builder.h"
#include "test_env.h"

namespace lineup {
namespace {

TEST(ModelImport, ManifestRecordsEveryModelWithChecksumLicenceAndOrigin) {
  ModelManifest m = ModelManifest::Load(testing::ImportedModelsDir());
  std::vector<std::string> ids;
  for (const ModelEntry& e : m.models()) {
    ids.push_back(e.id);
    EXPECT_EQ(Sha256OfFile(m.dir() / e.file), e.sha256) << e.id;
    EXPECT_FALSE(e.licence.empty()) << e.id;
    EXPECT_NE(e.origin.find("npm "), std::string::npos) << e.id;
  }
  for (const char* id : {"blazeface-back-256", "mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet",
                         "mobilefacenet-192", "dlib-resnet-128"}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id;
  }
  EXPECT_EQ(m.default_profile(), "accurate");
  EXPECT_EQ(m.GetProfile("licence-clean").embedder, "dlib-resnet-128");
  EXPECT_NE(m.Model("mobilefacenet-192").terms.find("non-commercial"), std::string::npos);
  EXPECT_EQ(m.Model("dlib-resnet-128").licence, "Public domain (CC0)");
  EXPECT_TRUE(m.Model("mobilefacenet-192").same_threshold.has_value());
  EXPECT_THROW(m.GetProfile("fastest"), Error);
}

TEST(ModelImport, MissingPackagesNameTheFileAndTheFix) {
  ImportOptions options;
  options.packages_dir = testing::TempDir("nopackages");
  options.models_dir = testing::TempDir("nomodels");
  try {
    ImportBuiltinModels(options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scripts/setup.sh"), std::string::npos) << e.what();
  }
}

// A small ArcFace-style embedder made here: 112x112 RGB in, a 16-d
// descriptor out (a strided conv, global average pooling, flatten).
void WriteTinyEmbedder(const std::filesystem::path& path) {
  OnnxBuilder b("tiny_embedder");
  b.AddInput("input", {-1, 3, 112, 112});
  std::vector<float> weights(16 * 3 * 8 * 8);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = std::sin(0.37f * float(i));
  std::string w = b.AddFloatTensor("w", {16, 3, 8, 8}, weights);
  std::string conv = b.AddNode("Conv", {"input", w}, "conv",
                               {OnnxAttr::Ints("kernel_shape", {8, 8}), OnnxAttr::Ints("strides", {8, 8})});
  std::string pooled = b.AddNode("GlobalAveragePool", {conv}, "pool");
  b.AddNodeWithOutputs("Flatten", {pooled}, {"descriptor"}, {OnnxAttr::Int("axis", 1)});
  b.AddOutput("descriptor", {-1, 16});
  b.Save(path);
}

TEST(ModelImport, UserOnnxEmbedderPlugsInByConfigurationAndSurvivesReimport) {
  std::filesystem::path dir = testing::TempDir("plugin");
  ImportOptions options;
  options.packages_dir = PackagesDir();
  options.models_dir = dir;
  ModelManifest m = ImportBuiltinModels(options);

  WriteTinyEmbedder(dir / "tiny.onnx");
  ModelEntry e;
  e.id = "tiny-16";
  e.task = "embed";
  e.kind = "onnx-embedder";
  e.file = "tiny.onnx";
  e.sha256 = Sha256OfFile(dir / "tiny.onnx");
  e.input = {112, 112, "rgb", {127.5, 127.5, 127.5}, 1 / 127.5, false};
  e.output = "descriptor";
  e.output_dim = 16;
  e.alignment = "arcface-112";
  e.licence = "test";
  e.user_added = true;
  m.Upsert(e);
  m.UpsertProfile({"tiny", "test profile", "blazeface-back-256", "mtcnn-onet", "tiny-16"});
  m.Save();

  // Re-import keeps the user's model and profile.
  ModelManifest again = ImportBuiltinModels(options);
  EXPECT_EQ(again.Model("tiny-16").file, "tiny.onnx");
  EXPECT_EQ(again.GetProfile("tiny").embedder, "tiny-16");

  PipelineOptions pipeline_options;
  pipeline_options.profile = "tiny";
  FacePipeline pipeline(again, pipeline_options);
  EXPECT_EQ(pipeline.embedder().Dimension(), 16);
  std::vector<FaceResult> faces = pipeline.Analyze(LoadImage(testing::DemoPhoto(5).string()));
  ASSERT_FALSE(faces.empty());
  double norm = 0;
  for (float v : faces[0].embedding) norm += double(v) * v;
  EXPECT_EQ(faces[0].embedding.size(), 16u);
  EXPECT_NEAR(norm, 1.0, 1e-4);

  // A wrong declared dimension is caught when the model loads.
  e.output_dim = 32;
  again.Upsert(e);
  EXPECT_THROW(OnnxEmbedder(again, "tiny-16"), Error);
}

}  // namespace
}  // namespace lineup
