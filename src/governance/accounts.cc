#include "governance/accounts.h"

#include <sodium.h>

#include <algorithm>
#include <utility>

#include "common/error.h"
#include "common/file_util.h"
#include "governance/totp.h"

namespace lineup {
namespace {

// Schema history of the "accounts" module: kMigrations[v] takes v to v + 1.
// Entries are never edited once released; a change is a new entry.
//
// v1: the tables. Times are Unix seconds from the GovernanceDb clock; NULL
// means "never" (approved_at, approved_by, revoked_at).
//  - users.password_hash is a crypto_pwhash_str string ("$argon2id$...").
//  - users.approved_at is NULL until the account first becomes active.
//  - users.failed_logins counts consecutive failures; the n-th multiple of
//    max_failures starts the n-th lockout (see LockoutSeconds).
//  - users.totp_secret is NULL while TOTP is off; totp_pending_secret holds a
//    BeginTotp secret until ConfirmTotp; totp_last_step is the highest time
//    step accepted, and codes at or below it are replays.
//  - token_sha256 is the SHA-256 hex of a session or API token; the token
//    itself is never stored.
constexpr const char* kMigrations[] = {
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
};

constexpr size_t kTokenBytes = 32;
constexpr size_t kMinUsernameLength = 2;
constexpr size_t kMaxUsernameLength = 64;
constexpr size_t kMaxLabelBytes = 200;
constexpr size_t kMaxPasswordBytes = 1024;
constexpr int64_t kMaxLockoutSeconds = 24 * 3600;
constexpr int64_t kMaxPolicyLockoutSeconds = 365 * 24 * 3600;

// Column list of ReadUser (alias u).
constexpr const char* kUserColumns =
    "u.id, u.username, u.display_name, u.unit, u.role, u.active, u.totp_secret IS NOT NULL, u.created_at, "
    "u.approved_by, u.approved_at, u.failed_logins, u.locked_until, u.must_change_password";
constexpr int kUserColumnCount = 13;

std::string UserQuery(const std::string& where) {
  return std::string("SELECT ") + kUserColumns + " FROM users u " + where;
}

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
  if (!user) throw Error("no user with id " + std::to_string(id));
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
  return std::string("SELECT ") + kUserColumns + ", u.password_hash, u.totp_secret, u.totp_last_step FROM users u " +
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
  if (db.Changes() == 0) throw Error("no user with id " + std::to_string(user_id));
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

// The code point starting at text[i] and its length in bytes, or length 0 if
// the bytes there are not well-formed UTF-8 (overlong forms, surrogates and
// values above U+10FFFF are not).
std::pair<uint32_t, size_t> DecodeUtf8(const std::string& text, size_t i) {
  constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};  // by length; smaller values are overlong
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  if (lead < 0x80) return {lead, 1};
  const size_t length = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 0;
  if (length == 0 || i + length > text.size()) return {0, 0};
  uint32_t value = lead & (0x7Fu >> length);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return {0, 0};
    value = value << 6 | (byte(i + k) & 0x3Fu);
  }
  if (value < kSmallest[length] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return {0, 0};
  return {value, length};
}

bool IsControl(uint32_t code_point) { return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F); }

// Display names, units, token names: UTF-8, at most 200 bytes, no control characters.
void CheckLabel(const std::string& text, const std::string& what) {
  if (text.size() > kMaxLabelBytes) {
    throw InvalidArgument("", what + " is too long (" + std::to_string(text.size()) + " bytes; at most 200)");
  }
  for (size_t i = 0; i < text.size();) {
    const auto [code_point, length] = DecodeUtf8(text, i);
    if (length == 0) throw InvalidArgument("", what + " is not valid UTF-8");
    if (IsControl(code_point)) throw InvalidArgument("", what + " must not contain control characters (tabs, line breaks, ...)");
    i += length;
  }
}

