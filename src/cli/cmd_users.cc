// lineup users unlock NAME | reset-password NAME | pending | approve NAME
//
// Account maintenance in the data directory's governance.db, for the
// operator at the server's machine:
//  - unlock clears a name's login lock-out (every client address and the
//    backstop), for when no admin can log in (the admin account itself locked);
//  - reset-password gives an account a new one-time password (printed once),
//    the way back when the only admin's password is lost;
//  - pending lists the accounts and role grants awaiting approval;
//  - approve applies one (the two-person rule's way in for a deployment's
//    first supervisors and second admin, who have nobody to approve them).
// Each change and its audit record (account_change, actor "local:<OS user>",
// role "operator", client "cli") are one transaction.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/local_audit.h"
#include "common/error.h"
#include "governance/accounts.h"
#include "governance/audit_log.h"

namespace lineup::cli {

namespace {

struct UsersFlags {
  GalleryFlags gallery;
  std::string username;
};

// The data directory's governance.db; refused when missing (a wrong --data
// must not create an empty account database).
std::filesystem::path AccountsPath(const GalleryFlags& flags) {
  const std::filesystem::path data_dir = MakeGalleryOptions(flags, true).data_dir;
  const std::filesystem::path path = data_dir / "governance.db";
  if (!std::filesystem::is_regular_file(path)) {
    throw Error(Context(data_dir.string(), "no governance database here (governance.db): no accounts "
                                           "(wrong --data?)"));
  }
  return path;
}

Actor OperatorAtCli() {
  Actor by;
  by.user.username = LocalActor();
  by.client = kLocalClient;
  by.role = kLocalRole;
  return by;
}

User RequireUserNamed(Accounts& accounts, const std::string& username) {
  std::optional<User> user = accounts.FindUser(username);
  if (!user) throw Error(Context(username, "no such user"));
  return *user;
}

void Unlock(const UsersFlags& flags) {
  GovernanceDb db(AccountsPath(flags.gallery));
  AuditLog audit(db);
  Accounts accounts(db, audit);
  const User user = RequireUserNamed(accounts, flags.username);
  accounts.Unlock(user.id, OperatorAtCli());
  std::printf("unlocked %s: logins from every address are allowed again\n", user.username.c_str());
}

void ResetPassword(const UsersFlags& flags) {
  GovernanceDb db(AccountsPath(flags.gallery));
  AuditLog audit(db);
  Accounts accounts(db, audit);
  const User user = RequireUserNamed(accounts, flags.username);
  const std::string password = accounts.ResetPassword(user.id, OperatorAtCli());
  std::printf("one-time password for %s: %s\n", user.username.c_str(), password.c_str());
  std::printf("It is shown this once and must be changed at the next sign-in. The old password no longer works; "
              "%s's sessions were ended, API tokens revoked and lock-out cleared.\n",
              user.username.c_str());
}

// "investigator (new account)", "auditor (now investigator)".
std::string AwaitedGrant(const User& u) {
  if (!u.pending_role) return ToString(u.role) + " (registered)";
  if (u.approved_at == 0) return ToString(*u.pending_role) + " (new account)";
  return ToString(*u.pending_role) + " (now " + ToString(u.role) + ")";
}

void Pending(const UsersFlags& flags) {
  GovernanceDb db(AccountsPath(flags.gallery));
  AuditLog audit(db);
  Accounts accounts(db, audit);
  const std::vector<User> pending = accounts.PendingApprovals("");
  if (pending.empty()) {
    std::printf("nothing awaits approval\n");
    return;
  }
  std::printf("%-24s %-32s %-20s %s\n", "USER", "ROLE AWAITED", "UNIT", "ASKED BY");
  for (const User& u : pending) {
    std::string asked_by = "(self-registration)";
    if (u.pending_requested_by != 0) {
      const std::optional<User> requester = accounts.GetUser(u.pending_requested_by);
      asked_by = requester ? requester->username : "#" + std::to_string(u.pending_requested_by);
    }
    std::printf("%-24s %-32s %-20s %s\n", u.username.c_str(), AwaitedGrant(u).c_str(),
                u.unit.empty() ? "-" : u.unit.c_str(), asked_by.c_str());
  }
}

void Approve(const UsersFlags& flags) {
  GovernanceDb db(AccountsPath(flags.gallery));
  AuditLog audit(db);
  Accounts accounts(db, audit);
  const User user = RequireUserNamed(accounts, flags.username);
  const std::string awaited = AwaitedGrant(user);
  const User approved = accounts.ApproveAsOperator(user.id, OperatorAtCli());
  std::printf("approved %s: %s, %s\n", approved.username.c_str(), awaited.c_str(),
              approved.active ? "active" : "inactive (deactivated earlier)");
}

}  // namespace

void RegisterUsers(CLI::App& app) {
  auto flags = std::make_shared<UsersFlags>();
  auto* cmd = app.add_subcommand("users", "Account maintenance at the server's machine: unlock, reset-password, pending, approve");
  cmd->require_subcommand(1);
  auto* unlock = cmd->add_subcommand(
      "unlock", "Clear a user's login lock-out (after too many failed logins), from every address; audited");
  unlock->add_option("NAME", flags->username, "The username")->required();
  AddGalleryFlags(unlock, &flags->gallery);
  unlock->callback([flags] { Unlock(*flags); });
  auto* reset = cmd->add_subcommand(
      "reset-password", "Give a user a new one-time password, printed once (the way back when the admin's password "
                        "is lost); the old one stops working, sessions and tokens end; audited");
  reset->add_option("NAME", flags->username, "The username")->required();
  AddGalleryFlags(reset, &flags->gallery);
  reset->callback([flags] { ResetPassword(*flags); });
  auto* pending = cmd->add_subcommand("pending", "List the accounts and role grants awaiting approval");
  AddGalleryFlags(pending, &flags->gallery);
  pending->callback([flags] { Pending(*flags); });
  auto* approve = cmd->add_subcommand(
      "approve", "Approve an account or role grant as the operator (the two-person rule's first supervisors and "
                 "second admin); audited");
  approve->add_option("NAME", flags->username, "The username")->required();
  AddGalleryFlags(approve, &flags->gallery);
  approve->callback([flags] { Approve(*flags); });
}

}  // namespace lineup::cli
