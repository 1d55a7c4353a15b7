// Signed checkpoints of the audit chain, published outside the database.
//
// The hash chain (audit_log.h) shows any change to a record, but whoever can
// rewrite the governance database can also recompute a consistent chain. A
// checkpoint is the chain's head (seq, hash) at a time, signed with an
// Ed25519 key kept outside the database, and written where the database's
// owner cannot rewrite it: an append-only file on another volume, or the
// system log (journald, a remote syslog). A verifier holding the public key
// turns the checkpoints into anchors: a chain recomputed after any
// checkpoint no longer contains the checkpointed hash.
//
// A checkpoint is one line of text, so that it survives syslog and can be
// found among other lines:
//
//   lineup-audit-checkpoint v1 seq=<N> hash=<64 hex> time=<unix s> key=<16 hex> sig=<128 hex>
//
// sig is Ed25519 over "lineup-audit-checkpoint v1\n<seq>\n<hash>\n<time>\n".
// key is the first 16 hex digits of the public key (which key signed).
//
// Invariants:
//  - The signing key file is created with mode 0600 and never overwritten.
//  - A line without the marker is not a checkpoint and is skipped (syslog
//    files hold other lines); a line with the marker that does not parse,
//    names another key or has a bad signature is a problem, never skipped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "governance/audit_log.h"

namespace lineup {

// An Ed25519 key pair for signing checkpoints.
class AuditSigningKey {
 public:
  // Reads the key file; creates it (0600, parent folders 0700) when it does
  // not exist. Throws Error when it exists but is not a key.
  static AuditSigningKey LoadOrCreate(const std::filesystem::path& file);
  // Reads an existing key file; throws NotFound when there is none.
  static AuditSigningKey Load(const std::filesystem::path& file);
  ~AuditSigningKey();
  AuditSigningKey(AuditSigningKey&&) noexcept;
  AuditSigningKey& operator=(AuditSigningKey&&) noexcept;

  std::string public_key_hex() const;  // 64 hex digits: what verifiers keep
  std::string key_id() const;          // the first 16 of them
  std::string SignHex(const std::string& message) const;

 private:
  AuditSigningKey() = default;
  std::vector<unsigned char> secret_;  // crypto_sign_SECRETKEYBYTES (seed + public key)
};

struct AuditCheckpoint {
  AuditAnchor anchor;
  int64_t time = 0;
  std::string key_id;
  std::string signature_hex;
};

// The checkpoint of `head` at `time`, signed.
AuditCheckpoint SignCheckpoint(const AuditSigningKey& key, const AuditAnchor& head, int64_t time);
std::string CheckpointLine(const AuditCheckpoint& checkpoint);

// Where checkpoints go. The file and the system log are both useful at
// once: the file is what `verify` reads back, the system log a copy the
// database's owner cannot edit on a machine that forwards it.
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  virtual void Publish(const std::string& line) = 0;  // throws Error on failure
  virtual std::string Describe() const = 0;            // for logs: where it goes
};

// Appends each line with O_APPEND and fsyncs it; creates the file 0600.
std::unique_ptr<CheckpointSink> FileCheckpointSink(std::filesystem::path file);
// syslog(3), ident "lineup-audit", facility LOG_AUTHPRIV, level LOG_NOTICE.
std::unique_ptr<CheckpointSink> SyslogCheckpointSink();

struct CheckpointReading {
  std::vector<AuditCheckpoint> checkpoints;  // good ones, in file order
  int64_t lines = 0;                         // lines read
  bool ok = true;
  std::string problem;                       // the first bad checkpoint line, "" when ok
};

// Reads the checkpoint lines of `file` (a checkpoint file, or a copy of the
// system log) and checks each signature against `public_key_hex`. Stops at
// the first bad checkpoint. Throws NotFound when the file does not exist.
CheckpointReading ReadCheckpoints(const std::filesystem::path& file, const std::string& public_key_hex);

// Where `lineup serve` keeps the key and the checkpoints unless told
// otherwise (--audit-key, --audit-checkpoints). Both defaults are in the
// data directory, beside the database: docs/SECURITY.md says where a
// deployment should put them instead.
inline std::filesystem::path DefaultAuditKeyFile(const std::filesystem::path& data_dir) {
  return data_dir / "audit-signing.key";
}
inline std::filesystem::path DefaultCheckpointFile(const std::filesystem::path& data_dir) {
  return data_dir / "audit-checkpoints.log";
}

// The seq:hash text of an anchor, and back ("SEQ:HASH", 64 hex digits);
// ParseAuditAnchor throws InvalidArgument naming `field`.
std::string AnchorText(const AuditAnchor& anchor);
AuditAnchor ParseAuditAnchor(const std::string& text, const std::string& field);

}  // namespace lineup
