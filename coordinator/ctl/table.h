// Table: what keyholectl prints for people: aligned columns, or "field  value" lines for one
// record. Cells come from the coordinator, so control characters are shown as '?' and cannot
// drive the terminal. Also Output, where commands print. Value types; not thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace keyhole::ctl {

// Where a command prints: results to `out` (a table, or the API's JSON with `json`), notes to `err`.
struct Output {
  std::ostream& out;
  std::ostream& err;
  bool json = false;
};

class Table {
 public:
  // No headings: rows only (the layout for one record's fields).
  explicit Table(std::vector<std::string> headings = {}) : headings_(std::move(headings)) {}

  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // Columns separated by two spaces; the last column is not padded.
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headings_;
  std::vector<std::vector<std::string>> rows_;
};

// The string at `pointer` ("/profile/login") in `value`: strings as they are, booleans and numbers
// as JSON, missing or null as "-".
std::string Text(const nlohmann::json& value, std::string_view pointer);
// An Okta timestamp ("2026-11-27T23:09:48.000Z") shortened to "2026-11-27 23:09"; other text as is.
std::string ShortTime(const std::string& iso8601);
// The same to the second, "2026-11-27 23:09:48".
std::string SecondTime(const std::string& iso8601);
// `text` with control characters replaced by '?'.
std::string Printable(std::string_view text);
// Pretty-printed JSON and a newline.
void PrintJson(std::ostream& out, const nlohmann::json& value);

}  // namespace keyhole::ctl
