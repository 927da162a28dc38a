#include "coordinator/ctl/link_header.h"

#include <strings.h>

#include <string_view>

namespace keyhole::ctl {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// `rel` holds space-separated relation types, compared case-insensitively.
bool HasRelation(std::string_view rel, std::string_view wanted) {
  while (!rel.empty()) {
    size_t end = 0;
    while (end < rel.size() && !IsSpace(rel[end])) ++end;
    std::string_view type = rel.substr(0, end);
    if (type.size() == wanted.size() && strncasecmp(type.data(), wanted.data(), type.size()) == 0) return true;
    rel = Trim(rel.substr(end));
  }
  return false;
}

// Parses the parameters after one "<url>" up to the comma that ends the link (or the end), and
// reports whether rel includes "next". `pos` is left on that comma.
bool ParamsSayNext(std::string_view v, size_t& pos) {
  bool next = false;
  while (pos < v.size() && v[pos] != ',') {
    if (v[pos] != ';') {
      ++pos;
      continue;
    }
    ++pos;
    std::string value;
    bool quoted = false;
    while (pos < v.size() && (quoted || (v[pos] != ';' && v[pos] != ','))) {
      if (v[pos] == '"') {
        quoted = !quoted;
      } else if (quoted && v[pos] == '\\' && pos + 1 < v.size()) {
        value.push_back(v[++pos]);
      } else {
        value.push_back(v[pos]);
      }
      ++pos;
    }
    std::string_view param = Trim(value);
    size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = Trim(param.substr(0, eq));
    if (name.size() == 3 && strncasecmp(name.data(), "rel", 3) == 0 && HasRelation(Trim(param.substr(eq + 1)), "next")) {
      next = true;
    }
  }
  return next;
}

}  // namespace

std::optional<std::string> NextLink(const std::vector<std::string>& link_values) {
  for (const std::string& value : link_values) {
    std::string_view v = value;
    size_t pos = 0;
    while (pos < v.size()) {
      if (v[pos] != '<') {
        ++pos;  // whitespace or the comma between links
        continue;
      }
      size_t close = v.find('>', pos);
      if (close == std::string_view::npos) return std::nullopt;
      std::string url(v.substr(pos + 1, close - pos - 1));
      pos = close + 1;
      if (ParamsSayNext(v, pos)) return url;
    }
  }
  return std::nullopt;
}

}  // namespace keyhole::ctl
