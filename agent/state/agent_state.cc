#include "agent/state/agent_state.h"

#include "shared/clock/iso8601.h"
#include "shared/token/token_codec.h"

namespace keyhole::agent {

nlohmann::json AgentState::ToJson() const {
  nlohmann::json trust_json = nlohmann::json::object();
  if (!trust.pin.empty()) trust_json["pin"] = trust.pin;
  if (!trust.ca_pem.empty()) trust_json["ca_pem"] = trust.ca_pem;
  return {{"version", kVersion},
          {"agent_id", agent_id},
          {"pool_id", pool_id},
          {"coordinator", coordinator},
          {"token", token},
          {"token_id", token_id},
          {"token_issued", FormatIso8601(token_issued)},
          {"pending_token", pending_token ? nlohmann::json(*pending_token) : nlohmann::json(nullptr)},
          {"trust", trust_json}};
}

StatusOr<AgentState> AgentState::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return InvalidArgumentError("not a JSON object");
  auto version = json.find("version");
  if (version == json.end() || !version->is_number_integer()) return InvalidArgumentError("no version");
  if (*version != kVersion) {
    return InvalidArgumentError("version " + version->dump() + " is not one this agent knows (" +
                                std::to_string(kVersion) + ")");
  }
  AgentState s;
  auto text = [&json](const char* key, std::string& out, bool required) -> Status {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) {
      return required ? InvalidArgumentError(std::string(key) + " is missing") : Status::Ok();
    }
    if (!it->is_string()) return InvalidArgumentError(std::string(key) + " is not a string");
    out = it->get<std::string>();
    if (required && out.empty()) return InvalidArgumentError(std::string(key) + " is empty");
    return Status::Ok();
  };
  for (Status st : {text("agent_id", s.agent_id, true), text("pool_id", s.pool_id, false),
                    text("coordinator", s.coordinator, true), text("token", s.token, true),
                    text("token_id", s.token_id, false)}) {
    if (!st.ok()) return st;
  }
  if (TokenCodec::Parse(s.token) != TokenKind::kAgent) return InvalidArgumentError("token is not an agent token");
  std::string issued;
  if (Status st = text("token_issued", issued, true); !st.ok()) return st;
  auto when = ParseIso8601(issued);
  if (!when) return InvalidArgumentError("token_issued is not an ISO 8601 time");
  s.token_issued = *when;
  std::string pending;
  if (Status st = text("pending_token", pending, false); !st.ok()) return st;
  if (!pending.empty()) {
    if (TokenCodec::Parse(pending) != TokenKind::kAgent) return InvalidArgumentError("pending_token is not an agent token");
    s.pending_token = pending;
  }
  auto trust = json.find("trust");
  if (trust != json.end() && !trust->is_null()) {
    if (!trust->is_object()) return InvalidArgumentError("trust is not an object");
    if (auto pin = trust->find("pin"); pin != trust->end()) {
      if (!pin->is_string()) return InvalidArgumentError("trust.pin is not a string");
      s.trust.pin = pin->get<std::string>();
    }
    if (auto pem = trust->find("ca_pem"); pem != trust->end()) {
      if (!pem->is_string()) return InvalidArgumentError("trust.ca_pem is not a string");
      s.trust.ca_pem = pem->get<std::string>();
    }
    if (!s.trust.pin.empty() && !s.trust.ca_pem.empty()) return InvalidArgumentError("trust has both pin and ca_pem");
  }
  return s;
}

}  // namespace keyhole::agent
