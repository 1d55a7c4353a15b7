#include "governance/accounts.h"

#include <sodium.h>

#include <algorithm>
#include <semaphore>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "common/utf8.h"
#include "governance/totp.h"

namespace lineup {
namespace {

// Schema history of the "accounts" module: kAccountsMigrations[v] takes v to v + 1.
// Entries are never edited once released; a change is a new entry.
//
// v1: the tables. Times are Unix seconds from the GovernanceDb clock; NULL
// means "never" (approved_at, approved_by, revoked_at).
//  - users.password_hash is a crypto_pwhash_str string ("$argon2id$...").
//  - users.approved_at is NULL until the account first becomes active.
//  - users.failed_logins counts consecutive failures; the n-th multiple of
//    max_failures starts the n-th lockout (see LockoutSeconds). Moved to
//    login_throttle by v3.
//  - users.totp_secret is NULL while TOTP is off; totp_pending_secret holds a
//    BeginTotp secret until ConfirmTotp; totp_last_step is the highest time
//    step accepted, and codes at or below it are replays.
//  - token_sha256 is the SHA-256 hex of a session or API token; the token
//    itself is never stored.
constexpr const char* kAccountsMigrations[] = {
    R"sql(
CREATE TABLE users (
  id                  INTEGER PRIMARY KEY,
  username            TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 2 AND 64),
  password_hash       TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  display_name        TEXT NOT NULL,
  unit                TEXT NOT NULL,
  role                TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'investigator', 'auditor')),
  active              INTEGER NOT NULL CHECK (active IN (0, 1)),
  created_at          INTEGER NOT NULL,
  approved_by         INTEGER REFERENCES users (id),
  approved_at         INTEGER,
  failed_logins       INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
  locked_until        INTEGER NOT NULL DEFAULT 0,
  totp_secret         BLOB,
  totp_pending_secret BLOB,
  totp_last_step      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX users_by_unit ON users (unit);
CREATE TABLE sessions (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
  csrf_token   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE TABLE api_tokens (
  id           INTEGER PRIMARY KEY,
  user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         TEXT NOT NULL CHECK (name <> ''),
  token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  revoked_at   INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
)sql",
    // 2: a password someone else chose (the first admin's printed one) must be
    // replaced by its owner before the account can do anything else.
    R"sql(
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));
)sql",
    // 3: login throttling per (name, client address) instead of per account,
    // with a backstop row (client '') per name counting every address; it
    // also throttles names that do not exist, so that a lockout does not show
    // which names do. Rows idle for a day without a lock are dropped.
    // API tokens get a scope and an expiry (tokens made before: 'admin', as
    // they could do everything, expiring 90 days after creation).
    // registration_attempts counts self-registrations per client address.
    R"sql(
CREATE TABLE login_throttle (
  username     TEXT NOT NULL,
  client       TEXT NOT NULL,
  failures     INTEGER NOT NULL CHECK (failures >= 0),
  locked_until INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (username, client)
);
INSERT INTO login_throttle (username, client, failures, locked_until, updated_at)
  SELECT username, '', failed_logins, locked_until, created_at FROM users WHERE failed_logins > 0 OR locked_until > 0;
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin' CHECK (scope IN ('read', 'search', 'admin'));
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE api_tokens SET expires_at = created_at + 90 * 86400;
CREATE TABLE registration_attempts (
  id     INTEGER PRIMARY KEY,
  client TEXT NOT NULL,
  time   INTEGER NOT NULL
);
CREATE INDEX registration_attempts_by_time ON registration_attempts (time);
)sql",
    // 4: the two-person rule. pending_role is a role an admin granted that
    // awaits a second person's approval (NULL: none); pending_requested_by
    // the admin who asked, pending_requested_at when.
    R"sql(
ALTER TABLE users ADD COLUMN pending_role TEXT CHECK (pending_role IN ('admin', 'supervisor', 'investigator', 'auditor'));
ALTER TABLE users ADD COLUMN pending_requested_by INTEGER REFERENCES users (id);
ALTER TABLE users ADD COLUMN pending_requested_at INTEGER;
)sql",
};

constexpr size_t kTokenBytes = 32;
constexpr size_t kMinUsernameLength = 2;
constexpr size_t kMaxUsernameLength = 64;
constexpr size_t kMaxLabelBytes = 200;
constexpr size_t kMaxPasswordBytes = 1024;
constexpr size_t kMaxClientBytes = 100;
constexpr int64_t kMaxLockoutSeconds = 24 * 3600;
constexpr int64_t kMaxPolicyLockoutSeconds = 365 * 24 * 3600;
constexpr int64_t kThrottleMemorySeconds = 24 * 3600;  // unlocked throttle rows idle this long are dropped
constexpr int64_t kRegistrationWindowSeconds = 3600;
constexpr char kAccountChange[] = "account_change";

// Column list of ReadUser (alias u, and t for the name's backstop throttle row).
constexpr const char* kUserColumns =
    "u.id, u.username, u.display_name, u.unit, u.role, u.active, u.totp_secret IS NOT NULL, u.created_at, "
    "u.approved_by, u.approved_at, coalesce(t.failures, 0), coalesce(t.locked_until, 0), u.must_change_password, "
    "u.pending_role, coalesce(u.pending_requested_by, 0)";
constexpr int kUserColumnCount = 15;
constexpr const char* kUserTables =
    " FROM users u LEFT JOIN login_throttle t ON t.username = u.username AND t.client = '' ";

std::string UserQuery(const std::string& where) { return std::string("SELECT ") + kUserColumns + kUserTables + where; }

User ReadUser(const SqliteQuery& q) {
  User u;
  u.id = q.Int64(0);
  u.username = q.Text(1);
  u.display_name = q.Text(2);
  u.unit = q.Text(3);
  std::optional<Role> role = RoleFromString(q.Text(4));
  if (!role) throw Error("governance database: user " + u.username + " has an unknown role");
  u.role = *role;
  u.active = q.Int64(5) != 0;
  u.totp_enabled = q.Int64(6) != 0;
  u.created_at = q.Int64(7);
  u.approved_by = q.Int64(8);
  u.approved_at = q.Int64(9);
  u.failed_logins = q.Int64(10);
  u.locked_until = q.Int64(11);
  u.must_change_password = q.Int64(12) != 0;
  if (!q.IsNull(13)) {
    u.pending_role = RoleFromString(q.Text(13));
    if (!u.pending_role) throw Error("governance database: user " + u.username + " has an unknown pending role");
  }
  u.pending_requested_by = q.Int64(14);
  return u;
}

std::optional<User> LoadUser(SqliteDb& db, int64_t id) {
  auto q = db.Query(UserQuery("WHERE u.id = ?1"));
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  return ReadUser(q);
}

User RequireUser(SqliteDb& db, int64_t id) {
  std::optional<User> user = LoadUser(db, id);
  if (!user) throw NotFound("no user with id " + std::to_string(id));
  return *user;
}

std::vector<User> LoadUsers(SqliteQuery& q) {
  std::vector<User> users;
  while (q.Step()) users.push_back(ReadUser(q));
  return users;
}

std::vector<uint8_t> BytesOf(const std::string& blob) { return std::vector<uint8_t>(blob.begin(), blob.end()); }

