// The request log's lines, request ids, and the client address behind
// trusted proxies, without a server (http_server_test.cc has them over HTTP).
#include "server/request_log.h"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "cli_run.h"
#include "common/file_util.h"
#include "server/trusted_proxies.h"
#include "test_env.h"

namespace lineup {
namespace {

TEST(RequestLog, ALineIsOneJsonObjectWithTheDocumentedFields) {
  RequestLogEntry e;
  e.unix_ms = 1'800'000'000'123;
  e.request_id = "abc";
  e.method = "GET";
  e.route = "/api/v1/cases/{id}";
  e.status = 200;
  e.duration_seconds = 0.01234;
  e.user_id = 7;
  e.client = "10.0.0.1";
  const std::string line = RequestLogLine(e);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j, nlohmann::json({{"time", "2027-01-15T08:00:00.123Z"},
                               {"request_id", "abc"},
                               {"method", "GET"},
                               {"route", "/api/v1/cases/{id}"},
                               {"status", 200},
                               {"duration_ms", 12.3},
                               {"user_id", 7},
                               {"client", "10.0.0.1"}}));
}

TEST(RequestLog, UnknownsAreNullAndInternalErrorsCarryTheirIdAndText) {
  RequestLogEntry e;
  e.method = "\xff\xfe";  // before routing: whatever the client sent
  e.status = 500;
  e.error_id = "e1";
  e.error = "/srv/lineup/cases/1/x.png: no such file \xc3";
  const nlohmann::json j = nlohmann::json::parse(RequestLogLine(e));
  EXPECT_TRUE(j["route"].is_null());
  EXPECT_TRUE(j["user_id"].is_null());
  EXPECT_TRUE(j["duration_ms"].is_null());
  EXPECT_EQ(j["method"], "\xef\xbf\xbd\xef\xbf\xbd") << "bytes that are not UTF-8 become U+FFFD";
  EXPECT_EQ(j["error_id"], "e1");
  EXPECT_EQ(j["error"], "/srv/lineup/cases/1/x.png: no such file \xef\xbf\xbd");
}

TEST(RequestLog, AppendsWholeLinesToAPrivateFile) {
  const std::filesystem::path path = testing::TempDir("request-log") / "requests.log";
  { std::ofstream(path) << "{\"earlier\":true}\n"; }
  ::chmod(path.c_str(), 0600);
  {
    RequestLog log(path.string());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          RequestLogEntry e;
          e.request_id = std::to_string(t) + "-" + std::to_string(i);
          e.route = std::string(200, 'r');
          log.Write(e);
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  std::ifstream in(path);
  std::set<std::string> ids;
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    const nlohmann::json j = nlohmann::json::parse(line);  // throws on an interleaved line
    if (j.contains("request_id")) ids.insert(j["request_id"].get<std::string>());
  }
  EXPECT_EQ(lines, 201) << "appended after the existing line";
  EXPECT_EQ(ids.size(), 200u);
  const std::filesystem::path fresh = path.parent_path() / "fresh.log";
  { RequestLog log(fresh.string()); }
  struct stat st{};
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(RequestLog((path.parent_path() / "no-such-dir" / "x.log").string()), Error);
}

TEST(RequestLog, RequestIdsAreBoundedAndSafeOrMadeAfresh) {
  EXPECT_TRUE(IsWellFormedRequestId("3f2a-Trace_01.b"));
  EXPECT_TRUE(IsWellFormedRequestId(std::string(64, 'a')));
  EXPECT_FALSE(IsWellFormedRequestId(std::string(65, 'a')));
  EXPECT_FALSE(IsWellFormedRequestId(""));
  for (const char* bad : {"a b", "a\"b", "a\nb", "<script>", "a,b", "\xc3\xa9"}) {
    EXPECT_FALSE(IsWellFormedRequestId(bad)) << bad;
  }
  const std::string id = NewRequestId();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_TRUE(IsWellFormedRequestId(id));
  EXPECT_NE(id, NewRequestId());
  EXPECT_EQ(NewErrorId().size(), 16u);
}

// --- trusted proxies

TEST(TrustedProxies, WithoutTrustedProxiesTheHeaderNeverCounts) {
  TrustedProxies none;
  EXPECT_EQ(none.ClientAddress("192.0.2.10", "203.0.113.1"), "192.0.2.10");
  EXPECT_EQ(none.ClientAddress("127.0.0.1", "127.0.0.1"), "127.0.0.1");
}

TEST(TrustedProxies, TheClientIsTheRightMostEntryThatIsNotATrustedProxy) {
  TrustedProxies proxies({"127.0.0.1", "10.0.0.0/8"});
  // The client forged the left part; the proxies appended the rest.
  EXPECT_EQ(proxies.ClientAddress("127.0.0.1", "127.0.0.1, 198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(proxies.ClientAddress("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.1.2.3"), "198.51.100.7");
  EXPECT_EQ(proxies.ClientAddress("127.0.0.1", "198.51.100.7,10.1.2.3"), "198.51.100.7");
  // The peer is not a trusted proxy: its header is the client's own words.
  EXPECT_EQ(proxies.ClientAddress("198.51.100.7", "127.0.0.1"), "198.51.100.7");
  // Every hop trusted: the left-most (a client inside a trusted block).
  EXPECT_EQ(proxies.ClientAddress("127.0.0.1", "10.9.9.9, 10.1.1.1"), "10.9.9.9");
  EXPECT_EQ(proxies.ClientAddress("127.0.0.1", ""), "127.0.0.1");
  // A hop that is not an address: the trusted hop that appended it.
  EXPECT_EQ(proxies.ClientAddress("127.0.0.1", "198.51.100.7, \xff\xfe, 10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(proxies.ClientAddress("127.0.0.1", "unknown"), "127.0.0.1");
  // Ports and IPv4-mapped peers as proxies write them; canonical text out.
  EXPECT_EQ(proxies.ClientAddress("::ffff:127.0.0.1", "198.51.100.7:5123"), "198.51.100.7");
  EXPECT_EQ(proxies.ClientAddress("127.0.0.1", "[2001:DB8::0:1]:443"), "2001:db8::1");
}

TEST(TrustedProxies, BlocksOfBothFamiliesMatchByPrefix) {
  TrustedProxies proxies({"192.168.4.0/22", "fd00::/8", "::1"});
  EXPECT_TRUE(proxies.Contains("192.168.7.255"));
  EXPECT_FALSE(proxies.Contains("192.168.8.0"));
  EXPECT_TRUE(proxies.Contains("::ffff:192.168.5.1"));
  EXPECT_TRUE(proxies.Contains("fd12:3456::1"));
  EXPECT_FALSE(proxies.Contains("fe80::1"));
  EXPECT_TRUE(proxies.Contains("::1"));
  EXPECT_FALSE(proxies.Contains("127.0.0.1"));
  EXPECT_FALSE(proxies.Contains("not an address"));
  EXPECT_TRUE(TrustedProxies({"0.0.0.0/0"}).Contains("203.0.113.1"));
  EXPECT_FALSE(TrustedProxies({"0.0.0.0/0"}).Contains("2001:db8::1")) << "an IPv4 block holds no IPv6 address";
}

TEST(TrustedProxies, ABadBlockIsRefusedByName) {
  for (const char* bad : {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0/8", "proxy.example.org", "10.0.0.0/8x"}) {
    try {
      TrustedProxies proxies({bad});
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

// The old flag trusted the left-most entry; it now refuses to start and says
// what to use instead, and a bad block is refused before anything loads.
TEST(TrustedProxies, ServeRefusesTheOldFlagAndBadBlocks) {
  const std::string data = testing::TempDir("serve-flags").string();
  testing::CliRun old = testing::RunLineup("serve --trust-proxy --data " + testing::ShellQuote(data));
  EXPECT_NE(old.status, 0);
  EXPECT_NE(old.output().find("--trusted-proxy"), std::string::npos) << old.output();
  testing::CliRun bad = testing::RunLineup("serve --trusted-proxy 10.0.0.0/40 --data " + testing::ShellQuote(data));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output().find("10.0.0.0/40"), std::string::npos) << bad.output();
}

}  // namespace
}  // namespace lineup
