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
//  - Login throttling is per (username, client address): after
//    policy.max_failures consecutive failures from one address the name is
//    locked for that address for policy.lockout_seconds (doubling with each
//    further lockout, up to a day), so nobody can lock an account out for
//    everyone from one place. A backstop row per name counts the failures
//    from every address and locks the name for all after
//    policy.account_max_failures. A success from an address clears its row
//    and the backstop. Unknown names are throttled the same way, and every
//    answer (unknown, locked, inactive, wrong, right) costs one Argon2
//    verification, so neither the answer nor its timing tells whether a name
//    exists. Unlock() clears a name's rows.
//  - Re-authentication (Reauthenticate: token creation, TOTP changes, the
//    own password change) counts failures like logins from the same address.
//  - API tokens have a scope and an expiry (at most policy.api_token_max_days);
//    creating one needs the password (and the TOTP code when TOTP is on); a
//    new password revokes all of the account's tokens and ends its sessions.
//  - Sessions slide: last_seen_at (and expires_at from it) is written at most
//    once per kSessionTouchSeconds per session, so validating a session is a
//    read on almost every request; a session may therefore end up to that
//    long before idle_seconds after its very last use. API tokens' last_used_at
//    likewise.
//  - Every account change (creation, role, activation, password, approval,
//    token created or revoked, unlock, TOTP on or off) writes its audit record
//    (action "account_change") in the same transaction as the change: both
//    or neither are stored.
//  - At most policy.concurrent_hashes Argon2 computations run at once (each
//    takes 64 MiB); the others wait. Self-registration is rate-limited per
//    client address and overall (policy.registrations_per_hour*).
//  - Passwords follow NIST SP 800-63B: a minimum length, no composition
//    rules, and no common, dictionary-based or context-specific passwords
//    (governance/password_policy.h).
//  - New investigator accounts are inactive until a supervisor of the same
//    unit (or an admin) approves them; inactive accounts cannot log in.
//  - Two-person rule (policy.two_person_rule): an account an admin creates
//    (any role) is stored inactive with its role pending, and a role an admin
//    grants is pending while the old role stays in force; Approve by a
//    second person applies it. Investigator grants: a supervisor of the
//    account's unit or another admin; auditor, supervisor and admin grants:
//    another admin, or the operator at the server's machine
//    (ApproveAsOperator, how the first supervisors of a deployment start).
//    Nobody approves a grant they asked for or their own account, and
//    self-registrations are approved by a supervisor of the unit only (the
//    applicant may be an admin under another name). Changes made as the
//    operator or the system (Actor user id 0) are outside the rule.
//  - All times come from the GovernanceDb clock.
//  - Usernames are not case-folded: a name with upper-case letters (or any
//    character outside [a-z0-9._-]) is refused by CreateUser, and Login and
//    FindUser with such a name find nobody.
//  - An account counts as approved once it has been active: approved_at is
//    set when it first becomes active (Approve, SetActive, or creation as
//    active); approved_by only by Approve. PendingApprovals lists the
//    inactive accounts that were never active.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "governance/audit_log.h"
#include "governance/governance_db.h"
#include "governance/password_policy.h"

namespace lineup {

inline constexpr int64_t kSessionTouchSeconds = 60;

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
  int64_t failed_logins = 0; // consecutive, from every address (the backstop count)
  int64_t locked_until = 0;  // 0 or a Unix time: locked for every address (the backstop)
  bool must_change_password = false;  // set by RequirePasswordChange, cleared by a new password
  // Two-person rule: a role granted by an admin that awaits a second
  // person's approval (Approve), and the admin who asked. For a new account
  // the account is inactive until then; for a role change the current role
  // stays in force until then.
  std::optional<Role> pending_role;
  int64_t pending_requested_by = 0;
};

struct NewUser {
  std::string username;
  std::string password;      // at least policy.min_password_length characters
  std::string display_name;
  std::string unit;
  Role role = Role::kInvestigator;
  bool active = false;       // admins create active accounts; self-registration does not
  bool must_change_password = false;  // a password someone else chose (RequirePasswordChange)
};

// Who makes an account change, as its audit record names them. user.id 0:
// no account (self-registration, or the system; user.username says which).
struct Actor {
  User user;
  std::string client;  // address as the server saw it; "cli" for the command line
  std::string role;    // the record's role; "" = user.role when user.id != 0
};