// What Login needs beyond the User: the secrets. Never leaves this file.
struct Credentials {
  User user;
  std::string password_hash;
  std::vector<uint8_t> totp_secret;  // empty while TOTP is off
  int64_t totp_last_step = 0;
};

Credentials ReadCredentials(const SqliteQuery& q) {
  Credentials c;
  c.user = ReadUser(q);
  c.password_hash = q.Text(kUserColumnCount);
  c.totp_secret = BytesOf(q.Blob(kUserColumnCount + 1));
  c.totp_last_step = q.Int64(kUserColumnCount + 2);
  return c;
}

std::string CredentialsQuery(const std::string& where) {
  return std::string("SELECT ") + kUserColumns + ", u.password_hash, u.totp_secret, u.totp_last_step" + kUserTables +
         where;
}

std::optional<Credentials> LoadCredentialsByName(SqliteDb& db, const std::string& username) {
  auto q = db.Query(CredentialsQuery("WHERE u.username = ?1"));
  if (!q.BindText(1, username).Step()) return std::nullopt;
  return ReadCredentials(q);
}

std::optional<Credentials> LoadCredentialsById(SqliteDb& db, int64_t id) {
  auto q = db.Query(CredentialsQuery("WHERE u.id = ?1"));
  if (!q.Bind(1, id).Step()) return std::nullopt;
  return ReadCredentials(q);
}

void DeleteSessionsOf(SqliteDb& db, int64_t user_id) {
  db.Query("DELETE FROM sessions WHERE user_id = ?1").Bind(1, user_id).Run();
}

// Throws unless the last UPDATE changed a row (the user exists).
void RequireChangedUser(SqliteDb& db, int64_t user_id) {
  if (db.Changes() == 0) throw NotFound("no user with id " + std::to_string(user_id));
}

// --- validation

bool IsUsernameCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool IsValidUsername(const std::string& name) {
  return name.size() >= kMinUsernameLength && name.size() <= kMaxUsernameLength &&
         std::all_of(name.begin(), name.end(), IsUsernameCharacter);
}

void CheckUsername(const std::string& name) {
  if (name.size() < kMinUsernameLength || name.size() > kMaxUsernameLength) {
    throw InvalidArgument("username", "username must be 2 to 64 characters long (it has " + std::to_string(name.size()) + ")");
  }
  if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    throw InvalidArgument("username", "username must be lower case (usernames are not case-folded)");
  }
  if (!IsValidUsername(name)) {
    throw InvalidArgument("username", "username may contain only a-z, 0-9, '.', '_' and '-'");
  }
}

bool IsControl(uint32_t code_point) { return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F); }

// Display names, units, token names: UTF-8, at most 200 bytes, no control characters.
void CheckLabel(const std::string& text, const std::string& what) {
  if (text.size() > kMaxLabelBytes) {
    throw InvalidArgument("", what + " is too long (" + std::to_string(text.size()) + " bytes; at most 200)");
  }
  for (size_t i = 0; i < text.size();) {
    const Utf8Char c = DecodeUtf8At(text, i);
    if (c.length == 0) throw InvalidArgument("", what + " is not valid UTF-8");
    if (IsControl(c.code_point)) throw InvalidArgument("", what + " must not contain control characters (tabs, line breaks, ...)");
    i += c.length;
  }
}

// Units are matched by people, who type "cid" for "CID": a unit is stored
// as the accounts already in it spell it (ASCII letters compared without
// case, surrounding spaces dropped), so that every comparison of units can
// be exact. Invariant: no two accounts' units differ only in ASCII case.
std::string SpelledAsItsUnit(SqliteDb& db, const std::string& typed) {
  const size_t first = typed.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  const std::string unit = typed.substr(first, typed.find_last_not_of(' ') - first + 1);
  auto q = db.Query("SELECT unit FROM users WHERE lower(unit) = lower(?1) ORDER BY id LIMIT 1");
  if (q.BindText(1, unit).Step()) return q.Text(0);
  return unit;
}

