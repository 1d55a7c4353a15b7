// Audit records for actions taken at this machine's command line. The CLI has
// no logged-in account; whoever can run it on the data directory acts as the
// operating-system user they are, and that is what the record names.
//
// Invariants:
//  - Every record written here has actor "local:<OS user name>" (or
//    "local:uid N" for a uid without a name), role "operator", client "cli"
//    and actor_id 0, so that the trail tells command-line actions apart from
//    the server's (a positive actor_id, the client's address).
//  - A record that cannot be written is an Error, never skipped: callers
//    record before they produce what the record is about (or abort).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "governance/audit_log.h"

namespace lineup::cli {

inline constexpr char kLocalRole[] = "operator";
inline constexpr char kLocalClient[] = "cli";

// "local:" + the name of the effective user (getpwuid_r(geteuid())), else "local:uid N".
std::string LocalActor();

// The event RecordLocalAudit appends (details serialised as JSON text).
AuditEvent LocalAuditEvent(const std::string& action, const nlohmann::json& details,
                           const std::string& case_number = "");

// Appends one record to the audit trail in data_dir/governance.db (created if missing) for an action taken at this
// machine's command line. Actor: "local:" + the OS user name (getpwuid(geteuid()), else "uid N"); role "operator";
// client "cli"; actor_id 0. Throws Error naming the action and the file if the record cannot be written, and if
// data_dir is not an existing directory (a wrong --data must not grow a new trail somewhere).
void RecordLocalAudit(const std::filesystem::path& data_dir, const std::string& action, const nlohmann::json& details,
                      const std::string& case_number = "");

// data_dir/governance.db opened for the audit records of `action` (created
// if missing); throws Error like RecordLocalAudit (wrong --data, unreadable
// file).
std::unique_ptr<GovernanceDb> OpenLocalTrail(const std::filesystem::path& data_dir, const std::string& action);

// The same, in a governance database the caller already has open.
void RecordLocalAudit(GovernanceDb& db, const std::string& action, const nlohmann::json& details,
                      const std::string& case_number = "");

}  // namespace lineup::cli
