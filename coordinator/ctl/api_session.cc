#include "coordinator/ctl/api_session.h"

#include <cctype>
#include <charconv>
#include <set>

#include "coordinator/ctl/link_header.h"

namespace keyhole::ctl {
namespace {

bool Unreserved(unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

std::string PercentEncode(std::string_view text, bool keep_at) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (Unreserved(c) || (keep_at && c == '@')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

template <class Int>
std::optional<Int> Digits(std::string_view s) {
  Int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || s.front() == '-') return std::nullopt;
  return v;
}

StatusCode CodeForHttp(int status) {
  switch (status) {
    case 400: return StatusCode::kInvalidArgument;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kNotFound;
    case 409: return StatusCode::kFailedPrecondition;
    case 429: return StatusCode::kRateLimited;
    case 503: return StatusCode::kUnavailable;
    default: return StatusCode::kInternal;
  }
}

bool Success(const RestResponse& r) { return r.status >= 200 && r.status < 300; }

}  // namespace

std::string PathSegment(std::string_view text) { return PercentEncode(text, true); }

std::string WithQuery(std::string path, const std::vector<std::pair<std::string, std::string>>& params) {
  char sep = '?';
  for (const auto& [k, v] : params) {
    path += sep + PercentEncode(k, false) + "=" + PercentEncode(v, false);
    sep = '&';
  }
  return path;
}

std::optional<WallTime> ParseHttpDate(std::string_view s) {
  // Only the IMF-fixdate form, which RFC 9110 requires senders to use.
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  unsigned month = 0;
  for (unsigned i = 0; i < 12; ++i) {
    if (s.substr(8, 3) == kMonths[i]) month = i + 1;
  }
  auto day = Digits<unsigned>(s.substr(5, 2));
  auto year = Digits<int>(s.substr(12, 4));
  auto h = Digits<int>(s.substr(17, 2)), m = Digits<int>(s.substr(20, 2)), sec = Digits<int>(s.substr(23, 2));
  if (month == 0 || !day || !year || !h || !m || !sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(*year), std::chrono::month(month), std::chrono::day(*day)};
  if (!ymd.ok()) return std::nullopt;
  auto t = std::chrono::sys_days(ymd) + std::chrono::hours(*h) + std::chrono::minutes(*m) + std::chrono::seconds(*sec);
  return std::chrono::time_point_cast<std::chrono::milliseconds>(t);
}

Status ApiError(const RestResponse& r) {
  const std::string http = "HTTP " + std::to_string(r.status);
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("errorCode") || !body["errorCode"].is_string()) {
    std::string snippet = r.body.substr(0, 200);
    return Status(CodeForHttp(r.status), http + (snippet.empty() ? "" : ": " + snippet));
  }
  const nlohmann::json summary_json = body.value("errorSummary", nlohmann::json());
  std::string summary = summary_json.is_string() ? summary_json.get<std::string>() : "";
  Status s(CodeForHttp(r.status), body["errorCode"].get<std::string>() + " " + summary + " (" + http + ")");
  if (body.contains("errorCauses") && body["errorCauses"].is_array()) {
    for (const auto& cause : body["errorCauses"]) {
      if (cause.is_object() && cause.contains("errorSummary") && cause["errorSummary"].is_string()) {
        s.AddCause(cause["errorSummary"].get<std::string>());
      }
    }
  }
  return s;
}

StatusOr<nlohmann::json> ApiSession::Call(const std::string& method, const std::string& target,
                                          const std::optional<nlohmann::json>& body) {
  auto r = SendPolitely(method, target, body);
  if (!r.ok()) return r.status();
  if (!Success(*r)) return ApiError(*r);
  if (r->body.empty()) return nlohmann::json();
  auto json = nlohmann::json::parse(r->body, nullptr, false);
  if (json.is_discarded()) return InternalError("the answer to " + method + " " + target + " is not JSON");
  return json;
}

StatusOr<ApiSession::Listing> ApiSession::List(const std::string& target, bool all_pages) {
  Listing out;
  std::string page_target = target;
  std::set<std::string> followed;
  for (;;) {
    auto page = GetPage(page_target);
    if (!page.ok()) return page.status();
    for (auto& item : page->items) out.items.push_back(std::move(item));
    if (!page->next) return out;
    if (!all_pages) {
      out.more = true;
      return out;
    }
    // Cursors are opaque; a link seen before would page forever.
    if (!followed.insert(*page->next).second) {
      return InternalError("the coordinator's next link repeats: " + *page->next);
    }
    page_target = *page->next;
  }
}

StatusOr<ApiSession::Page> ApiSession::GetPage(const std::string& target) {
  auto r = SendPolitely("GET", target, std::nullopt);
  if (!r.ok()) return r.status();
  if (!Success(*r)) return ApiError(*r);
  Page page;
  page.items = nlohmann::json::parse(r->body, nullptr, false);
  if (!page.items.is_array()) return InternalError("the answer to GET " + target + " is not a JSON array");
  page.next = NextLink(r->Headers("Link"));
  return page;
}

StatusOr<RestResponse> ApiSession::SendPolitely(const std::string& method, const std::string& target,
                                                const std::optional<nlohmann::json>& body) {
  HeaderList retry_headers;
  for (int attempt = 0;; ++attempt) {
    auto r = client_.Send(method, target, body, retry_headers);
    if (!r.ok()) {
      Status s = r.status();
      if (s.code() == StatusCode::kUnavailable) s.WithDetail(kDetailNoAnswer);
      return s;
    }
    if (r->status != 429 || attempt == kMaxRetries) return r;
    auto delay = RetryDelay(*r);
    if (!delay) return r;
    sleep_(*delay);
    retry_headers.clear();
    if (auto id = r->Header("X-Okta-Request-Id")) retry_headers.emplace_back("X-Okta-Retry-For", *id);
    retry_headers.emplace_back("X-Okta-Retry-Count", std::to_string(attempt + 1));
  }
}

// Okta's SDKs wait Reset - Date + 1 s, reading the server's Date to be immune to local clock skew.
std::optional<std::chrono::milliseconds> ApiSession::RetryDelay(const RestResponse& r) const {
  auto reset_text = r.Header("X-Rate-Limit-Reset");
  if (!reset_text) return std::nullopt;
  auto reset = Digits<int64_t>(*reset_text);
  if (!reset || *reset > (int64_t{1} << 40)) return std::nullopt;
  std::optional<WallTime> date;
  if (auto d = r.Header("Date")) date = ParseHttpDate(*d);
  const int64_t now_ms = ToEpochMillis(date.value_or(clock_.Now()));
  const int64_t wait_ms = std::max<int64_t>(0, *reset * 1000 - now_ms + 1000);
  if (wait_ms > std::chrono::milliseconds(kMaxWait).count()) return std::nullopt;  // not worth waiting for
  return std::chrono::milliseconds(wait_ms);
}

}  // namespace keyhole::ctl