size_t CountCodePoints(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

void CheckPasswordLength(const std::string& password, const AccountPolicy& policy) {
  if (CountCodePoints(password) < static_cast<size_t>(policy.min_password_length)) {
    throw InvalidArgument("password", "password is too short: it needs at least " + std::to_string(policy.min_password_length) +
                " characters");
  }
  if (password.size() > kMaxPasswordBytes) throw InvalidArgument("password", "password is too long (at most 1024 bytes)");
}

void CheckPolicy(const AccountPolicy& policy) {
  if (policy.min_password_length < 1 || policy.max_failures < 1 || policy.lockout_seconds < 1 ||
      policy.lockout_seconds > kMaxPolicyLockoutSeconds || policy.session_idle_seconds < 1 ||
      policy.session_max_seconds < 1 || policy.account_max_failures < policy.max_failures ||
      policy.api_token_default_days < 1 || policy.api_token_max_days < policy.api_token_default_days ||
      policy.registrations_per_hour_per_address < 1 || policy.registrations_per_hour < 1 ||
      policy.concurrent_hashes < 1) {
    throw Error("account policy: lengths, counts and durations must be positive (lockout at most a year), the "
                "backstop at least max_failures, the token maximum at least its default");
  }
}

// --- secrets

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  std::string hex(2 * bytes + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
  hex.pop_back();  // the terminating NUL
  sodium_memzero(raw.data(), raw.size());
  return hex;
}

// Tokens are 64 lower-case hex digits; anything else is refused before it reaches the database.
bool LooksLikeToken(const std::string& token) {
  const auto is_hex_digit = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return token.size() == 2 * kTokenBytes && std::all_of(token.begin(), token.end(), is_hex_digit);
}

std::string TokenDigest(const std::string& token) { return Sha256Hex(token.data(), token.size()); }

// --- login throttling

// The lock that a failure count calls for: none unless it is a multiple of
// `every`; the n-th lockout lasts lockout_seconds * 2^(n - 1), capped at a
// day (or at lockout_seconds, if the policy sets more than a day).
int64_t LockoutSeconds(int64_t failures, int64_t every, const AccountPolicy& policy) {
  if (failures <= 0 || failures % every != 0) return 0;
  const int64_t cap = std::max(kMaxLockoutSeconds, policy.lockout_seconds);
  int64_t seconds = policy.lockout_seconds;
  for (int64_t n = failures / every; n > 1 && seconds < cap; --n) seconds *= 2;
  return std::min(seconds, cap);
}

// The throttle of one name as seen from one address: its own row and the
// name's backstop row (client '').
struct Throttle {
  int64_t client_failures = 0;
  int64_t client_locked_until = 0;
  int64_t all_failures = 0;
  int64_t all_locked_until = 0;
  int64_t LockedUntil() const { return std::max(client_locked_until, all_locked_until); }
};

// The address a throttle row is kept under: valid UTF-8, bounded, never '' (the backstop's).
std::string ThrottleClient(const std::string& client) {
  std::string key = SafeUtf8(client, kMaxClientBytes);
  return key.empty() ? "unknown" : key;
}

Throttle LoadThrottle(SqliteDb& db, const std::string& username, const std::string& client) {
  Throttle t;
  auto q =
      db.Query("SELECT client, failures, locked_until FROM login_throttle WHERE username = ?1 AND client IN (?2, '')");
  q.BindText(1, username).BindText(2, ThrottleClient(client));
  while (q.Step()) {
    if (q.Text(0).empty()) {
      t.all_failures = q.Int64(1);
      t.all_locked_until = q.Int64(2);
    } else {
      t.client_failures = q.Int64(1);
      t.client_locked_until = q.Int64(2);
    }
  }
  return t;
}

void StoreThrottleRow(SqliteDb& db, const std::string& username, const std::string& client, int64_t failures,
                      int64_t locked_until, int64_t now) {
  db.Query(
        "INSERT INTO login_throttle (username, client, failures, locked_until, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (username, client) DO UPDATE SET failures = excluded.failures, "
        "locked_until = excluded.locked_until, updated_at = excluded.updated_at")
      .BindText(1, username)
      .BindText(2, client)
      .Bind(3, failures)
      .Bind(4, locked_until)
      .Bind(5, now)
      .Run();
}

// Counts one failure of `username` from `client` in both rows; returns the
// time until which the name is now locked for that address (0 or past: not).
int64_t CountFailure(SqliteDb& db, const std::string& username, const std::string& client, int64_t now,
                     const AccountPolicy& policy) {
  db.Query("DELETE FROM login_throttle WHERE updated_at < ?1 AND locked_until <= ?2")
      .Bind(1, now - kThrottleMemorySeconds)
      .Bind(2, now)
      .Run();
  Throttle t = LoadThrottle(db, username, client);
  ++t.client_failures;
  ++t.all_failures;
  if (int64_t lock = LockoutSeconds(t.client_failures, policy.max_failures, policy)) t.client_locked_until = now + lock;
  if (int64_t lock = LockoutSeconds(t.all_failures, policy.account_max_failures, policy)) {
    t.all_locked_until = now + lock;
  }
  StoreThrottleRow(db, username, ThrottleClient(client), t.client_failures, t.client_locked_until, now);
  StoreThrottleRow(db, username, "", t.all_failures, t.all_locked_until, now);
  return t.LockedUntil();
}

// A success from `client`: its row and the backstop start over.
void ClearThrottle(SqliteDb& db, const std::string& username, const std::string& client) {
  db.Query("DELETE FROM login_throttle WHERE username = ?1 AND client IN (?2, '')")
      .BindText(1, username)
      .BindText(2, ThrottleClient(client))
      .Run();
}

LoginResult WithStatus(std::optional<User> user, LoginStatus status) {
  LoginResult result;
  result.status = status;
  result.user = std::move(user);
  return result;
}

LoginResult Locked(std::optional<User> user, int64_t locked_until, int64_t now) {
  LoginResult result = WithStatus(std::move(user), LoginStatus::kLocked);
  result.retry_after_seconds = locked_until - now;
  return result;
}

// Records a failure (`status` unless it completes a run that locks) and
// reports it with the user as stored now.
LoginResult Fail(SqliteDb& db, const std::string& username, const std::string& client, LoginStatus status,
                 int64_t now, const AccountPolicy& policy) {
  const int64_t locked_until = CountFailure(db, username, client, now, policy);
  std::optional<Credentials> stored = LoadCredentialsByName(db, username);
  std::optional<User> user = stored ? std::optional<User>(stored->user) : std::nullopt;
  if (locked_until > now) return Locked(std::move(user), locked_until, now);
  return WithStatus(std::move(user), status);
}

// --- sessions

int64_t SessionExpiry(int64_t created_at, int64_t last_use, const AccountPolicy& policy) {
  return std::min(last_use + policy.session_idle_seconds, created_at + policy.session_max_seconds);
}

// Starts a session (dropping everyone's expired ones on the way).
Session StartSession(SqliteDb& db, int64_t user_id, int64_t now, const AccountPolicy& policy) {
  db.Query("DELETE FROM sessions WHERE expires_at <= ?1").Bind(1, now).Run();
  Session s;
  s.user_id = user_id;
  s.token = RandomHex(kTokenBytes);
  s.csrf_token = RandomHex(kTokenBytes);
  s.created_at = now;
  s.expires_at = SessionExpiry(now, now, policy);
  db.Query("INSERT INTO sessions (user_id, token_sha256, csrf_token, created_at, last_seen_at, expires_at) "
           "VALUES (?1, ?2, ?3, ?4, ?4, ?5)")
      .Bind(1, user_id)
      .BindText(2, TokenDigest(s.token))
      .BindText(3, s.csrf_token)
      .Bind(4, now)
      .Bind(5, s.expires_at)
      .Run();
  s.id = db.LastInsertRowId();
  return s;
}

struct StoredSession {
  Session session;
  int64_t last_seen_at = 0;
  std::optional<User> user;
};

std::optional<StoredSession> LoadSession(SqliteDb& db, const std::string& digest) {
  auto q = db.Query("SELECT id, user_id, csrf_token, created_at, expires_at, last_seen_at FROM sessions "
                    "WHERE token_sha256 = ?1");
  if (!q.BindText(1, digest).Step()) return std::nullopt;
  StoredSession s;
  s.session.id = q.Int64(0);
  s.session.user_id = q.Int64(1);
  s.session.csrf_token = q.Text(2);
  s.session.created_at = q.Int64(3);
  s.session.expires_at = q.Int64(4);
  s.last_seen_at = q.Int64(5);
  s.user = LoadUser(db, s.session.user_id);
  return s;
}

// --- tokens

void RevokeTokensOf(SqliteDb& db, int64_t user_id, int64_t now) {
  db.Query("UPDATE api_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL")
      .Bind(1, user_id)
      .Bind(2, now)
      .Run();
}

// --- audit

// The account_change record of `by` doing `event` (with `details`), in the caller's transaction.
void AuditChange(AuditLog& audit, SqliteDb& db, const Actor& by, const std::string& event, nlohmann::json details) {
  AuditEvent e;
  e.actor_id = by.user.id;
  e.actor = by.user.username;
  e.role = !by.role.empty() ? by.role : by.user.id != 0 ? ToString(by.user.role) : "";
  e.action = kAccountChange;
  e.client = by.client;
  details["event"] = event;
  e.details_json = details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  audit.AppendIn(db, e);
}

}  // namespace

std::string ToString(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kSupervisor: return "supervisor";
    case Role::kInvestigator: return "investigator";
    case Role::kAuditor: return "auditor";
  }
  return "unknown";
}

std::optional<Role> RoleFromString(const std::string& text) {
  for (Role role : {Role::kAdmin, Role::kSupervisor, Role::kInvestigator, Role::kAuditor}) {
    if (ToString(role) == text) return role;
  }
  return std::nullopt;
}

std::string ToString(LoginStatus status) {
  switch (status) {
    case LoginStatus::kOk: return "ok";
    case LoginStatus::kBadCredentials: return "bad_credentials";
    case LoginStatus::kLocked: return "locked";
    case LoginStatus::kInactive: return "inactive";
    case LoginStatus::kTotpRequired: return "totp_required";
    case LoginStatus::kBadTotp: return "bad_totp";
  }
  return "unknown";
}

std::string ToString(TokenScope scope) {
  switch (scope) {
    case TokenScope::kRead: return "read";
    case TokenScope::kSearch: return "search";
    case TokenScope::kAdmin: return "admin";
  }
  return "unknown";
}

std::optional<TokenScope> TokenScopeFromString(const std::string& text) {
  for (TokenScope scope : {TokenScope::kRead, TokenScope::kSearch, TokenScope::kAdmin}) {
    if (ToString(scope) == text) return scope;
  }
  return std::nullopt;
}

