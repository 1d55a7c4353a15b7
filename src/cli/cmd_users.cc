// lineup users unlock NAME
//
// Clears a name's login lock-out (every client address and the backstop)
// in the data directory's governance.db, for an operator at the server's
// machine when no admin can log in (the admin account itself locked). The
// change and its audit record (account_change, "login lock cleared", actor
// "local:<OS user>", role "operator", client "cli") are one transaction.
#include <cstdio>

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
    throw Error(Context(data_dir.string(), "no governance database here (governance.db): no accounts to unlock "
                                           "(wrong --data?)"));
  }
  return path;
}

void Unlock(const UsersFlags& flags) {
  GovernanceDb db(AccountsPath(flags.gallery));
  AuditLog audit(db);
  Accounts accounts(db, audit);
  std::optional<User> user = accounts.FindUser(flags.username);
  if (!user) throw Error(Context(flags.username, "no such user"));
  Actor operator_at_cli;
  operator_at_cli.user.username = LocalActor();
  operator_at_cli.client = kLocalClient;
  operator_at_cli.role = kLocalRole;
  accounts.Unlock(user->id, operator_at_cli);
  std::printf("unlocked %s: logins from every address are allowed again\n", user->username.c_str());
}

}  // namespace

void RegisterUsers(CLI::App& app) {
  auto flags = std::make_shared<UsersFlags>();
  auto* cmd = app.add_subcommand("users", "Account maintenance at the server's machine: unlock");
  cmd->require_subcommand(1);
  auto* unlock = cmd->add_subcommand(
      "unlock", "Clear a user's login lock-out (after too many failed logins), from every address; audited");
  unlock->add_option("NAME", flags->username, "The username")->required();
  AddGalleryFlags(unlock, &flags->gallery);
  unlock->callback([flags] { Unlock(*flags); });
}

}  // namespace lineup::cli
