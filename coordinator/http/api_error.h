// The one place where a Status becomes an HTTP status and an Okta error object
// ({errorCode, errorSummary, errorLink, errorId, errorCauses}). See docs/API.md for the table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "coordinator/http/request.h"
#include "shared/errors/status.h"

namespace keyhole::coord {

// Status details that select a more specific Okta code (set with Status::WithDetail).
inline constexpr std::string_view kDetailMalformedBody = "malformed_body";
inline constexpr std::string_view kDetailNotObject = "not_object";
inline constexpr std::string_view kDetailPaging = "paging";
inline constexpr std::string_view kDetailMissingParameter = "missing_parameter";
inline constexpr std::string_view kDetailSearch = "search";
inline constexpr std::string_view kDetailAlreadyActive = "already_active";
inline constexpr std::string_view kDetailDate = "date";  // bad since/until: 400 E0000030

Response ErrorResponse(const Status& status);

// Errors the pipeline raises before any handler runs.
Response OktaError(int http_status, std::string_view code, std::string_view summary,
                   const std::vector<std::string>& causes = {});
Response NotFoundRoute();                       // 404 E0000008
Response MethodNotAllowed(std::string allow);   // 405 E0000022
Response NotAcceptable();                       // 406 E0000122
Response PayloadTooLarge(size_t limit_bytes);   // 413 KH0000001 (Keyhole's own code)
Response UnsupportedMediaType();                // 415 KH0000002 (Keyhole's own code)
Response InvalidToken();                        // 401 E0000011

// The tunnel's answers (Keyhole's own codes; docs/API.md).
Response TunnelNoAgent(const std::string& pool_id, const std::string& upstream);  // 502 KH0000004
Response TunnelUpstreamUnreachable(const std::string& upstream, const std::string& why);  // 502 KH0000005
Response TunnelFailed(const std::string& why);                                 // 502 KH0000006
Response TunnelTimeout(const std::string& upstream, const std::string& why);   // 504 KH0000007
Response TunnelShuttingDown();                                                // 503 KH0000008
Response TunnelBusy(const std::string& pool_id);                              // 503 KH0000009

}  // namespace keyhole::coord
