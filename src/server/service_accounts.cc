// Service: accounts, sessions, tokens and TOTP. Every account change is
// audited by Accounts in the change's own transaction.
#include "common/utf8.h"
#include "server/request_fields.h"
#include "server/service.h"

namespace lineup {

namespace {

Role RoleField(const nlohmann::json& body) {
  std::optional<Role> role = RoleFromString(StringField(body, "role", true));
  if (!role) throw ApiError(400, "bad_request", "role: one of admin, supervisor, investigator, auditor");
  return *role;
}

// Who approves a pending grant, for the admin who asked.
std::string AwaitingMessage(const User& u) {
  return "Two-person rule: the " + ToString(*u.pending_role) + " role of " + u.username + " takes effect once " +
         GrantApprovers(*u.pending_role, u.unit) + " approves it.";
}

Actor ActorOf(const Caller& caller) { return {caller.user, caller.client, ""}; }

// The owner's proof in a body: "password" and/or "code" (the TOTP code).
Reauthentication ProofField(const nlohmann::json& body) {
  return {StringField(body, "password"), StringField(body, "code")};
}

// A refused proof as the API answers it; a lockout says when to retry.
ApiError ReauthenticationRefused(const ReauthenticationError& e) {
  switch (e.status()) {
    case LoginStatus::kLocked:
      return ApiError(423, "locked", e.what(), {{"retry_after", e.retry_after_seconds()}});
    case LoginStatus::kTotpRequired:
      return ApiError(400, "totp_required", e.what());
    case LoginStatus::kBadTotp:
      return ApiError(400, "bad_totp", e.what());
    default:
      return ApiError(400, "bad_password", e.what());
  }
}

// Runs an account change, turning a refused proof and library errors about
// the request into API answers.
template <typename F>
auto AccountChange(F&& f) {
  return AsClientError([&] {
    try {
      return f();
    } catch (const ReauthenticationError& e) {
      throw ReauthenticationRefused(e);
    }
  });
}

nlohmann::json TokenJson(const ApiToken& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"scope", ToString(t.scope)},
          {"created_at", IsoTime(t.created_at)},
          {"expires_at", IsoTime(t.expires_at)},
          {"last_used_at", t.last_used_at ? IsoTime(t.last_used_at) : ""}};
}

bool IsOneOf(const std::string& route, std::initializer_list<const char*> routes) {
  for (const char* r : routes) {
    if (route == r) return true;
  }
  return false;
}

}  // namespace

bool TokenScopeAllows(TokenScope scope, const std::string& method, const std::string& route) {
  if (scope == TokenScope::kAdmin || method == "GET" || method == "HEAD") return true;
  if (scope == TokenScope::kRead || method != "POST") return false;
  return IsOneOf(route, {"/api/v1/cases", "/api/v1/cases/{id}/probes", "/api/v1/searches",
                         "/api/v1/searches/{id}/decisions"});
}

std::string Service::EnsureAdmin() {
  if (!accounts_->ListUsers().empty()) return "";
  NewUser admin;
  admin.username = "admin";
  admin.display_name = "Administrator";
  admin.role = Role::kAdmin;
  admin.active = true;
  Actor system;
  system.user.username = "system";
  system.client = "local";
  return accounts_->CreateUserWithOneTimePassword(admin, system).password;
}

LoginResult Service::Login(const nlohmann::json& body, const Caller& caller) {
  std::string username = StringField(body, "username", true);
  std::string password = StringField(body, "password", true);
  std::string totp = StringField(body, "totp");
  LoginResult r = accounts_->Login(username, password, totp, caller.client);
  Caller who = caller;
  who.user = r.user.value_or(User{});
  if (!r.user) who.user.username = SafeUtf8(username, 64);  // the name tried: any bytes a client sent
  nlohmann::json details = {{"status", ToString(r.status)}};
  RecordAudit(who, r.status == LoginStatus::kOk ? "login" : "login_failed", "", details);
  return r;
}

void Service::Logout(const Caller& caller, const std::string& session_token) {
  accounts_->Logout(session_token);
  RecordAudit(caller, "logout", "", nlohmann::json::object());
}

// The answer is the same whether or not the name was free (and costs the
// same hash), so that registration does not tell which names exist; the
// audit trail says what happened.
nlohmann::json Service::Register(const nlohmann::json& body, const Caller& caller) {
  NewUser n;
  n.username = StringField(body, "username", true);
  n.password = StringField(body, "password", true);
  n.display_name = StringField(body, "display_name");
  n.unit = StringField(body, "unit");
  try {
    accounts_->Register(n, caller.client);
  } catch (const NameTakenError&) {
    Caller applicant = caller;
    applicant.user = User{};
    applicant.user.username = n.username;
    RecordAudit(applicant, "account_change", "", {{"event", "registration refused: the name is taken"}});
  } catch (const RateLimitedError& e) {
    throw ApiError(429, "rate_limited", e.what(), {{"retry_after", e.retry_after_seconds()}});
  }
  return {{"requested", true},
          {"username", n.username},
          {"unit", n.unit},
          {"message", "If the name is free, the account now awaits a supervisor's approval."}};
}

