#include "gallery/erasure.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/utc_time.h"

namespace lineup {

namespace {

namespace fs = std::filesystem;

const std::vector<std::pair<EraseBy, std::string>> kNames = {
    {EraseBy::kImage, "image"},           {EraseBy::kSourceUrl, "source-url"},
    {EraseBy::kDomain, "domain"},         {EraseBy::kUrlPrefix, "url-prefix"},
    {EraseBy::kCollection, "collection"}, {EraseBy::kJob, "job"},
    {EraseBy::kIngestedBefore, "ingested-before"},
};

constexpr char kLatest[] = "9999-12-31T23:59:59Z";

fs::path JournalDir(const fs::path& data_dir) { return data_dir / "erasures"; }

int64_t ParseId(const ErasureSelector& s) {
  const std::string& v = s.value;
  if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
    throw Error("erase by " + ToString(s.by) + ": '" + v + "' is not an id (a positive whole number)");
  }
  int64_t id = std::stoll(v);
  if (id <= 0) throw Error("erase by " + ToString(s.by) + ": ids start at 1");
  return id;
}

bool HostInDomain(const std::string& host, const std::string& domain) {
  return host == domain ||
         (host.size() > domain.size() && host.compare(host.size() - domain.size(), domain.size(), domain) == 0 &&
          host[host.size() - domain.size() - 1] == '.');
}

std::string CheckedDomain(const std::string& value) {
  std::string domain = ToLowerAscii(value);
  while (!domain.empty() && domain.back() == '.') domain.pop_back();
  bool ok = !domain.empty() && domain.size() <= 253 && domain.front() != '.' &&
            std::all_of(domain.begin(), domain.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c >= 0x80;
            });
  if (!ok) {
    throw Error("erase by domain: '" + value + "' is not a host name; give one like example.org (no scheme, path or port)");
  }
  return domain;
}

// Image ids whose source or page URL satisfies `match` (a scan of every source).
std::vector<int64_t> ImagesWhereUrl(Catalog& catalog, const std::function<bool(const std::string&)>& match) {
  std::vector<int64_t> ids;
  catalog.ForEachImageSource([&](int64_t id, const std::string& url, const std::string& page) {
    if ((!url.empty() && match(url)) || (!page.empty() && match(page))) ids.push_back(id);
  });
  return ids;
}

Collection RequireCollection(Catalog& catalog, const std::string& name) {
  if (name.empty()) throw Error("erase: no collection named (give its name)");
  std::optional<Collection> c = catalog.FindCollection(name);
  if (!c) throw Error(Context(name, "no such collection (`lineup gallery stats` lists them)"));
  return *c;
}

std::vector<int64_t> MatchingImages(Gallery& gallery, const ErasureSelector& s, std::optional<Collection>* collection) {
  Catalog& catalog = gallery.catalog();
  switch (s.by) {
    case EraseBy::kImage: {
      int64_t id = ParseId(s);
      return catalog.GetImage(id) ? std::vector<int64_t>{id} : std::vector<int64_t>{};
    }
    case EraseBy::kSourceUrl:
      if (s.value.empty()) throw Error("erase by source URL: the URL is empty");
      return ImagesWhereUrl(catalog, [&](const std::string& url) { return url == s.value; });
    case EraseBy::kDomain: {
      const std::string domain = CheckedDomain(s.value);
      return ImagesWhereUrl(catalog, [&](const std::string& url) { return HostInDomain(UrlHost(url), domain); });
    }
    case EraseBy::kUrlPrefix:
      if (s.value.empty()) throw Error("erase by URL prefix: the prefix is empty (that would name every image with a source)");
      return catalog.FindImagesBySourcePrefix(s.value);
    case EraseBy::kCollection:
      *collection = RequireCollection(catalog, s.value);
      return catalog.FindImagesIngestedBefore((*collection)->id, kLatest);
    case EraseBy::kJob: {
      int64_t id = ParseId(s);
      if (!catalog.GetJob(id)) throw Error("erase by job: no ingest job " + s.value + " (`lineup gallery jobs` lists them)");
      return catalog.FindImagesOfJob(id);
    }
    case EraseBy::kIngestedBefore: {
      Collection c = RequireCollection(catalog, s.value);
      if (s.before.size() != 20 || s.before[10] != 'T' || s.before.back() != 'Z') {
        throw Error("erase by ingest time: '" + s.before + "' is not a UTC time like 2026-01-31T00:00:00Z");
      }
      return catalog.FindImagesIngestedBefore(c.id, s.before);
    }
  }
  throw Error("erase: unknown selector");
}

// The images a selector names now, without counting their faces.
ErasurePlan MatchPlan(Gallery& gallery, const ErasureSelector& selector) {
  ErasurePlan plan;
  plan.selector = selector;
  plan.image_ids = MatchingImages(gallery, selector, &plan.collection);
  return plan;
}

