// Audit records owed by actions whose effect lives outside the governance
// database (the gallery's catalog, vector store and media; the opt-out
// blocklist). Such an action cannot share a transaction with its record, so
// it carries the record with it instead (in the erasure journal, in the
// opt-out entry) and writes it through AuditOnce, keyed by the action's own
// id, before it forgets the record (removes the journal, marks the entry).
// A crash in between leaves the record still carried; the resumed action
// writes it again and AuditOnce keeps the first: every such action ends
// with exactly one record.
//
// Invariants:
//  - A key is recorded at most once, ever (table `audit_once`, key primary
//    key), and in the same transaction as the audit record it stands for:
//    there is never a key without its record or a record written twice.
//  - Keys are chosen by the action ("erasure:<journal id>",
//    "optout_add:<entry key>") and never reused for another action.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "governance/audit_log.h"
#include "governance/governance_db.h"

namespace lineup {

// An audit event as the JSON an action carries ({actor_id, actor, role,
// action, client, case_number, details}); details is an object.
nlohmann::json AuditEventJson(const AuditEvent& event, const nlohmann::json& details);
// The event back; throws Error naming the field if `json` is not one.
AuditEvent AuditEventFromJson(const nlohmann::json& json);

// Writes an owed record, exactly once per key (see above). Returns false
// when the key was recorded before (nothing written).
using AuditRecorder = std::function<bool(const std::string& key, const nlohmann::json& event)>;

class AuditOnce {
 public:
  AuditOnce(GovernanceDb& db, AuditLog& audit);
  // Appends `event` unless `key` was recorded before, in one transaction.
  bool Record(const std::string& key, const AuditEvent& event);
  bool RecordJson(const std::string& key, const nlohmann::json& event) {
    return Record(key, AuditEventFromJson(event));
  }
  AuditRecorder Recorder() {
    return [this](const std::string& key, const nlohmann::json& event) { return RecordJson(key, event); };
  }
  bool WasRecorded(const std::string& key);

 private:
  GovernanceDb& db_;
  AuditLog& audit_;
};

}  // namespace lineup
