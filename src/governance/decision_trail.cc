#include "governance/decision_trail.h"

#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/utf8.h"

namespace lineup {

namespace {

using DecisionKey = std::tuple<int64_t, int64_t, int64_t>;  // search, face, user

struct TrailDecision {
  int64_t seq = 0;
  std::string decision;
  std::string note;
};

std::string Describe(const DecisionKey& k) {
  return "the decision of user " + std::to_string(std::get<2>(k)) + " on face " + std::to_string(std::get<1>(k)) +
         " of search " + std::to_string(std::get<0>(k));
}

// The newest "decision" record of each key. A record whose details do not
// parse is a problem of its own (the chain check says whether it was altered).
bool ReadTrail(SqliteDb& db, std::map<DecisionKey, TrailDecision>* trail, DecisionTrailCheck* check) {
  auto q = db.Query("SELECT seq, actor_id, details_json FROM audit_records WHERE action = 'decision' ORDER BY seq");
  while (q.Step()) {
    ++check->records;
    const int64_t seq = q.Int64(0);
    const nlohmann::json d = nlohmann::json::parse(q.Text(2), nullptr, false);
    const auto integer = [&](const char* name) { return d.contains(name) && d[name].is_number_integer(); };
    const auto text = [&](const char* name) { return d.contains(name) && d[name].is_string(); };
    if (!d.is_object() || !integer("search_id") || !integer("face_id") || !text("decision") || !text("note")) {
      check->ok = false;
      check->problem = "audit record " + std::to_string(seq) + " is a decision without its search, face, verdict "
                       "and note";
      return false;
    }
    (*trail)[{d["search_id"].get<int64_t>(), d["face_id"].get<int64_t>(), q.Int64(1)}] =
        TrailDecision{seq, d["decision"].get<std::string>(), d["note"].get<std::string>()};
  }
  return true;
}

}  // namespace

DecisionTrailCheck CheckDecisionsAgainstTrail(GovernanceDb& governance) {
  DecisionTrailCheck check;
  governance.Read([&](SqliteDb& db) {
    // A governance database that never held a case has no decisions table.
    if (db.QueryInt64("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('decisions', "
                      "'searches', 'audit_records')") < 3) {
      return;
    }
    std::map<DecisionKey, TrailDecision> trail;
    if (!ReadTrail(db, &trail, &check)) return;
    std::set<DecisionKey> seen;
    auto rows = db.Query("SELECT search_id, face_id, user_id, decision, note FROM decisions");
    while (rows.Step()) {
      ++check.decisions;
      const DecisionKey key{rows.Int64(0), rows.Int64(1), rows.Int64(2)};
      seen.insert(key);
      auto it = trail.find(key);
      if (it == trail.end()) {
        check.ok = false;
        check.problem = Describe(key) + " (\"" + rows.Text(3) + "\") has no audit record: it was written behind "
                        "Lineup's back";
        return;
      }
      // The trail stores text as valid UTF-8 (AuditLog::AppendIn).
      if (rows.Text(3) != it->second.decision || ToValidUtf8(rows.Text(4)) != it->second.note) {
        check.ok = false;
        check.problem = Describe(key) + " is \"" + rows.Text(3) + "\" but its audit record " +
                        std::to_string(it->second.seq) + " says \"" + it->second.decision + "\" (or another note): "
                        "the decision was altered";
        return;
      }
    }
    for (const auto& [key, recorded] : trail) {
      if (seen.count(key)) continue;
      auto search_exists = db.Query("SELECT 1 FROM searches WHERE id = ?1");
      search_exists.Bind(1, std::get<0>(key));
      if (!search_exists.Step()) continue;  // the search was deleted (with its case, or by retention)
      check.ok = false;
      check.problem = Describe(key) + " (audit record " + std::to_string(recorded.seq) + ") is missing from the "
                      "decisions table: it was deleted behind Lineup's back";
      return;
    }
  });
  return check;
}

}  // namespace lineup
