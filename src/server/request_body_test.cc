// Pins the request-body readers of the HTTP layer (request_body.h,
// request_fields.h), which fuzz/json_body_fuzz and fuzz/multipart_fuzz run
// on hostile bodies.
#include "server/request_body.h"

#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/request_fields.h"

namespace lineup {
namespace {

int StatusOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

TEST(RequestBody, JsonObjectBodyNeedsTheTypeAndAnObject) {
  EXPECT_TRUE(JsonObjectBody("application/json", R"({"a": 1})"));
  EXPECT_TRUE(JsonObjectBody("application/json; charset=utf-8", "{}"));
  EXPECT_FALSE(JsonObjectBody("text/plain", R"({"a": 1})"));
  EXPECT_FALSE(JsonObjectBody("application/json", "[1]"));
  EXPECT_FALSE(JsonObjectBody("application/json", "{\"a\": "));
  EXPECT_FALSE(JsonObjectBody("application/json", ""));
}

TEST(RequestBody, MultipartPartsAndTheFaceNumber) {
  httplib::Request req;
  EXPECT_EQ(StatusOf([&] { PhotoField(req); }), 400);
  EXPECT_EQ(TextPart(req, "note"), "");
  EXPECT_FALSE(FaceNumberPart(req));
  req.files.emplace("photo", httplib::MultipartFormData{"photo", "bytes", "p.jpg", "image/jpeg"});
  req.files.emplace("face", httplib::MultipartFormData{"face", "12", "", ""});
  EXPECT_EQ(PhotoField(req).filename, "p.jpg");
  EXPECT_EQ(FaceNumberPart(req), size_t{12});
  for (const char* bad : {"1234", "-1", "1 ", "x"}) {
    req.files.erase("face");
    req.files.emplace("face", httplib::MultipartFormData{"face", bad, "", ""});
    EXPECT_EQ(StatusOf([&] { FaceNumberPart(req); }), 400) << bad;
  }
}

TEST(RequestFields, StringListField) {
  EXPECT_TRUE(StringListField(nlohmann::json::object(), "collections").empty());
  EXPECT_EQ(StringListField(nlohmann::json::parse(R"({"c": ["a", "b"]})"), "c"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(StatusOf([] { StringListField(nlohmann::json::parse(R"({"c": null})"), "c"); }), 400);
  EXPECT_EQ(StatusOf([] { StringListField(nlohmann::json::parse(R"({"c": ["a", 1]})"), "c"); }), 400);
}

// Found by fuzz/json_body_fuzz: box values were converted to float
// unchecked, so 1e39 became inf and 1e30 reached cvRound (FindFaceInBox),
// whose conversion to int is undefined out of range.
TEST(RequestFields, BoxFieldRefusesCoordinatesOutsideAnyImage) {
  auto box = [](const char* text) { return BoxField(nlohmann::json::parse(text), "box"); };
  EXPECT_FALSE(box(R"({})"));
  EXPECT_FALSE(box(R"({"box": null})"));
  EXPECT_EQ(box(R"({"box": [1.5, 2, 30, 40]})"), (std::array<float, 4>{1.5f, 2, 30, 40}));
  EXPECT_EQ(box(R"({"box": [-1000000, 0, 1000000, 1]})"), (std::array<float, 4>{-1e6f, 0, 1e6f, 1}));
  for (const char* bad : {R"({"box": [1e30, -1, 2, 3]})", R"({"box": [0, 0, 1e39, 3]})",
                          R"({"box": [0, -1e300, 2, 3]})", R"({"box": [0, 0, 2000000, 3]})",
                          R"({"box": [0, 0, 0, 3]})", R"({"box": [0, 0, 2]})", R"({"box": "0,0,2,3"})",
                          R"({"box": [0, 0, "2", 3]})"}) {
    EXPECT_EQ(StatusOf([&] { BoxField(nlohmann::json::parse(bad), "box"); }), 400) << bad;
  }
}

}  // namespace
}  // namespace lineup
