// Line-oriented text helpers shared by the evaluation file parsers: each line
// keeps its 1-based number so that errors can name "file:line".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lineup::eval_internal {

struct NumberedLine {
  int number = 0;         // 1-based line number in the source text
  std::string_view text;  // without the line terminator ("\n" or "\r\n")
};

// Splits text into lines; a final line without a terminator is kept and a
// leading UTF-8 byte-order mark is dropped.
std::vector<NumberedLine> SplitLines(std::string_view text);

// Text without leading/trailing spaces, tabs and CR.
std::string_view Trim(std::string_view text);

// Whitespace-separated tokens.
std::vector<std::string_view> SplitWhitespace(std::string_view text);

// Strict parsers: the whole token must be a number; return false otherwise.
bool ParseInt64(std::string_view token, int64_t* value);
bool ParseDouble(std::string_view token, double* value);

// Splits one CSV record (one line) into fields: a field may be quoted ("a,b",
// with "" for a quote; spaces around the quotes are ignored), an unquoted field
// is trimmed. Throws Error naming `where` on an unterminated quote or text
// after a closing quote. Records may not span lines.
std::vector<std::string> SplitCsvRecord(std::string_view text, const std::string& where);

// "source:line" for error messages.
std::string LineContext(const std::string& source, int line);

}  // namespace lineup::eval_internal
