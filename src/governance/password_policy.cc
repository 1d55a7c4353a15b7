#include "governance/password_policy.h"

#include <crack.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace lineup {
namespace {

constexpr char kDefaultWordList[] = "/usr/share/dict/cracklib-small";
constexpr char kProductName[] = "lineup";
constexpr size_t kMinContextPart = 3;  // shorter name parts ("jo", "d.") are not looked for
constexpr size_t kMinRemainder = 4;    // letters left once the context is taken out
constexpr std::array<const char*, 4> kSequences = {"abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm",
                                                   "azertyuiopqsdfghjklmwxcvbn", "01234567890123456789"};

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// A digit or symbol people use in place of a letter, or 0.
char LookAlike(char c) {
  switch (c) {
    case '4': case '@': return 'a';
    case '8': return 'b';
    case '3': return 'e';
    case '1': case '!': case '|': return 'i';
    case '0': return 'o';
    case '5': case '$': return 's';
    case '7': case '+': return 't';
    default: return 0;
  }
}

// The password's core: lower case, without the digits and symbols before
// its first and after its last letter, look-alikes read as letters, and
// without what is then neither a letter nor a look-alike (spaces, dots).
std::string CoreOf(const std::string& password) {
  const auto first = std::find_if(password.begin(), password.end(), IsAsciiLetter);
  if (first == password.end()) return "";
  const auto last = std::find_if(password.rbegin(), password.rend(), IsAsciiLetter).base();
  std::string core;
  for (auto it = first; it != last; ++it) {
    if (IsAsciiLetter(*it)) core += Lower(*it);
    else if (char letter = LookAlike(*it)) core += letter;
  }
  return core;
}

// The lower-case letters of `text` in runs: "D. Alice-Smith2" -> {"alice", "smith"} (with kMinContextPart).
std::vector<std::string> NameParts(const std::string& text) {
  std::vector<std::string> parts;
  std::string run;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && IsAsciiLetter(text[i])) {
      run += Lower(text[i]);
      continue;
    }
    if (run.size() >= kMinContextPart) parts.push_back(run);
    run.clear();
  }
  return parts;
}

void EraseAll(std::string& text, const std::string& part) {
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part)) text.erase(at, part.size());
}

// True when `text` is one shorter unit repeated ("abcabcabcabc", "passwordpassword").
bool IsRepetition(const std::string& text) {
  for (size_t unit = 1; unit <= text.size() / 2; ++unit) {
    if (text.size() % unit != 0) continue;
    bool repeats = true;
    for (size_t i = unit; i < text.size() && repeats; ++i) repeats = text[i] == text[i % unit];
    if (repeats) return true;
  }
  return false;
}

// True when `text` runs along the alphabet, a keyboard row or the digits, either way.
bool IsSequence(const std::string& text) {
  if (text.size() < 4) return false;
  std::string reversed(text.rbegin(), text.rend());
  return std::any_of(kSequences.begin(), kSequences.end(), [&](const char* sequence) {
    const std::string s = sequence;
    return s.find(text) != std::string::npos || s.find(reversed) != std::string::npos;
  });
}

// The password's letters and digits, lower case.
std::string Alphanumerics(const std::string& password) {
  std::string out;
  for (char c : password) {
    if (IsAsciiLetter(c) || (c >= '0' && c <= '9')) out += Lower(c);
  }
  return out;
}

std::unordered_set<std::string> LoadWords(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw Error(Context(path, "the password word list is missing; install the Debian package cracklib-runtime "
                              "(scripts/setup.sh does)"));
  }
  std::unordered_set<std::string> words;
  for (std::string line; std::getline(in, line);) {
    std::string word;
    for (char c : line) word += Lower(c);
    if (word.size() >= 3) words.insert(std::move(word));
  }
  return words;
}

}  // namespace

PasswordPolicy::PasswordPolicy(const std::string& dictionary, const std::string& word_list)
    : dictionary_(dictionary.empty() ? GetDefaultCracklibDict() : dictionary),
      words_(LoadWords(word_list.empty() ? kDefaultWordList : word_list)) {
  // cracklib reads <prefix>.pwd, .pwi and .hwm; without them it only says "error loading dictionary".
  for (const char* suffix : {".pwd", ".pwi"}) {
    if (!std::filesystem::exists(dictionary_ + suffix)) {
      throw Error(Context(dictionary_ + suffix, "the cracklib password dictionary is missing; install the Debian "
                                                "package cracklib-runtime (scripts/setup.sh does)"));
    }
  }
}

std::optional<std::string> PasswordPolicy::CracklibWeakness(const std::string& password,
                                                           const PasswordContext& context) const {
  std::lock_guard lock(cracklib_mu_);
  const char* problem = FascistCheckUser(password.c_str(), dictionary_.c_str(), context.username.c_str(),
                                         context.display_name.c_str());
  if (problem == nullptr) return std::nullopt;
  return std::string(problem);
}

std::optional<std::string> PasswordPolicy::Weakness(const std::string& password, const PasswordContext& context) const {
  const std::string core = CoreOf(password);
  const std::string alnum = Alphanumerics(password);
  if (IsRepetition(alnum) || (core.size() >= 2 && IsRepetition(core))) return "it repeats a short sequence";
  if (IsSequence(alnum) || IsSequence(core)) return "it is a run along the alphabet, the keyboard or the digits";
  if (IsWord(core)) return "it is a common password or a dictionary word (digits or symbols around it do not help)";
  std::string rest = core;
  for (const std::string& source : {context.username, context.display_name, std::string(kProductName)}) {
    for (const std::string& part : NameParts(source)) EraseAll(rest, part);
  }
  if (rest != core && (rest.size() < kMinRemainder || IsWord(rest) || IsRepetition(rest))) {
    return "it is built from your name, your username or the product's name";
  }
  if (std::optional<std::string> problem = CracklibWeakness(password, context)) return problem;
  return std::nullopt;
}

}  // namespace lineup
