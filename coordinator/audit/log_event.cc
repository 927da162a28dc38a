#include "coordinator/audit/log_event.h"

#include "shared/clock/iso8601.h"

namespace keyhole::coord {
namespace {

nlohmann::json OrNull(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const nlohmann::json& Obj(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

void AppendLower(std::string& out, const std::string& s) {
  if (s.empty()) return;
  if (!out.empty()) out.push_back(' ');
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
}

}  // namespace

nlohmann::json LogEventToJson(const LogEvent& e) {
  nlohmann::json targets = nlohmann::json::array();
  for (const LogTarget& t : e.targets) {
    targets.push_back({{"id", t.id},
                       {"type", t.type},
                       {"alternateId", OrNull(t.alternate_id)},
                       {"displayName", OrNull(t.display_name)},
                       {"detailEntry", nullptr}});
  }
  nlohmann::json debug = nlohmann::json::object();
  for (const auto& [k, v] : e.debug_data) debug[k] = v;
  if (!e.request_uri.empty()) debug["requestUri"] = e.request_uri;
  nlohmann::json detail = nlohmann::json::object();
  if (!e.token_id.empty()) detail["requestApiTokenId"] = e.token_id;
  nlohmann::json ip_chain = nlohmann::json::array();
  if (!e.client_ip.empty()) {
    ip_chain.push_back({{"ip", e.client_ip},
                        {"version", e.client_ip.find(':') == std::string::npos ? "V4" : "V6"},
                        {"source", nullptr},
                        {"geographicalContext", nullptr}});
  }
  nlohmann::json user_agent = nullptr;
  if (!e.user_agent.empty()) {
    user_agent = {{"rawUserAgent", e.user_agent}, {"os", "Unknown"}, {"browser", "UNKNOWN"}};
  }
  return {
      {"uuid", e.uuid},
      {"published", FormatIso8601(e.published)},
      {"eventType", e.event_type},
      {"version", "0"},
      {"severity", e.severity},
      {"displayMessage", OrNull(e.display_message)},
      {"legacyEventType", nullptr},
      {"actor",
       {{"id", e.actor.id},
        {"type", e.actor.type},
        {"alternateId", OrNull(e.actor.alternate_id)},
        {"displayName", OrNull(e.actor.display_name)},
        {"detailEntry", nullptr}}},
      {"client",
       {{"ipAddress", OrNull(e.client_ip)},
        {"userAgent", user_agent},
        {"device", "Unknown"},
        {"id", nullptr},
        {"zone", nullptr},
        {"geographicalContext", nullptr}}},
      {"outcome", {{"result", e.outcome_result}, {"reason", OrNull(e.outcome_reason)}}},
      {"target", std::move(targets)},
      {"transaction",
       {{"type", e.transaction_id.empty() ? "JOB" : "WEB"}, {"id", OrNull(e.transaction_id)}, {"detail", detail}}},
      {"debugContext", {{"debugData", std::move(debug)}}},
      {"authenticationContext", {{"authenticationStep", 0}, {"externalSessionId", nullptr}}},
      {"securityContext",
       {{"asNumber", nullptr}, {"asOrg", nullptr}, {"isp", nullptr}, {"domain", nullptr}, {"isProxy", nullptr}}},
      {"request", {{"ipChain", std::move(ip_chain)}}},
  };
}

std::optional<LogEvent> LogEventFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("eventType")) return std::nullopt;
  LogEvent e;
  e.uuid = Str(j, "uuid");
  auto published = ParseIso8601(Str(j, "published"));
  if (!published) return std::nullopt;
  e.published = *published;
  e.event_type = Str(j, "eventType");
  e.severity = Str(j, "severity");
  e.display_message = Str(j, "displayMessage");
  const nlohmann::json& actor = Obj(j, "actor");
  e.actor = {Str(actor, "id"), Str(actor, "type"), Str(actor, "alternateId"), Str(actor, "displayName")};
  const nlohmann::json& client = Obj(j, "client");
  e.client_ip = Str(client, "ipAddress");
  e.user_agent = Str(Obj(client, "userAgent"), "rawUserAgent");
  const nlohmann::json& outcome = Obj(j, "outcome");
  e.outcome_result = Str(outcome, "result");
  e.outcome_reason = Str(outcome, "reason");
  if (auto it = j.find("target"); it != j.end() && it->is_array()) {
    for (const auto& t : *it) {
      e.targets.push_back({Str(t, "id"), Str(t, "type"), Str(t, "alternateId"), Str(t, "displayName")});
    }
  }
  const nlohmann::json& tx = Obj(j, "transaction");
  e.transaction_id = Str(tx, "id");
  e.token_id = Str(Obj(tx, "detail"), "requestApiTokenId");
  for (const auto& [k, v] : Obj(Obj(j, "debugContext"), "debugData").items()) {
    if (!v.is_string()) continue;
    if (k == "requestUri") e.request_uri = v.get<std::string>();
    else e.debug_data[k] = v.get<std::string>();
  }
  return e;
}

std::string LogSearchText(const LogEvent& e) {
  std::string out;
  for (const std::string* s : {&e.event_type, &e.display_message, &e.actor.id, &e.actor.alternate_id,
                               &e.actor.display_name, &e.outcome_reason, &e.client_ip, &e.user_agent}) {
    AppendLower(out, *s);
  }
  for (const LogTarget& t : e.targets) {
    AppendLower(out, t.id);
    AppendLower(out, t.alternate_id);
    AppendLower(out, t.display_name);
  }
  return out;
}

std::string CleanUtf8(std::string_view in, size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(std::min(in.size(), max_bytes));
  size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len > 0 && i + len <= in.size();
    for (size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    if (valid && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
      uint32_t cp = c & (0x7F >> len);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(in[i + k]) & 0x3F);
      valid = !((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF);
    }
    std::string_view piece = valid ? in.substr(i, len) : kReplacement;
    if (out.size() + piece.size() > max_bytes) break;
    out += piece;
    i += valid ? len : 1;
  }
  return out;
}

void SanitizeLogEvent(LogEvent& e) {
  auto clean = [](std::string& s, size_t max) { s = CleanUtf8(s, max); };
  clean(e.event_type, 256);
  clean(e.display_message, 2048);
  clean(e.client_ip, 64);
  clean(e.user_agent, 512);
  clean(e.outcome_reason, 2048);
  clean(e.request_uri, 2048);
  clean(e.transaction_id, 128);
  clean(e.token_id, 128);
  for (LogActor* a : {&e.actor}) {
    clean(a->id, 256);
    clean(a->type, 64);
    clean(a->alternate_id, 256);
    clean(a->display_name, 256);
  }
  for (LogTarget& t : e.targets) {
    clean(t.id, 256);
    clean(t.type, 64);
    clean(t.alternate_id, 256);
    clean(t.display_name, 256);
  }
  std::map<std::string, std::string> debug;
  for (auto& [k, v] : e.debug_data) debug[CleanUtf8(k, 128)] = CleanUtf8(v, 2048);
  e.debug_data = std::move(debug);
}

}  // namespace keyhole::coord
