// CreateIndex / LoadIndex / MinTrainingVectors: the factory strings of
// vector_index.h, parsed strictly (no spaces, no leading zeros, no unknown
// or repeated parts), and the dispatch of saved files on their magic
// ("LNFLATIX" for Flat, "LNANNIDX" + kind for the approximate indexes).
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "index/ann_file.h"
#include "index/flat_index.h"
#include "index/hnsw_index.h"
#include "index/ivfpq_index.h"
#include "index/vector_index.h"
#include "index/vector_store.h"

namespace lineup {
namespace {

constexpr size_t kMaxNlist = size_t{1} << 20;
constexpr size_t kMaxPqM = 1024;
constexpr size_t kMinHnswM = 2;
constexpr size_t kMaxHnswM = 128;
constexpr size_t kMaxEf = 100'000;

constexpr const char* kValidForms =
    "valid forms are \"Flat\", \"IVF<nlist>,PQ<m>[,nprobe=<p>]\" (e.g. \"IVF4096,PQ48,nprobe=512\") and "
    "\"HNSW<M>[,ef=<e>]\" (e.g. \"HNSW32,ef=128\")";

struct ParsedFactory {
  enum class Kind { kFlat, kIvfPq, kHnsw };
  Kind kind = Kind::kFlat;
  IvfPqParams ivfpq;
  HnswParams hnsw;
};

[[noreturn]] void Reject(const std::string& factory, const std::string& why) {
  throw Error("index factory string \"" + factory + "\": " + why + "; " + kValidForms);
}

std::vector<std::string_view> SplitOnComma(std::string_view text) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return parts;
    start = comma + 1;
  }
}

// The number after `prefix` in `token`, or nullopt if `token` does not start
// with `prefix`. Rejects anything but a positive decimal without leading
// zeros, in [1, max].
std::optional<size_t> NumberAfter(const std::string& factory, std::string_view token, std::string_view prefix,
                                  size_t max) {
  if (token.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view digits = token.substr(prefix.size());
  const std::string name(prefix);
  if (digits.empty() || digits.size() > 9 || digits[0] == '0' ||
      digits.find_first_not_of("0123456789") != std::string_view::npos) {
    Reject(factory, "\"" + std::string(token) + "\" needs a positive integer after \"" + name + "\"");
  }
  const size_t value = std::stoul(std::string(digits));
  if (value > max) Reject(factory, name + std::to_string(value) + " is over the limit of " + std::to_string(max));
  return value;
}

ParsedFactory ParseIvfPq(const std::string& factory, const std::vector<std::string_view>& parts) {
  ParsedFactory parsed;
  parsed.kind = ParsedFactory::Kind::kIvfPq;
  if (parts.size() < 2 || parts.size() > 3) Reject(factory, "IVF needs exactly \",PQ<m>\" and optionally \",nprobe=<p>\"");
  parsed.ivfpq.nlist = *NumberAfter(factory, parts[0], "IVF", kMaxNlist);
  const auto m = NumberAfter(factory, parts[1], "PQ", kMaxPqM);
  if (!m) Reject(factory, "\"" + std::string(parts[1]) + "\" is not PQ<m>");
  parsed.ivfpq.m = *m;
  parsed.ivfpq.nprobe = IvfPqIndex::DefaultNprobe(parsed.ivfpq.nlist);
  if (parts.size() == 3) {
    const auto nprobe = NumberAfter(factory, parts[2], "nprobe=", parsed.ivfpq.nlist);
    if (!nprobe) Reject(factory, "\"" + std::string(parts[2]) + "\" is not nprobe=<p>");
    parsed.ivfpq.nprobe = *nprobe;
  }
  return parsed;
}

ParsedFactory ParseHnsw(const std::string& factory, const std::vector<std::string_view>& parts) {
  ParsedFactory parsed;
  parsed.kind = ParsedFactory::Kind::kHnsw;
  if (parts.size() > 2) Reject(factory, "HNSW takes only an optional \",ef=<e>\"");
  parsed.hnsw.m = *NumberAfter(factory, parts[0], "HNSW", kMaxHnswM);
  if (parsed.hnsw.m < kMinHnswM) Reject(factory, "HNSW needs M >= " + std::to_string(kMinHnswM));
  parsed.hnsw.ef = HnswIndex::kDefaultEf;
  if (parts.size() == 2) {
    const auto ef = NumberAfter(factory, parts[1], "ef=", kMaxEf);
    if (!ef) Reject(factory, "\"" + std::string(parts[1]) + "\" is not ef=<e>");
    parsed.hnsw.ef = *ef;
  }
  return parsed;
}

ParsedFactory ParseFactory(const std::string& factory) {
  if (factory == "Flat") return {};
  const std::vector<std::string_view> parts = SplitOnComma(factory);
  const std::string_view head = parts[0];
  // "HNSW" before any other prefix check: no other kind starts with it.
  if (head.substr(0, 4) == "HNSW") return ParseHnsw(factory, parts);
  if (head.substr(0, 3) == "IVF") return ParseIvfPq(factory, parts);
  Reject(factory, "unknown index kind");
}

std::unique_ptr<VectorIndex> Create(const ParsedFactory& parsed, const VectorStore& store) {
  switch (parsed.kind) {
    case ParsedFactory::Kind::kIvfPq:
      return std::make_unique<IvfPqIndex>(store, parsed.ivfpq);
    case ParsedFactory::Kind::kHnsw:
      return std::make_unique<HnswIndex>(store, parsed.hnsw);
    case ParsedFactory::Kind::kFlat:
      break;
  }
  return std::make_unique<FlatIndex>(store);
}

// The first 8 bytes of the file; throws Error if it cannot be read.
std::string Magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Context(path.string(), "cannot open index file"));
  std::string magic(8, '\0');
  in.read(magic.data(), 8);
  magic.resize(static_cast<size_t>(in.gcount()));
  return magic;
}

}  // namespace

std::unique_ptr<VectorIndex> CreateIndex(const std::string& factory, const VectorStore& store) {
  return Create(ParseFactory(factory), store);
}

size_t MinTrainingVectors(const std::string& factory) {
  const ParsedFactory parsed = ParseFactory(factory);
  return parsed.kind == ParsedFactory::Kind::kIvfPq ? IvfPqIndex::MinTrainingVectors(parsed.ivfpq) : 0;
}

std::unique_ptr<VectorIndex> LoadIndex(const std::filesystem::path& path, const VectorStore& store) {
  const std::string magic = Magic(path);
  if (magic == FlatIndex::kFileMagic) return FlatIndex::Load(path, store);
  if (magic != AnnFileHeader::kMagic) throw Error(Context(path.string(), "not an index file (unknown magic)"));

  AnnFileReader file(path);
  file.CheckStore(store);
  ParsedFactory parsed;
  try {
    parsed = ParseFactory(file.header().factory);
  } catch (const Error& e) {
    throw Error(Context(path.string(), std::string("index file names an unknown index: ") + e.what()));
  }
  if (parsed.kind == ParsedFactory::Kind::kIvfPq && file.header().kind == AnnKind::kIvfPq) {
    return IvfPqIndex::Load(file, store, parsed.ivfpq);
  }
  if (parsed.kind == ParsedFactory::Kind::kHnsw && file.header().kind == AnnKind::kHnsw) {
    return HnswIndex::Load(file, store, parsed.hnsw);
  }
  throw Error(Context(path.string(), "index file kind does not match its factory string \"" +
                                         file.header().factory + "\""));
}

}  // namespace lineup
