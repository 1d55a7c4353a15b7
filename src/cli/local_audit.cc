#include "cli/local_audit.h"

#include <pwd.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "common/error.h"

namespace lineup::cli {

namespace {

constexpr size_t kPasswdBuffer = 16384;  // enough for any passwd entry in practice

Error AuditFailure(const std::filesystem::path& db_path, const std::string& action, const std::string& why) {
  return Error("cannot write the audit record of '" + action + "' to " + db_path.string() + ": " + why);
}

}  // namespace

std::string LocalActor() {
  const uid_t uid = geteuid();
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(kPasswdBuffer);
  // getpwuid_r rather than getpwuid: no shared static result.
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
      found->pw_name != nullptr && found->pw_name[0] != '\0') {
    return std::string("local:") + found->pw_name;
  }
  return "local:uid " + std::to_string(uid);
}

AuditEvent LocalAuditEvent(const std::string& action, const nlohmann::json& details, const std::string& case_number) {
  AuditEvent e;
  e.actor_id = 0;
  e.actor = LocalActor();
  e.role = kLocalRole;
  e.action = action;
  e.client = kLocalClient;
  e.case_number = case_number;
  e.details_json = details.dump();
  return e;
}

void RecordLocalAudit(GovernanceDb& db, const std::string& action, const nlohmann::json& details,
                      const std::string& case_number) {
  try {
    AuditLog log(db);
    log.Append(LocalAuditEvent(action, details, case_number));
  } catch (const Error& e) {
    throw AuditFailure(db.path(), action, e.what());
  }
}

std::unique_ptr<GovernanceDb> OpenLocalTrail(const std::filesystem::path& data_dir, const std::string& action) {
  if (!std::filesystem::is_directory(data_dir)) {
    throw Error(Context(data_dir.string(), "no such data directory: cannot write the audit record of '" + action +
                                               "' (wrong --data?)"));
  }
  const std::filesystem::path path = data_dir / "governance.db";
  try {
    return std::make_unique<GovernanceDb>(path);
  } catch (const Error& e) {
    throw AuditFailure(path, action, e.what());
  }
}

void RecordLocalAudit(const std::filesystem::path& data_dir, const std::string& action, const nlohmann::json& details,
                      const std::string& case_number) {
  std::unique_ptr<GovernanceDb> db = OpenLocalTrail(data_dir, action);
  RecordLocalAudit(*db, action, details, case_number);
}

}  // namespace lineup::cli