// The user, and the deployment settings the web app states to them (what "the
// deployment's default" retention of a case's probe photos is; 0 = kept).
nlohmann::json Service::Me(const Caller& caller) {
  return {{"user", UserJson(caller.user)},
          {"deployment", {{"case_retention_days", options_.case_retention_days}}}};
}

nlohmann::json Service::ListUsers(const Caller& caller) {
  RequireRole(caller, {Role::kAdmin});
  nlohmann::json users = nlohmann::json::array();
  for (const User& u : accounts_->ListUsers()) users.push_back(UserJson(u));
  return {{"users", users}};
}

nlohmann::json Service::CreateUser(const Caller& caller, const nlohmann::json& body) {
  RequireRole(caller, {Role::kAdmin});
  NewUser n;
  n.username = StringField(body, "username", true);
  n.password = StringField(body, "password", true);
  n.display_name = StringField(body, "display_name");
  n.unit = StringField(body, "unit");
  n.role = RoleField(body);
  n.active = true;
  n.must_change_password = body.contains("temporary_password") && body["temporary_password"].is_boolean() &&
                           body["temporary_password"].get<bool>();
  User u = AccountChange([&] { return accounts_->CreateUser(n, ActorOf(caller)); });
  nlohmann::json out = {{"user", UserJson(u)}};
  if (u.pending_role) out["message"] = AwaitingMessage(u);
  return out;
}

nlohmann::json Service::UpdateUser(const Caller& caller, int64_t user_id, const nlohmann::json& body) {
  RequireRole(caller, {Role::kAdmin});
  std::optional<User> u = accounts_->GetUser(user_id);
  if (!u) throw ApiError(404, "not_found", "no such user");
  // Every field is checked before anything changes, so that a request with
  // one bad field changes nothing (and nothing goes unaudited).
  std::optional<Role> role;
  std::optional<bool> active;
  if (body.contains("role")) {
    role = RoleField(body);
    if (user_id == caller.user.id && *role != Role::kAdmin) {
      throw ApiError(400, "bad_request", "you cannot take the admin role from yourself");
    }
  }
  if (body.contains("active")) {
    if (!body["active"].is_boolean()) throw ApiError(400, "bad_request", "field \"active\" must be true or false");
    active = body["active"].get<bool>();
    if (user_id == caller.user.id && !*active) throw ApiError(400, "bad_request", "you cannot deactivate yourself");
  }
  std::optional<std::string> unit;
  if (body.contains("unit")) unit = StringField(body, "unit");
  User updated = AccountChange([&] { return accounts_->Update(user_id, role, active, unit, ActorOf(caller)); });
  nlohmann::json out = {{"user", UserJson(updated)}};
  if (updated.pending_role) out["message"] = AwaitingMessage(updated);
  return out;
}

nlohmann::json Service::UnlockUser(const Caller& caller, int64_t user_id) {
  RequireRole(caller, {Role::kAdmin});
  if (!accounts_->GetUser(user_id)) throw ApiError(404, "not_found", "no such user");
  User u = AccountChange([&] { return accounts_->Unlock(user_id, ActorOf(caller)); });
  return {{"user", UserJson(u)}, {"unlocked", true}};
}

nlohmann::json Service::ResetUserPassword(const Caller& caller, int64_t user_id) {
  RequireRole(caller, {Role::kAdmin});
  if (!accounts_->GetUser(user_id)) throw ApiError(404, "not_found", "no such user");
  if (user_id == caller.user.id) {
    throw ApiError(400, "bad_request", "change your own password on your account page (it asks for the current one)");
  }
  const std::string password = AccountChange([&] { return accounts_->ResetPassword(user_id, ActorOf(caller)); });
  return {{"user", UserJson(*accounts_->GetUser(user_id))}, {"one_time_password", password}};
}

nlohmann::json Service::PendingApprovals(const Caller& caller) {
  RequireRole(caller, {Role::kAdmin, Role::kSupervisor});
  std::string unit = caller.user.role == Role::kAdmin ? "" : caller.user.unit;
  nlohmann::json users = nlohmann::json::array();
  if (caller.user.role == Role::kAdmin || !unit.empty()) {
    for (const User& u : accounts_->PendingApprovals(unit)) {
      // Only what this caller may approve: not a grant they asked for, and
      // for a supervisor only investigator accounts and grants.
      const Role wanted = u.pending_role.value_or(u.role);
      if (u.pending_requested_by == caller.user.id) continue;
      if (caller.user.role == Role::kSupervisor && wanted != Role::kInvestigator) continue;
      users.push_back(UserJson(u));
    }
  }
  return {{"users", users}};
}

