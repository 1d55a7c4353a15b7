// lineup serve: the REST API and web app over a gallery (docs/API.md).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/serve.h"
#include "common/error.h"
#include "common/private_dir.h"
#include "governance/audit_checkpoints.h"
#include "server/http_server.h"
#include "server/trusted_proxies.h"

namespace lineup::cli {

namespace {

namespace fs = std::filesystem;

struct ServeFlags {
  std::string listen = "127.0.0.1:8080";
  std::string tls_cert, tls_key;
  bool secure_cookies = false;
  std::vector<std::string> trusted_proxies;
  bool trust_proxy = false;  // removed; refused with a pointer to --trusted-proxy
  std::string log_file;
  int candidates = 20;
  int max_upload_mb = 20;
  double logins_per_minute = 10;
  double maintenance_hours = 24;
  int64_t case_retention_days = 0;
  bool fix_permissions = false;
  // Connection and decode limits (docs/SERVER.md, "Connection limits").
  double header_timeout = 10;
  int max_connections_per_address = 8;
  int threads = 0;
  int max_upload_megapixels = 40;
  // Signed audit checkpoints (docs/SECURITY.md, "The audit trail").
  std::string audit_key;          // "" = DATA/audit-signing.key
  std::string audit_checkpoints;  // "" = DATA/audit-checkpoints.log
  bool audit_checkpoint_syslog = false;
  double audit_checkpoint_seconds = 5;
  bool two_person_rule = false;
  EngineFlags engine;
  GalleryFlags gallery;
};

void Run(ServeFlags& flags) {
  if (flags.trust_proxy) {
    throw Error("--trust-proxy is gone: it took the left-most X-Forwarded-For entry, which any client can forge. "
                "Name the proxy instead: --trusted-proxy 127.0.0.1 (repeatable, CIDR blocks such as 10.0.0.0/8 "
                "or fd00::/8); see docs/SERVER.md");
  }
  TrustedProxies{flags.trusted_proxies};  // a bad --trusted-proxy is refused before the models load
  ModelManifest manifest = LoadManifest(flags.engine);
  ServiceOptions so;
  GalleryOptions go = MakeGalleryOptions(flags.gallery, true);
  so.data_dir = go.data_dir;
  so.catalog = go.catalog;
  if (flags.fix_permissions) {
    std::printf("--fix-permissions: %lld file(s) and folder(s) of %s made private to this user\n",
                static_cast<long long>(MakePrivate(go.data_dir)), go.data_dir.c_str());
  }
  CheckPrivate(go.data_dir);
  if (flags.engine.profile.empty() && (fs::exists(go.data_dir / "catalog.db") || !go.catalog.empty())) {
    ChooseProfileForGallery(manifest, flags.gallery, &flags.engine);
  }
  so.profile = flags.engine.profile;
  so.default_candidates = flags.candidates;
  so.max_upload_bytes = static_cast<int64_t>(flags.max_upload_mb) << 20;
  so.maintenance_hours = flags.maintenance_hours;
  so.case_retention_days = flags.case_retention_days;
  so.max_upload_pixels = int64_t{flags.max_upload_megapixels} * 1'000'000;
  so.audit_key_file = flags.audit_key.empty() ? DefaultAuditKeyFile(go.data_dir) : fs::path(flags.audit_key);
  so.audit_checkpoint_file =
      flags.audit_checkpoints.empty() ? DefaultCheckpointFile(go.data_dir) : fs::path(flags.audit_checkpoints);
  so.audit_checkpoint_syslog = flags.audit_checkpoint_syslog;
  so.audit_checkpoint_seconds = flags.audit_checkpoint_seconds;
  so.accounts.two_person_rule = flags.two_person_rule;
  HttpServerOptions ho;
  ParseListen(flags.listen, &ho);
  if (flags.tls_cert.empty() != flags.tls_key.empty()) throw Error("--tls-cert and --tls-key go together");
  ho.tls_cert = flags.tls_cert;
  ho.tls_key = flags.tls_key;
  ho.secure_cookies = flags.secure_cookies;
  ho.trusted_proxies = flags.trusted_proxies;
  ho.log_file = flags.log_file;
  ho.logins_per_minute = flags.logins_per_minute;
  ho.header_timeout_seconds = flags.header_timeout;
  ho.max_connections_per_address = flags.max_connections_per_address;
  ho.threads = flags.threads;
  Serve(manifest, so, ho);
}

// Where the audit checkpoints go, and a warning when they stay beside the
// database only.
void PrintCheckpoints(Service& service, const ServiceOptions& options) {
  AuditCheckpointer* checkpointer = service.audit_checkpointer();
  if (!checkpointer) return;
  std::string where;
  for (const std::string& name : checkpointer->sink_names()) where += (where.empty() ? "" : ", ") + name;
  std::printf("audit checkpoints: signed with key %s (lineup audit public-key), every %gs, to %s\n",
              checkpointer->key().key_id().c_str(), options.audit_checkpoint_seconds, where.c_str());
  const fs::path data = fs::weakly_canonical(options.data_dir);
  const fs::path file = fs::weakly_canonical(options.audit_checkpoint_file);
  const bool beside_database = !options.audit_checkpoint_file.empty() &&
                               std::mismatch(data.begin(), data.end(), file.begin(), file.end()).first == data.end();
  if (beside_database && !options.audit_checkpoint_syslog) {
    std::printf("warning: the audit checkpoints are only in the data directory, where whoever can rewrite the "
                "database can rewrite them too; add --audit-checkpoint-syslog or --audit-checkpoints on another "
                "volume (docs/SECURITY.md)\n");
  }
}

}  // namespace

void ParseListen(const std::string& listen, HttpServerOptions* options) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    throw Error("--listen " + listen + ": give HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:443");
  }
  options->host = listen.substr(0, colon);
  try {
    options->port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    options->port = -1;
  }
  if (options->port < 0 || options->port > 65535) throw Error("--listen " + listen + ": the port is 0..65535");
}