struct AccountPolicy {
  int min_password_length = 12;
  int max_failures = 5;             // per (name, client address)
  int account_max_failures = 50;    // per name over every address: the backstop
  int64_t lockout_seconds = 300;
  int64_t api_token_default_days = 90;
  int64_t api_token_max_days = 365;
  int registrations_per_hour_per_address = 5;
  int registrations_per_hour = 60;  // over every address
  int concurrent_hashes = 2;        // Argon2 computations at once
  std::string password_dictionary;  // cracklib dictionary prefix; "" = cracklib's default
  int64_t session_idle_seconds = 30 * 60;     // sliding expiry
  int64_t session_max_seconds = 12 * 3600;    // absolute expiry
  bool fast_hashing = false;  // tests only: OPSLIMIT/MEMLIMIT_MIN instead of INTERACTIVE
  // Separation of duties: accounts created and roles granted by an admin
  // wait for a second person (see "Two-person rule" above Accounts).
  bool two_person_rule = false;
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

// What an API token may do: kRead only reads (GET), kSearch also works on
// cases (opens them, uploads probes, searches, records decisions), kAdmin
// everything the account's role allows. The HTTP layer enforces it.
enum class TokenScope { kRead, kSearch, kAdmin };
std::string ToString(TokenScope scope);  // "read", "search", "admin"
std::optional<TokenScope> TokenScopeFromString(const std::string& text);

struct ApiToken {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string name;
  std::string token;  // only set by CreateApiToken()
  TokenScope scope = TokenScope::kRead;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t last_used_at = 0;
};

struct NewApiToken {
  std::string name;
  TokenScope scope = TokenScope::kRead;
  int64_t days = 0;  // lifetime; 0 = policy.api_token_default_days; at most policy.api_token_max_days
};

// A valid token's account and scope.
struct TokenUse {
  User user;
  TokenScope scope = TokenScope::kRead;
};

// Proof that the account's owner is there, not only their session or token.
struct Reauthentication {
  std::string password;
  std::string totp_code;
};

// Thrown by Reauthenticate (and what uses it) when the proof is refused:
// status kBadCredentials (wrong password), kTotpRequired, kBadTotp or
// kLocked (retry_after_seconds says when).
class ReauthenticationError : public Error {
 public:
  ReauthenticationError(LoginStatus status, int64_t retry_after_seconds, const std::string& message)
      : Error(message), status_(status), retry_after_seconds_(retry_after_seconds) {}
  LoginStatus status() const { return status_; }
  int64_t retry_after_seconds() const { return retry_after_seconds_; }

 private:
  LoginStatus status_;
  int64_t retry_after_seconds_;
};

// CreateUser: the username exists already.
class NameTakenError : public Error {
 public:
  explicit NameTakenError(const std::string& message) : Error(ErrorKind::kConflict, "username", message) {}
};

// Register: too many registrations from the address (or overall).
class RateLimitedError : public Error {
 public:
  RateLimitedError(int64_t retry_after_seconds, const std::string& message)
      : Error(message), retry_after_seconds_(retry_after_seconds) {}
  int64_t retry_after_seconds() const { return retry_after_seconds_; }

 private:
  int64_t retry_after_seconds_;
};

// Who may approve a pending grant of `role` to an account of `unit` under
// the two-person rule, as a phrase for messages: "a supervisor of CID North
// or another admin", "another admin".
std::string GrantApprovers(Role role, const std::string& unit);

class Accounts {
 public:
  // Throws Error if the password dictionary (cracklib-runtime) is missing.
  Accounts(GovernanceDb& db, AuditLog& audit, AccountPolicy policy = {});
  ~Accounts();

  // Throws Error with a message fit for the user (bad name, weak password),
  // NameTakenError when the name exists. Audited as made `by`.
  User CreateUser(const NewUser& user, const Actor& by);
  // CreateUser with a random one-time password in place of user.password
  // (must_change_password set), drawn again while the password policy refuses
  // a draw (cracklib calls a few random strings "systematic"). The password
  // is given back this once; only its hash is stored.
  struct UserWithPassword {
    User user;
    std::string password;
  };
  UserWithPassword CreateUserWithOneTimePassword(NewUser user, const Actor& by);
  // Self-registration from `client`: an inactive investigator account.
  // RateLimitedError past the policy's limits (counted before any hashing).
  User Register(const NewUser& user, const std::string& client);
  std::optional<User> FindUser(const std::string& username);
  std::optional<User> GetUser(int64_t id);
  std::vector<User> ListUsers();                   // by id
  // Never-approved inactive accounts and accounts with a pending role grant,
  // of `unit` ("" = all units), by id.
  std::vector<User> PendingApprovals(const std::string& unit);

