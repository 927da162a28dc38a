#include "coordinator/ctl/ratelimit_commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>

#include "shared/clock/iso8601.h"

namespace keyhole::ctl {
namespace {

const std::string kRateLimits = "/api/v1/rateLimits";
const std::string kExceptions = kRateLimits + "/exceptions";

std::string ExceptionPath(const std::string& id) { return kExceptions + "/" + PathSegment(id); }

std::string PastTense(const std::string& op) {
  if (op == "deny") return "denied";
  if (op == "cancel") return "canceled";
  return op + "d";
}

// "GET /api/v1/users: 20000/min, …" from an exception's endpoints.
std::string Endpoints(const nlohmann::json& x, const char* separator) {
  std::string out;
  if (!x.contains("endpoints") || !x["endpoints"].is_array()) return "-";
  for (const auto& e : x["endpoints"]) {
    if (!out.empty()) out += separator;
    out += Text(e, "/endpoint") + "=" + Text(e, "/perMinute");
  }
  return out.empty() ? "-" : out;
}

std::string IsoCheck(const std::string& value) {
  return ParseIso8601(value) ? "" : "not an ISO 8601 date-time such as 2026-12-01T00:00:00Z: " + value;
}

}  // namespace

StatusOr<EndpointRate> ParseEndpointRate(std::string_view text) {
  auto bad = [&text](const std::string& why) {
    return InvalidArgumentError("--endpoint \"" + std::string(text) + "\": " + why +
                                " (want \"METHOD /api/v1/path/{template}=PER_MINUTE\")");
  };
  const size_t eq = text.rfind('=');
  if (eq == std::string_view::npos) return bad("no =PER_MINUTE");
  std::string_view endpoint = text.substr(0, eq), rate = text.substr(eq + 1);
  while (!endpoint.empty() && endpoint.back() == ' ') endpoint.remove_suffix(1);
  while (!rate.empty() && rate.front() == ' ') rate.remove_prefix(1);
  const size_t space = endpoint.find(' ');
  if (space == 0 || space == std::string_view::npos) return bad("no METHOD and path");
  std::string_view method = endpoint.substr(0, space), path = endpoint.substr(space + 1);
  if (!std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return bad("the method is not upper-case letters");
  }
  if (path.empty() || path.front() != '/' || path.find(' ') != std::string_view::npos) {
    return bad("the path must start with / and hold no spaces");
  }
  uint32_t per_minute = 0;
  auto [p, ec] = std::from_chars(rate.data(), rate.data() + rate.size(), per_minute);
  if (rate.empty() || ec != std::errc() || p != rate.data() + rate.size() || per_minute == 0) {
    return bad("the rate is not a positive whole number of requests per minute");
  }
  return EndpointRate{std::string(endpoint), per_minute};
}

Status RateLimitCommands::List() {
  auto limits = api_.Call("GET", kRateLimits);
  if (!limits.ok()) return limits.status();
  if (!limits->is_array()) return InternalError("the answer to GET " + kRateLimits + " is not a JSON array");
  if (out_.json) {
    PrintJson(out_.out, *limits);
    return Status::Ok();
  }
  Table table({"METHOD", "PATH", "LIMIT", "USED", "REMAINING", "RESETS (UTC)"});
  for (const auto& l : *limits) {
    std::string limit = Text(l, "/limit");
    // An approved exception in force raises the limit above the base.
    if (Text(l, "/baseLimit") != limit && Text(l, "/baseLimit") != "-") limit += " (base " + Text(l, "/baseLimit") + ")";
    table.AddRow({Text(l, "/method"), Text(l, "/path"), limit, Text(l, "/used"), Text(l, "/remaining"),
                  SecondTime(Text(l, "/resetsAt"))});
  }
  table.Print(out_.out);
  return Status::Ok();
}

Status RateLimitCommands::ListExceptions(const std::string& status) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!status.empty()) params.emplace_back("status", status);
  auto listing = api_.List(WithQuery(kExceptions, params), true);
  if (!listing.ok()) return listing.status();
  if (out_.json) {
    PrintJson(out_.out, listing->items);
    return Status::Ok();
  }
  Table table({"ID", "STATUS", "IN FORCE", "ORG", "START (UTC)", "END (UTC)", "ENDPOINTS"});
  for (const auto& x : listing->items) {
    table.AddRow({Text(x, "/id"), Text(x, "/status"), Text(x, "/inForce"), Text(x, "/org"),
                  ShortTime(Text(x, "/start")), ShortTime(Text(x, "/end")), Endpoints(x, ", ")});
  }
  table.Print(out_.out);
  return Status::Ok();
}

Status RateLimitCommands::GetException(const std::string& id) {
  auto x = api_.Call("GET", ExceptionPath(id));
  if (!x.ok()) return x.status();
  PrintException(*x);
  return Status::Ok();
}

Status RateLimitCommands::RequestException(const ExceptionRequestOptions& o) {
  nlohmann::json endpoints = nlohmann::json::array();
  for (const auto& e : o.endpoints) endpoints.push_back({{"endpoint", e.endpoint}, {"perMinute", e.per_minute}});
  nlohmann::json body = {{"org", o.org},     {"endpoints", endpoints},          {"start", o.start},
                         {"end", o.end},     {"justification", o.justification}};
  if (!o.lead_time_override.empty()) body["leadTimeOverride"] = {{"reason", o.lead_time_override}};
  auto x = api_.Call("POST", kExceptions, body);
  if (!x.ok()) return x.status();
  PrintException(*x);
  return Status::Ok();
}

