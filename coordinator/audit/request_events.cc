#include "coordinator/audit/request_events.h"

namespace keyhole::coord {
namespace {

std::string DisplayName(const UserRecord& u) {
  std::string first = u.profile.value("firstName", ""), last = u.profile.value("lastName", "");
  return first.empty() ? last : last.empty() ? first : first + " " + last;
}

}  // namespace

LogActor UserActor(const UserRecord& u) { return {u.id, "User", u.login(), DisplayName(u)}; }

LogTarget UserTarget(const UserRecord& u) { return {u.id, "User", u.login(), DisplayName(u)}; }

LogTarget TokenTarget(const TokenRecord& t) { return {t.id, "Token", t.name, t.name}; }

LogEvent EventFor(const Request& req, const UserDirectory& users, std::string event_type,
                  std::string display_message) {
  LogEvent e;
  e.event_type = std::move(event_type);
  e.display_message = std::move(display_message);
  if (req.principal) {
    const Principal& p = *req.principal;
    if (p.kind == OwnerKind::kUser) {
      if (auto u = users.Lookup(p.owner_id)) e.actor = UserActor(*u);
      else e.actor = {p.owner_id, "User", "", ""};
    } else {
      e.actor = {p.owner_id, "Agent", "", ""};
    }
    e.token_id = p.token_id;
  }
  e.client_ip = req.client_ip.empty() ? req.peer_ip : req.client_ip;
  if (const std::string* ua = req.Header("User-Agent")) e.user_agent = ua->substr(0, 512);
  e.transaction_id = req.request_id;
  e.request_uri = req.path;
  return e;
}

}  // namespace keyhole::coord
