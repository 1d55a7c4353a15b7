// Accounts, roles, sessions and API tokens.
//
// Roles (what each may do is enforced by the service layer, src/server):
//   admin        users, collections, settings
//   supervisor   approves new investigator accounts of their unit, reviews
//                the unit's searches
//   investigator searches, within their own cases
//   auditor      reads the audit trail; cannot search
//
// Invariants:
//  - Passwords are stored only as libsodium crypto_pwhash_str strings
//    (Argon2id, OPSLIMIT/MEMLIMIT_INTERACTIVE unless AccountPolicy says
//    otherwise); never logged, never returned.
//  - Session and API tokens are 32 random bytes (hex); the database keeps
//    only their SHA-256, so a copy of the file does not let anyone log in.
//    A token is returned once, when created.
//  - Each session has its own CSRF token (random, stored as is: it is not a
//    credential on its own), which the server requires on every state-changing
//    request made with the session cookie.
//  - Login throttling: after policy.max_failures consecutive failures an
//    account is locked for policy.lockout_seconds (doubling with each further
//    lockout, up to a day); a success resets the count. Unknown usernames
//    take as long as known ones (a dummy hash is verified) and report the
//    same status, so that names cannot be probed.
//  - New investigator accounts are inactive until a supervisor of the same
//    unit (or an admin) approves them; inactive accounts cannot log in.
//  - All times come from the GovernanceDb clock.
//  - Usernames are not case-folded: a name with upper-case letters (or any
//    character outside [a-z0-9._-]) is refused by CreateUser, and Login and
//    FindUser with such a name find nobody.
//  - An account counts as approved once it has been active: approved_at is
//    set when it first becomes active (Approve, SetActive, or creation as
//    active); approved_by only by Approve. PendingApprovals lists the
//    inactive accounts that were never active.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "governance/governance_db.h"

namespace lineup {

enum class Role { kAdmin, kSupervisor, kInvestigator, kAuditor };
std::string ToString(Role role);                 // "admin", "supervisor", "investigator", "auditor"
std::optional<Role> RoleFromString(const std::string& text);

struct User {
  int64_t id = 0;
  std::string username;      // [a-z0-9._-], 2..64 characters, unique
  std::string display_name;
  std::string unit;          // organisational unit, e.g. "CID North"; "" for none
  Role role = Role::kInvestigator;
  bool active = false;
  bool totp_enabled = false;
  int64_t created_at = 0;
  int64_t approved_by = 0;   // user id of the approver, 0 if never approved
  int64_t approved_at = 0;
  int64_t failed_logins = 0; // consecutive
  int64_t locked_until = 0;  // 0 or a Unix time
  bool must_change_password = false;  // set by RequirePasswordChange, cleared by a new password
};

struct NewUser {
  std::string username;
  std::string password;      // at least policy.min_password_length characters
  std::string display_name;
  std::string unit;
  Role role = Role::kInvestigator;
  bool active = false;       // admins create active accounts; self-registration does not
};

struct AccountPolicy {
  int min_password_length = 12;
  int max_failures = 5;
  int64_t lockout_seconds = 300;
  int64_t session_idle_seconds = 30 * 60;     // sliding expiry
  int64_t session_max_seconds = 12 * 3600;    // absolute expiry
  bool fast_hashing = false;  // tests only: OPSLIMIT/MEMLIMIT_MIN instead of INTERACTIVE
};

struct Session {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string token;       // only set by Login() (the one time it is known)
  std::string csrf_token;
  int64_t created_at = 0;
  int64_t expires_at = 0;  // min(last use + idle, created + max)
};

enum class LoginStatus {
  kOk,
  kBadCredentials,  // unknown user or wrong password (the same answer for both)
  kLocked,          // too many failures; retry_after_seconds says when
  kInactive,        // awaiting approval or deactivated
  kTotpRequired,    // password right, account has TOTP, no code given
  kBadTotp,         // password right, code wrong or replayed (counts as a failure)
};
std::string ToString(LoginStatus status);

struct LoginResult {
  LoginStatus status = LoginStatus::kBadCredentials;
  std::optional<User> user;        // set when the username exists (for the audit record)
  std::optional<Session> session;  // set when status == kOk
  int64_t retry_after_seconds = 0; // set when kLocked
};

struct ApiToken {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string name;
  std::string token;  // only set by CreateApiToken()
  int64_t created_at = 0;
  int64_t last_used_at = 0;
};

class Accounts {
 public:
  explicit Accounts(GovernanceDb& db, AccountPolicy policy = {});

  // Throws Error with a message fit for the user (bad name, short password,
  // name taken).
  User CreateUser(const NewUser& user);
  std::optional<User> FindUser(const std::string& username);
  std::optional<User> GetUser(int64_t id);
  std::vector<User> ListUsers();                   // by id
  std::vector<User> PendingApprovals(const std::string& unit);  // inactive, never approved; "" = all units

  // Activates a never-approved account. Throws Error unless `approver` is an
  // admin, or a supervisor of the same unit as the account.
  User Approve(int64_t user_id, const User& approver);
  void SetActive(int64_t user_id, bool active);    // also ends the user's sessions when deactivating
  void SetRole(int64_t user_id, Role role);
  void SetPassword(int64_t user_id, const std::string& password);  // ends the user's sessions
  // The owner's change: throws Error if `current` is wrong or the new one is
  // the same or too weak. Ends the user's sessions (log in again).
  void ChangeOwnPassword(int64_t user_id, const std::string& current, const std::string& replacement);
  // Marks a password someone else chose (the first admin's printed one): the
  // service refuses everything but a password change until it is replaced.
  void RequirePasswordChange(int64_t user_id);

  LoginResult Login(const std::string& username, const std::string& password, const std::string& totp_code);
  // The session for a token, extending its idle expiry; nullopt if unknown,
  // expired, or the user is no longer active.
  std::optional<std::pair<Session, User>> ValidateSession(const std::string& token);
  void Logout(const std::string& token);
  void EndSessionsOf(int64_t user_id);

  ApiToken CreateApiToken(int64_t user_id, const std::string& name);
  std::optional<User> ValidateApiToken(const std::string& token);  // updates last_used_at
  std::vector<ApiToken> ListApiTokens(int64_t user_id);
  void RevokeApiToken(int64_t user_id, int64_t token_id);

  // TOTP: BeginTotp stores a pending secret and returns it; ConfirmTotp
  // enables it if the code matches. DisableTotp removes it.
  std::string BeginTotp(int64_t user_id);  // returns the otpauth:// URI (secret inside)
  bool ConfirmTotp(int64_t user_id, const std::string& code);
  void DisableTotp(int64_t user_id);

  const AccountPolicy& policy() const { return policy_; }

 private:
  GovernanceDb& db_;
  AccountPolicy policy_;
  std::string dummy_hash_;  // verified for unknown usernames, so that they take as long as known ones
};

}  // namespace lineup