// Bounds the Argon2 computations running at once: each holds 64 MiB and a
// core for about a tenth of a second.
class Accounts::HashSlots {
 public:
  explicit HashSlots(int slots) : slots_(slots) {}
  class Held {
   public:
    explicit Held(HashSlots& s) : s_(s) { s_.slots_.acquire(); }
    ~Held() { s_.slots_.release(); }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    HashSlots& s_;
  };

 private:
  std::counting_semaphore<> slots_;
};

Accounts::Accounts(GovernanceDb& db, AuditLog& audit, AccountPolicy policy)
    : db_(db), audit_(audit), policy_(policy), passwords_(policy.password_dictionary) {
  if (sodium_init() < 0) throw Error("cannot initialise libsodium");
  CheckPolicy(policy_);
  hash_slots_ = std::make_unique<HashSlots>(policy_.concurrent_hashes);
  db_.EnsureSchema("accounts", std::vector<std::string>(std::begin(kAccountsMigrations), std::end(kAccountsMigrations)));
  dummy_hash_ = Hash(RandomHex(kTokenBytes));
}

Accounts::~Accounts() = default;

std::string Accounts::Hash(const std::string& password) {
  const unsigned long long ops = policy_.fast_hashing ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE;
  const size_t mem = policy_.fast_hashing ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE;
  char hash[crypto_pwhash_STRBYTES];
  HashSlots::Held slot(*hash_slots_);
  if (crypto_pwhash_str_alg(hash, password.data(), password.size(), ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw Error("cannot hash the password (out of memory)");
  }
  return hash;
}

bool Accounts::Verify(const std::string& hash, const std::string& password) {
  HashSlots::Held slot(*hash_slots_);
  verifications_.fetch_add(1);
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

void Accounts::CheckNewPassword(const std::string& password, const std::string& username,
                                const std::string& display_name) {
  CheckPasswordLength(password, policy_);
  if (std::optional<std::string> weakness = passwords_.Weakness(password, {username, display_name})) {
    throw InvalidArgument("password", "password is too easy to guess: " + *weakness + ". A passphrase of several unrelated words works well");
  }
}

// --- users

User Accounts::CreateUser(const NewUser& user, const Actor& by) {
  CheckUsername(user.username);
  CheckLabel(user.display_name, "display name");
  CheckLabel(user.unit, "unit");
  CheckNewPassword(user.password, user.username, user.display_name);
  const std::string hash = Hash(user.password);  // slow: outside the database lock
  return db_.Write([&](SqliteDb& db) {
    auto taken = db.Query("SELECT 1 FROM users WHERE username = ?1");
    if (taken.BindText(1, user.username).Step()) {
      throw NameTakenError("username " + user.username + " is already taken");
    }
    const int64_t now = db_.Now();
    // Under the two-person rule an admin's new account waits, inactive, for
    // a second person to approve its role.
    const bool awaits_second_person = user.active && UnderTwoPersonRule(by);
    const bool active = user.active && !awaits_second_person;
    auto q = db.Query("INSERT INTO users (username, password_hash, display_name, unit, role, active, created_at, "
                      "approved_at, must_change_password, pending_role, pending_requested_by, pending_requested_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    q.BindText(1, user.username).BindText(2, hash).BindText(3, user.display_name).BindText(4, SpelledAsItsUnit(db, user.unit));
    q.BindText(5, ToString(user.role)).Bind(6, active ? 1 : 0).Bind(7, now);
    if (active) q.Bind(8, now);
    else q.BindNull(8);
    q.Bind(9, user.must_change_password ? 1 : 0);
    if (awaits_second_person) q.BindText(10, ToString(user.role)).Bind(11, by.user.id).Bind(12, now);
    else q.BindNull(10).BindNull(11).BindNull(12);
    q.Run();
    const User created = RequireUser(db, db.LastInsertRowId());
    const char* event = awaits_second_person                ? "user created, awaiting a second person's approval"
                        : by.user.id == 0 && !user.active ? "registered, awaiting approval"
                                                          : "user created";
    AuditChange(audit_, db, by, event,
                {{"user", created.username}, {"role", ToString(created.role)}, {"unit", created.unit}});
    return created;
  });
}

namespace {

// 20 characters from an alphabet without look-alikes (no 0/O, 1/l/I): about
// 116 bits, typed from a terminal once.
std::string RandomPassword() {
  static const char kAlphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string password;
  for (int i = 0; i < 20; ++i) password += kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)];
  return password;
}

}  // namespace

std::string GrantApprovers(Role role, const std::string& unit) {
  if (role != Role::kInvestigator) return "another admin";
  return "a supervisor of " + (unit.empty() ? std::string("the account's unit") : unit) + " or another admin";
}

// A random password the policy accepts for this account, drawn again while
// it refuses one (cracklib calls a few random strings "systematic").
std::string Accounts::DrawOneTimePassword(const std::string& username, const std::string& display_name) {
  constexpr int kDraws = 64;  // about 1 draw in 235 is refused: 64 in a row do not happen
  for (int draw = 1;; ++draw) {
    std::string password = RandomPassword();
    try {
      CheckNewPassword(password, username, display_name);
      return password;
    } catch (const Error&) {
      if (draw == kDraws) throw;
    }
  }
}

Accounts::UserWithPassword Accounts::CreateUserWithOneTimePassword(NewUser user, const Actor& by) {
  CheckUsername(user.username);
  user.password = DrawOneTimePassword(user.username, user.display_name);
  user.must_change_password = true;
  UserWithPassword created;
  created.password = user.password;
  created.user = CreateUser(user, by);
  return created;
}

// Counts a registration attempt of `client`; RateLimitedError past the
// hourly limits. Attempts count whether or not they succeed (each costs a hash).
void Accounts::CountRegistration(const std::string& client) {
  const std::string key = ThrottleClient(client);
  db_.Write([&](SqliteDb& db) {
    const int64_t now = db_.Now();
    const int64_t since = now - kRegistrationWindowSeconds;
    db.Query("DELETE FROM registration_attempts WHERE time <= ?1").Bind(1, since).Run();
    auto count = [&](bool from_client) {
      auto q =
          db.Query("SELECT count(*), coalesce(min(time), 0) FROM registration_attempts WHERE ?1 = 0 OR client = ?2");
      q.Bind(1, from_client ? 1 : 0).BindText(2, key).Step();
      return std::make_pair(q.Int64(0), q.Int64(1));
    };
    const auto [mine, my_oldest] = count(true);
    const auto [all, oldest] = count(false);
    if (mine >= policy_.registrations_per_hour_per_address || all >= policy_.registrations_per_hour) {
      const int64_t first = mine >= policy_.registrations_per_hour_per_address ? my_oldest : oldest;
      throw RateLimitedError(std::max<int64_t>(1, first + kRegistrationWindowSeconds - now),
                             "too many account requests; try again later");
    }
    db.Query("INSERT INTO registration_attempts (client, time) VALUES (?1, ?2)").BindText(1, key).Bind(2, now).Run();
  });
}

User Accounts::Register(const NewUser& user, const std::string& client) {
  CheckUsername(user.username);
  CheckLabel(user.display_name, "display name");
  CheckLabel(user.unit, "unit");
  CountRegistration(client);
  NewUser pending = user;
  pending.role = Role::kInvestigator;
  pending.active = false;
  pending.must_change_password = false;
  Actor applicant;
  applicant.user.username = user.username;
  applicant.client = client;
  return CreateUser(pending, applicant);
}

std::optional<User> Accounts::FindUser(const std::string& username) {
  if (!IsValidUsername(username)) return std::nullopt;
  return db_.Read([&](SqliteDb& db) -> std::optional<User> {
    auto q = db.Query(UserQuery("WHERE u.username = ?1"));
    q.BindText(1, username);
    if (!q.Step()) return std::nullopt;
    return ReadUser(q);
  });
}

std::optional<User> Accounts::GetUser(int64_t id) {
  return db_.Read([&](SqliteDb& db) { return LoadUser(db, id); });
}

std::vector<User> Accounts::ListUsers() {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query(UserQuery("ORDER BY u.id"));
    return LoadUsers(q);
  });
}