nlohmann::json SelectorJson(const ErasureSelector& s) {
  return {{"by", ToString(s.by)}, {"value", s.value}, {"before", s.before}};
}

ErasureSelector SelectorFromJson(const nlohmann::json& j) {
  ErasureSelector s;
  s.by = EraseByFromString(j.at("by").get<std::string>());
  s.value = j.at("value").get<std::string>();
  s.before = j.value("before", "");
  return s;
}

// An erasure's journal as read back.
struct Journal {
  fs::path path;
  std::string id;  // the file name without ".json"
  ErasureSelector selector;
  nlohmann::json audit;                    // the owed event; null in journals of older Lineups
  std::optional<DeletionReport> planned;   // images and faces the plan named
};

Journal ReadJournal(const fs::path& file) {
  std::ifstream in(file);
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    Journal journal{file, file.stem().string(), SelectorFromJson(j.at("selector")), j.value("audit", nlohmann::json()),
                    std::nullopt};
    if (j.contains("planned")) {
      journal.planned = DeletionReport{};
      journal.planned->images = j["planned"].at("images").get<int64_t>();
      journal.planned->faces = j["planned"].at("faces").get<int64_t>();
    }
    return journal;
  } catch (const std::exception& e) {
    throw Error(Context(file.string(), std::string("unreadable erasure journal: ") + e.what()));
  }
}

std::vector<fs::path> JournalFiles(const fs::path& data_dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(JournalDir(data_dir), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".json") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());  // names start with the start time: oldest first
  return files;
}

// 16 random hex digits: with the start time, a journal id no other erasure has.
std::string RandomSuffix() {
  std::random_device random;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%08x%08x", random(), random());
  return hex;
}

Journal WriteJournal(const fs::path& data_dir, const ErasurePlan& plan, const nlohmann::json& audit) {
  const int64_t now = UnixNow();
  Journal journal;
  journal.id = std::to_string(now) + "-" + RandomSuffix();
  journal.path = JournalDir(data_dir) / (journal.id + ".json");
  journal.selector = plan.selector;
  journal.audit = audit;
  journal.planned = DeletionReport{};
  journal.planned->images = static_cast<int64_t>(plan.image_ids.size());
  journal.planned->faces = plan.faces;
  nlohmann::json j = {{"selector", SelectorJson(plan.selector)},
                      {"started_at", IsoUtc(now)},
                      {"planned", {{"images", journal.planned->images}, {"faces", journal.planned->faces}}},
                      {"audit", audit}};
  fs::create_directories(journal.path.parent_path());
  WriteFileAtomically(journal.path, j.dump());  // fsynced, then renamed into place
  SyncFileSystem(journal.path.parent_path());
  return journal;
}

void RemoveJournal(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) throw Error(Context(path.string(), "cannot remove the erasure journal: " + ec.message()));
  SyncFileSystem(path.parent_path());
}

void Stage(const ErasureHooks& hooks, const std::string& stage) {
  if (hooks.after_stage) hooks.after_stage(stage);
}

// Step 5: the journal's owed record (or `fallback`'s event for a journal
// without one), completed with what the erasure did, written once.
void RecordErasure(const Journal& journal, const ErasureReport& report, const ErasureAudit& fallback) {
  nlohmann::json event = journal.audit.is_object() ? journal.audit : fallback.event;
  nlohmann::json& details = event["details"];
  if (!details.is_object()) details = nlohmann::json::object();
  details["erasure_id"] = journal.id;
  details["selector"] = report.selector.Describe();
  details["images"] = report.deleted.images;
  details["faces"] = report.deleted.faces;
  details["bytes_reclaimed"] = report.bytes_reclaimed;
  details["resumed"] = report.resumed;
  fallback.record("erasure:" + journal.id, event);
}

// Steps 2-6 of the header for the plan of a journalled selector. With
// `resuming`, media and vector records orphaned by the crash are swept too
// (before the journal goes, so that a second crash repeats the sweep).
ErasureReport RunJournalled(Gallery& gallery, const ErasurePlan& plan, const Journal& journal,
                            const ErasureAudit& audit, const ErasureHooks& hooks, bool resuming) {
  ErasureReport report;
  report.id = journal.id;
  report.selector = plan.selector;
  if (plan.collection) {
    report.deleted = gallery.DeleteCollection(plan.collection->name);
  } else if (!plan.image_ids.empty()) {
    report.deleted = gallery.DeleteImages(plan.image_ids);
  }
  Stage(hooks, "committed");
  report.bytes_reclaimed = gallery.Compact();
  Stage(hooks, "compacted");
  if (resuming) gallery.Check(/*repair=*/true, /*show_progress=*/false);
  gallery.catalog().ScrubDeletedRows();
  report.resumed = resuming;
  if (resuming && journal.planned) report.deleted = *journal.planned;  // the first run may have committed
  RecordErasure(journal, report, audit);
  Stage(hooks, "recorded");
  RemoveJournal(journal.path);
  return report;
}

