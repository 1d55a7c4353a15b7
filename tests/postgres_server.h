// A throwaway PostgreSQL server for tests. The first test that needs it runs
// initdb into a fresh directory (in /dev/shm when it has room: initdb is
// about three times faster there; else a TempDir) and starts `postgres` listening
// only on a Unix socket inside that directory (no TCP), with fsync off; the
// server is shut down (immediate mode) when the test process exits, and also
// when it dies abnormally (the postmaster gets SIGQUIT when its parent dies).
// Each test then creates its own empty database, which is cheap.
//
// PostgreSQL refuses to run as root: when the tests run as root, initdb and
// the server run as the `postgres` system user (created by the Debian
// package), in a directory handed over to that user.
//
// Tests that need the server skip when no server binaries are installed
// (PostgresUnavailableReason()); every other problem is a test failure.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <mutex>
#include <string>

namespace lineup::testing {

// Non-empty when this machine has no PostgreSQL server binaries; the message
// tests skip with.
std::string PostgresUnavailableReason();

class PostgresServer {
 public:
  // The server of this test process, started on first use. Throws Error
  // (with the tail of the server log) if it cannot be started. Call it first
  // from the main thread: the server is tied to the thread that started it.
  static PostgresServer& Shared();

  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Creates a new empty database and returns its libpq connection string.
  std::string CreateDatabase();
  // The connection string of database `dbname` (which need not exist).
  std::string ConnInfo(const std::string& dbname) const;

  const std::filesystem::path& socket_dir() const { return dir_; }
  int port() const { return port_; }
  // The last `lines` lines of the server log, for failure messages.
  std::string LogTail(int lines = 20) const;

 private:
  PostgresServer();
  void Start();
  void WaitUntilReady();
  void Stop();     // immediate shutdown; no-op when not running
  void Cleanup();  // Stop(), then remove dir_ if it is ours

  std::filesystem::path dir_;      // data/, the socket and the logs; owned by the server user
  std::filesystem::path bin_dir_;  // /usr/lib/postgresql/<version>/bin
  int port_ = 0;
  pid_t postmaster_ = -1;  // our child; -1 when not running
  std::mutex create_mu_;   // serialises CREATE DATABASE and its counter
  int databases_ = 0;
  bool remove_dir_ = false;  // dir_ is ours to remove (not a TempDir)
};

}  // namespace lineup::testing
