// Fuzz target: multipart/form-data bodies as `lineup serve` handles them on
// its upload routes (POST /api/v1/cases/{id}/probes, POST /api/v1/optouts):
// httplib's request reader and multipart parser (Debian's compiled 0.11.4,
// not instrumented) fill req.files, and the handler reads the parts with
// PhotoField, TextPart and FaceNumberPart (src/server/request_body.cc).
// Feeds: the input is the body of a POST with
// "Content-Type: multipart/form-data; boundary=lineupfuzz" and its exact
// Content-Length, served through httplib::Server::process_request over an
// in-memory stream (as GuardedServer serves its own streams), so no socket.
//
// Asserts beyond "no crash":
//  - the answer is 200 (parts read), 400 (refused by httplib or by our
//    readers) or 413 (over the payload limit); never 500, which is what an
//    exception escaping a handler becomes;
//  - a read face number is 0..999;
//  - the handler saw exactly the "photo" part httplib parsed (first of its
//    name).
#include <httplib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "server/api_error.h"
#include "server/request_body.h"

namespace {

// A whole HTTP request in memory; what the server writes back is kept.
class MemoryStream : public httplib::Stream {
 public:
  explicit MemoryStream(std::string request) : in_(std::move(request)) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* out, size_t size) override {
    const size_t n = std::min(size, in_.size() - pos_);
    std::copy_n(in_.data() + pos_, n, out);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* data, size_t size) override {
    out_.append(data, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }
  const std::string& written() const { return out_; }

 private:
  std::string in_;
  size_t pos_ = 0;
  std::string out_;
};

class UploadServer : public httplib::Server {
 public:
  UploadServer() {
    set_payload_max_length((20 << 20) + (1 << 20));  // as HttpServer with the default upload limit
    Post("/upload", [](const httplib::Request& req, httplib::Response& res) {
      try {
        const lineup::PhotoPart photo = lineup::PhotoField(req);
        FUZZ_CHECK(photo.content == req.get_file_value("photo").content, "photo part differs from httplib's");
        (void)lineup::TextPart(req, "request_id");
        (void)lineup::TextPart(req, "note");
        if (std::optional<size_t> face = lineup::FaceNumberPart(req)) FUZZ_CHECK(*face <= 999, "face over 999");
        res.status = 200;
      } catch (const lineup::ApiError& e) {
        res.status = e.status();
      }
    });
  }
  // Serves one request; returns the status code of the answer (0 if none).
  int Serve(const std::string& request) {
    MemoryStream stream(request);
    bool closed = false;
    process_request(stream, /*close_connection=*/true, closed, [](httplib::Request&) {});
    const std::string& out = stream.written();
    if (out.rfind("HTTP/1.1 ", 0) != 0 || out.size() < 12) return 0;
    return std::stoi(out.substr(9, 3));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static UploadServer* server = new UploadServer();  // lives for the process
  std::string request =
      "POST /upload HTTP/1.1\r\nHost: lineup\r\n"
      "Content-Type: multipart/form-data; boundary=lineupfuzz\r\n"
      "Content-Length: " + std::to_string(size) + "\r\n\r\n";
  request.append(reinterpret_cast<const char*>(data), size);
  const int status = server->Serve(request);
  FUZZ_CHECK(status == 200 || status == 400 || status == 413, "status " + std::to_string(status));
  return 0;
}
