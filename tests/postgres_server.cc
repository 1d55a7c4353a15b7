#include "postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <thread>
#include <utility>
#include <vector>

#include "common/error.h"
#include "test_env.h"

namespace lineup::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kInstallRoot = "/usr/lib/postgresql";
constexpr const char* kSuperuser = "lineup_test";
constexpr auto kStartTimeout = std::chrono::seconds(60);
constexpr auto kStopTimeout = std::chrono::seconds(10);

// "15" -> {15, 0}, "9.6" -> {9, 6}; nullopt for names that are not versions.
std::optional<std::pair<int, int>> ParseVersion(const std::string& name) {
  int major = 0, minor = 0;
  size_t used = 0;
  try {
    major = std::stoi(name, &used);
    if (used < name.size()) {
      if (name[used] != '.') return std::nullopt;
      minor = std::stoi(name.substr(used + 1));
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return std::make_pair(major, minor);
}

bool IsExecutable(const fs::path& path) { return ::access(path.c_str(), X_OK) == 0; }

// /usr/lib/postgresql/<highest version>/bin holding initdb and postgres.
std::optional<fs::path> FindServerBinDir() {
  std::error_code ec;
  std::optional<std::pair<int, int>> best_version;
  std::optional<fs::path> best;
  for (const auto& entry : fs::directory_iterator(kInstallRoot, ec)) {
    const auto version = ParseVersion(entry.path().filename().string());
    const fs::path bin = entry.path() / "bin";
    if (!version || !IsExecutable(bin / "initdb") || !IsExecutable(bin / "postgres")) continue;
    if (!best_version || *version > *best_version) {
      best_version = version;
      best = bin;
    }
  }
  return best;
}

// Who initdb and the server run as: ourselves, or `postgres` when we are root.
struct ServerUser {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

ServerUser ServerUserOrThrow() {
  ServerUser user;
  if (::geteuid() != 0) return user;
  const passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) {
    throw Error(
        "test PostgreSQL server: running as root, which PostgreSQL refuses, and there is no "
        "'postgres' system user to run it as (the Debian postgresql package creates one); run "
        "the tests as an ordinary user or create that user");
  }
  user.switch_user = true;
  user.uid = pw->pw_uid;
  user.gid = pw->pw_gid;
  return user;
}

// A TCP port nobody listens on now. The server does not listen on TCP; the
// number only names its socket file, which lives in our private directory.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("test PostgreSQL server: cannot create a socket to pick a port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  // Any port works for a socket in a private directory; fall back to the default.
  return ok ? ntohs(addr.sin_port) : 5432;
}

// Where the cluster lives: a fresh directory in shared memory when there is
// room (initdb is three times faster there), else a test temporary directory.
constexpr const char* kMemoryDir = "/dev/shm";
constexpr uint64_t kMemoryDirMinFreeBytes = uint64_t{1} << 30;

fs::path ServerDir() {
  struct statvfs fs_info {};
  if (::statvfs(kMemoryDir, &fs_info) == 0 && ::access(kMemoryDir, W_OK) == 0 &&
      uint64_t{fs_info.f_bavail} * fs_info.f_frsize >= kMemoryDirMinFreeBytes) {
    std::string pattern =
        std::string(kMemoryDir) + "/lineup-test-pg-" + std::to_string(::getpid()) + "-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) {
      ::chmod(pattern.c_str(), 0755);
      return pattern;
    }
  }
  return TempDir("pg");
}

// Last `lines` lines of a text file ("" if it cannot be read).
std::string TailOf(const fs::path& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += "  | " + l + "\n";
  return out;
}

// Forks and execs argv[0] with stdout/stderr appended to `log`, in `cwd`, as
// `user`. With `die_with_parent` the child gets SIGQUIT (PostgreSQL's
// immediate shutdown) when the calling thread's process dies.
pid_t Spawn(const std::vector<std::string>& argv, const fs::path& log, const fs::path& cwd,
            const ServerUser& user, bool die_with_parent) {
  // Everything the child needs is prepared before fork(): between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::string log_path = log.string();
  const std::string cwd_path = cwd.string();
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) throw Error("test PostgreSQL server: fork failed");
  if (pid > 0) return pid;

  // Child.
  const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int in = ::open("/dev/null", O_RDONLY);
  if (out < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) {
    ::_exit(126);
  }
  if (::chdir(cwd_path.c_str()) != 0) ::_exit(126);
  if (user.switch_user) {
    const gid_t groups[] = {user.gid};
    if (::setgroups(1, groups) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0) {
      static const char kMessage[] = "cannot switch to the postgres user\n";
      (void)!::write(2, kMessage, sizeof kMessage - 1);
      ::_exit(126);
    }
  }
  // After the user switch: a credential change clears the death signal.
  if (die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (::getppid() != parent) ::_exit(0);  // the parent died before prctl
  }
  ::execv(args[0], args.data());
  static const char kExecFailed[] = "exec failed\n";
  (void)!::write(2, kExecFailed, sizeof kExecFailed - 1);
  ::_exit(127);
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Quotes a value for a libpq keyword=value connection string.
std::string ConnValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// The shared server, or why it could not be started (each later test fails
// with the same message instead of trying again).
struct SharedServer {
  std::unique_ptr<PostgresServer> server;
  std::string failure;
};

}  // namespace