std::vector<User> Accounts::PendingApprovals(const std::string& unit) {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query(UserQuery("WHERE ((u.active = 0 AND u.approved_at IS NULL) OR u.pending_role IS NOT NULL) "
                                "AND (?1 = '' OR u.unit = ?1) ORDER BY u.id"));
    q.BindText(1, unit);
    return LoadUsers(q);
  });
}

namespace {

// Approver rules: an active admin approves any account; an active supervisor
// approves investigator accounts of their own (named) unit; nobody else.
void CheckMayApprove(const User& account, const std::optional<User>& approver) {
  if (!approver || !approver->active) throw PermissionDenied("approval refused: the approving account is not active");
  if (approver->role == Role::kAdmin) return;
  if (approver->role != Role::kSupervisor) {
    throw PermissionDenied("approval refused: only an admin or a supervisor of the account's unit can approve accounts");
  }
  if (account.role != Role::kInvestigator) {
    throw PermissionDenied("approval refused: supervisors approve investigator accounts only; " + account.username +
                " is a " + ToString(account.role) + " account (an admin must approve it)");
  }
  if (account.unit.empty() || account.unit != approver->unit) {
    throw PermissionDenied("approval refused: " + account.username + " is not in your unit (" + approver->unit + ")");
  }
}

// Two-person approver rules for `account`'s pending grant of `role`, asked
// for by account.pending_requested_by: a second person; an investigator grant
// by a supervisor of the account's unit or another admin, any other grant by
// another admin.
void StorePendingRole(SqliteDb& db, int64_t user_id, Role role, int64_t requested_by, int64_t now) {
  db.Query("UPDATE users SET pending_role = ?2, pending_requested_by = ?3, pending_requested_at = ?4 WHERE id = ?1")
      .Bind(1, user_id)
      .BindText(2, ToString(role))
      .Bind(3, requested_by)
      .Bind(4, now)
      .Run();
}

void ClearPendingRole(SqliteDb& db, int64_t user_id) {
  db.Query("UPDATE users SET pending_role = NULL, pending_requested_by = NULL, pending_requested_at = NULL WHERE id = ?1")
      .Bind(1, user_id)
      .Run();
}

void CheckMayApproveGrant(const User& account, Role role, const std::optional<User>& approver) {
  if (!approver || !approver->active) throw PermissionDenied("approval refused: the approving account is not active");
  if (approver->id == account.pending_requested_by) {
    throw PermissionDenied("approval refused: you asked for this grant; under the two-person rule a second person "
                           "approves it");
  }
  if (approver->role == Role::kAdmin) return;
  if (approver->role == Role::kSupervisor && role == Role::kInvestigator && !account.unit.empty() &&
      account.unit == approver->unit) {
    return;
  }
  if (role == Role::kInvestigator) {
    throw PermissionDenied("approval refused: an investigator grant is approved by " +
                           GrantApprovers(role, account.unit));
  }
  throw PermissionDenied("approval refused: " + account.username + "'s " + ToString(role) + " grant is approved by " +
                         GrantApprovers(role, account.unit) + " (or the operator: lineup users approve)");
}

void StoreActive(SqliteDb& db, int64_t user_id, bool active, int64_t now) {
  db.Query("UPDATE users SET active = ?2, approved_at = CASE WHEN ?2 = 1 THEN coalesce(approved_at, ?3) "
           "ELSE approved_at END WHERE id = ?1")
      .Bind(1, user_id)
      .Bind(2, active ? 1 : 0)
      .Bind(3, now)
      .Run();
  RequireChangedUser(db, user_id);
  if (!active) DeleteSessionsOf(db, user_id);
}

void StoreRole(SqliteDb& db, int64_t user_id, Role role) {
  db.Query("UPDATE users SET role = ?2 WHERE id = ?1").Bind(1, user_id).BindText(2, ToString(role)).Run();
  RequireChangedUser(db, user_id);
}

}  // namespace

User Accounts::Approve(int64_t user_id, const Actor& by) {
  return db_.Write([&](SqliteDb& db) {
    const User account = RequireUser(db, user_id);
    if (by.user.id == account.id) throw PermissionDenied("approval refused: nobody approves their own account or role");
    const std::optional<User> approver = LoadUser(db, by.user.id);  // as stored now, not as passed
    if (account.pending_role) {
      CheckMayApproveGrant(account, *account.pending_role, approver);
    } else {
      CheckMayApprove(account, approver);
      if (policy_.two_person_rule && approver->role == Role::kAdmin) {
        throw PermissionDenied("approval refused: under the two-person rule a registration is approved by a "
                               "supervisor of its unit (anyone may register, an admin under another name too)");
      }
    }
    return ApplyApproval(db, account, by);
  });
}

Accounts::Rejected Accounts::Reject(int64_t user_id, const Actor& by) {
  return db_.Write([&](SqliteDb& db) {
    const User account = RequireUser(db, user_id);
    if (by.user.id == account.id) throw PermissionDenied("nobody refuses (or approves) their own account or role");
    const std::optional<User> approver = LoadUser(db, by.user.id);
    if (account.pending_role) CheckMayApproveGrant(account, *account.pending_role, approver);
    else CheckMayApprove(account, approver);
    const bool never_approved = account.approved_at == 0 && !account.active;
    if (never_approved) {
      db.Query("DELETE FROM login_throttle WHERE username = ?1").BindText(1, account.username).Run();
      db.Query("DELETE FROM users WHERE id = ?1").Bind(1, account.id).Run();
      AuditChange(audit_, db, by, "account request rejected",
                  {{"user", account.username}, {"unit", account.unit},
                   {"role", ToString(account.pending_role.value_or(account.role))}});
      return Rejected::kAccount;
    }
    if (!account.pending_role) throw Conflict("", account.username + " has nothing awaiting approval");
    ClearPendingRole(db, account.id);
    AuditChange(audit_, db, by, "role grant refused",
                {{"user", account.username}, {"role", ToString(*account.pending_role)},
                 {"role_kept", ToString(account.role)}});
    return Rejected::kRoleGrant;
  });
}

User Accounts::ApproveAsOperator(int64_t user_id, const Actor& by) {
  return db_.Write([&](SqliteDb& db) { return ApplyApproval(db, RequireUser(db, user_id), by); });
}

