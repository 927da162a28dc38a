// Building System Log events for what a request did: the actor (the request's principal, with
// its login and name), client address, user agent, X-Okta-Request-Id, API token id and path,
// so that handlers only add the event type, message and targets. Pure functions over the
// request and a read of the user directory; thread-safe.
#pragma once

#include <string>

#include "coordinator/audit/log_event.h"
#include "coordinator/audit/system_log.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/http/request.h"

namespace keyhole::coord {

LogEvent EventFor(const Request& req, const UserDirectory& users, std::string event_type,
                  std::string display_message);
LogActor UserActor(const UserRecord& u);
LogTarget UserTarget(const UserRecord& u);
LogTarget TokenTarget(const TokenRecord& t);

// Records `e` if there is a log (handlers built without one, in some tests, record nothing).
inline void Emit(SystemLog* log, LogEvent e) {
  if (log) log->Record(std::move(e));
}

}  // namespace keyhole::coord
