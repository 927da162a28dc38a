#include "coordinator/ctl/log_commands.h"

#include <CLI/CLI.hpp>
#include <memory>
#include <set>

#include "shared/clock/iso8601.h"

namespace keyhole::ctl {
namespace {

const std::string kLogs = "/api/v1/logs";
constexpr int kServerDefaultLimit = 100;  // contract §10

// A filter string literal: quotes and backslashes escaped, as the grammar wants.
std::string Quoted(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string IsoCheck(const std::string& value) {
  return ParseIso8601(value) ? "" : "not an ISO 8601 date-time such as 2026-12-01T00:00:00Z: " + value;
}

std::string Actor(const nlohmann::json& e) {
  std::string name = Text(e, "/actor/alternateId");
  return name != "-" ? name : Text(e, "/actor/id");
}

std::string Targets(const nlohmann::json& e) {
  std::string out;
  if (!e.contains("target") || !e["target"].is_array()) return "-";
  for (const auto& t : e["target"]) {
    std::string name = Text(t, "/alternateId");
    if (!out.empty()) out += ", ";
    out += name != "-" ? name : Text(t, "/id");
  }
  return out.empty() ? "-" : out;
}

std::vector<std::string> Row(const nlohmann::json& e) {
  return {SecondTime(Text(e, "/published")), Text(e, "/eventType"), Text(e, "/outcome/result"), Actor(e), Targets(e),
          Text(e, "/displayMessage")};
}

const std::vector<std::string> kHeadings = {"PUBLISHED (UTC)", "EVENT-TYPE", "OUTCOME", "ACTOR", "TARGETS", "MESSAGE"};
const size_t kLineWidths[] = {19, 36, 7, 24, 24};  // the last column is not padded

}  // namespace

std::string LogFilter(const LogQueryOptions& o) {
  std::vector<std::string> terms;
  if (!o.event_type.empty()) terms.push_back("eventType eq " + Quoted(o.event_type));
  if (!o.actor.empty()) terms.push_back("actor.id eq " + Quoted(o.actor));
  if (!o.target.empty()) terms.push_back("target.id eq " + Quoted(o.target));
  if (!o.outcome.empty()) terms.push_back("outcome.result eq " + Quoted(o.outcome));
  if (terms.empty()) return o.filter;
  // Parentheses keep an `or` in --filter from binding looser than the flags' `and`.
  std::string out = o.filter.empty() ? "" : "(" + o.filter + ")";
  for (const auto& t : terms) out += (out.empty() ? "" : " and ") + t;
  return out;
}

std::string LogQueryTarget(const LogQueryOptions& o) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!o.since.empty()) params.emplace_back("since", o.since);
  if (!o.until.empty()) params.emplace_back("until", o.until);
  if (std::string filter = LogFilter(o); !filter.empty()) params.emplace_back("filter", filter);
  if (!o.q.empty()) params.emplace_back("q", o.q);
  if (o.limit) params.emplace_back("limit", std::to_string(*o.limit));
  if (o.descending) params.emplace_back("sortOrder", "DESCENDING");
  return WithQuery(kLogs, params);
}

Status LogCommands::List(const LogQueryOptions& o) {
  // Ascending without `until` is a polling query, whose next link never runs out (contract §10):
  // the events end at its first empty page instead.
  const bool polling = !o.descending && o.until.empty();
  const size_t full = static_cast<size_t>(o.limit.value_or(kServerDefaultLimit));
  nlohmann::json events = nlohmann::json::array();
  std::string target = LogQueryTarget(o);
  std::set<std::string> followed;
  bool more = false;
  for (;;) {
    auto page = api_.GetPage(target);
    if (!page.ok()) return page.status();
    const size_t count = page->items.size();
    for (auto& e : page->items) events.push_back(std::move(e));
    if (!page->next || (polling && count == 0)) break;
    if (!o.all) {
      more = !polling || (full > 0 && count >= full);
      break;
    }
    if (!followed.insert(*page->next).second) return InternalError("the coordinator's next link repeats: " + *page->next);
    target = *page->next;
  }
  if (out_.json) {
    PrintJson(out_.out, events);
  } else {
    PrintTable(events);
  }
  if (more) out_.err << "keyholectl: more events may exist; add --all to fetch every page\n";
  return Status::Ok();
}

