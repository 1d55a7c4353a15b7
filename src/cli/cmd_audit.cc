// lineup audit verify | export | head
//
// Invariant: every export is in the audit trail (action "export", as the
// server records it) before any of it is written; when the record cannot be
// written, nothing is. The export does not contain its own record.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <limits>
#include <sstream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/local_audit.h"
#include "common/error.h"
#include "common/file_util.h"
#include "governance/audit_details.h"
#include "governance/audit_log.h"

namespace lineup::cli {

namespace {

struct AuditCommandFlags {
  GalleryFlags gallery;
  bool json = false;
  // verify
  std::vector<std::string> anchors;  // SEQ:HASH
  // export
  std::string format;
  std::string out;  // "" = stdout
  std::string user;
  std::string case_number;
  std::string action;
  std::string since;  // YYYY-MM-DD, UTC
  std::string until;  // YYYY-MM-DD, UTC, that day included
};

// The data directory's governance.db. Refuses when there is none: these
// commands inspect a trail and must not create an empty one.
std::filesystem::path GovernancePath(const GalleryFlags& flags) {
  const std::filesystem::path data_dir = MakeGalleryOptions(flags, true).data_dir;
  const std::filesystem::path path = data_dir / "governance.db";
  if (!std::filesystem::is_regular_file(path)) {
    throw Error(Context(data_dir.string(), "no governance database here (governance.db): there is no audit trail "
                                           "to read (wrong --data?)"));
  }
  return path;
}

std::string AnchorText(const AuditAnchor& anchor) { return std::to_string(anchor.seq) + ":" + anchor.hash; }

// "SEQ:HASH" as printed by `lineup audit head`; the hash in any case.
AuditAnchor ParseAnchor(const std::string& text) {
  const auto fail = [&] { return Error(Context("--anchor " + text, "expected SEQ:HASH (64 hex digits), as printed "
                                                                   "by lineup audit head")); };
  const size_t colon = text.find(':');
  if (colon == std::string::npos) throw fail();
  AuditAnchor anchor;
  const char* end = text.data() + colon;
  auto [rest, error] = std::from_chars(text.data(), end, anchor.seq);
  if (error != std::errc() || rest != end || anchor.seq < 0) throw fail();
  anchor.hash = text.substr(colon + 1);
  if (anchor.hash.size() != 64) throw fail();
  for (char& c : anchor.hash) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) throw fail();
  }
  return anchor;
}

AuditFilter ExportFilter(const AuditCommandFlags& flags) {
  AuditFilter filter;
  filter.actor = flags.user;
  filter.case_number = flags.case_number;
  filter.action = flags.action;
  if (!flags.since.empty()) filter.since = DayFlag(flags.since, "--since");
  if (!flags.until.empty()) filter.until = DayFlag(flags.until, "--until") + kSecondsPerDay;
  if (filter.since != 0 && filter.until != 0 && filter.since >= filter.until) {
    throw Error("audit export: --since " + flags.since + " is after --until " + flags.until);
  }
  filter.limit = std::numeric_limits<int64_t>::max();
  return filter;
}

void Verify(const AuditCommandFlags& flags) {
  std::vector<AuditAnchor> anchors;
  for (const std::string& text : flags.anchors) anchors.push_back(ParseAnchor(text));
  GovernanceDb db(GovernancePath(flags.gallery));
  AuditLog log(db);
  const AuditVerification v = log.Verify(anchors);
  if (flags.json) {
    std::cout << nlohmann::json({{"ok", v.ok},
                                 {"records", v.records},
                                 {"first_bad_seq", v.first_bad_seq},
                                 {"problem", v.problem},
                                 {"head", AnchorText(v.head)},
                                 {"anchors", anchors.size()}})
                     .dump(2)
              << "\n";
  } else if (v.ok) {
    std::printf("audit trail intact: %lld records, head %s; %zu anchor(s) checked\n",
                static_cast<long long>(v.records), AnchorText(v.head).c_str(), anchors.size());
  } else {
    std::printf("DAMAGED at record %lld: %s\n", static_cast<long long>(v.first_bad_seq), v.problem.c_str());
    std::printf("  %lld records read; the chain is intact up to %s\n", static_cast<long long>(v.records),
                AnchorText(v.head).c_str());
  }
  if (!v.ok) throw Error("audit verify found damage at record " + std::to_string(v.first_bad_seq) + " (see above)");
}

