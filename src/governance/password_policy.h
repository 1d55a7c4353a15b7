// Password strength as NIST SP 800-63B (5.1.1.2) asks: no composition rules
// (no "a digit and a capital"), but a new password is refused when it is
// common, based on a dictionary word, repetitive or sequential, or derived
// from the context (the username, the display name, the product name).
//
// Two checks, both from Debian's cracklib-runtime: cracklib's own
// (FascistCheckUser over its compiled dictionary: mangled dictionary words,
// too few different characters, simple sequences), and ours over the word
// list cracklib-small (which holds the commonest passwords as well as words)
// on the password reduced to its core: digits and symbols around it
// stripped, look-alike digits read as letters, spaces removed. So
// "password1234", "p4ssw0rd!", "iloveyou2024", "qwertyuiopas" and, for
// alice, "alicealice12" are refused, which cracklib alone lets through.
//
// Invariants:
//  - Constructing one opens the dictionary; a missing dictionary is an Error
//    naming the file and the package, never a silent pass.
//  - Thread-safe: lookups are serialised by the object's own mutex
//    (cracklib's dictionary handle keeps a read cache).
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

namespace lineup {

struct PasswordContext {
  std::string username;
  std::string display_name;
};

class PasswordPolicy {
 public:
  // `dictionary`: cracklib's dictionary prefix (the path without .pwd/.pwi/
  // .hwm); "" = cracklib's compiled-in default (/var/cache/cracklib/cracklib_dict).
  // `word_list`: one word a line; "" = /usr/share/dict/cracklib-small.
  explicit PasswordPolicy(const std::string& dictionary = "", const std::string& word_list = "");
  PasswordPolicy(const PasswordPolicy&) = delete;
  PasswordPolicy& operator=(const PasswordPolicy&) = delete;

  // Why `password` is too weak, fit to show the user; nullopt when it is
  // acceptable. Length is the caller's rule (AccountPolicy).
  std::optional<std::string> Weakness(const std::string& password, const PasswordContext& context) const;

 private:
  std::optional<std::string> CracklibWeakness(const std::string& password, const PasswordContext& context) const;
  bool IsWord(const std::string& core) const { return words_.count(core) != 0; }

  std::string dictionary_;
  std::unordered_set<std::string> words_;  // lower case
  mutable std::mutex cracklib_mu_;
};

}  // namespace lineup