void RequireRecorder(const ErasureAudit& audit) {
  if (!audit.record) throw Error("erase: no audit recorder given (an erasure is always audited)");
}

}  // namespace

std::string ToString(EraseBy by) {
  for (const auto& [b, name] : kNames) {
    if (b == by) return name;
  }
  return "?";
}

EraseBy EraseByFromString(const std::string& text) {
  std::string choices;
  for (const auto& [b, name] : kNames) {
    if (name == text) return b;
    choices += (choices.empty() ? "" : ", ") + name;
  }
  throw Error("erase by '" + text + "': choose one of " + choices);
}

std::string ErasureSelector::Describe() const {
  std::string d = ToString(by) + " " + value;
  if (by == EraseBy::kIngestedBefore) d = "collection " + value + " ingested before " + before;
  return d;
}

std::string UrlHost(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  size_t begin = scheme + 3;
  size_t end = url.find_first_of("/?#", begin);
  std::string authority = url.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  if (!authority.empty() && authority.front() == '[') return "";  // IPv6 literal: no domain
  if (size_t colon = authority.find(':'); colon != std::string::npos) authority = authority.substr(0, colon);
  std::string host = ToLowerAscii(authority);
  while (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

ErasurePlan PlanErasure(Gallery& gallery, const ErasureSelector& selector) {
  ErasurePlan plan = MatchPlan(gallery, selector);
  for (int64_t id : plan.image_ids) plan.faces += static_cast<int64_t>(gallery.catalog().FacesOfImage(id).size());
  return plan;
}

void RequireMatches(const ErasurePlan& plan) {
  if (plan.image_ids.empty() && !plan.collection) {
    throw Error("erase " + plan.selector.Describe() + ": nothing in the gallery matches; nothing was erased");
  }
}

ErasureReport Erase(Gallery& gallery, const ErasureSelector& selector, const ErasureAudit& audit,
                    const ErasureHooks& hooks) {
  if (gallery.options().read_only) throw Error("erase: the gallery is opened read-only");
  return Erase(gallery, PlanErasure(gallery, selector), audit, hooks);
}

ErasureReport Erase(Gallery& gallery, const ErasurePlan& plan, const ErasureAudit& audit,
                    const ErasureHooks& hooks) {
  if (gallery.options().read_only) throw Error("erase: the gallery is opened read-only");
  RequireRecorder(audit);
  RequireMatches(plan);
  Journal journal = WriteJournal(gallery.options().data_dir, plan, audit.event);
  Stage(hooks, "journaled");
  return RunJournalled(gallery, plan, journal, audit, hooks, false);
}

std::vector<ErasureSelector> PendingErasures(const fs::path& data_dir) {
  std::vector<ErasureSelector> pending;
  for (const fs::path& file : JournalFiles(data_dir)) pending.push_back(ReadJournal(file).selector);
  return pending;
}

bool HasUnfinishedErasures(const fs::path& data_dir) { return !JournalFiles(data_dir).empty(); }

namespace {

// A journal cut short while being written (before its rename): its erasure
// never began.
void RemoveTornJournals(const fs::path& data_dir) {
  std::error_code ec;
  for (fs::directory_iterator it(JournalDir(data_dir), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 9 && name.ends_with(".json.tmp")) fs::remove(it->path(), ec);
  }
}

}  // namespace

std::vector<ErasureReport> ResumeErasures(Gallery& gallery, const ErasureAudit& audit) {
  std::vector<ErasureReport> reports;
  if (!gallery.options().read_only) RemoveTornJournals(gallery.options().data_dir);
  std::vector<fs::path> files = JournalFiles(gallery.options().data_dir);
  if (files.empty()) return reports;
  if (gallery.options().read_only) throw Error("erase: the gallery is opened read-only");
  RequireRecorder(audit);
  for (const fs::path& file : files) {
    Journal journal = ReadJournal(file);
    const ErasureSelector& selector = journal.selector;
    ErasurePlan plan{selector, {}, 0, std::nullopt};
    try {
      plan = MatchPlan(gallery, selector);
    } catch (const Error&) {
      // A collection or job erased before the crash is gone: nothing left to delete.
      if (selector.by != EraseBy::kCollection && selector.by != EraseBy::kJob) throw;
    }
    reports.push_back(RunJournalled(gallery, plan, journal, audit, {}, true));
  }
  return reports;
}

}  // namespace lineup