void Serve(const ModelManifest& manifest, const ServiceOptions& service_options, const HttpServerOptions& options) {
  // SIGINT/SIGTERM are taken by one thread with sigwait (never in a signal
  // handler), which stops the server cleanly.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Service service(manifest, service_options);
  HttpServer server(service, options);
  int port = server.Bind();
  // Only once the server can serve: a password created and then lost to a
  // bad certificate or a taken port could never be printed again.
  std::string password = service.EnsureAdmin();
  service.StartMaintenance();
  PrintCheckpoints(service, service_options);
  bool tls = !options.tls_cert.empty();
  std::printf("Lineup serving %s on %s://%s:%d/  (data: %s)\n", service_options.data_dir.c_str(),
              tls ? "https" : "http", options.host.c_str(), port, service_options.data_dir.c_str());
  if (!password.empty()) {
    std::printf("\nFirst start: an admin account was created.\n  username: admin\n  password: %s\n"
                "This password is shown only now and is one-time: the first sign-in asks for a new one.\nThe admin creates the other accounts (investigator, supervisor,\n"
                "auditor) on the Admin page; investigators can also request an account for a supervisor to approve.\n\n",
                password.c_str());
  }
  if (service_options.accounts.two_person_rule) {
    std::printf("two-person rule: accounts and roles an admin grants wait for a second person's approval; "
                "at this machine: lineup users pending, lineup users approve NAME\n");
  }
  if (!tls && options.host != "127.0.0.1" && options.host != "localhost" && options.host != "::1") {
    std::printf("warning: serving plain HTTP beyond this machine; use --tls-cert/--tls-key or a TLS reverse proxy "
                "(docs/SERVER.md)\n");
  }
  std::fflush(stdout);
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::printf("\nstopping (signal %d)\n", signal);
    server.Stop();
  });
  server.Run();
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
}

