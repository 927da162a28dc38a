#include "agent/cli/agent_commands.h"

#include <strings.h>

#include <algorithm>
#include <ostream>
#include <vector>

#include "agent/activation/activation.h"
#include "agent/activation/coordinator_url.h"
#include "agent/activation/deactivation.h"
#include "agent/activation/printable_text.h"
#include "agent/state/state_store.h"
#include "shared/clock/iso8601.h"
#include "shared/tls/fingerprint.h"

namespace keyhole::agent {
namespace {

std::string Trim(std::string s) {
  auto space = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  return s.substr(i);
}

std::string Age(std::chrono::milliseconds d) {
  const int64_t s = std::max<int64_t>(0, d.count() / 1000);
  if (s < 3600) return std::to_string(s / 60) + " minutes";
  if (s < 2 * 86400) return std::to_string(s / 3600) + " hours";
  return std::to_string(s / 86400) + " days";
}

}  // namespace

int AgentCommands::Fail(int code, const std::string& message) {
  ctx_.err << "keyhole-agent: " << message << '\n';
  return code;
}

std::optional<AgentConfig> AgentCommands::LoadConfig() {
  auto config = LoadAgentConfig(ctx_.fs, common_.config_path, common_.config_given);
  if (!config.ok()) {
    Fail(kExitUsage, config.status().message());
    return std::nullopt;
  }
  return *config;
}

int AgentCommands::LoadState(std::optional<AgentState>& state) {
  StateStore store(ctx_.fs, common_.state_dir);
  auto loaded = store.Load();
  if (!loaded.ok()) return Fail(kExitFailure, loaded.status().message());
  if (!loaded->has_value()) {
    return Fail(kExitNotActivated, "not activated (no state in " + store.path() +
                                       "); activate with: keyhole-agent activate --coordinator URL --code -");
  }
  state = std::move(*loaded);
  return kExitOk;
}

int AgentCommands::LockState(std::string_view command, std::optional<StateLock>& lock) {
  if (!ctx_.lock_state) return Fail(kExitFailure, "internal error: no state lock");
  auto taken = ctx_.lock_state(common_.state_dir, command);
  if (taken.ok()) {
    lock.emplace(std::move(*taken));
    return kExitOk;
  }
  const keyhole::Status& s = taken.status();
  if (s.code() != StatusCode::kFailedPrecondition) {
    return Fail(kExitFailure, "cannot lock the agent state in " + common_.state_dir + ": " + s.message());
  }
  std::string advice;
  if (!s.detail().empty() && s.detail() != "run") {
    advice = "; wait for it to finish";
  } else if (command == "rotate") {
    advice = "; the running daemon rotates the token on its own schedule (rotate_every_days). To rotate now, stop "
             "the service first (systemctl stop keyhole-agent), rotate, then start it again";
  } else {
    advice = "; stop the service first (systemctl stop keyhole-agent)";
  }
  return Fail(kExitFailure, s.message() + advice);
}

int AgentCommands::Activate(const ActivateOptions& o) {
  auto config = LoadConfig();
  if (!config) return kExitUsage;

  ActivateRequest request;
  request.coordinator = o.coordinator.empty() ? config->coordinator : o.coordinator;
  if (request.coordinator.empty()) return Fail(kExitUsage, "no coordinator: pass --coordinator URL or set coordinator in the config");
  while (!request.coordinator.empty() && request.coordinator.back() == '/') request.coordinator.pop_back();
  const bool https = request.coordinator.size() >= 8 && strncasecmp(request.coordinator.c_str(), "https://", 8) == 0;
  if (keyhole::Status s = CoordinatorUrl::Check(request.coordinator); !s.ok()) return Fail(kExitUsage, s.message());

  if (o.code == "-") {
    request.code = Trim(ctx_.read_stdin ? ctx_.read_stdin() : "");
  } else if (!o.code.empty()) {
    request.code = Trim(o.code);
  } else {
    request.code = Trim(ctx_.getenv("KEYHOLE_ACTIVATION_CODE").value_or(""));
  }
  if (request.code.empty()) {
    return Fail(kExitUsage, "no activation code: pass --code CODE, --code - (standard input) or set KEYHOLE_ACTIVATION_CODE");
  }
  if (std::any_of(request.code.begin(), request.code.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
    return Fail(kExitUsage, "the activation code contains spaces or control characters");
  }

  request.name = !o.name.empty() ? o.name : !config->name.empty() ? config->name : ctx_.host.host;
  if (request.name.empty() || request.name.size() > 100) return Fail(kExitUsage, "--name must have 1 to 100 characters");

  if (!o.pin.empty() && !o.ca_file.empty()) return Fail(kExitUsage, "give either --ca-file or --pin, not both");
  if (!o.pin.empty()) {
    auto pin = NormalizeFingerprint(o.pin);
    if (!pin) return Fail(kExitUsage, "--pin " + o.pin + ": expected sha256: and 64 hexadecimal digits");
    request.trust.pin = *pin;
  }
  if (!o.ca_file.empty()) {
    auto pem = ctx_.fs.ReadFile(o.ca_file);
    if (!pem.ok()) return Fail(kExitUsage, "--ca-file " + o.ca_file + ": " + pem.status().message());
    if (!PemFingerprint(*pem)) return Fail(kExitUsage, "--ca-file " + o.ca_file + ": no PEM certificate in it");
    request.trust.ca_pem = *pem;
  }
  if (!https && (!request.trust.pin.empty() || !request.trust.ca_pem.empty())) {
    return Fail(kExitUsage, "--ca-file and --pin apply to https:// coordinators only");
  }

  // The directory first, for the lock file in it; Activation needs it anyway.
  if (keyhole::Status s = ctx_.fs.MakeDirectories(common_.state_dir, 0700); !s.ok()) {
    return Fail(kExitFailure, "cannot create the agent state directory " + common_.state_dir + ": " + s.message());
  }
  std::optional<StateLock> lock;
  if (int code = LockState("activate", lock); code != kExitOk) return code;
  StateStore store(ctx_.fs, common_.state_dir);
  if (store.Exists()) {
    // Before any network traffic: the code stays unspent.
    auto loaded = store.Load();
    std::string who = loaded.ok() && loaded->has_value() ? " as agent " + (*loaded)->agent_id : "";
    return Fail(kExitFailure, "this agent is already activated" + who + " (state in " + store.path() +
                                  "); to activate it again, first run: keyhole-agent deactivate --state-dir " +
                                  common_.state_dir);
  }
  auto client = ctx_.connect(request.coordinator, request.trust);
  if (!client.ok()) return Fail(kExitUsage, client.status().message());
  auto state = agent::Activation(store, ctx_.clock).Activate(**client, request, ctx_.host);
  if (!state.ok()) {
    if (state.status().code() == StatusCode::kUnauthenticated) return Fail(kExitFailure, state.status().message());
    if (state.status().code() == StatusCode::kUnavailable) {
      return Fail(kExitFailure, "cannot reach the coordinator: " + state.status().message());
    }
    return Fail(kExitFailure, "activation failed: " + state.status().message());
  }
  ctx_.out << "activated agent " << state->agent_id << " (" << request.name << ") in pool " << state->pool_id
           << "; state saved in " << store.path() << '\n';
  return kExitOk;
}

int AgentCommands::Status(bool json) {
  const std::optional<AgentConfig> config = LoadConfig();
  if (!config) return kExitUsage;
  std::vector<std::string> upstreams;
  for (const auto& [name, u] : config->upstreams) upstreams.push_back(name);
  std::optional<AgentState> state;
  if (int code = LoadState(state); code != kExitOk) {
    if (json && code == kExitNotActivated) ctx_.out << nlohmann::json{{"activated", false}}.dump(2) << '\n';
    return code;
  }
  // Only the current token is used: status never changes the state (no rotation is resolved here).
  std::optional<AgentView> view;
  std::string problem;
  bool refused = false;
  auto client = ctx_.connect(state->coordinator, state->trust);
  if (!client.ok()) {
    problem = client.status().message();
  } else {
    auto me = (*client)->Me(state->token);
    if (me.ok()) {
      // The coordinator's words, made safe for a terminal.
      view = *me;
      view->status = PrintableText(view->status);
      view->operational_status = PrintableText(view->operational_status);
    } else {
      refused = me.status().code() == StatusCode::kUnauthenticated;
      problem = refused ? "refused by the coordinator (401): the agent is deactivated or its token revoked (" +
                              me.status().message() + ")"
                        : me.status().message();
    }
  }
  problem = PrintableText(problem, 1000);
  const auto age = ctx_.clock.Now() - state->token_issued;
  if (json) {
    nlohmann::json j = {{"activated", true},
                        {"agentId", PrintableText(state->agent_id)},
                        {"poolId", PrintableText(state->pool_id)},
                        {"coordinator", state->coordinator},
                        {"tokenId", state->token_id.empty() ? nlohmann::json(nullptr)
                                                            : nlohmann::json(PrintableText(state->token_id))},
                        {"tokenIssued", FormatIso8601(state->token_issued)},
                        {"tokenAgeSeconds", std::chrono::duration_cast<std::chrono::seconds>(age).count()},
                        {"rotationPending", state->pending_token.has_value()},
                        {"accepted", view.has_value()},
                        {"tunnel", {{"enabled", config->tunnel.enabled}, {"upstreams", upstreams}}}};
    if (view) {
      j["coordinatorView"] = {{"status", view->status},
                              {"operationalStatus", view->operational_status},
                              {"lastConnection", view->last_connection}};
    } else {
      j["coordinatorView"] = nullptr;
      j["error"] = problem;
      j["refused"] = refused;
    }
    ctx_.out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else {
    ctx_.out << "agent:            " << PrintableText(state->agent_id) << '\n'
             << "pool:             " << (state->pool_id.empty() ? "-" : PrintableText(state->pool_id)) << '\n'
             << "coordinator:      " << PrintableText(state->coordinator, 1000) << '\n'
             << "token id:         " << (state->token_id.empty() ? "unknown" : PrintableText(state->token_id)) << '\n'
             << "token age:        " << Age(std::chrono::duration_cast<std::chrono::milliseconds>(age))
             << " (issued " << FormatIso8601(state->token_issued) << ")\n"
             << "rotation pending: " << (state->pending_token ? "yes (completed by the next run or rotate)" : "no")
             << '\n';
    std::string names;
    for (const auto& n : upstreams) names += (names.empty() ? "" : ", ") + n;
    ctx_.out << "tunnel:           "
             << (!config->tunnel.enabled ? "disabled ([tunnel] enabled = false)"
                 : upstreams.empty()     ? "enabled, no [upstreams.NAME] configured"
                                         : "enabled, upstreams: " + names)
             << '\n';
    if (view) {
      ctx_.out << "coordinator view: " << view->status << ", " << view->operational_status << '\n';
    } else {
      ctx_.out << "coordinator view: unavailable: " << problem << '\n';
    }
  }
  return view ? kExitOk : kExitFailure;
}

int AgentCommands::Rotate() {
  if (!LoadConfig()) return kExitUsage;
  std::optional<AgentState> state;
  if (int code = LoadState(state); code != kExitOk) return code;
  // A rotation here while `run` works from the state it loaded would leave the daemon with a
  // token the coordinator retires after the grace period.
  std::optional<StateLock> lock;
  if (int code = LockState("rotate", lock); code != kExitOk) return code;
  if (int code = LoadState(state); code != kExitOk) return code;  // as it is now, under the lock
  auto client = ctx_.connect(state->coordinator, state->trust);
  if (!client.ok()) return Fail(kExitFailure, client.status().message());
  StateStore store(ctx_.fs, common_.state_dir);
  const bool resuming = state->pending_token.has_value();
  keyhole::Status s = TokenRotation(**client, store, ctx_.clock, ctx_.fault).Rotate(*state);
  if (!s.ok()) {
    if (s.code() == StatusCode::kUnauthenticated) {
      return Fail(kExitFailure, "refused by the coordinator (401): the agent is deactivated or its token revoked: " +
                                    s.message());
    }
    return Fail(kExitFailure, "rotation failed: " + s.message() +
                                  (state->pending_token ? " (the new token is kept as pending; run rotate again)" : ""));
  }
  ctx_.out << (resuming ? "completed the interrupted rotation" : "rotated the token") << "; new token id "
           << (state->token_id.empty() ? "unknown" : PrintableText(state->token_id)) << '\n';
  return kExitOk;
}

int AgentCommands::Deactivate() {
  if (!LoadConfig()) return kExitUsage;
  std::optional<AgentState> state;
  if (int code = LoadState(state); code != kExitOk) return code;
  std::optional<StateLock> lock;
  if (int code = LockState("deactivate", lock); code != kExitOk) return code;
  if (int code = LoadState(state); code != kExitOk) return code;  // as it is now, under the lock
  StateStore store(ctx_.fs, common_.state_dir);
  auto client = ctx_.connect(state->coordinator, state->trust);
  auto outcome = Deactivation(store).Deactivate(client.ok() ? client->get() : nullptr, *state, client.status());
  if (!outcome.local.ok()) {
    return Fail(kExitFailure, "could not remove the agent state " + store.path() + ": " + outcome.local.message());
  }
  if (!outcome.coordinator.ok()) {
    // The local state is gone either way (as the operator asked); the coordinator's record is not.
    const bool refused = outcome.coordinator.code() == StatusCode::kUnauthenticated;
    const std::string id = PrintableText(state->agent_id);
    return Fail(kExitFailure,
                "removed the local state, but could not deactivate agent " + id + " at the coordinator " +
                    state->coordinator + ": " + (refused ? "its token is already refused (401): " : "") +
                    PrintableText(outcome.coordinator.message(), 1000) + "\nWARNING: agent " + id +
                    " may still be ACTIVE at the coordinator. An admin should deactivate it there: "
                    "POST /api/v1/agents/" + id + "/lifecycle/deactivate (then DELETE /api/v1/agents/" + id + ")");
  }
  ctx_.out << "deactivated agent " << state->agent_id << " and removed its state\n";
  return kExitOk;
}

}  // namespace keyhole::agent