// The approval itself, once the approver is allowed: the pending role takes
// effect (a new account becomes active and approved), or a registration is
// activated. Conflict when nothing awaits approval.
User Accounts::ApplyApproval(SqliteDb& db, const User& account, const Actor& by) {
  const bool never_approved = account.approved_at == 0 && !account.active;
  if (!account.pending_role && !never_approved) throw Conflict("", account.username + " is already approved");
  // SET expressions read the row as it was before the UPDATE.
  db.Query("UPDATE users SET role = coalesce(pending_role, role), active = CASE WHEN ?4 THEN 1 ELSE active END, "
           "approved_at = CASE WHEN ?4 THEN ?3 ELSE approved_at END, "
           "approved_by = CASE WHEN ?4 THEN nullif(?2, 0) ELSE approved_by END, "
           "pending_role = NULL, pending_requested_by = NULL, pending_requested_at = NULL WHERE id = ?1")
      .Bind(1, account.id)
      .Bind(2, by.user.id)
      .Bind(3, db_.Now())
      .Bind(4, never_approved ? 1 : 0)
      .Run();
  const User approved = RequireUser(db, account.id);
  nlohmann::json details = {{"user", account.username}, {"role", ToString(approved.role)}};
  if (account.pending_role) {
    const std::optional<User> requester = LoadUser(db, account.pending_requested_by);
    details["requested_by"] = requester ? requester->username : "";
  }
  AuditChange(audit_, db, by, never_approved ? "account approved" : "role grant approved", details);
  return approved;
}

User Accounts::Update(int64_t user_id, std::optional<Role> role, std::optional<bool> active,
                      const std::optional<std::string>& unit, const Actor& by) {
  if (unit) CheckLabel(*unit, "unit");
  return db_.Write([&](SqliteDb& db) {
    const User account = RequireUser(db, user_id);
    nlohmann::json changes = nlohmann::json::object();
    if (unit) {
      const std::string spelled = SpelledAsItsUnit(db, *unit);
      if (spelled != account.unit) {
        db.Query("UPDATE users SET unit = ?2 WHERE id = ?1").Bind(1, user_id).BindText(2, spelled).Run();
        changes["unit"] = spelled;
      }
    }
    if (active && *active && account.approved_at == 0 && UnderTwoPersonRule(by)) {
      throw PermissionDenied(account.username + " has never been approved: under the two-person rule a second "
                             "person approves it (POST /api/v1/users/" + std::to_string(user_id) + "/approve)");
    }
    if (role && UnderTwoPersonRule(by) && account.approved_at != 0) {
      // The grant waits for a second person; asking for the current role
      // withdraws a pending one.
      const bool withdraw = *role == account.role;
      if (withdraw) ClearPendingRole(db, user_id);
      else StorePendingRole(db, user_id, *role, by.user.id, db_.Now());
      changes[withdraw ? "role_request_withdrawn" : "role_requested"] = ToString(*role);
    } else if (role) {
      StoreRole(db, user_id, *role);
      if (account.pending_role && account.approved_at == 0) {
        // A new account still waiting: the grant asked for changes with it.
        db.Query("UPDATE users SET pending_role = ?2 WHERE id = ?1").Bind(1, user_id).BindText(2, ToString(*role)).Run();
      } else if (account.pending_role) {
        ClearPendingRole(db, user_id);
        changes["role_request_withdrawn"] = ToString(*account.pending_role);
      }
      changes["role"] = ToString(*role);
    }
    if (active) {
      StoreActive(db, user_id, *active, db_.Now());
      changes["active"] = *active;
    }
    AuditChange(audit_, db, by, "user updated", {{"user", account.username}, {"changes", changes}});
    return RequireUser(db, user_id);
  });
}

void Accounts::SetActive(int64_t user_id, bool active, const Actor& by) { Update(user_id, std::nullopt, active, std::nullopt, by); }

void Accounts::SetRole(int64_t user_id, Role role, const Actor& by) { Update(user_id, role, std::nullopt, std::nullopt, by); }

void Accounts::SetPassword(int64_t user_id, const std::string& password, const Actor& by) {
  const User account = GetUser(user_id).value_or(User{});
  if (account.id == 0) throw NotFound("no user with id " + std::to_string(user_id));
  CheckNewPassword(password, account.username, account.display_name);
  const std::string hash = Hash(password);
  db_.Write([&](SqliteDb& db) {
    db.Query("UPDATE users SET password_hash = ?2, must_change_password = 0 WHERE id = ?1")
        .Bind(1, user_id)
        .BindText(2, hash)
        .Run();
    RequireChangedUser(db, user_id);
    DeleteSessionsOf(db, user_id);
    RevokeTokensOf(db, user_id, db_.Now());
    AuditChange(audit_, db, by, by.user.id == user_id ? "own password changed" : "password set",
                {{"user", account.username}, {"sessions_ended", true}, {"tokens_revoked", true}});
  });
}

void Accounts::ChangeOwnPassword(const std::string& current, const std::string& replacement, const Actor& by) {
  Reauthenticate(by.user.id, {current, ""}, by.client, true);
  if (current == replacement) throw InvalidArgument("new", "choose a new password, not the current one");
  SetPassword(by.user.id, replacement, by);
}

void Accounts::RequirePasswordChange(int64_t user_id) {
  db_.Write([&](SqliteDb& db) {
    db.Query("UPDATE users SET must_change_password = 1 WHERE id = ?1").Bind(1, user_id).Run();
    RequireChangedUser(db, user_id);
  });
}

User Accounts::Unlock(int64_t user_id, const Actor& by) {
  return db_.Write([&](SqliteDb& db) {
    const User account = RequireUser(db, user_id);
    db.Query("DELETE FROM login_throttle WHERE username = ?1").BindText(1, account.username).Run();
    AuditChange(audit_, db, by, "login lock cleared", {{"user", account.username}});
    return RequireUser(db, user_id);
  });
}

std::string Accounts::ResetPassword(int64_t user_id, const Actor& by) {
  const User account = GetUser(user_id).value_or(User{});
  if (account.id == 0) throw NotFound("no user with id " + std::to_string(user_id));
  const std::string password = DrawOneTimePassword(account.username, account.display_name);
  const std::string hash = Hash(password);
  db_.Write([&](SqliteDb& db) {
    db.Query("UPDATE users SET password_hash = ?2, must_change_password = 1 WHERE id = ?1")
        .Bind(1, user_id)
        .BindText(2, hash)
        .Run();
    RequireChangedUser(db, user_id);
    DeleteSessionsOf(db, user_id);
    RevokeTokensOf(db, user_id, db_.Now());
    db.Query("DELETE FROM login_throttle WHERE username = ?1").BindText(1, account.username).Run();
    AuditChange(audit_, db, by, "password reset",
                {{"user", account.username}, {"must_change_password", true}, {"sessions_ended", true},
                 {"tokens_revoked", true}, {"lock_cleared", true}});
  });
  return password;
}

// --- login