Status LogCommands::Follow(const LogQueryOptions& o, std::chrono::milliseconds interval, const Wait& wait) {
  std::string target = LogQueryTarget(o);
  const size_t full = static_cast<size_t>(o.limit.value_or(kServerDefaultLimit));
  if (!out_.json) PrintLines(nlohmann::json::array());  // the headings
  for (;;) {
    std::chrono::milliseconds pause = interval;
    auto page = api_.GetPage(target);
    if (!page.ok()) {
      // A coordinator restarting is no reason to stop following; an error it answers is.
      if (page.status().detail() != kDetailNoAnswer) return page.status();
      out_.err << "keyholectl: " << Printable(page.status().message()) << "; polling again\n";
    } else {
      if (out_.json) {
        // JSON Lines: an array could never be closed.
        for (const auto& e : page->items) {
          out_.out << e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        }
      } else {
        PrintLines(page->items);
      }
      if (!page->next) return InternalError("the System Log answered a polling query without a next link");
      target = *page->next;
      if (full > 0 && page->items.size() >= full) pause = std::chrono::milliseconds(0);  // a backlog: catch up
    }
    out_.out.flush();  // whoever reads a pipe sees each event as it arrives
    if (!wait(pause)) return Status::Ok();
  }
}

void LogCommands::PrintTable(const nlohmann::json& events) const {
  Table table(kHeadings);
  for (const auto& e : events) table.AddRow(Row(e));
  table.Print(out_.out);
}

void LogCommands::PrintLines(const nlohmann::json& events) const {
  auto line = [this](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string cell = Printable(cells[i]);
      text += cell;
      if (i < std::size(kLineWidths)) text.append(cell.size() < kLineWidths[i] ? kLineWidths[i] - cell.size() + 2 : 2, ' ');
    }
    out_.out << text << '\n';
  };
  if (events.empty()) return line(kHeadings);
  for (const auto& e : events) line(Row(e));
}

void AddLogCommands(CLI::App& app, ApiAction& action) {
  struct Args {
    LogQueryOptions query;
    int limit = -1;
    bool follow = false;
    int interval_seconds = 5;
  };
  auto a = std::make_shared<Args>();  // the action, which runs after parsing, keeps the values alive
  auto* logs = app.add_subcommand("logs", "Read the System Log, or follow it with --follow (SUPER_ADMIN)");
  logs->add_option("--since", a->query.since, "Events published at or after this ISO 8601 instant (default: 7 days ago)")
      ->check(IsoCheck);
  auto* until = logs->add_option("--until", a->query.until, "Events published before this ISO 8601 instant")
                    ->check(IsoCheck);
  logs->add_option("--filter", a->query.filter,
                   "Filter expression: eventType eq \"user.lifecycle.suspend\" and actor.id eq \"00u…\"");
  logs->add_option("--event-type", a->query.event_type, "Only this event type (adds eventType eq \"T\")");
  logs->add_option("--actor", a->query.actor, "Only events by this actor id");
  logs->add_option("--target", a->query.target, "Only events about this target id");
  logs->add_option("--outcome", a->query.outcome, "Only this outcome: SUCCESS, FAILURE, …");
  logs->add_option("--q", a->query.q, "Keywords, all of which an event must contain");
  logs->add_option("--limit", a->limit, "Page size (0-1000; default 100)")->check(CLI::Range(0, 1000));
  auto* desc = logs->add_flag("--desc", a->query.descending, "Newest first");
  auto* all = logs->add_flag("--all", a->query.all, "Fetch every page");
  auto* follow = logs->add_flag("--follow", a->follow, "Keep polling and print new events until interrupted");
  logs->add_option("--interval", a->interval_seconds, "Seconds between polls with --follow (default 5)")
      ->check(CLI::Range(1, 86400))
      ->needs(follow);
  follow->excludes(until)->excludes(desc)->excludes(all);
  logs->callback([&action, a] {
    action = [a](ApiSession& api, const Output& out, const CtlContext& ctx) {
      if (a->limit >= 0) a->query.limit = a->limit;
      LogCommands commands(api, out);
      if (!a->follow) return commands.List(a->query);
      if (ctx.follow_begins) ctx.follow_begins();
      LogCommands::Wait wait = ctx.follow_wait;
      if (!wait) wait = [](std::chrono::milliseconds) { return false; };
      return commands.Follow(a->query, std::chrono::seconds(a->interval_seconds), wait);
    };
  });
}

}  // namespace keyhole::ctl
