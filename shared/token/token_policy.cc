#include "shared/token/token_policy.h"

namespace keyhole {

std::string TokenPolicy::WindowIso8601() const {
  using namespace std::chrono;
  auto ms = window_.count();
  if (ms % (24LL * 3600 * 1000) == 0) return "P" + std::to_string(ms / (24LL * 3600 * 1000)) + "D";
  if (ms % 1000 == 0) return "PT" + std::to_string(ms / 1000) + "S";
  return "PT" + std::to_string(ms / 1000) + "." + std::to_string(ms % 1000) + "S";
}

const char* TokenVerdictName(TokenVerdict v) {
  switch (v) {
    case TokenVerdict::kAccept: return "ACCEPT";
    case TokenVerdict::kRevoked: return "REVOKED";
    case TokenVerdict::kExpired: return "EXPIRED";
    case TokenVerdict::kOwnerInactive: return "OWNER_INACTIVE";
  }
  return "UNKNOWN";
}

}  // namespace keyhole