namespace {

// Accepts `code` if it matches a step after the last one accepted, and makes
// that step the last one.
bool AcceptTotp(SqliteDb& db, const Credentials& credentials, const std::string& code, int64_t now) {
  const std::optional<int64_t> step = MatchTotp(credentials.totp_secret, code, now);
  if (!step || *step <= credentials.totp_last_step) return false;
  db.Query("UPDATE users SET totp_last_step = ?2 WHERE id = ?1").Bind(1, credentials.user.id).Bind(2, *step).Run();
  return true;
}

// The outcome of a login for `username` from `client` whose password check
// against `verified` (nullopt: an unknown name, checked against the dummy)
// gave `password_ok`, decided on the rows as they are now. The account's
// state (inactive, TOTP) shows only to someone who gave the right password.
LoginResult DecideLogin(SqliteDb& db, const std::string& username, const std::string& client,
                        const std::optional<Credentials>& verified, bool password_ok, const std::string& totp_code,
                        int64_t now, const AccountPolicy& policy) {
  const Throttle throttle = LoadThrottle(db, username, client);
  const std::optional<Credentials> current = LoadCredentialsByName(db, username);
  std::optional<User> user = current ? std::optional<User>(current->user) : std::nullopt;
  if (throttle.LockedUntil() > now) return Locked(std::move(user), throttle.LockedUntil(), now);
  const bool same = current && verified && current->user.id == verified->user.id &&
                    current->password_hash == verified->password_hash;
  if (!password_ok || !same) return Fail(db, username, client, LoginStatus::kBadCredentials, now, policy);
  if (!current->user.active) return WithStatus(std::move(user), LoginStatus::kInactive);
  if (!current->totp_secret.empty()) {
    if (totp_code.empty()) return WithStatus(std::move(user), LoginStatus::kTotpRequired);
    if (!AcceptTotp(db, *current, totp_code, now)) {
      return Fail(db, username, client, LoginStatus::kBadTotp, now, policy);
    }
  }
  ClearThrottle(db, username, client);
  LoginResult result = WithStatus(RequireUser(db, current->user.id), LoginStatus::kOk);
  result.session = StartSession(db, current->user.id, now, policy);
  return result;
}

std::string LockedMessage(int64_t retry_after_seconds) {
  return "too many failed attempts; try again in " + std::to_string((retry_after_seconds + 59) / 60) + " minute(s)";
}

}  // namespace

// Every login costs one Argon2 verification, whatever the name (unknown
// names are checked against a dummy hash) and whatever its state (locked,
// inactive): the answer's timing tells nothing. The verification runs
// outside the database lock (it is slow on purpose); the decision is one
// write transaction, so concurrent attempts neither lose failure counts nor
// replay a code.
LoginResult Accounts::Login(const std::string& username, const std::string& password, const std::string& totp_code,
                            const std::string& client) {
  const bool valid_name = IsValidUsername(username);
  std::optional<Credentials> found;
  if (valid_name) found = db_.Read([&](SqliteDb& db) { return LoadCredentialsByName(db, username); });
  const bool password_ok = Verify(found ? found->password_hash : dummy_hash_, password) && found.has_value();
  if (!valid_name) return LoginResult{};
  return db_.Write([&](SqliteDb& db) {
    return DecideLogin(db, username, client, found, password_ok, totp_code, db_.Now(), policy_);
  });
}

void Accounts::CheckProof(SqliteDb& db, int64_t user_id, const Reauthentication& proof, bool password_ok,
                          const std::string& client, bool either) {
  const int64_t now = db_.Now();
  const std::optional<Credentials> current = LoadCredentialsById(db, user_id);
  if (!current) throw NotFound("no user with id " + std::to_string(user_id));
  const std::string& name = current->user.username;
  const Throttle throttle = LoadThrottle(db, name, client);
  if (throttle.LockedUntil() > now) {
    throw ReauthenticationError(LoginStatus::kLocked, throttle.LockedUntil() - now,
                                LockedMessage(throttle.LockedUntil() - now));
  }
  const auto refuse = [&](LoginStatus status, const std::string& message) {
    const int64_t locked_until = CountFailure(db, name, client, now, policy_);
    if (locked_until > now) {
      throw ReauthenticationError(LoginStatus::kLocked, locked_until - now,
                                  message + "; " + LockedMessage(locked_until - now));
    }
    throw ReauthenticationError(status, 0, message);
  };
  const bool totp_on = !current->totp_secret.empty();
  const bool code_given = totp_on && !proof.totp_code.empty();
  if (either && code_given && proof.password.empty()) {
    if (!AcceptTotp(db, *current, proof.totp_code, now)) {
      refuse(LoginStatus::kBadTotp, "the authenticator code is wrong or already used");
    }
    return;
  }
  if (!password_ok) refuse(LoginStatus::kBadCredentials, "the password is wrong");
  if (totp_on && !either) {
    if (proof.totp_code.empty()) {
      throw ReauthenticationError(LoginStatus::kTotpRequired, 0, "enter the code from your authenticator app as well");
    }
    if (!AcceptTotp(db, *current, proof.totp_code, now)) {
      refuse(LoginStatus::kBadTotp, "the authenticator code is wrong or already used");
    }
  }
}

// Like Login, the Argon2 verification runs outside the lock and every
// attempt pays it; the data is written in its own transaction, committed
// even when the proof is refused (so that failures count).
void Accounts::Reauthenticate(int64_t user_id, const Reauthentication& proof, const std::string& client, bool either) {
  std::optional<std::string> hash = db_.Read([&](SqliteDb& db) -> std::optional<std::string> {
    auto q = db.Query("SELECT password_hash FROM users WHERE id = ?1");
    if (!q.Bind(1, user_id).Step()) return std::nullopt;
    return q.Text(0);
  });
  if (!hash) throw NotFound("no user with id " + std::to_string(user_id));
  const bool password_ok = !proof.password.empty() && Verify(*hash, proof.password);
  std::optional<ReauthenticationError> refused;
  db_.Write([&](SqliteDb& db) {
    try {
      CheckProof(db, user_id, proof, password_ok, client, either);
    } catch (const ReauthenticationError& e) {
      refused = e;  // committed: the failure counts
    }
  });
  if (refused) throw *refused;
}

std::optional<std::pair<Session, User>> Accounts::ValidateSession(const std::string& token) {
  if (!LooksLikeToken(token)) return std::nullopt;
  const std::string digest = TokenDigest(token);
  std::optional<StoredSession> stored = db_.Read([&](SqliteDb& db) { return LoadSession(db, digest); });
  if (!stored) return std::nullopt;
  const int64_t now = db_.Now();
  Session& s = stored->session;
  if (now >= s.expires_at) {
    db_.Write([&](SqliteDb& db) { db.Query("DELETE FROM sessions WHERE id = ?1").Bind(1, s.id).Run(); });
    return std::nullopt;
  }
  if (!stored->user || !stored->user->active) return std::nullopt;
  s.expires_at = SessionExpiry(s.created_at, now, policy_);
  if (now - stored->last_seen_at >= kSessionTouchSeconds) {
    db_.Write([&](SqliteDb& db) {
      db.Query("UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id = ?1")
          .Bind(1, s.id)
          .Bind(2, now)
          .Bind(3, s.expires_at)
          .Run();
    });
  }
  return std::make_pair(std::move(s), std::move(*stored->user));
}

void Accounts::Logout(const std::string& token) {
  if (!LooksLikeToken(token)) return;
  db_.Write([&](SqliteDb& db) {
    db.Query("DELETE FROM sessions WHERE token_sha256 = ?1").BindText(1, TokenDigest(token)).Run();
  });
}

void Accounts::EndSessionsOf(int64_t user_id) {
  db_.Write([&](SqliteDb& db) { DeleteSessionsOf(db, user_id); });
}

// --- API tokens

