#include "coordinator/http/api_error.h"

#include "shared/log/log.h"
#include "shared/token/random.h"

namespace keyhole::coord {

Response OktaError(int http_status, std::string_view code, std::string_view summary,
                   const std::vector<std::string>& causes) {
  nlohmann::json cause_list = nlohmann::json::array();
  for (const auto& c : causes) cause_list.push_back({{"errorSummary", c}});
  return Response::Json(http_status, {{"errorCode", code},
                                      {"errorSummary", summary},
                                      {"errorLink", code},
                                      {"errorId", "oae" + RandomBase62(22)},
                                      {"errorCauses", std::move(cause_list)}});
}

Response ErrorResponse(const Status& s) {
  const std::string& d = s.detail();
  switch (s.code()) {
    case StatusCode::kOk:
      break;
    case StatusCode::kInvalidArgument:
      if (d == kDetailMalformedBody || d == kDetailNotObject)
        return OktaError(400, "E0000003", "The request body was not well-formed.", s.causes());
      if (d == kDetailPaging) return OktaError(400, "E0000029", "Invalid paging request.", s.causes());
      if (d == kDetailMissingParameter)
        return OktaError(400, "E0000028", "The request is missing a required parameter.", s.causes());
      if (d == kDetailSearch) return OktaError(400, "E0000031", "Invalid search criteria.", s.causes());
      if (d == kDetailDate) {
        return OktaError(400, "E0000030",
                         "Bad request. Invalid date. Dates must be of the form yyyy-MM-dd'T'HH:mm:ss.SSSZZ, e.g. "
                         "2013-01-01T12:00:00.000-07:00.",
                         s.causes());
      }
      return OktaError(400, "E0000001", "Api validation failed: " + s.message(), s.causes());
    case StatusCode::kAlreadyExists:
      return OktaError(400, "E0000001", "Api validation failed: " + s.message(), s.causes());
    case StatusCode::kNotFound:
      return OktaError(404, "E0000007", "Not found: " + s.message(), s.causes());
    case StatusCode::kFailedPrecondition:
      if (d == kDetailAlreadyActive)
        return OktaError(403, "E0000016", "Activation failed because the user is already active", s.causes());
      return OktaError(403, "E0000038", "This operation is not allowed in the user's current status.", s.causes());
    case StatusCode::kUnauthenticated:
      return InvalidToken();
    case StatusCode::kPermissionDenied:
      return OktaError(403, "E0000006", "You do not have permission to perform the requested action", s.causes());
    case StatusCode::kRateLimited:
      return OktaError(429, "E0000047", "API call exceeded rate limit due to too many requests.");
    case StatusCode::kUnavailable:
      LogWarning("unavailable: " + s.message());
      return OktaError(503, "E0000009", "Internal Server Error", {"Service temporarily unavailable; retry later"});
    case StatusCode::kInternal:
      // The message may name files or SQL; it goes to the log, never to the client.
      LogError("internal error: " + s.message());
      return OktaError(500, "E0000009", "Internal Server Error");
  }
  LogError("ErrorResponse called with an OK status");
  return OktaError(500, "E0000009", "Internal Server Error");
}

Response NotFoundRoute() { return OktaError(404, "E0000008", "The requested path was not found"); }

Response MethodNotAllowed(std::string allow) {
  Response r = OktaError(405, "E0000022", "The endpoint does not support the provided HTTP method");
  r.AddHeader("Allow", std::move(allow));
  return r;
}

Response NotAcceptable() {
  return OktaError(406, "E0000122", "Accept Header did not contain supported media type 'application/json'");
}

Response PayloadTooLarge(size_t limit_bytes) {
  return OktaError(413, "KH0000001", "The request body is too large.",
                   {"body: at most " + std::to_string(limit_bytes) + " bytes are accepted"});
}

Response UnsupportedMediaType() {
  return OktaError(415, "KH0000002", "Unsupported media type.", {"Content-Type: send application/json"});
}

Response InvalidToken() { return OktaError(401, "E0000011", "Invalid token provided"); }

Response TunnelNoAgent(const std::string& pool_id, const std::string& upstream) {
  return OktaError(502, "KH0000004", "No connected agent of the pool offers the upstream.",
                   {"pool: " + pool_id + " has no connected agent offering upstream " + upstream});
}

Response TunnelUpstreamUnreachable(const std::string& upstream, const std::string& why) {
  return OktaError(502, "KH0000005", "The agent could not reach the upstream.",
                   {"upstream: " + upstream + (why.empty() ? "" : ": " + why)});
}

Response TunnelFailed(const std::string& why) {
  return OktaError(502, "KH0000006", "The tunnel to the agent failed.", {"tunnel: " + why});
}

Response TunnelTimeout(const std::string& upstream, const std::string& why) {
  return OktaError(504, "KH0000007", "The upstream did not answer in time.",
                   {"upstream: " + upstream + (why.empty() ? "" : ": " + why)});
}

Response TunnelShuttingDown() {
  Response r = OktaError(503, "KH0000008", "The coordinator is shutting down; retry later.");
  r.AddHeader("Retry-After", "1");
  return r;
}

Response TunnelBusy(const std::string& pool_id) {
  Response r = OktaError(503, "KH0000009", "Every agent of the pool is at its limit of concurrent requests.",
                         {"pool: " + pool_id});
  r.AddHeader("Retry-After", "1");
  return r;
}

}  // namespace keyhole::coord