std::string PostgresUnavailableReason() {
  if (FindServerBinDir()) return "";
  return "PostgreSQL server binaries not installed (apt install postgresql)";
}

PostgresServer& PostgresServer::Shared() {
  static SharedServer shared = [] {
    SharedServer s;
    try {
      s.server.reset(new PostgresServer());
    } catch (const Error& e) {
      s.failure = e.what();
    }
    return s;
  }();
  if (!shared.server) throw Error(shared.failure);
  return *shared.server;
}

PostgresServer::PostgresServer() {
  try {
    Start();
  } catch (...) {
    Cleanup();  // a server that started but never became ready
    throw;
  }
}

void PostgresServer::Start() {
  const std::optional<fs::path> bin_dir = FindServerBinDir();
  if (!bin_dir) throw Error("test PostgreSQL server: " + PostgresUnavailableReason());
  bin_dir_ = *bin_dir;
  const ServerUser user = ServerUserOrThrow();

  dir_ = ServerDir();
  remove_dir_ = dir_.string().rfind(kMemoryDir, 0) == 0;
  if (user.switch_user && ::chown(dir_.c_str(), user.uid, user.gid) != 0) {
    throw Error(Context(dir_.string(), "cannot hand the directory to the postgres user"));
  }
  port_ = FreePort();
  const std::string socket_file = (dir_ / (".s.PGSQL." + std::to_string(port_))).string();
  if (socket_file.size() >= 100) {  // sockaddr_un holds 108 bytes
    throw Error(Context(socket_file,
                        "socket path too long for a Unix socket (set TMPDIR to a "
                        "shorter directory)"));
  }

  const fs::path data = dir_ / "data";
  const fs::path initdb_log = dir_ / "initdb.log";
  const pid_t initdb = Spawn({(bin_dir_ / "initdb").string(), "-D", data.string(), "-U", kSuperuser,
                              "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"},
                             initdb_log, dir_, user, /*die_with_parent=*/false);
  int status = 0;
  if (::waitpid(initdb, &status, 0) != initdb || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error("test PostgreSQL server: initdb failed (" + DescribeStatus(status) + "):\n" +
                TailOf(initdb_log, 20));
  }

  postmaster_ =
      Spawn({(bin_dir_ / "postgres").string(), "-D", data.string(), "-p", std::to_string(port_),
             "-k", dir_.string(), "-c", "listen_addresses=", "-c", "fsync=off", "-c",
             "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "shared_buffers=64MB",
             // Segments inside data/ (removed with it), not /dev/shm/PostgreSQL.*,
             // which an immediate shutdown would leave behind.
             "-c", "dynamic_shared_memory_type=mmap"},
            dir_ / "server.log", dir_, user, /*die_with_parent=*/true);
  WaitUntilReady();
}

void PostgresServer::WaitUntilReady() {
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  std::string last_error;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(postmaster_, &status, WNOHANG) == postmaster_) {
      postmaster_ = -1;
      throw Error("test PostgreSQL server exited during start-up (" + DescribeStatus(status) +
                  "); server log:\n" + LogTail());
    }
    try {
      pqxx::connection probe(ConnInfo("postgres"));
      return;
    } catch (const pqxx::broken_connection& e) {
      last_error = e.what();  // not accepting connections yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw Error("test PostgreSQL server not ready after " + std::to_string(kStartTimeout.count()) +
              " s (last error: " + last_error + "); server log:\n" + LogTail());
}

PostgresServer::~PostgresServer() { Cleanup(); }

void PostgresServer::Cleanup() {
  Stop();
  if (remove_dir_) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

void PostgresServer::Stop() {
  if (postmaster_ <= 0) return;
  ::kill(postmaster_, SIGQUIT);  // immediate shutdown, like pg_ctl stop -m immediate
  const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  int status = 0;
  while (::waitpid(postmaster_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(postmaster_, SIGKILL);
      ::waitpid(postmaster_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  postmaster_ = -1;
}

std::string PostgresServer::CreateDatabase() {
  std::lock_guard lock(create_mu_);
  const std::string name = "lineup_test_" + std::to_string(++databases_);
  try {
    pqxx::connection admin(ConnInfo("postgres"));
    pqxx::nontransaction tx(admin);
    // CREATE DATABASE takes no parameters; the name is ours and quoted.
    tx.exec0("CREATE DATABASE " + tx.quote_name(name));
  } catch (const pqxx::failure& e) {
    throw Error("test PostgreSQL server: CREATE DATABASE " + name + " failed: " + e.what() +
                "server log:\n" + LogTail());
  }
  return ConnInfo(name);
}

std::string PostgresServer::ConnInfo(const std::string& dbname) const {
  return "host=" + ConnValue(dir_.string()) + " port=" + std::to_string(port_) +
         " user=" + kSuperuser + " dbname=" + ConnValue(dbname) + " connect_timeout=10";
}

std::string PostgresServer::LogTail(int lines) const { return TailOf(dir_ / "server.log", lines); }

}  // namespace lineup::testing
