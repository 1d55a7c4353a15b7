#include "governance/audit_once.h"

#include "common/error.h"

namespace lineup {

namespace {

// The module's schema history; kAuditOnceMigrations[v] takes version v to v + 1.
const std::vector<std::string> kAuditOnceMigrations = {
    R"sql(
CREATE TABLE audit_once (
  key TEXT PRIMARY KEY,
  seq INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
};

std::string TextField(const nlohmann::json& json, const char* name) {
  if (!json.contains(name) || !json[name].is_string()) {
    throw Error(std::string("owed audit record: field ") + name + " is missing or not text");
  }
  return json[name].get<std::string>();
}

}  // namespace

nlohmann::json AuditEventJson(const AuditEvent& e, const nlohmann::json& details) {
  return {{"actor_id", e.actor_id}, {"actor", e.actor},     {"role", e.role},
          {"action", e.action},     {"client", e.client},   {"case_number", e.case_number},
          {"details", details.is_object() ? details : nlohmann::json::object()}};
}

AuditEvent AuditEventFromJson(const nlohmann::json& json) {
  if (!json.is_object()) throw Error("owed audit record: not a JSON object");
  AuditEvent e;
  if (!json.contains("actor_id") || !json["actor_id"].is_number_integer()) {
    throw Error("owed audit record: field actor_id is missing or not a number");
  }
  e.actor_id = json["actor_id"].get<int64_t>();
  e.actor = TextField(json, "actor");
  e.role = TextField(json, "role");
  e.action = TextField(json, "action");
  e.client = TextField(json, "client");
  e.case_number = TextField(json, "case_number");
  const nlohmann::json details = json.value("details", nlohmann::json::object());
  e.details_json = details.is_object() ? details.dump() : "{}";
  return e;
}

AuditOnce::AuditOnce(GovernanceDb& db, AuditLog& audit) : db_(db), audit_(audit) {
  db_.EnsureSchema("audit_once", kAuditOnceMigrations);
}

bool AuditOnce::Record(const std::string& key, const AuditEvent& event) {
  if (key.empty()) throw Error("owed audit record: empty key");
  return db_.Write([&](SqliteDb& db) {
    auto seen = db.Query("SELECT 1 FROM audit_once WHERE key = ?1");
    seen.BindText(1, key);
    if (seen.Step()) return false;
    AuditRecord r = audit_.AppendIn(db, event);
    db.Query("INSERT INTO audit_once (key, seq) VALUES (?1, ?2)").BindText(1, key).Bind(2, r.seq).Run();
    return true;
  });
}

bool AuditOnce::WasRecorded(const std::string& key) {
  return db_.Read([&](SqliteDb& db) {
    auto q = db.Query("SELECT 1 FROM audit_once WHERE key = ?1");
    q.BindText(1, key);
    return q.Step();
  });
}

}  // namespace lineup
