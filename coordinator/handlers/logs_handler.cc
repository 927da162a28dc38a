#include "coordinator/handlers/logs_handler.h"

#include <charconv>

#include "coordinator/audit/log_filter.h"
#include "coordinator/handlers/access.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/paging.h"
#include "shared/clock/iso8601.h"

namespace keyhole::coord {
namespace {

constexpr auto kDefaultWindow = std::chrono::hours(24 * 7);

Status BadDate(const std::string& field, const std::string& why) {
  return InvalidArgumentError(field).WithDetail(std::string(kDetailDate)).AddCause(field + ": " + why);
}

Status BadPaging(const std::string& field, const std::string& why) {
  return InvalidArgumentError(field).WithDetail(std::string(kDetailPaging)).AddCause(field + ": " + why);
}

std::optional<int64_t> NonNegative(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

// q: space-separated keywords, each matched case-insensitively; all must occur.
Status ParseKeywords(const std::string& q, std::vector<std::string>& out) {
  auto bad = [](const std::string& why) {
    return InvalidArgumentError("q").WithDetail(std::string(kDetailSearch)).AddCause("q: " + why);
  };
  size_t i = 0;
  while (i < q.size()) {
    if (q[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = q.find(' ', i);
    if (end == std::string::npos) end = q.size();
    std::string word = q.substr(i, end - i);
    if (word.size() > LogsHandler::kMaxKeywordLength) {
      return bad("keywords are at most " + std::to_string(LogsHandler::kMaxKeywordLength) + " characters");
    }
    for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back(std::move(word));
    if (out.size() > LogsHandler::kMaxKeywords) {
      return bad("at most " + std::to_string(LogsHandler::kMaxKeywords) + " keywords");
    }
    i = end;
  }
  return Status::Ok();
}

}  // namespace

void LogsHandler::Register(Router& r) {
  r.Add("GET", "/api/v1/logs", [this](Request& q) { return List(q); });
}

Response LogsHandler::List(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  LogQuery query;
  const WallTime now = clock_.Now();

  auto until_text = req.Query("until");
  if (until_text) {
    auto t = ParseIso8601(*until_text);
    if (!t) return ErrorResponse(BadDate("until", "not an ISO 8601 date"));
    query.until = *t;
  } else {
    query.until = now;
  }
  if (auto since = req.Query("since")) {
    auto t = ParseIso8601(*since);
    if (!t) return ErrorResponse(BadDate("since", "not an ISO 8601 date"));
    query.since = *t;
  } else {
    query.since = query.until - kDefaultWindow;
  }
  if (query.since > query.until) return ErrorResponse(BadDate("since", "must not be after until"));

  if (auto filter = req.Query("filter")) {
    auto f = ParseLogFilter(*filter);
    if (!f.ok()) return ErrorResponse(f.status());
    query.filter = std::move(f).value();
  }
  if (auto q = req.Query("q")) {
    if (Status s = ParseKeywords(*q, query.keywords); !s.ok()) return ErrorResponse(s);
  }
  query.limit = kDefaultLimit;
  if (auto limit = req.Query("limit")) {
    auto v = NonNegative(*limit);
    if (!v) return ErrorResponse(BadPaging("limit", "must be an integer from 0 to " + std::to_string(kMaxLimit)));
    query.limit = static_cast<size_t>(std::min<int64_t>(*v, kMaxLimit));
  }
  if (auto order = req.Query("sortOrder")) {
    if (*order == "DESCENDING") query.descending = true;
    else if (*order != "ASCENDING") {
      return ErrorResponse(InvalidArgumentError("sortOrder").AddCause("sortOrder: must be ASCENDING or DESCENDING"));
    }
  }
  if (auto after = req.Query("after")) {
    auto v = NonNegative(*after);
    if (!v) return ErrorResponse(BadPaging("after", "not a valid cursor"));
    query.after_seq = *v;
  }

  // Polling (ascending, no until): the client follows `next` for ever, so there always is one,
  // resuming after the last event delivered. Events are ordered by seq, assigned as they are
  // written, so a later write never lands behind the cursor; no upper bound on published, then.
  const bool polling = !query.descending && !until_text;
  if (polling) query.until = WallTime::max();
  const size_t page_size = query.limit;
  if (!polling && page_size > 0) query.limit = page_size + 1;  // one more: is there a next page?

  auto events = log_.Query(query);
  if (!events.ok()) return ErrorResponse(events.status());
  std::vector<LogEvent>& list = *events;
  const bool more = list.size() > page_size;
  if (more) list.resize(page_size);

  nlohmann::json body = nlohmann::json::array();
  for (const LogEvent& e : list) body.push_back(LogEventToJson(e));
  Response resp = Response::Json(200, body);
  std::optional<int64_t> next;
  if (polling) next = list.empty() ? query.after_seq : list.back().seq;
  else if (more) next = list.back().seq;
  AddPageLinks(req, resp, next);
  return resp;
}

}  // namespace keyhole::coord