  // Applies the account's pending role grant (activating a new account), or
  // activates a never-approved registration. Throws PermissionDenied unless
  // `by` may approve it (see the invariants), Conflict when nothing awaits.
  User Approve(int64_t user_id, const Actor& by);
  // What Reject refused.
  enum class Rejected { kAccount, kRoleGrant };
  // Refuses what awaits approval, by those who may approve it (never one's
  // own; an admin may refuse a registration even under the two-person rule):
  // a never-approved account is deleted (its name is free again), a pending
  // role grant is withdrawn (the role in force stays). Audited with the
  // change ("account request rejected" / "role grant refused"). Conflict when
  // nothing awaits.
  Rejected Reject(int64_t user_id, const Actor& by);
  // Approve as the operator at the server's machine (`lineup users approve`):
  // any pending grant or registration, audited as `by`.
  User ApproveAsOperator(int64_t user_id, const Actor& by);
  // Role, activation and/or unit in one change (deactivating ends the
  // sessions). A unit is spelled as the accounts already in it spell it.
  User Update(int64_t user_id, std::optional<Role> role, std::optional<bool> active,
              const std::optional<std::string>& unit, const Actor& by);
  void SetActive(int64_t user_id, bool active, const Actor& by);
  void SetRole(int64_t user_id, Role role, const Actor& by);
  // Ends the user's sessions and revokes their API tokens.
  void SetPassword(int64_t user_id, const std::string& password, const Actor& by);
  // The owner's change (by.user): throws ReauthenticationError if `current`
  // is wrong, Error if the new one is the same or too weak. Ends the
  // sessions and revokes the tokens (log in again).
  void ChangeOwnPassword(const std::string& current, const std::string& replacement, const Actor& by);
  // Marks a password someone else chose (the first admin's printed one): the
  // service refuses everything but a password change until it is replaced.
  void RequirePasswordChange(int64_t user_id);
  // Clears the login throttle of the account's name (every address).
  User Unlock(int64_t user_id, const Actor& by);
  // The way back from a lost password (an admin's web reset, or the operator's
  // `lineup users reset-password` when no admin can sign in): a new random
  // one-time password replaces the old one, which stops working at once; the
  // account must change it at its next sign-in; sessions end, API tokens are
  // revoked and the lock-out is cleared, in one transaction with the audit
  // record ("password reset"). The password is given back this once; only its
  // hash is stored. Throws NotFound for an unknown id.
  std::string ResetPassword(int64_t user_id, const Actor& by);

  LoginResult Login(const std::string& username, const std::string& password, const std::string& totp_code,
                    const std::string& client);
  // Argon2 verifications run so far: every Login answer costs exactly one,
  // whatever the name's state, so that timing tells nothing (unknown names
  // are checked against a dummy hash, locked and inactive ones still hashed).
  int64_t verifications() const { return verifications_.load(); }
  // Checks the owner's proof: the password, and the TOTP code when TOTP is
  // on (or, with `either`, the password or the code). Throws
  // ReauthenticationError. A TOTP code accepted here is spent.
  void Reauthenticate(int64_t user_id, const Reauthentication& proof, const std::string& client, bool either = false);
  // The session for a token, extending its idle expiry; nullopt if unknown,
  // expired, or the user is no longer active.
  std::optional<std::pair<Session, User>> ValidateSession(const std::string& token);
  void Logout(const std::string& token);
  void EndSessionsOf(int64_t user_id);

  // Needs the owner's proof (Reauthenticate) from by.client; audited.
  ApiToken CreateApiToken(int64_t user_id, const NewApiToken& token, const Reauthentication& proof, const Actor& by);
  // nullopt if unknown, revoked, expired, or the account inactive.
  std::optional<TokenUse> UseApiToken(const std::string& token);
  std::optional<User> ValidateApiToken(const std::string& token);  // UseApiToken's user
  std::vector<ApiToken> ListApiTokens(int64_t user_id);  // not revoked, not expired
  void RevokeApiToken(int64_t user_id, int64_t token_id, const Actor& by);

  // TOTP: BeginTotp stores a pending secret and returns it; ConfirmTotp
  // enables it if the code matches. Replacing an enabled TOTP (BeginTotp)
  // or removing it needs the current code or the password.
  std::string BeginTotp(int64_t user_id, const Reauthentication& proof, const std::string& client);
  bool ConfirmTotp(int64_t user_id, const std::string& code, const Actor& by);
  void DisableTotp(int64_t user_id, const Reauthentication& proof, const Actor& by);

  const AccountPolicy& policy() const { return policy_; }

 private:
  class HashSlots;
  std::string DrawOneTimePassword(const std::string& username, const std::string& display_name);
  std::string Hash(const std::string& password);
  bool Verify(const std::string& hash, const std::string& password);
  void CheckNewPassword(const std::string& password, const std::string& username, const std::string& display_name);
  void CountRegistration(const std::string& client);
  void CheckProof(SqliteDb& db, int64_t user_id, const Reauthentication& proof, bool password_ok,
                  const std::string& client, bool either);

  GovernanceDb& db_;
  AuditLog& audit_;
  AccountPolicy policy_;
  PasswordPolicy passwords_;
  std::unique_ptr<HashSlots> hash_slots_;
  std::string dummy_hash_;  // verified for unknown usernames, so that they take as long as known ones
  std::atomic<int64_t> verifications_{0};

  // A change `by` someone that waits for a second person (a signed-in
  // account under policy.two_person_rule; not the operator or the system).
  bool UnderTwoPersonRule(const Actor& by) const { return policy_.two_person_rule && by.user.id != 0; }
  User ApplyApproval(SqliteDb& db, const User& account, const Actor& by);
};

}  // namespace lineup