// The export is held in memory until its audit record is written (as the
// server does), so that an unaudited export never reaches its reader.
void Export(const AuditCommandFlags& flags) {
  const AuditFilter filter = ExportFilter(flags);
  GovernanceDb db(GovernancePath(flags.gallery));
  AuditLog log(db);
  std::ostringstream buffer;
  const int64_t records =
      flags.format == "csv" ? log.ExportCsv(buffer, filter) : log.ExportJsonLines(buffer, filter);
  const std::string where = flags.out.empty() ? "standard output" : flags.out;
  nlohmann::json details = ExportAuditDetails(flags.format, records, filter);
  details["out"] = flags.out.empty() ? where : std::filesystem::absolute(flags.out).string();
  try {
    RecordLocalAudit(db, kExportAction, details);
  } catch (const Error& e) {
    throw Error(std::string("audit export: nothing written, because the export could not be audited: ") + e.what());
  }
  if (flags.out.empty()) {
    std::cout << buffer.view() << std::flush;
    if (!std::cout) throw Error(Context(where, "writing the audit export failed"));
  } else {
    const std::string_view bytes = buffer.view();
    WriteFileAtomically(flags.out, bytes.data(), bytes.size(), FileSync::kFsync);
  }
  std::fprintf(stderr, "exported %lld audit record(s) to %s\n", static_cast<long long>(records), where.c_str());
}

void Head(const AuditCommandFlags& flags) {
  GovernanceDb db(GovernancePath(flags.gallery));
  AuditLog log(db);
  std::printf("%s\n", AnchorText(log.Head()).c_str());
}

}  // namespace

void RegisterAudit(CLI::App& app) {
  auto flags = std::make_shared<AuditCommandFlags>();
  auto* cmd = app.add_subcommand("audit", "Check and export the audit trail: verify, export, head");
  cmd->require_subcommand(1);

  auto* verify = cmd->add_subcommand("verify", "Check the hash chain of the audit trail (exit 1 if damaged)");
  verify->add_option("--anchor", flags->anchors, "SEQ:HASH kept from an earlier `lineup audit head` (repeatable)")
      ->allow_extra_args(false);
  verify->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(verify, &flags->gallery);
  verify->callback([flags] { Verify(*flags); });

  auto* exp = cmd->add_subcommand("export", "Write audit records, every field and hash, for oversight");
  exp->add_option("--format", flags->format, "csv (RFC 4180) or jsonl (one JSON object a line)")
      ->required()
      ->check(CLI::IsMember({"csv", "jsonl"}));
  exp->add_option("--out", flags->out, "Output file (default: standard output)");
  exp->add_option("--user", flags->user, "Only this username");
  exp->add_option("--case", flags->case_number, "Only this case number");
  exp->add_option("--action", flags->action, "Only this action (login, search, decision, export, ...)");
  exp->add_option("--since", flags->since, "From this day on, YYYY-MM-DD (UTC)");
  exp->add_option("--until", flags->until, "Up to and including this day, YYYY-MM-DD (UTC)");
  AddGalleryFlags(exp, &flags->gallery);
  exp->callback([flags] { Export(*flags); });

  auto* head = cmd->add_subcommand("head", "Print SEQ:HASH of the newest record, for oversight bodies to keep");
  AddGalleryFlags(head, &flags->gallery);
  head->callback([flags] { Head(*flags); });
}

}  // namespace lineup::cli
