#include "coordinator/audit/log_filter.h"

#include <strings.h>

#include "coordinator/http/api_error.h"

namespace keyhole::coord {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  StatusOr<LogFilter> Parse() {
    auto e = Expr(0);
    if (!e.ok()) return e;
    SkipSpace();
    if (pos_ != s_.size()) return Bad("unexpected text at position " + std::to_string(pos_));
    return e;
  }

 private:
  static Status Bad(const std::string& why) {
    return InvalidArgumentError("filter").WithDetail(std::string(kDetailSearch)).AddCause("filter: " + why);
  }

  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }

  // A bare word: letters, digits, dots, underscores.
  std::string_view Word() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' || s_[pos_] == '_')) {
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

  // Consumes `kw` (case-insensitive, as a whole word) if it comes next.
  bool Keyword(std::string_view kw) {
    size_t saved = pos_;
    std::string_view w = Word();
    if (w.size() == kw.size() && strncasecmp(w.data(), kw.data(), kw.size()) == 0) return true;
    pos_ = saved;
    return false;
  }

  // Joins operands of `op`, flattening nested nodes of the same kind.
  static LogFilter Join(LogFilter::Op op, std::vector<LogFilter> parts) {
    if (parts.size() == 1) return std::move(parts.front());
    LogFilter f;
    f.op = op;
    for (LogFilter& p : parts) {
      if (p.op == op) {
        for (LogFilter& q : p.operands) f.operands.push_back(std::move(q));
      } else {
        f.operands.push_back(std::move(p));
      }
    }
    return f;
  }

  StatusOr<LogFilter> Expr(size_t depth) {
    if (depth > kMaxLogFilterDepth) return Bad("too deeply nested");
    std::vector<LogFilter> parts;
    do {
      auto t = Term(depth);
      if (!t.ok()) return t;
      parts.push_back(std::move(t).value());
    } while (Keyword("or"));
    return Join(LogFilter::Op::kOr, std::move(parts));
  }

  StatusOr<LogFilter> Term(size_t depth) {
    std::vector<LogFilter> parts;
    do {
      auto f = Factor(depth);
      if (!f.ok()) return f;
      parts.push_back(std::move(f).value());
    } while (Keyword("and"));
    return Join(LogFilter::Op::kAnd, std::move(parts));
  }

  StatusOr<LogFilter> Factor(size_t depth) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '(') {
      ++pos_;
      auto e = Expr(depth + 1);
      if (!e.ok()) return e;
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ')') return Bad("missing )");
      ++pos_;
      return e;
    }
    if (++terms_ > kMaxLogFilterTerms) return Bad("at most " + std::to_string(kMaxLogFilterTerms) + " comparisons");
    std::string_view attr = Word();
    LogFilter f;
    if (attr == "eventType") f.field = LogFilter::Field::kEventType;
    else if (attr == "outcome.result") f.field = LogFilter::Field::kOutcomeResult;
    else if (attr == "actor.id") f.field = LogFilter::Field::kActorId;
    else if (attr == "target.id") f.field = LogFilter::Field::kTargetId;
    else if (attr.empty()) return Bad("expected an attribute at position " + std::to_string(pos_));
    else return Bad("unsupported attribute " + std::string(attr));
    if (!Keyword("eq")) return Bad("only the eq operator is supported");
    SkipSpace();
    if (pos_ >= s_.size() || s_[pos_] != '"') return Bad("expected a double-quoted string");
    ++pos_;
    for (;;) {
      if (pos_ >= s_.size()) return Bad("unterminated string");
      char c = s_[pos_++];
      if (c == '"') break;
      if (c == '\\') {
        if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\\')) return Bad("bad escape in string");
        c = s_[pos_++];
      }
      f.value.push_back(c);
    }
    return f;
  }

  std::string_view s_;
  size_t pos_ = 0;
  size_t terms_ = 0;
};

}  // namespace

StatusOr<LogFilter> ParseLogFilter(std::string_view text) {
  if (text.size() > kMaxLogFilterLength) {
    return InvalidArgumentError("filter").WithDetail(std::string(kDetailSearch)).AddCause("filter: too long");
  }
  return Parser(text).Parse();
}

}  // namespace keyhole::coord
