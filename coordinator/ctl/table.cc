#include "coordinator/ctl/table.h"

#include <algorithm>

namespace keyhole::ctl {
namespace {

// Display width, counting UTF-8 code points (not exact for wide characters, good enough to align).
size_t Width(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

void Table::Print(std::ostream& out) const {
  std::vector<std::vector<std::string>> lines;
  if (!headings_.empty()) lines.push_back(headings_);
  for (const auto& row : rows_) {
    std::vector<std::string> clean;
    for (const auto& cell : row) clean.push_back(Printable(cell));
    lines.push_back(std::move(clean));
  }
  std::vector<size_t> widths;
  for (const auto& line : lines) {
    if (widths.size() < line.size()) widths.resize(line.size(), 0);
    for (size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], Width(line[i]));
  }
  for (const auto& line : lines) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text.append(widths[i] - Width(line[i]) + 2, ' ');
    }
    out << text << '\n';
  }
}

std::string Text(const nlohmann::json& value, std::string_view pointer) {
  nlohmann::json::json_pointer ptr{std::string(pointer)};
  if (!value.is_object() || !value.contains(ptr)) return "-";
  const nlohmann::json& v = value.at(ptr);
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string ShortTime(const std::string& t) {
  if (t.size() >= 17 && t[4] == '-' && t[10] == 'T' && t[13] == ':') return t.substr(0, 10) + " " + t.substr(11, 5);
  return t;
}

std::string SecondTime(const std::string& t) {
  if (t.size() >= 19 && t[4] == '-' && t[10] == 'T' && t[13] == ':') return t.substr(0, 10) + " " + t.substr(11, 8);
  return t;
}

std::string Printable(std::string_view text) {
  std::string out(text);
  for (size_t i = 0; i < out.size(); ++i) {
    auto c = static_cast<unsigned char>(out[i]);
    if (c < 0x20 || c == 0x7f) out[i] = '?';
    // C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F) include CSI, which some terminals obey.
    if (c == 0xC2 && i + 1 < out.size() && static_cast<unsigned char>(out[i + 1]) < 0xA0 &&
        static_cast<unsigned char>(out[i + 1]) >= 0x80) {
      out[i] = out[i + 1] = '?';
    }
  }
  return out;
}

void PrintJson(std::ostream& out, const nlohmann::json& value) {
  // Replace invalid UTF-8 rather than throw: the coordinator's text is not ours to vouch for.
  out << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

}  // namespace keyhole::ctl
