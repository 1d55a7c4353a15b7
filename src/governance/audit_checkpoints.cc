#include "governance/audit_checkpoints.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>

#include "common/error.h"
#include "common/file_util.h"
#include "common/utf8.h"

namespace lineup {

namespace fs = std::filesystem;

namespace {

constexpr char kMarker[] = "lineup-audit-checkpoint v1 ";
constexpr char kKeyHeader[] = "lineup audit signing key v1 (Ed25519 seed, hex); keep it outside the database";

void EnsureSodium() {
  if (sodium_init() < 0) throw Error("libsodium failed to initialise");
}

std::string Hex(const unsigned char* bytes, size_t size) {
  std::string hex(size * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes, size);
  hex.pop_back();
  return hex;
}

// Exactly `size` bytes from `hex` (either case), or false.
bool FromHex(const std::string& hex, unsigned char* out, size_t size) {
  size_t written = 0;
  if (hex.size() != size * 2) return false;
  return sodium_hex2bin(out, size, hex.data(), hex.size(), nullptr, &written, nullptr) == 0 && written == size;
}

std::string SignedMessage(const AuditAnchor& anchor, int64_t time) {
  return "lineup-audit-checkpoint v1\n" + std::to_string(anchor.seq) + "\n" + anchor.hash + "\n" +
         std::to_string(time) + "\n";
}

bool IsLowerHex(const std::string& s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool ParseInt64(const std::string& text, int64_t* value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

// The name=value fields after the marker; false when a field is not name=value.
bool ParseFields(const std::string& rest, std::map<std::string, std::string>* fields) {
  size_t at = 0;
  while (at < rest.size()) {
    size_t end = rest.find(' ', at);
    if (end == std::string::npos) end = rest.size();
    const std::string field = rest.substr(at, end - at);
    at = end + 1;
    if (field.empty()) continue;
    const size_t eq = field.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    (*fields)[field.substr(0, eq)] = field.substr(eq + 1);
  }
  return true;
}

// Parses the checkpoint that follows the marker; "" on success, else what is wrong.
std::string ParseCheckpoint(const std::string& rest, AuditCheckpoint* cp) {
  std::map<std::string, std::string> f;
  if (!ParseFields(rest, &f)) return "a field is not name=value";
  for (const char* name : {"seq", "hash", "time", "key", "sig"}) {
    if (!f.count(name)) return std::string("no ") + name + "=";
  }
  if (!ParseInt64(f["seq"], &cp->anchor.seq) || cp->anchor.seq < 0) return "seq is not a record number";
  if (!ParseInt64(f["time"], &cp->time)) return "time is not a number";
  cp->anchor.hash = f["hash"];
  cp->key_id = f["key"];
  cp->signature_hex = f["sig"];
  if (!IsLowerHex(cp->anchor.hash, 64)) return "hash is not 64 hex digits";
  if (!IsLowerHex(cp->key_id, 16)) return "key is not 16 hex digits";
  if (!IsLowerHex(cp->signature_hex, crypto_sign_BYTES * 2)) return "sig is not 128 hex digits";
  return "";
}

bool SignatureHolds(const AuditCheckpoint& cp, const unsigned char* public_key) {
  unsigned char signature[crypto_sign_BYTES];
  if (!FromHex(cp.signature_hex, signature, sizeof signature)) return false;
  const std::string message = SignedMessage(cp.anchor, cp.time);
  return crypto_sign_verify_detached(signature, reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), public_key) == 0;
}

class FileSink : public CheckpointSink {
 public:
  explicit FileSink(fs::path file) : file_(std::move(file)) {}
  void Publish(const std::string& line) override {
    if (file_.has_parent_path()) fs::create_directories(file_.parent_path());
    const int fd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw Error(Context(file_.string(), std::string("cannot open for appending: ") + std::strerror(errno)));
    const std::string text = line + "\n";
    const ssize_t written = ::write(fd, text.data(), text.size());
    const int write_errno = errno;
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (written != static_cast<ssize_t>(text.size())) {
      throw Error(Context(file_.string(), std::string("appending a checkpoint failed: ") +
                                              (written < 0 ? std::strerror(write_errno) : "short write")));
    }
    if (!synced) throw Error(Context(file_.string(), "fsync of the checkpoint failed"));
  }
  std::string Describe() const override { return file_.string(); }

 private:
  fs::path file_;
};

class SyslogSink : public CheckpointSink {
 public:
  void Publish(const std::string& line) override {
    // openlog's ident must outlive the logging; a literal does.
    ::openlog("lineup-audit", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
    ::syslog(LOG_NOTICE, "%s", line.c_str());
  }
  std::string Describe() const override { return "syslog (ident lineup-audit, facility authpriv)"; }
};

}  // namespace

// --- the key

AuditSigningKey::~AuditSigningKey() {
  if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
}
AuditSigningKey::AuditSigningKey(AuditSigningKey&&) noexcept = default;
AuditSigningKey& AuditSigningKey::operator=(AuditSigningKey&&) noexcept = default;

AuditSigningKey AuditSigningKey::Load(const fs::path& file) {
  EnsureSodium();
  if (!fs::exists(file)) {
    throw NotFound(Context(file.string(), "no audit signing key here (lineup serve creates one on first start)"));
  }
  std::ifstream in(file);
  std::string header, seed_hex;
  std::getline(in, header);
  std::getline(in, seed_hex);
  unsigned char seed[crypto_sign_SEEDBYTES];
  if (header != kKeyHeader || !FromHex(seed_hex, seed, sizeof seed)) {
    throw Error(Context(file.string(), "not a Lineup audit signing key (expected the header line and 64 hex digits)"));
  }
  AuditSigningKey key;
  key.secret_.resize(crypto_sign_SECRETKEYBYTES);
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(public_key, key.secret_.data(), seed);
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(seed_hex.data(), seed_hex.size());
  return key;
}

AuditSigningKey AuditSigningKey::LoadOrCreate(const fs::path& file) {
  EnsureSodium();
  if (fs::exists(file)) return Load(file);
  unsigned char seed[crypto_sign_SEEDBYTES];
  randombytes_buf(seed, sizeof seed);
  std::string text = std::string(kKeyHeader) + "\n" + Hex(seed, sizeof seed) + "\n";
  sodium_memzero(seed, sizeof seed);
  if (file.has_parent_path()) {
    fs::create_directories(file.parent_path());
    fs::permissions(file.parent_path(), fs::perms::owner_all, fs::perm_options::replace);
  }
  // O_EXCL: a key that appeared meanwhile is never overwritten.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Load(file);
    throw Error(Context(file.string(), std::string("cannot create the audit signing key: ") + std::strerror(errno)));
  }
  const ssize_t written = ::write(fd, text.data(), text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  sodium_memzero(text.data(), text.size());
  if (written != static_cast<ssize_t>(text.size()) || !synced) {
    std::error_code ignored;
    fs::remove(file, ignored);
    throw Error(Context(file.string(), "writing the audit signing key failed"));
  }
  return Load(file);
}

std::string AuditSigningKey::public_key_hex() const {
  // The Ed25519 secret key's second half is the public key.
  return Hex(secret_.data() + crypto_sign_SEEDBYTES, crypto_sign_PUBLICKEYBYTES);
}

std::string AuditSigningKey::key_id() const { return public_key_hex().substr(0, 16); }

std::string AuditSigningKey::SignHex(const std::string& message) const {
  unsigned char signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
  return Hex(signature, sizeof signature);
}

// --- checkpoints

AuditCheckpoint SignCheckpoint(const AuditSigningKey& key, const AuditAnchor& head, int64_t time) {
  AuditCheckpoint cp;
  cp.anchor = head;
  cp.time = time;
  cp.key_id = key.key_id();
  cp.signature_hex = key.SignHex(SignedMessage(head, time));
  return cp;
}

std::string CheckpointLine(const AuditCheckpoint& cp) {
  return std::string(kMarker) + "seq=" + std::to_string(cp.anchor.seq) + " hash=" + cp.anchor.hash +
         " time=" + std::to_string(cp.time) + " key=" + cp.key_id + " sig=" + cp.signature_hex;
}

std::unique_ptr<CheckpointSink> FileCheckpointSink(fs::path file) {
  return std::make_unique<FileSink>(std::move(file));
}

std::unique_ptr<CheckpointSink> SyslogCheckpointSink() { return std::make_unique<SyslogSink>(); }

CheckpointReading ReadCheckpoints(const fs::path& file, const std::string& public_key_hex) {
  EnsureSodium();
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
  if (!FromHex(public_key_hex, public_key, sizeof public_key)) {
    throw InvalidArgument("public_key", "the audit public key is 64 hex digits (lineup audit public-key prints it)");
  }
  const std::string key_id = public_key_hex.substr(0, 16);
  std::ifstream in(file);
  if (!in) throw NotFound(Context(file.string(), "no checkpoint file here"));
  CheckpointReading reading;
  std::string line;
  while (std::getline(in, line)) {
    ++reading.lines;
    const size_t at = line.find(kMarker);
    if (at == std::string::npos) continue;
    AuditCheckpoint cp;
    std::string wrong = ParseCheckpoint(line.substr(at + sizeof kMarker - 1), &cp);
    if (wrong.empty() && cp.key_id != key_id) {
      wrong = "signed by key " + cp.key_id + ", not by the key given (" + key_id + ")";
    }
    if (wrong.empty() && !SignatureHolds(cp, public_key)) {
      wrong = "the signature does not hold (the checkpoint was forged or altered)";
    }
    if (!wrong.empty()) {
      reading.ok = false;
      reading.problem = file.string() + " line " + std::to_string(reading.lines) + ": " + wrong;
      return reading;
    }
    reading.checkpoints.push_back(std::move(cp));
  }
  return reading;
}

// --- anchors as text

std::string AnchorText(const AuditAnchor& anchor) { return std::to_string(anchor.seq) + ":" + anchor.hash; }

AuditAnchor ParseAuditAnchor(const std::string& text, const std::string& field) {
  const auto fail = [&] {
    return InvalidArgument(field, field + " " + SafeUtf8(text, 80) + ": expected SEQ:HASH (64 hex digits), as "
                                                                     "printed by lineup audit head");
  };
  const size_t colon = text.find(':');
  if (colon == std::string::npos) throw fail();
  AuditAnchor anchor;
  if (!ParseInt64(text.substr(0, colon), &anchor.seq) || anchor.seq < 0) throw fail();
  anchor.hash = text.substr(colon + 1);
  for (char& c : anchor.hash) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!IsLowerHex(anchor.hash, 64)) throw fail();
  return anchor;
}

}  // namespace lineup
