// TokenPolicy: the one rule set for every API token, users' and agents' alike.
//  - a token is valid for `window` (30 days) and every accepted use moves its expiry to now + window;
//  - a token unused past its expiry is revoked for good (kExpired: the caller records that);
//  - a token works only while its owner is active, and works again once the owner is;
//  - an explicit revocation is final.
// Pure and immutable: safe to share between threads.
#pragma once

#include <chrono>
#include <string>

#include "shared/clock/clock.h"

namespace keyhole {

struct TokenState {
  WallTime expires_at;
  bool revoked = false;
};

enum class TokenVerdict {
  kAccept,         // use it, then call ExpiryAfterUse(now)
  kRevoked,        // explicitly (or already) revoked: never again
  kExpired,        // idle past the window: revoke for good with reason INACTIVITY
  kOwnerInactive,  // refused now, accepted again once the owner is active
};

class TokenPolicy {
 public:
  static constexpr std::chrono::milliseconds kDefaultWindow = std::chrono::hours(24 * 30);

  explicit TokenPolicy(std::chrono::milliseconds window = kDefaultWindow) : window_(window) {}

  // Order matters: revoked beats everything; idleness is judged before the owner, so a token whose
  // owner stayed inactive past the window is revoked rather than revived by a reactivation.
  TokenVerdict Evaluate(const TokenState& token, bool owner_active, WallTime now) const {
    if (token.revoked) return TokenVerdict::kRevoked;
    if (now > token.expires_at) return TokenVerdict::kExpired;
    if (!owner_active) return TokenVerdict::kOwnerInactive;
    return TokenVerdict::kAccept;
  }

  WallTime ExpiryAfterUse(WallTime now) const { return now + window_; }
  std::chrono::milliseconds window() const { return window_; }

  // The window as an ISO 8601 duration, for ApiToken.tokenWindow ("P30D").
  std::string WindowIso8601() const;

 private:
  std::chrono::milliseconds window_;
};

const char* TokenVerdictName(TokenVerdict v);

}  // namespace keyhole
