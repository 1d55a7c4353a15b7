// Registration of the CLI's subcommands. Each Register* adds one subcommand
// (with its options and a callback that does the work) to the app.
#pragma once

#include <CLI/CLI.hpp>

namespace lineup::cli {

void RegisterModels(CLI::App& app);
void RegisterDetect(CLI::App& app);
void RegisterEmbed(CLI::App& app);
void RegisterCompare(CLI::App& app);
void RegisterEval(CLI::App& app);
// `lineup eval identify` (cmd_identify.cc), added by RegisterEval.
void RegisterEvalIdentify(CLI::App& eval);
// `lineup eval fairness` (cmd_fairness.cc), added by RegisterEval.
void RegisterEvalFairness(CLI::App& eval);
void RegisterDemo(CLI::App& app);
void RegisterIngest(CLI::App& app);
void RegisterSearch(CLI::App& app);
void RegisterGallery(CLI::App& app);
void RegisterServe(CLI::App& app);
// `lineup audit verify | export | head` (cmd_audit.cc).
void RegisterAudit(CLI::App& app);
// `lineup report` (cmd_report.cc): oversight report over governance.db.
void RegisterReport(CLI::App& app);
// `lineup erase` (cmd_erase.cc), `lineup optout` (cmd_optout.cc), `lineup retention` (cmd_retention.cc).
void RegisterErase(CLI::App& app);
void RegisterOptOut(CLI::App& app);
void RegisterRetention(CLI::App& app);
// `lineup users unlock NAME` (cmd_users.cc).
void RegisterUsers(CLI::App& app);

inline void RegisterAll(CLI::App& app) {
  RegisterDemo(app);
  RegisterDetect(app);
  RegisterEmbed(app);
  RegisterCompare(app);
  RegisterIngest(app);
  RegisterSearch(app);
  RegisterGallery(app);
  RegisterErase(app);
  RegisterOptOut(app);
  RegisterRetention(app);
  RegisterServe(app);
  RegisterUsers(app);
  RegisterAudit(app);
  RegisterReport(app);
  RegisterEval(app);
  RegisterModels(app);
}

}  // namespace lineup::cli