size_t CountCodePoints(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

void CheckPassword(const std::string& password, const AccountPolicy& policy) {
  if (CountCodePoints(password) < static_cast<size_t>(policy.min_password_length)) {
    throw InvalidArgument("password", "password is too short: it needs at least " + std::to_string(policy.min_password_length) +
                " characters");
  }
  if (password.size() > kMaxPasswordBytes) throw InvalidArgument("password", "password is too long (at most 1024 bytes)");
}

void CheckPolicy(const AccountPolicy& policy) {
  if (policy.min_password_length < 1 || policy.max_failures < 1 || policy.lockout_seconds < 1 ||
      policy.lockout_seconds > kMaxPolicyLockoutSeconds || policy.session_idle_seconds < 1 ||
      policy.session_max_seconds < 1) {
    throw Error("account policy: lengths, counts and durations must be positive (lockout at most a year)");
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

std::string HashPassword(const std::string& password, const AccountPolicy& policy) {
  const unsigned long long ops = policy.fast_hashing ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE;
  const size_t mem = policy.fast_hashing ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE;
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(hash, password.data(), password.size(), ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw Error("cannot hash the password (out of memory)");
  }
  return hash;
}

bool VerifyPassword(const std::string& hash, const std::string& password) {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

// --- login throttling

// The lock that a failure count calls for: none unless it is a multiple of
// max_failures; the n-th lockout lasts lockout_seconds * 2^(n - 1), capped at
// a day (or at lockout_seconds, if the policy sets more than a day).
int64_t LockoutSeconds(int64_t failures, const AccountPolicy& policy) {
  if (failures <= 0 || failures % policy.max_failures != 0) return 0;
  const int64_t cap = std::max(kMaxLockoutSeconds, policy.lockout_seconds);
  int64_t seconds = policy.lockout_seconds;
  for (int64_t n = failures / policy.max_failures; n > 1 && seconds < cap; --n) seconds *= 2;
  return std::min(seconds, cap);
}

LoginResult WithStatus(User user, LoginStatus status) {
  LoginResult result;
  result.status = status;
  result.user = std::move(user);
  return result;
}

LoginResult Locked(User user, int64_t now) {
  LoginResult result;
  result.status = LoginStatus::kLocked;
  result.retry_after_seconds = user.locked_until - now;
  result.user = std::move(user);
  return result;
}

// Counts one failure of `user` (read in this transaction) and locks the
// account when that completes a run of max_failures; reports kLocked then.
LoginResult RecordFailure(SqliteDb& db, const User& user, LoginStatus status, int64_t now,
                          const AccountPolicy& policy) {
  const int64_t failures = user.failed_logins + 1;
  const int64_t lock = LockoutSeconds(failures, policy);
  const int64_t locked_until = lock > 0 ? now + lock : user.locked_until;
  db.Query("UPDATE users SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1")
      .Bind(1, user.id)
      .Bind(2, failures)
      .Bind(3, locked_until)
      .Run();
  User updated = RequireUser(db, user.id);
  if (lock > 0) return Locked(std::move(updated), now);
  return WithStatus(std::move(updated), status);
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

Accounts::Accounts(GovernanceDb& db, AccountPolicy policy) : db_(db), policy_(policy) {
  if (sodium_init() < 0) throw Error("cannot initialise libsodium");
  CheckPolicy(policy_);
  db_.EnsureSchema("accounts", std::vector<std::string>(std::begin(kMigrations), std::end(kMigrations)));
  dummy_hash_ = HashPassword(RandomHex(kTokenBytes), policy_);
}

// --- users

User Accounts::CreateUser(const NewUser& user) {
  CheckUsername(user.username);
  CheckPassword(user.password, policy_);
  CheckLabel(user.display_name, "display name");
  CheckLabel(user.unit, "unit");
  const std::string hash = HashPassword(user.password, policy_);  // slow: outside the database lock
  return db_.Write([&](SqliteDb& db) {
    auto taken = db.Query("SELECT 1 FROM users WHERE username = ?1");
    if (taken.BindText(1, user.username).Step()) throw Conflict("username", "username " + user.username + " is already taken");
    const int64_t now = db_.Now();
    auto q = db.Query("INSERT INTO users (username, password_hash, display_name, unit, role, active, created_at, "
                      "approved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    q.BindText(1, user.username).BindText(2, hash).BindText(3, user.display_name).BindText(4, user.unit);
    q.BindText(5, ToString(user.role)).Bind(6, user.active ? 1 : 0).Bind(7, now);
    if (user.active) q.Bind(8, now);
    else q.BindNull(8);
    q.Run();
    return RequireUser(db, db.LastInsertRowId());
  });
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
    auto q = db.Query(UserQuery("WHERE u.active = 0 AND u.approved_at IS NULL AND (?1 = '' OR u.unit = ?1) "
                                "ORDER BY u.id"));
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

}  // namespace

User Accounts::Approve(int64_t user_id, const User& approver) {
  return db_.Write([&](SqliteDb& db) {
    const User account = RequireUser(db, user_id);
    CheckMayApprove(account, LoadUser(db, approver.id));  // the approver as stored now, not as passed
    if (account.approved_at != 0 || account.active) throw Conflict("", account.username + " is already approved");
    db.Query("UPDATE users SET active = 1, approved_by = ?2, approved_at = ?3 WHERE id = ?1")
        .Bind(1, user_id)
        .Bind(2, approver.id)
        .Bind(3, db_.Now())
        .Run();
    return RequireUser(db, user_id);
  });
}

void Accounts::SetActive(int64_t user_id, bool active) {
  db_.Write([&](SqliteDb& db) {
    db.Query("UPDATE users SET active = ?2, approved_at = CASE WHEN ?2 = 1 THEN coalesce(approved_at, ?3) "
             "ELSE approved_at END WHERE id = ?1")
        .Bind(1, user_id)
        .Bind(2, active ? 1 : 0)
        .Bind(3, db_.Now())
        .Run();
    RequireChangedUser(db, user_id);
    if (!active) DeleteSessionsOf(db, user_id);
  });
}

void Accounts::SetRole(int64_t user_id, Role role) {
  db_.Write([&](SqliteDb& db) {
    db.Query("UPDATE users SET role = ?2 WHERE id = ?1").Bind(1, user_id).BindText(2, ToString(role)).Run();
    RequireChangedUser(db, user_id);
  });
}

void Accounts::SetPassword(int64_t user_id, const std::string& password) {
  CheckPassword(password, policy_);
  const std::string hash = HashPassword(password, policy_);
  db_.Write([&](SqliteDb& db) {
    db.Query("UPDATE users SET password_hash = ?2, must_change_password = 0 WHERE id = ?1")
        .Bind(1, user_id)
        .BindText(2, hash)
        .Run();
    RequireChangedUser(db, user_id);
    DeleteSessionsOf(db, user_id);
  });
}

void Accounts::ChangeOwnPassword(int64_t user_id, const std::string& current, const std::string& replacement) {
  std::optional<std::string> hash = db_.Read([&](SqliteDb& db) -> std::optional<std::string> {
    auto q = db.Query("SELECT password_hash FROM users WHERE id = ?1");
    q.Bind(1, user_id);
    if (!q.Step()) return std::nullopt;
    return q.Text(0);
  });
  if (!hash) throw Error("no such user");
  // Guesses through a stolen session count like failed logins: they lock the account.
  const int64_t now = db_.Now();
  if (std::optional<User> u = GetUser(user_id); u && u->locked_until > now) {
    throw PermissionDenied("too many failed attempts; try again in " + std::to_string((u->locked_until - now + 59) / 60) +
                " minute(s)");
  }
  if (!VerifyPassword(*hash, current)) {
    LoginResult r = db_.Write([&](SqliteDb& db) {
      return RecordFailure(db, RequireUser(db, user_id), LoginStatus::kBadCredentials, now, policy_);
    });
    throw InvalidArgument("current", r.status == LoginStatus::kLocked ? "the current password is wrong; too many failed attempts, the "
                                                   "account is locked for a while"
                                                 : "the current password is wrong");
  }
  if (current == replacement) throw InvalidArgument("new", "choose a new password, not the current one");
  SetPassword(user_id, replacement);
}

void Accounts::RequirePasswordChange(int64_t user_id) {
  db_.Write([&](SqliteDb& db) {
    db.Query("UPDATE users SET must_change_password = 1 WHERE id = ?1").Bind(1, user_id).Run();
    RequireChangedUser(db, user_id);
  });
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

LoginResult Succeed(SqliteDb& db, int64_t user_id, int64_t now, const AccountPolicy& policy) {
  db.Query("UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ?1").Bind(1, user_id).Run();
  LoginResult result = WithStatus(RequireUser(db, user_id), LoginStatus::kOk);
  result.session = StartSession(db, user_id, now, policy);
  return result;
}

// The outcome of a login whose password check against `verified` gave
// `password_ok`, decided on the row as it is now. The account's state
// (inactive, TOTP) shows only to someone who gave the right password.
LoginResult DecideLogin(SqliteDb& db, const Credentials& verified, bool password_ok, const std::string& totp_code,
                        int64_t now, const AccountPolicy& policy) {
  const std::optional<Credentials> current = LoadCredentialsById(db, verified.user.id);
  if (!current) return LoginResult{};
  const User& user = current->user;
  if (user.locked_until > now) return Locked(user, now);
  if (!password_ok) return RecordFailure(db, user, LoginStatus::kBadCredentials, now, policy);
  if (current->password_hash != verified.password_hash) return WithStatus(user, LoginStatus::kBadCredentials);
  if (!user.active) return WithStatus(user, LoginStatus::kInactive);
  if (!current->totp_secret.empty()) {
    if (totp_code.empty()) return WithStatus(user, LoginStatus::kTotpRequired);
    if (!AcceptTotp(db, *current, totp_code, now)) return RecordFailure(db, user, LoginStatus::kBadTotp, now, policy);
  }
  return Succeed(db, user.id, now, policy);
}

}  // namespace

// Login verifies the password outside the database lock (it is slow on
// purpose), then decides in one write transaction, so that concurrent
// attempts neither lose failure counts nor replay a code.
LoginResult Accounts::Login(const std::string& username, const std::string& password, const std::string& totp_code) {
  std::optional<Credentials> found;
  if (IsValidUsername(username)) {
    found = db_.Read([&](SqliteDb& db) { return LoadCredentialsByName(db, username); });
  }
  if (!found) {
    VerifyPassword(dummy_hash_, password);  // the same time as for a known name
    return LoginResult{};
  }
  const int64_t now = db_.Now();
  if (found->user.locked_until > now) return Locked(found->user, now);
  const bool password_ok = VerifyPassword(found->password_hash, password);
  return db_.Write([&](SqliteDb& db) { return DecideLogin(db, *found, password_ok, totp_code, db_.Now(), policy_); });
}

std::optional<std::pair<Session, User>> Accounts::ValidateSession(const std::string& token) {
  if (!LooksLikeToken(token)) return std::nullopt;
  return db_.Write([&](SqliteDb& db) -> std::optional<std::pair<Session, User>> {
    const int64_t now = db_.Now();
    auto q = db.Query("SELECT id, user_id, csrf_token, created_at, expires_at FROM sessions WHERE token_sha256 = ?1");
    if (!q.BindText(1, TokenDigest(token)).Step()) return std::nullopt;
    Session s;
    s.id = q.Int64(0);
    s.user_id = q.Int64(1);
    s.csrf_token = q.Text(2);
    s.created_at = q.Int64(3);
    s.expires_at = q.Int64(4);
    if (now >= s.expires_at) {
      db.Query("DELETE FROM sessions WHERE id = ?1").Bind(1, s.id).Run();
      return std::nullopt;
    }
    std::optional<User> user = LoadUser(db, s.user_id);
    if (!user || !user->active) return std::nullopt;
    s.expires_at = SessionExpiry(s.created_at, now, policy_);
    db.Query("UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id = ?1")
        .Bind(1, s.id)
        .Bind(2, now)
        .Bind(3, s.expires_at)
        .Run();
    return std::make_pair(std::move(s), std::move(*user));
  });
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

ApiToken Accounts::CreateApiToken(int64_t user_id, const std::string& name) {
  if (name.empty()) throw InvalidArgument("name", "an API token needs a name (what it is for)");
  CheckLabel(name, "API token name");
  return db_.Write([&](SqliteDb& db) {
    const User user = RequireUser(db, user_id);
    if (!user.active) throw PermissionDenied("cannot create an API token for " + user.username + ": the account is not active");
    ApiToken t;
    t.user_id = user_id;
    t.name = name;
    t.token = RandomHex(kTokenBytes);
    t.created_at = db_.Now();
    db.Query("INSERT INTO api_tokens (user_id, name, token_sha256, created_at) VALUES (?1, ?2, ?3, ?4)")
        .Bind(1, user_id)
        .BindText(2, name)
        .BindText(3, TokenDigest(t.token))
        .Bind(4, t.created_at)
        .Run();
    t.id = db.LastInsertRowId();
    return t;
  });
}

std::optional<User> Accounts::ValidateApiToken(const std::string& token) {
  if (!LooksLikeToken(token)) return std::nullopt;
  return db_.Write([&](SqliteDb& db) -> std::optional<User> {
    auto q = db.Query("SELECT id, user_id FROM api_tokens WHERE token_sha256 = ?1 AND revoked_at IS NULL");
    if (!q.BindText(1, TokenDigest(token)).Step()) return std::nullopt;
    const int64_t token_id = q.Int64(0);
    std::optional<User> user = LoadUser(db, q.Int64(1));
    if (!user || !user->active) return std::nullopt;
    db.Query("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1").Bind(1, token_id).Bind(2, db_.Now()).Run();
    return user;
  });
}

std::vector<ApiToken> Accounts::ListApiTokens(int64_t user_id) {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query("SELECT id, user_id, name, created_at, last_used_at FROM api_tokens "
                      "WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY id");
    q.Bind(1, user_id);
    std::vector<ApiToken> tokens;
    while (q.Step()) {
      ApiToken t;
      t.id = q.Int64(0);
      t.user_id = q.Int64(1);
      t.name = q.Text(2);
      t.created_at = q.Int64(3);
      t.last_used_at = q.Int64(4);
      tokens.push_back(std::move(t));
    }
    return tokens;
  });
}

// Revoking an already revoked token of the user is a no-op; a token that is
// not the user's is an error (and stays valid).
void Accounts::RevokeApiToken(int64_t user_id, int64_t token_id) {
  db_.Write([&](SqliteDb& db) {
    auto owned = db.Query("SELECT 1 FROM api_tokens WHERE id = ?1 AND user_id = ?2");
    if (!owned.Bind(1, token_id).Bind(2, user_id).Step()) {
      throw NotFound("no API token " + std::to_string(token_id) + " of user " + std::to_string(user_id));
    }
    db.Query("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
        .Bind(1, token_id)
        .Bind(2, db_.Now())
        .Run();
  });
}

// --- TOTP

std::string Accounts::BeginTotp(int64_t user_id) {
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
bool Accounts::ConfirmTotp(int64_t user_id, const std::string& code) {
  return db_.Write([&](SqliteDb& db) {
    auto q = db.Query("SELECT username, totp_pending_secret FROM users WHERE id = ?1");
    if (!q.Bind(1, user_id).Step()) throw Error("no user with id " + std::to_string(user_id));
    if (q.IsNull(1)) throw Conflict("code", "no TOTP set-up in progress for " + q.Text(0) + " (begin one first)");
    const std::vector<uint8_t> pending = BytesOf(q.Blob(1));
    const std::optional<int64_t> step = MatchTotp(pending, code, db_.Now());
    if (!step) return false;
    db.Query("UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, totp_last_step = ?2 "
             "WHERE id = ?1")
        .Bind(1, user_id)
        .Bind(2, *step)
        .Run();
    return true;
  });
}

void Accounts::DisableTotp(int64_t user_id) {
  db_.Write([&](SqliteDb& db) {
    db.Query("UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = 0 WHERE id = ?1")
        .Bind(1, user_id)
        .Run();
    RequireChangedUser(db, user_id);
  });
}

}  // namespace lineup
