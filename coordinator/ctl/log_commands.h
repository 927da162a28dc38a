// LogCommands: `keyholectl logs`, over the System Log (GET /api/v1/logs): one query, or --follow,
// which polls the way Okta's clients do (an ASCENDING query without `until`, whose `next` link
// always exists, followed for ever). Prints to Output (a table, or JSON) and returns a Status for
// the caller to report; AddLogCommands wires it into the command line. Borrows its arguments.
// Not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "coordinator/ctl/api_session.h"
#include "coordinator/ctl/commands.h"
#include "coordinator/ctl/table.h"
#include "shared/errors/status.h"

namespace CLI {
class App;
}

namespace keyhole::ctl {

struct LogQueryOptions {
  std::string since, until;  // ISO 8601; empty: the server's defaults (7 days before now; now)
  std::string filter;        // a System Log filter expression, e.g. eventType eq "user.lifecycle.create"
  // Each one adds `<attribute> eq "<value>"` to the filter, joined with `and`.
  std::string event_type, actor, target, outcome;
  std::string q;  // keywords
  std::optional<int> limit;
  bool descending = false;
  bool all = false;  // follow next links until the events run out
};

// The filter expression `o` asks for: its --filter and convenience flags joined with `and`.
std::string LogFilter(const LogQueryOptions& o);
// The request target (path and query) of the first page.
std::string LogQueryTarget(const LogQueryOptions& o);

class LogCommands {
 public:
  // Sleeps up to the given time between polls; false: stop following.
  using Wait = std::function<bool(std::chrono::milliseconds)>;

  LogCommands(ApiSession& api, const Output& out) : api_(api), out_(out) {}

  Status List(const LogQueryOptions& options);
  // Polls until `wait` says stop, printing each new event as it arrives: a page that came back full
  // is followed at once, any other after `interval`. An empty page is normal and polling goes on.
  // REQUIRES: options has no until and is not descending.
  Status Follow(const LogQueryOptions& options, std::chrono::milliseconds interval, const Wait& wait);

 private:
  void PrintTable(const nlohmann::json& events) const;
  // One line per event, for --follow: a fixed layout, as column widths are not known in advance.
  void PrintLines(const nlohmann::json& events) const;

  ApiSession& api_;
  const Output& out_;
};

// Adds `logs` to `app`; when chosen, it leaves its action in `action`, which must outlive the parse.
void AddLogCommands(CLI::App& app, ApiAction& action);

}  // namespace keyhole::ctl
