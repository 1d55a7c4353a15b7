// CSV for files that people open in spreadsheets (audit exports, oversight
// reports): RFC 4180 quoting (fields with commas, quotes or line breaks are
// quoted, quotes doubled), CRLF line ends, and the formula guard: a cell that
// starts with = + - or @, which a spreadsheet would run as a formula, gets a
// leading single quote.
#pragma once

#include <string>
#include <vector>

namespace lineup {

std::string CsvCell(const std::string& value);
// The cells joined by commas, ending in "\r\n".
std::string CsvRow(const std::vector<std::string>& cells);

}  // namespace lineup
