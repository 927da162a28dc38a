#include "coordinator/ratelimit/rate_limit_exceptions.h"

#include <ctime>
#include <set>

#include "shared/token/random.h"

namespace keyhole::coord {

RateLimitExceptions::RateLimitExceptions(Store& store, const Clock& clock, RateLimitTable& table,
                                         ExceptionOptions options,
                                         std::function<void(const RateLimitException&, const std::string&)> on_change)
    : store_(store), clock_(clock), table_(table), options_(options), on_change_(std::move(on_change)) {}

Status RateLimitExceptions::Load() {
  auto stored = store_.LoadRateLimitExceptions();
  if (!stored.ok()) return stored.status();
  std::lock_guard lock(mu_);
  for (auto& x : *stored) by_id_[x.id] = std::move(x);
  ApplyToTable();
  return Status::Ok();
}

WallTime RateLimitExceptions::EarliestStart(WallTime now, int business_days) {
  constexpr auto kDay = std::chrono::hours(24);
  WallTime t = now;
  int counted = 0;
  while (counted < business_days) {
    t += kDay;
    std::time_t secs = static_cast<std::time_t>(ToEpochMillis(t) / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    if (tm.tm_wday != 0 && tm.tm_wday != 6) ++counted;  // Monday to Friday
  }
  return t;
}

StatusOr<RateLimitException> RateLimitExceptions::Request(const ExceptionRequest& r, const std::string& requested_by) {
  const WallTime now = clock_.Now();
  Status s = InvalidArgumentError("exception");
  auto cause = [&s](std::string c) { s.AddCause(std::move(c)); };
  if (r.org.empty() || r.org.size() > 255) cause("org: The field cannot be left blank (at most 255 characters)");
  if (r.justification.size() < 10 || r.justification.size() > 4000) {
    cause("justification: a business justification of 10 to 4000 characters is required");
  }
  if (r.endpoints.empty()) cause("endpoints: name at least one endpoint");
  std::set<std::string> seen;
  for (const auto& e : r.endpoints) {
    auto id = table_.Find(e.endpoint);
    if (!id) {
      cause("endpoints: no such endpoint \"" + e.endpoint + "\" (want \"METHOD /api/v1/path/{template}\")");
      continue;
    }
    if (!seen.insert(e.endpoint).second) cause("endpoints: \"" + e.endpoint + "\" is named twice");
    const uint32_t base = table_.BaseLimit(*id);
    if (e.per_minute <= base || e.per_minute > options_.max_per_minute) {
      cause("endpoints: \"" + e.endpoint + "\" wants " + std::to_string(e.per_minute) + " per minute; it must exceed its limit of " +
            std::to_string(base) + " and be at most " + std::to_string(options_.max_per_minute));
    }
  }
  if (r.end <= r.start) cause("end: must be after start");
  if (r.end <= now) cause("end: must be in the future");
  if (r.end - r.start > options_.max_duration) {
    cause("end: an exception lasts at most " + std::to_string(options_.max_duration.count() / 24) + " days");
  }
  if (r.lead_time_override.empty() && r.start < EarliestStart(now, options_.lead_business_days)) {
    cause("start: requests must arrive " + std::to_string(options_.lead_business_days) +
          " business days before their start, unless an admin overrides the lead time with a reason");
  }
  if (!s.causes().empty()) {
    // "Api validation failed: <first field>", as Okta names it.
    std::string first = s.causes().front().substr(0, s.causes().front().find(':'));
    Status out = InvalidArgumentError(first);
    for (const auto& c : s.causes()) out.AddCause(c);
    return out;
  }

  RateLimitException x;
  x.id = NewId("rle");
  x.org = r.org;
  x.endpoints = r.endpoints;
  x.start = r.start;
  x.end = r.end;
  x.justification = r.justification;
  x.requested_by = requested_by;
  x.created = x.last_updated = now;
  x.lead_time_override = r.lead_time_override;
  if (Status st = store_.SaveRateLimitException(x); !st.ok()) return st;
  {
    std::lock_guard lock(mu_);
    by_id_[x.id] = x;
  }
  if (on_change_) on_change_(x, "request");
  return x;
}

StatusOr<RateLimitException> RateLimitExceptions::Decide(const std::string& id, ExceptionDecision decision,
                                                         const std::string& by, const std::string& reason) {
  RateLimitException next;
  const char* what = "";
  {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return NotFoundError("Resource not found: " + id + " (RateLimitException)");
    next = it->second;
    const ExceptionStatus from = next.status;
    switch (decision) {
      case ExceptionDecision::kApprove:
      case ExceptionDecision::kDeny:
        if (from != ExceptionStatus::kPending) {
          return InvalidArgumentError("status").AddCause(std::string("status: the exception is ") + ExceptionStatusName(from) +
                                                         "; only a PENDING one can be approved or denied");
        }
        next.status = decision == ExceptionDecision::kApprove ? ExceptionStatus::kApproved : ExceptionStatus::kDenied;
        what = decision == ExceptionDecision::kApprove ? "approve" : "deny";
        break;
      case ExceptionDecision::kCancel:
        if (from != ExceptionStatus::kPending && from != ExceptionStatus::kApproved) {
          return InvalidArgumentError("status").AddCause(std::string("status: the exception is ") + ExceptionStatusName(from) +
                                                         "; only a PENDING or APPROVED one can be canceled");
        }
        next.status = ExceptionStatus::kCanceled;
        what = "cancel";
        break;
    }
    if (decision == ExceptionDecision::kApprove && next.end <= clock_.Now()) {
      return InvalidArgumentError("end").AddCause("end: the exception has already ended; file a new one");
    }
    next.decided_by = by;
    next.decided_at = next.last_updated = clock_.Now();
    next.decision_reason = reason;
    // Durable before it takes effect or is acknowledged; the lock keeps decisions in order.
    if (Status s = store_.SaveRateLimitException(next); !s.ok()) return s;
    it->second = next;
    ApplyToTable();
  }
  if (on_change_) on_change_(next, what);
  return next;
}

StatusOr<RateLimitException> RateLimitExceptions::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return NotFoundError("Resource not found: " + id + " (RateLimitException)");
  return it->second;
}

std::vector<RateLimitException> RateLimitExceptions::List(std::optional<ExceptionStatus> status) const {
  std::lock_guard lock(mu_);
  std::vector<RateLimitException> out;
  for (const auto& [id, x] : by_id_) {
    if (!status || x.status == *status) out.push_back(x);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created < b.created || (a.created == b.created && a.id < b.id); });
  return out;
}

void RateLimitExceptions::ApplyToTable() {
  // Approved ones, including those whose window is still ahead: the table checks the instants,
  // so an exception starts and lapses exactly on time with no timer.
  std::vector<LimitOverride> overrides;
  const WallTime now = clock_.Now();
  for (const auto& [id, x] : by_id_) {
    if (x.status != ExceptionStatus::kApproved || x.end <= now) continue;  // lapsed ones drop out
    for (const auto& e : x.endpoints) overrides.push_back({e.endpoint, e.per_minute, x.start, x.end});
  }
  table_.SetOverrides(overrides);
}

}  // namespace keyhole::coord