nlohmann::json Service::Approve(const Caller& caller, int64_t user_id) {
  RequireRole(caller, {Role::kAdmin, Role::kSupervisor});
  std::optional<User> u = accounts_->GetUser(user_id);
  if (!u || (caller.user.role == Role::kSupervisor && u->unit != caller.user.unit)) {
    throw ApiError(404, "not_found", "no such account awaiting your approval");
  }
  User approved = AccountChange([&] { return accounts_->Approve(user_id, ActorOf(caller)); });
  return {{"user", UserJson(approved)}};
}

nlohmann::json Service::Reject(const Caller& caller, int64_t user_id) {
  RequireRole(caller, {Role::kAdmin, Role::kSupervisor});
  std::optional<User> u = accounts_->GetUser(user_id);
  if (!u || (caller.user.role == Role::kSupervisor && u->unit != caller.user.unit)) {
    throw ApiError(404, "not_found", "no such account awaiting your approval");
  }
  const Accounts::Rejected what = AccountChange([&] { return accounts_->Reject(user_id, ActorOf(caller)); });
  if (what == Accounts::Rejected::kAccount) return {{"rejected", "account"}, {"username", u->username}};
  return {{"rejected", "role_grant"}, {"user", UserJson(*accounts_->GetUser(user_id))}};
}

// {name, scope (read|search|admin, default read), days (default: the
// policy's), password, code (when TOTP is on)}.
nlohmann::json Service::CreateToken(const Caller& caller, const nlohmann::json& body) {
  NewApiToken wanted;
  wanted.name = StringField(body, "name", true);
  if (wanted.name.empty() || wanted.name.size() > 100) throw ApiError(400, "bad_request", "name: 1 to 100 characters");
  std::string scope = StringField(body, "scope");
  std::optional<TokenScope> parsed = TokenScopeFromString(scope.empty() ? "read" : scope);
  if (!parsed) throw ApiError(400, "bad_request", "scope: one of read, search, admin");
  wanted.scope = *parsed;
  wanted.days = IntField(body, "days", 0);
  if (StringField(body, "password").empty()) {
    throw ApiError(400, "bad_request", "password: enter your password to create a token");
  }
  ApiToken t = AccountChange(
      [&] { return accounts_->CreateApiToken(caller.user.id, wanted, ProofField(body), ActorOf(caller)); });
  nlohmann::json out = TokenJson(t);
  out["token"] = t.token;
  return {{"token", out}};
}

nlohmann::json Service::ListTokens(const Caller& caller) {
  nlohmann::json tokens = nlohmann::json::array();
  for (const ApiToken& t : accounts_->ListApiTokens(caller.user.id)) tokens.push_back(TokenJson(t));
  return {{"tokens", tokens}};
}

nlohmann::json Service::RevokeToken(const Caller& caller, int64_t token_id) {
  bool owned = false;
  for (const ApiToken& t : accounts_->ListApiTokens(caller.user.id)) owned |= t.id == token_id;
  if (!owned) throw ApiError(404, "not_found", "no such token");
  AccountChange([&] {
    accounts_->RevokeApiToken(caller.user.id, token_id, ActorOf(caller));
    return 0;
  });
  return {{"revoked", token_id}};
}

nlohmann::json Service::ChangePassword(const Caller& caller, const nlohmann::json& body) {
  std::string current = StringField(body, "current", true);
  std::string replacement = StringField(body, "new", true);
  AccountChange([&] {
    accounts_->ChangeOwnPassword(current, replacement, ActorOf(caller));
    return 0;
  });
  return {{"changed", true}};
}

nlohmann::json Service::BeginTotp(const Caller& caller, const nlohmann::json& body) {
  std::string uri =
      AccountChange([&] { return accounts_->BeginTotp(caller.user.id, ProofField(body), caller.client); });
  return {{"uri", uri}};
}

nlohmann::json Service::ConfirmTotp(const Caller& caller, const nlohmann::json& body) {
  bool confirmed = AccountChange(
      [&] { return accounts_->ConfirmTotp(caller.user.id, StringField(body, "code", true), ActorOf(caller)); });
  if (!confirmed) {
    throw ApiError(400, "bad_totp", "the code does not match; check the authenticator's clock and try again");
  }
  return {{"totp_enabled", true}};
}

nlohmann::json Service::DisableTotp(const Caller& caller, const nlohmann::json& body) {
  AccountChange([&] {
    accounts_->DisableTotp(caller.user.id, ProofField(body), ActorOf(caller));
    return 0;
  });
  return {{"totp_enabled", false}};
}

}  // namespace lineup