Status RateLimitCommands::DecideException(const std::string& id, const std::string& op, const std::string& reason) {
  std::optional<nlohmann::json> body;
  if (!reason.empty()) body = nlohmann::json{{"reason", reason}};
  auto x = api_.Call("POST", ExceptionPath(id) + "/lifecycle/" + op, body);
  if (!x.ok()) return x.status();
  if (out_.json) {
    PrintJson(out_.out, *x);
  } else {
    out_.out << "exception " << Printable(id) << ": " << PastTense(op) << ", now " << Printable(Text(*x, "/status"))
             << '\n';
  }
  return Status::Ok();
}

void RateLimitCommands::PrintException(const nlohmann::json& x) const {
  if (out_.json) return PrintJson(out_.out, x);
  Table fields;
  for (const char* key : {"id", "status", "inForce", "org"}) fields.AddRow({key, Text(x, std::string("/") + key)});
  fields.AddRow({"endpoints", Endpoints(x, ", ")});
  for (const char* key : {"start", "end", "justification", "requestedBy", "created", "lastUpdated"}) {
    fields.AddRow({key, Text(x, std::string("/") + key)});
  }
  fields.AddRow({"leadTimeOverride", Text(x, "/leadTimeOverride/reason")});
  // Only decided exceptions carry these.
  for (const char* key : {"decidedBy", "decidedAt", "decisionReason"}) {
    if (Text(x, std::string("/") + key) != "-") fields.AddRow({key, Text(x, std::string("/") + key)});
  }
  fields.Print(out_.out);
}

void AddRateLimitCommands(CLI::App& app, ApiAction& action) {
  struct Args {
    std::string id, status, reason;
    std::vector<std::string> endpoints;
    ExceptionRequestOptions request;
  };
  auto a = std::make_shared<Args>();  // the action, which runs after parsing, keeps the values alive
  auto on = [&action](CLI::App* sub, std::function<Status(RateLimitCommands&)> run) {
    sub->callback([&action, run] {
      action = [run](ApiSession& api, const Output& out, const CtlContext&) {
        RateLimitCommands commands(api, out);
        return run(commands);
      };
    });
  };

  auto* limits = app.add_subcommand("ratelimits", "Rate limits and exceptions to them (SUPER_ADMIN)")
                     ->require_subcommand(1);
  auto* list = limits->add_subcommand("list", "Each endpoint's limit per minute and this minute's use");
  on(list, [](RateLimitCommands& c) { return c.List(); });

  auto* exceptions = limits->add_subcommand("exceptions", "Requests to raise limits for a while")->require_subcommand(1);
  auto* xlist = exceptions->add_subcommand("list", "List exception requests");
  xlist->add_option("--status", a->status, "Only PENDING, APPROVED, DENIED or CANCELED ones")
      ->check(CLI::IsMember({"PENDING", "APPROVED", "DENIED", "CANCELED"}, CLI::ignore_case));
  on(xlist, [a](RateLimitCommands& c) {
    std::string status = a->status;
    std::transform(status.begin(), status.end(), status.begin(), [](unsigned char ch) { return std::toupper(ch); });
    return c.ListExceptions(status);
  });

  auto* get = exceptions->add_subcommand("get", "Show one exception");
  get->add_option("id", a->id, "Exception id")->required();
  on(get, [a](RateLimitCommands& c) { return c.GetException(a->id); });

  auto* request = exceptions->add_subcommand("request", "Ask for higher limits between two instants");
  request->add_option("--org", a->request.org, "Who needs it (an organization or team)")->required();
  request
      ->add_option("--endpoint", a->endpoints,
                   "\"METHOD /api/v1/path/{template}=PER_MINUTE\", above the base limit; repeatable")
      ->required()
      ->check([](const std::string& v) {
        auto parsed = ParseEndpointRate(v);
        return parsed.ok() ? std::string() : parsed.status().message();
      });
  request->add_option("--start", a->request.start, "ISO 8601 start, e.g. 2026-12-01T00:00:00Z")
      ->required()
      ->check(IsoCheck);
  request->add_option("--end", a->request.end, "ISO 8601 end, in the future")->required()->check(IsoCheck);
  request->add_option("--justification", a->request.justification, "Why (10 to 4000 characters)")->required();
  request->add_option("--lead-time-override", a->request.lead_time_override,
                      "Start sooner than the required notice allows, for this reason");
  on(request, [a](RateLimitCommands& c) {
    for (const auto& e : a->endpoints) a->request.endpoints.push_back(ParseEndpointRate(e).value());  // checked above
    return c.RequestException(a->request);
  });

  for (const char* op : {"approve", "deny", "cancel"}) {
    auto* sub = exceptions->add_subcommand(op, std::string("Decide: ") + op + " an exception");
    sub->add_option("id", a->id, "Exception id")->required();
    sub->add_option("--reason", a->reason, "Why; kept with the decision");
    on(sub, [a, op = std::string(op)](RateLimitCommands& c) { return c.DecideException(a->id, op, a->reason); });
  }
}

}  // namespace keyhole::ctl