ApiToken Accounts::CreateApiToken(int64_t user_id, const NewApiToken& wanted, const Reauthentication& proof,
                                  const Actor& by) {
  if (wanted.name.empty()) throw InvalidArgument("name", "an API token needs a name (what it is for)");
  CheckLabel(wanted.name, "API token name");
  const int64_t days = wanted.days == 0 ? policy_.api_token_default_days : wanted.days;
  if (days < 1 || days > policy_.api_token_max_days) {
    throw InvalidArgument("days", "an API token lasts 1 to " + std::to_string(policy_.api_token_max_days) + " days");
  }
  if (std::optional<User> user = GetUser(user_id); user && !user->active) {
    throw Conflict("", "cannot create an API token for " + user->username + ": the account is not active");
  }
  Reauthenticate(user_id, proof, by.client);
  return db_.Write([&](SqliteDb& db) {
    const User user = RequireUser(db, user_id);
    if (!user.active) throw PermissionDenied("cannot create an API token for " + user.username + ": the account is not active");
    ApiToken t;
    t.user_id = user_id;
    t.name = wanted.name;
    t.scope = wanted.scope;
    t.token = RandomHex(kTokenBytes);
    t.created_at = db_.Now();
    t.expires_at = t.created_at + days * kSecondsPerDay;
    db.Query("INSERT INTO api_tokens (user_id, name, token_sha256, created_at, scope, expires_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .Bind(1, user_id)
        .BindText(2, t.name)
        .BindText(3, TokenDigest(t.token))
        .Bind(4, t.created_at)
        .BindText(5, ToString(t.scope))
        .Bind(6, t.expires_at)
        .Run();
    t.id = db.LastInsertRowId();
    AuditChange(audit_, db, by, "API token created",
                {{"user", user.username}, {"token_id", t.id}, {"name", t.name}, {"scope", ToString(t.scope)},
                 {"expires_at", IsoTime(t.expires_at)}});
    return t;
  });
}

std::optional<TokenUse> Accounts::UseApiToken(const std::string& token) {
  if (!LooksLikeToken(token)) return std::nullopt;
  struct Found {
    int64_t id;
    int64_t last_used_at;
    TokenUse use;
  };
  const int64_t now = db_.Now();
  std::optional<Found> found = db_.Read([&](SqliteDb& db) -> std::optional<Found> {
    auto q = db.Query("SELECT id, user_id, scope, last_used_at FROM api_tokens "
                      "WHERE token_sha256 = ?1 AND revoked_at IS NULL AND expires_at > ?2");
    if (!q.BindText(1, TokenDigest(token)).Bind(2, now).Step()) return std::nullopt;
    std::optional<User> user = LoadUser(db, q.Int64(1));
    std::optional<TokenScope> scope = TokenScopeFromString(q.Text(2));
    if (!user || !user->active || !scope) return std::nullopt;
    return Found{q.Int64(0), q.Int64(3), {std::move(*user), *scope}};
  });
  if (!found) return std::nullopt;
  if (now - found->last_used_at >= kSessionTouchSeconds) {
    db_.Write([&](SqliteDb& db) {
      db.Query("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1").Bind(1, found->id).Bind(2, now).Run();
    });
  }
  return std::move(found->use);
}

std::optional<User> Accounts::ValidateApiToken(const std::string& token) {
  std::optional<TokenUse> use = UseApiToken(token);
  if (!use) return std::nullopt;
  return std::move(use->user);
}

std::vector<ApiToken> Accounts::ListApiTokens(int64_t user_id) {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query("SELECT id, user_id, name, created_at, last_used_at, scope, expires_at FROM api_tokens "
                      "WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY id");
    q.Bind(1, user_id).Bind(2, db_.Now());
    std::vector<ApiToken> tokens;
    while (q.Step()) {
      ApiToken t;
      t.id = q.Int64(0);
      t.user_id = q.Int64(1);
      t.name = q.Text(2);
      t.created_at = q.Int64(3);
      t.last_used_at = q.Int64(4);
      t.scope = TokenScopeFromString(q.Text(5)).value_or(TokenScope::kRead);
      t.expires_at = q.Int64(6);
      tokens.push_back(std::move(t));
    }
    return tokens;
  });
}

// Revoking an already revoked token of the user is a no-op; a token that is
// not the user's is an error (and stays valid).
void Accounts::RevokeApiToken(int64_t user_id, int64_t token_id, const Actor& by) {
  db_.Write([&](SqliteDb& db) {
    auto owned = db.Query("SELECT 1 FROM api_tokens WHERE id = ?1 AND user_id = ?2");
    if (!owned.Bind(1, token_id).Bind(2, user_id).Step()) {
      throw NotFound("no API token " + std::to_string(token_id) + " of user " + std::to_string(user_id));
    }
    db.Query("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
        .Bind(1, token_id)
        .Bind(2, db_.Now())
        .Run();
    if (db.Changes() > 0) AuditChange(audit_, db, by, "API token revoked", {{"token_id", token_id}});
  });
}

// --- TOTP

std::string Accounts::BeginTotp(int64_t user_id, const Reauthentication& proof, const std::string& client) {
  if (std::optional<User> user = GetUser(user_id); user && user->totp_enabled) {
    Reauthenticate(user_id, proof, client, true);  // replacing it: the current code or the password
  }
  return db_.Write([&](SqliteDb& db) {
    const User user = RequireUser(db, user_id);
    TotpSecret fresh = NewTotpSecret(user.username);
    db.Query("UPDATE users SET totp_pending_secret = ?2 WHERE id = ?1")
        .Bind(1, user_id)
        .BindBlob(2, fresh.secret.data(), fresh.secret.size())
        .Run();
    sodium_memzero(fresh.secret.data(), fresh.secret.size());
    return fresh.uri;
  });
}

// The confirmed code's step becomes the last one accepted, so that the code
// shown during set-up cannot also be used to log in.
bool Accounts::ConfirmTotp(int64_t user_id, const std::string& code, const Actor& by) {
  return db_.Write([&](SqliteDb& db) {
    auto q = db.Query("SELECT username, totp_pending_secret, totp_secret IS NOT NULL FROM users WHERE id = ?1");
    if (!q.Bind(1, user_id).Step()) throw NotFound("no user with id " + std::to_string(user_id));
    if (q.IsNull(1)) throw Conflict("code", "no TOTP set-up in progress for " + q.Text(0) + " (begin one first)");
    const std::string username = q.Text(0);
    const bool replacing = q.Int64(2) != 0;
    const std::vector<uint8_t> pending = BytesOf(q.Blob(1));
    const std::optional<int64_t> step = MatchTotp(pending, code, db_.Now());
    if (!step) return false;
    db.Query("UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, totp_last_step = ?2 "
             "WHERE id = ?1")
        .Bind(1, user_id)
        .Bind(2, *step)
        .Run();
    AuditChange(audit_, db, by, replacing ? "TOTP replaced" : "TOTP enabled", {{"user", username}});
    return true;
  });
}

void Accounts::DisableTotp(int64_t user_id, const Reauthentication& proof, const Actor& by) {
  if (std::optional<User> user = GetUser(user_id); user && user->totp_enabled) {
    Reauthenticate(user_id, proof, by.client, true);
  }
  db_.Write([&](SqliteDb& db) {
    const User user = RequireUser(db, user_id);
    db.Query("UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = 0 WHERE id = ?1")
        .Bind(1, user_id)
        .Run();
    AuditChange(audit_, db, by, "TOTP disabled", {{"user", user.username}});
  });
}

}  // namespace lineup