void RegisterServe(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand(
      "serve", "Serve the REST API (/api/v1, OpenAPI at /api/v1/openapi.json) and the web app over the gallery; "
               "searches are bound to cases and audited. On first start an admin account is created and its "
               "password printed once.");
  cmd->add_option("--listen", flags->listen, "HOST:PORT to listen on")->capture_default_str();
  cmd->add_option("--tls-cert", flags->tls_cert, "PEM certificate (chain) for HTTPS")->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", flags->tls_key, "PEM private key for HTTPS")->check(CLI::ExistingFile);
  cmd->add_flag("--secure-cookies", flags->secure_cookies, "Mark cookies Secure (set this behind a TLS proxy)");
  cmd->add_option("--trusted-proxy", flags->trusted_proxies,
                  "Address or CIDR block of a reverse proxy whose X-Forwarded-For counts (repeatable; the client "
                  "is the right-most entry that is not a trusted proxy; without it the header is ignored)");
  cmd->add_flag("--trust-proxy", flags->trust_proxy, "Removed: use --trusted-proxy")->group("");
  cmd->add_option("--log", flags->log_file,
                  "Append the request log (one JSON object per request) to this file instead of stderr");
  cmd->add_option("--candidates", flags->candidates, "Default candidate list length")
      ->capture_default_str()
      ->check(CLI::Range(1, static_cast<int>(kMaxCandidates)));
  cmd->add_option("--max-upload-mb", flags->max_upload_mb, "Largest probe photo accepted")
      ->capture_default_str()
      ->check(CLI::Range(1, 200));
  cmd->add_option("--logins-per-minute", flags->logins_per_minute,
                  "Login attempts allowed per client address and minute (burst of 10)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--maintenance-hours", flags->maintenance_hours,
                  "Run the maintenance job (finish interrupted erasures and pending opt-outs, apply retention; "
                  "audited) a minute after start and then every this many hours; 0 = never")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 24.0 * 365));
  cmd->add_option("--case-retention-days", flags->case_retention_days,
                  "Delete probe photos (with their searches) this many days after upload, for cases without their "
                  "own retention; 0 = keep")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{36500}));
  cmd->add_flag("--fix-permissions", flags->fix_permissions,
                "Remove other users' access to the data directory and everything in it, then serve (the server "
                "refuses a data directory others can read)");
  // Connection and decode limits.
  cmd->add_option("--header-timeout", flags->header_timeout,
                  "Seconds a request's line and headers may take from its first byte (plain HTTP)")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 600.0));
  cmd->add_option("--max-connections-per-address", flags->max_connections_per_address,
                  "Open connections served per client address (plain HTTP); 0 = no cap, for a front proxy")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--threads", flags->threads, "Most request threads; 0 = 16 per core, at least 32")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--max-upload-megapixels", flags->max_upload_megapixels,
                  "Largest uploaded photo in megapixels: a bigger JPEG is decoded at 1/2, 1/4 or 1/8 size, "
                  "other formats are refused")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--audit-key", flags->audit_key,
                  "Ed25519 key that signs the audit checkpoints, created on first start (default: "
                  "DATA/audit-signing.key)");
  cmd->add_option("--audit-checkpoints", flags->audit_checkpoints,
                  "Append-only file the signed checkpoints of the audit chain go to; put it on a volume the "
                  "database's owner cannot rewrite (default: DATA/audit-checkpoints.log)");
  cmd->add_flag("--audit-checkpoint-syslog", flags->audit_checkpoint_syslog,
                "Also send each checkpoint to the system log (ident lineup-audit, facility authpriv)");
  cmd->add_option("--audit-checkpoint-seconds", flags->audit_checkpoint_seconds,
                  "Checkpoint the head of the chain this often when it moved")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_flag("--two-person-rule", flags->two_person_rule,
                "Separation of duties: accounts an admin creates and roles an admin grants wait for a second "
                "person's approval (a supervisor of the unit for investigators, another admin otherwise; "
                "lineup users approve at this machine for the first ones)");
  AddGalleryFlags(cmd, &flags->gallery);
  AddEngineFlags(cmd, &flags->engine, true);
  cmd->callback([flags] { Run(*flags); });
}

}  // namespace lineup::cli
