// Service: accounts, sessions, tokens and TOTP.
#include <sodium.h>

#include "server/request_fields.h"
#include "server/service.h"

namespace lineup {

namespace {

Role RoleField(const nlohmann::json& body) {
  std::optional<Role> role = RoleFromString(StringField(body, "role", true));
  if (!role) throw ApiError(400, "bad_request", "role: one of admin, supervisor, investigator, auditor");
  return *role;
}

std::string RandomPassword() {
  static const char kAlphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string password;
  for (int i = 0; i < 20; ++i) password += kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)];
  return password;
}

}  // namespace

std::string Service::EnsureAdmin() {
  if (!accounts_->ListUsers().empty()) return "";
  NewUser admin;
  admin.username = "admin";
  admin.password = RandomPassword();
  admin.display_name = "Administrator";
  admin.role = Role::kAdmin;
  admin.active = true;
  User u = accounts_->CreateUser(admin);
  accounts_->RequirePasswordChange(u.id);
  RecordAudit({u, "local", false, ""}, "account_change", "", {{"event", "first admin created"}, {"user", u.username}});
  return admin.password;
}

LoginResult Service::Login(const nlohmann::json& body, const Caller& caller) {
  std::string username = StringField(body, "username", true);
  std::string password = StringField(body, "password", true);
  std::string totp = StringField(body, "totp");
  LoginResult r = accounts_->Login(username, password, totp);
  Caller who = caller;
  who.user = r.user.value_or(User{});
  if (!r.user) who.user.username = username.substr(0, 64);
  nlohmann::json details = {{"status", ToString(r.status)}};
  RecordAudit(who, r.status == LoginStatus::kOk ? "login" : "login_failed", "", details);
  return r;
}

void Service::Logout(const Caller& caller, const std::string& session_token) {
  accounts_->Logout(session_token);
  RecordAudit(caller, "logout", "", nlohmann::json::object());
}

nlohmann::json Service::Register(const nlohmann::json& body, const Caller& caller) {
  NewUser n;
  n.username = StringField(body, "username", true);
  n.password = StringField(body, "password", true);
  n.display_name = StringField(body, "display_name");
  n.unit = StringField(body, "unit");
  n.role = Role::kInvestigator;
  n.active = false;
  User u = AsClientError([&] { return accounts_->CreateUser(n); });
  Caller who = caller;
  who.user = u;
  RecordAudit(who, "account_change", "", {{"event", "registered, awaiting approval"}, {"unit", u.unit}});
  return {{"user", UserJson(u)}};
}

nlohmann::json Service::Me(const Caller& caller) { return {{"user", UserJson(caller.user)}}; }

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
  bool temporary = body.contains("temporary_password") && body["temporary_password"].is_boolean() &&
                   body["temporary_password"].get<bool>();
  User u = AsClientError([&] { return accounts_->CreateUser(n); });
  if (temporary) {
    accounts_->RequirePasswordChange(u.id);
    u = *accounts_->GetUser(u.id);
  }
  RecordAudit(caller, "account_change", "",
              {{"event", "user created"}, {"user", u.username}, {"role", ToString(u.role)}, {"unit", u.unit}});
  return {{"user", UserJson(u)}};
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
  nlohmann::json changes = nlohmann::json::object();
  if (role) {
    accounts_->SetRole(user_id, *role);
    changes["role"] = ToString(*role);
  }
  if (active) {
    accounts_->SetActive(user_id, *active);
    changes["active"] = *active;
  }
  RecordAudit(caller, "account_change", "", {{"event", "user updated"}, {"user", u->username}, {"changes", changes}});
  return {{"user", UserJson(*accounts_->GetUser(user_id))}};
}

nlohmann::json Service::PendingApprovals(const Caller& caller) {
  RequireRole(caller, {Role::kAdmin, Role::kSupervisor});
  std::string unit = caller.user.role == Role::kAdmin ? "" : caller.user.unit;
  nlohmann::json users = nlohmann::json::array();
  if (caller.user.role == Role::kAdmin || !unit.empty()) {
    for (const User& u : accounts_->PendingApprovals(unit)) users.push_back(UserJson(u));
  }
  return {{"users", users}};
}

nlohmann::json Service::Approve(const Caller& caller, int64_t user_id) {
  RequireRole(caller, {Role::kAdmin, Role::kSupervisor});
  std::optional<User> u = accounts_->GetUser(user_id);
  if (!u || (caller.user.role == Role::kSupervisor && u->unit != caller.user.unit)) {
    throw ApiError(404, "not_found", "no such account awaiting your approval");
  }
  User approved = AsClientError([&] { return accounts_->Approve(user_id, caller.user); });
  RecordAudit(caller, "account_change", "", {{"event", "account approved"}, {"user", approved.username}});
  return {{"user", UserJson(approved)}};
}

nlohmann::json Service::CreateToken(const Caller& caller, const nlohmann::json& body) {
  std::string name = StringField(body, "name", true);
  if (name.empty() || name.size() > 100) throw ApiError(400, "bad_request", "name: 1 to 100 characters");
  ApiToken t = accounts_->CreateApiToken(caller.user.id, name);
  RecordAudit(caller, "account_change", "", {{"event", "API token created"}, {"token_id", t.id}, {"name", name}});
  return {{"token", {{"id", t.id}, {"name", t.name}, {"token", t.token}, {"created_at", IsoTime(t.created_at)}}}};
}

nlohmann::json Service::ListTokens(const Caller& caller) {
  nlohmann::json tokens = nlohmann::json::array();
  for (const ApiToken& t : accounts_->ListApiTokens(caller.user.id)) {
    tokens.push_back({{"id", t.id},
                      {"name", t.name},
                      {"created_at", IsoTime(t.created_at)},
                      {"last_used_at", t.last_used_at ? IsoTime(t.last_used_at) : ""}});
  }
  return {{"tokens", tokens}};
}

nlohmann::json Service::RevokeToken(const Caller& caller, int64_t token_id) {
  bool owned = false;
  for (const ApiToken& t : accounts_->ListApiTokens(caller.user.id)) owned |= t.id == token_id;
  if (!owned) throw ApiError(404, "not_found", "no such token");
  accounts_->RevokeApiToken(caller.user.id, token_id);
  RecordAudit(caller, "account_change", "", {{"event", "API token revoked"}, {"token_id", token_id}});
  return {{"revoked", token_id}};
}

nlohmann::json Service::ChangePassword(const Caller& caller, const nlohmann::json& body) {
  std::string current = StringField(body, "current", true);
  std::string replacement = StringField(body, "new", true);
  AsClientError([&] {
    accounts_->ChangeOwnPassword(caller.user.id, current, replacement);
    return 0;
  });
  RecordAudit(caller, "account_change", "", {{"event", "own password changed"}});
  return {{"changed", true}};
}

nlohmann::json Service::BeginTotp(const Caller& caller) {
  std::string uri = accounts_->BeginTotp(caller.user.id);
  return {{"uri", uri}};
}

nlohmann::json Service::ConfirmTotp(const Caller& caller, const nlohmann::json& body) {
  if (!accounts_->ConfirmTotp(caller.user.id, StringField(body, "code", true))) {
    throw ApiError(400, "bad_totp", "the code does not match; check the authenticator's clock and try again");
  }
  RecordAudit(caller, "account_change", "", {{"event", "TOTP enabled"}});
  return {{"totp_enabled", true}};
}

}  // namespace lineup
