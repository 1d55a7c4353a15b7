// lineup audit verify | export | head | checkpoint | public-key
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
#include "governance/audit_checkpointer.h"
#include "governance/audit_log.h"
#include "governance/trail_verification.h"

namespace lineup::cli {

namespace {

struct AuditCommandFlags {
  GalleryFlags gallery;
  bool json = false;
  // verify
  std::vector<std::string> anchors;  // SEQ:HASH
  std::string checkpoints;           // checkpoint file; "" = the data directory's, when it exists
  std::string public_key;            // hex; "" = the key file's
  std::string audit_key;             // "" = the data directory's
  bool syslog = false;               // checkpoint: also to syslog
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

std::filesystem::path DataDir(const AuditCommandFlags& flags) { return MakeGalleryOptions(flags.gallery, true).data_dir; }

std::filesystem::path KeyFile(const AuditCommandFlags& flags) {
  return flags.audit_key.empty() ? DefaultAuditKeyFile(DataDir(flags)) : std::filesystem::path(flags.audit_key);
}

// The checkpoints to check: those named, else the data directory's when
// there are any; and the public key given, else the key file's.
TrailVerifyRequest VerifyRequest(const AuditCommandFlags& flags) {
  TrailVerifyRequest request;
  for (const std::string& text : flags.anchors) request.anchors.push_back(ParseAuditAnchor(text, "--anchor"));
  std::filesystem::path file = flags.checkpoints;
  if (file.empty() && std::filesystem::exists(DefaultCheckpointFile(DataDir(flags)))) {
    file = DefaultCheckpointFile(DataDir(flags));
  }
  if (file.empty()) return request;
  request.checkpoint_file = file;
  request.public_key_hex = flags.public_key;
  if (request.public_key_hex.empty()) {
    try {
      request.public_key_hex = AuditSigningKey::Load(KeyFile(flags)).public_key_hex();
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + "; give the public key the checkpoints were signed with: --public-key HEX");
    }
  }
  return request;
}

void Verify(const AuditCommandFlags& flags) {
  const TrailVerifyRequest request = VerifyRequest(flags);
  GovernanceDb db(GovernancePath(flags.gallery));
  AuditLog log(db);
  const TrailVerification v = VerifyTrail(db, log, request);
  const AuditVerification& chain = v.chain;
  if (flags.json) {
    nlohmann::json newest = nullptr;
    if (v.newest_checkpoint) newest = AnchorText(v.newest_checkpoint->anchor);
    std::cout << nlohmann::json({{"ok", v.ok()},
                                 {"records", chain.records},
                                 {"first_bad_seq", chain.first_bad_seq},
                                 {"problem", v.problem()},
                                 {"head", AnchorText(chain.head)},
                                 {"anchors", v.anchors},
                                 {"checkpoint_file", request.checkpoint_file.string()},
                                 {"checkpoints", v.checkpoints},
                                 {"newest_checkpoint", newest},
                                 {"records_after_newest_checkpoint", v.records_after_newest_checkpoint()},
                                 {"decisions", v.decisions.decisions}})
                     .dump(2)
              << "\n";
  } else if (v.ok()) {
    std::printf("audit trail intact: %lld records, head %s; %lld anchor(s) checked\n",
                static_cast<long long>(chain.records), AnchorText(chain.head).c_str(),
                static_cast<long long>(v.anchors));
    if (request.checkpoint_file.empty()) {
      std::printf("  no signed checkpoints checked (none in the data directory; --checkpoints FILE)\n");
    } else {
      std::printf("  %lld signed checkpoint(s) of %s checked; %lld record(s) after the newest\n",
                  static_cast<long long>(v.checkpoints), request.checkpoint_file.c_str(),
                  static_cast<long long>(v.records_after_newest_checkpoint()));
    }
    std::printf("  %lld decision(s) agree with the trail\n", static_cast<long long>(v.decisions.decisions));
  } else {
    std::printf("DAMAGED: %s\n", v.problem().c_str());
    std::printf("  %lld records read; the chain is intact up to %s\n", static_cast<long long>(chain.records),
                AnchorText(chain.head).c_str());
  }
  if (!v.ok()) throw Error("audit verify found damage (see above)");
}

void Checkpoint(const AuditCommandFlags& flags) {
  GovernanceDb db(GovernancePath(flags.gallery));
  AuditLog log(db);
  std::vector<std::unique_ptr<CheckpointSink>> sinks;
  sinks.push_back(FileCheckpointSink(flags.checkpoints.empty() ? DefaultCheckpointFile(DataDir(flags))
                                                               : std::filesystem::path(flags.checkpoints)));
  if (flags.syslog) sinks.push_back(SyslogCheckpointSink());
  AuditCheckpointer checkpointer(db, log, AuditSigningKey::LoadOrCreate(KeyFile(flags)), std::move(sinks));
  checkpointer.PublishIfMoved();
  if (std::string error = checkpointer.last_error(); !error.empty()) throw Error("audit checkpoint: " + error);
  for (const std::string& where : checkpointer.sink_names()) {
    std::printf("checkpoint of %s signed with key %s, written to %s\n", AnchorText(log.Head()).c_str(),
                checkpointer.key().key_id().c_str(), where.c_str());
  }
}

void PublicKey(const AuditCommandFlags& flags) {
  std::printf("%s\n", AuditSigningKey::Load(KeyFile(flags)).public_key_hex().c_str());
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

  auto* verify = cmd->add_subcommand(
      "verify", "Check the audit trail: the hash chain, your anchors, the signed checkpoints and the decisions "
                "(exit 1 if damaged)");
  verify->add_option("--anchor", flags->anchors, "SEQ:HASH kept from an earlier `lineup audit head` (repeatable)")
      ->allow_extra_args(false);
  verify->add_option("--checkpoints", flags->checkpoints,
                     "Signed checkpoints to check: a checkpoint file or a copy of the system log (default: the data "
                     "directory's audit-checkpoints.log, when there is one)");
  verify->add_option("--public-key", flags->public_key,
                     "The public key the checkpoints were signed with, 64 hex digits (default: the key file's; "
                     "oversight bodies pass the one they were given)");
  verify->add_option("--audit-key", flags->audit_key, "The signing key file (default: DATA/audit-signing.key)");
  verify->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(verify, &flags->gallery);
  verify->callback([flags] { Verify(*flags); });

  auto* checkpoint = cmd->add_subcommand(
      "checkpoint", "Sign the head of the chain and append it to the checkpoint file now (lineup serve does so "
                    "every few seconds; use this after CLI changes or from cron)");
  checkpoint->add_option("--checkpoints", flags->checkpoints,
                         "Checkpoint file to append to (default: DATA/audit-checkpoints.log)");
  checkpoint->add_option("--audit-key", flags->audit_key,
                         "The signing key file, created if missing (default: DATA/audit-signing.key)");
  checkpoint->add_flag("--syslog", flags->syslog, "Also write it to the system log (ident lineup-audit)");
  AddGalleryFlags(checkpoint, &flags->gallery);
  checkpoint->callback([flags] { Checkpoint(*flags); });

  auto* public_key = cmd->add_subcommand("public-key", "Print the public key that checkpoints are signed with, "
                                                       "for oversight bodies to keep");
  public_key->add_option("--audit-key", flags->audit_key, "The signing key file (default: DATA/audit-signing.key)");
  AddGalleryFlags(public_key, &flags->gallery);
  public_key->callback([flags] { PublicKey(*flags); });

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
