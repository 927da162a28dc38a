#include "coordinator/http/api_pipeline.h"

#include <strings.h>

#include <atomic>

#include "coordinator/http/api_error.h"
#include "coordinator/http/url.h"
#include "shared/clock/iso8601.h"
#include "shared/token/random.h"

namespace keyhole::coord {
namespace {

bool IsSafeHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

bool AcceptsJson(const std::string* accept) {
  if (accept == nullptr || accept->empty()) return true;
  std::string a = *accept;
  for (char& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return a.find("application/json") != std::string::npos || a.find("*/*") != std::string::npos ||
         a.find("application/*") != std::string::npos;
}

bool IsJsonContentType(const std::string* ct) {
  if (ct == nullptr) return false;
  std::string_view v = *ct;
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  if (v.size() < kJson.size() || strncasecmp(v.data(), kJson.data(), kJson.size()) != 0) return false;
  v.remove_prefix(kJson.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return v.empty() || v.front() == ';';
}

// The Date header changes once a second; format it once a second per thread.
const std::string& CachedHttpDate(WallTime now) {
  thread_local int64_t cached_second = -1;
  thread_local std::string cached;
  int64_t second = ToEpochMillis(now) / 1000;
  if (second != cached_second) {
    cached = FormatHttpDate(now);
    cached_second = second;
  }
  return cached;
}

}  // namespace

ApiPipeline::ApiPipeline(Router& router, TokenService& tokens, const Clock& clock, PipelineOptions options)
    : router_(router), tokens_(tokens), clock_(clock), options_(std::move(options)) {
  while (!options_.public_url.empty() && options_.public_url.back() == '/') options_.public_url.pop_back();
}

std::string ApiPipeline::NewRequestId() const {
  // A random per-thread prefix and a counter: unique and cheap (no CSPRNG call per request).
  thread_local const std::string prefix = RandomBase62(12);
  thread_local uint64_t counter = 0;
  return prefix + std::to_string(++counter);
}

Response ApiPipeline::Finish(Response resp, const std::string& request_id) const {
  resp.AddHeader("Date", CachedHttpDate(clock_.Now()));
  resp.AddHeader("X-Okta-Request-Id", request_id);
  // Responses may carry secrets (a new token) or personal data: never cache them.
  resp.AddHeader("Cache-Control", "no-cache, no-store");
  resp.AddHeader("X-Content-Type-Options", "nosniff");
  return resp;
}

StreamKind ApiPipeline::StreamKindOf(std::string_view method, std::string_view target) const {
  const Route* route = router_.RouteOf(method, target.substr(0, target.find('?')));
  return route ? route->stream : StreamKind::kNone;
}

Response ApiPipeline::Handle(Request& req) const {
  req.request_id = NewRequestId();
  std::optional<WindowDecision> rate;
  Response resp = Dispatch(req, &rate);
  if (rate) resp.rate_limit = RateLimitHeaders{rate->limit, rate->remaining, rate->reset_epoch_seconds};
  // "Stream it" is no response: the tunnel writes the real one, and Finish's fields would be
  // built per tunneled request only to be dropped.
  if (resp.status == kStreamProceed) return resp;
  return Finish(std::move(resp), req.request_id);
}

Response ApiPipeline::TooManyRequests(const Request& req, const WindowDecision& d, std::string endpoint,
                                      bool first) const {
  if (first && options_.on_violation) {
    options_.on_violation(req, RateLimitViolation{std::move(endpoint), req.client_ip, d.limit, d.reset_epoch_seconds});
  }
  return ErrorResponse(Status(StatusCode::kRateLimited, "rate limited"));
}

Response ApiPipeline::Dispatch(Request& req, std::optional<WindowDecision>* rate) const {
  std::string_view target = req.target;
  size_t qmark = target.find('?');
  req.path = std::string(target.substr(0, qmark));
  if (options_.addresses.trusts_proxies()) {
    // A proxy may append its own X-Forwarded-For field rather than extend the first: read them all.
    std::string forwarded;
    for (const auto& [k, v] : req.headers) {
      if (strcasecmp(k.c_str(), "X-Forwarded-For") == 0) forwarded += (forwarded.empty() ? "" : ",") + v;
    }
    req.client_ip = options_.addresses.Resolve(req.peer_ip, forwarded.empty() ? nullptr : &forwarded);
  } else {
    req.client_ip = req.peer_ip;
  }
  if (req.path.empty() || req.path.front() != '/') return NotFoundRoute();
  if (qmark != std::string_view::npos) {
    auto query = ParseQuery(target.substr(qmark + 1));
    if (!query) return OktaError(400, "E0000001", "Api validation failed: query", {"query: malformed percent-encoding"});
    req.query = std::move(*query);
  }
  if (!options_.public_url.empty()) {
    req.base_url = options_.public_url;
  } else {
    const std::string* host = req.Header("Host");
    req.base_url = std::string(req.tls ? "https://" : "http://") + (host && IsSafeHost(*host) ? *host : "localhost");
  }

  RouteMatch match = router_.Match(req.method, req.path);
  const Route* route = match.route;
  const WallTime now = clock_.Now();
  IpThrottle* throttle = options_.ip_throttle;
  std::string ip_key;  // computed only when the throttle is consulted
  auto key = [&]() -> const std::string& {
    if (ip_key.empty()) ip_key = ClientAddress::ThrottleKey(req.client_ip);
    return ip_key;
  };
  auto refuse_ip = [&](const WindowDecision& d) {
    *rate = d;
    return TooManyRequests(req, d, "unauthenticated", throttle->FirstViolationIn(d.window));
  };
  if (route && route->is_public) {
    if (throttle && !route->unthrottled) {
      WindowDecision d = throttle->Acquire(key(), now);
      *rate = d;
      if (!d.allowed) return refuse_ip(d);
    }
  } else {
    // A client that used up its unauthenticated budget is refused before any token lookup.
    if (throttle && throttle->AnyExhausted(now) && throttle->Exhausted(key(), now)) {
      return refuse_ip(throttle->Acquire(key(), now));
    }
    const std::string* auth = req.Header("Authorization");
    constexpr std::string_view kScheme = "SSWS ";
    StatusOr<Principal> principal = UnauthenticatedError("no credentials");
    if (auth != nullptr && auth->size() > kScheme.size() && strncasecmp(auth->data(), kScheme.data(), kScheme.size()) == 0) {
      const std::string* agent = req.Header("User-Agent");
      ClientInfo client{req.client_ip, agent ? std::string_view(*agent) : std::string_view()};
      principal = tokens_.Authenticate(std::string_view(*auth).substr(kScheme.size()), nullptr, &client,
                                       /*record_use=*/false);
    }
    if (!principal.ok()) {
      if (throttle) {
        WindowDecision d = throttle->Acquire(key(), now);
        *rate = d;
        if (!d.allowed) return refuse_ip(d);
      }
      return InvalidToken();
    }
    req.principal = std::move(principal).value();
    if (RateLimitTable* limits = options_.limits) {
      std::optional<size_t> id = route ? std::optional(match.route_id) : std::nullopt;
      WindowDecision d = limits->Acquire(id, now);
      *rate = d;
      if (!d.allowed) {
        std::string endpoint = route ? route->method + " " + route->pattern : "* (no such path)";
        return TooManyRequests(req, d, std::move(endpoint), limits->FirstViolationIn(id, d.window));
      }
    }
    tokens_.RecordUse(*req.principal);
    // Agent tokens reach only the agent's own routes, and those routes only agent tokens.
    const bool agent_route = route && route->agent;
    if ((req.principal->kind == OwnerKind::kAgent) != agent_route) {
      return ErrorResponse(PermissionDeniedError(agent_route ? "an agent's own endpoint" : "not for agent tokens"));
    }
    if (IpThrottle* per_agent = options_.agent_connects; per_agent && route && route->stream == StreamKind::kAgentLink) {
      WindowDecision d = per_agent->Acquire(req.principal->owner_id, now);
      if (!d.allowed) {
        *rate = d;
        return TooManyRequests(req, d, route->method + " " + route->pattern + " (per agent)",
                               per_agent->FirstViolationIn(d.window));
      }
    }
  }
  // A tunnel carries whatever the upstream speaks.
  const bool streaming = route && route->stream != StreamKind::kNone;
  if (!streaming && !AcceptsJson(req.Header("Accept"))) return NotAcceptable();
  if (!match.handler) return match.path_known ? MethodNotAllowed(match.allow) : NotFoundRoute();
  if (!streaming && !req.body.empty() && !IsJsonContentType(req.Header("Content-Type"))) return UnsupportedMediaType();
  req.params = std::move(match.params);
  Response resp = (*match.handler)(req);
  if (req.method == "HEAD") resp.body.clear();
  return resp;
}

}  // namespace keyhole::coord
