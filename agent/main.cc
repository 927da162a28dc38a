// keyhole-agent: the agent daemon and its one-shot commands. Glue only: the command line (CLI11),
// umask 077, the real file system, clock, cpprestsdk client, systemd notifier, signals, journal
// sink and the test fault hook, into AgentCommands and AgentDaemon.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>

#include "agent/activation/host_info_reader.h"
#include "agent/activation/rest_coordinator_client.h"
#include "agent/cli/agent_commands.h"
#include "agent/daemon/agent_daemon.h"
#include "agent/daemon/signal_control.h"
#include "agent/state/state_lock.h"
#include "agent/tunnel/tunnel_client.h"
#include "shared/log/log.h"
#include "shared/systemd/journal_sink.h"
#include "shared/systemd/notifier.h"

namespace {

using namespace keyhole;
using namespace keyhole::agent;

// How long `run` waits for a one-shot command (activate, rotate, deactivate) to release the state.
constexpr std::chrono::seconds kStateLockWait{60};

// Test hook, documented in docs/AGENTS.md: KEYHOLE_AGENT_TEST_KILL_AT names a rotation step
// (after_pending_saved, after_rotate_sent, after_rotate_answered, after_state_saved) at which the
// process kills itself with SIGKILL, as a crash or kill -9 would.
FaultHook KillHookFromEnvironment() {
  const char* at = std::getenv("KEYHOLE_AGENT_TEST_KILL_AT");
  if (at == nullptr || *at == '\0') return {};
  std::string point = at;
  return [point](std::string_view reached) {
    if (reached == point) std::raise(SIGKILL);
  };
}

int RunDaemon(const CommonOptions& common, FileSystem& fs, const Clock& clock, const HostInfo& host,
              JournalSink* journal) {
  auto config = LoadAgentConfig(fs, common.config_path, common.config_given);
  if (!config.ok()) {
    LogError(config.status().message());
    return kExitNotConfigured;
  }
  if (auto level = ParseLogLevel(config->log_level)) SetLogLevel(*level);
  SignalControl control;
  SdNotifier notifier;
  // Held for the process's life: activate, rotate and deactivate refuse while it is. A one-shot
  // command holding it briefly is waited for; another `run` is not (it would hold it for ever).
  std::optional<StateLock> lock;
  if (fs.Exists(common.state_dir)) {
    auto taken = StateLock::Acquire(common.state_dir, "run", kStateLockWait, [&control] { return !control.StopRequested(); });
    if (!taken.ok()) {
      if (control.StopRequested()) return kExitOk;
      LogError("cannot use the agent state: " + taken.status().message());
      notifier.Status("cannot use the agent state: " + taken.status().message());
      return kExitFailure;
    }
    lock.emplace(std::move(*taken));
  }  // else not activated: the daemon says so
  StateStore store(fs, common.state_dir);
  AgentDaemon daemon(
      AgentDaemon::Deps{
          .clock = clock,
          .store = store,
          .notifier = notifier,
          .control = control,
          .connect = [](const AgentState& state, std::function<bool()> keep_waiting) {
            return RestCoordinatorClient::Connect(state.coordinator, state.trust, std::move(keep_waiting));
          },
          .host = host,
          .reload_config = [&fs, common] { return LoadAgentConfig(fs, common.config_path, common.config_given); },
          .random = Backoff::SystemRandom(),
          .fault = KillHookFromEnvironment(),
          .on_loaded =
              [journal](const AgentState& state) {
                if (journal) journal->SetField("KEYHOLE_AGENT_ID", state.agent_id);
              },
          .make_tunnel = [] { return std::make_unique<TunnelClient>(); },
      },
      *config);
  return daemon.Run();
}

}  // namespace

int main(int argc, char** argv) {
  ::umask(077);
  std::unique_ptr<JournalSink> journal;
  if (StderrIsJournal()) {
    journal = std::make_unique<JournalSink>("keyhole-agent");
    SetLogSink([sink = journal.get()](LogLevel level, std::string_view message) { sink->Write(level, message); });
  }

  CLI::App app{"keyhole-agent: a Keyhole agent (activate it once, then run it under systemd)", "keyhole-agent"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string("keyhole-agent ") + KEYHOLE_VERSION);
  CommonOptions common{.state_dir = kDefaultStateDir, .config_path = kDefaultConfigPath};
  app.add_option("--state-dir", common.state_dir, "Where the agent keeps its state (default /var/lib/keyhole-agent)")
      ->type_name("DIR");
  auto* config_opt =
      app.add_option("--config", common.config_path, "Config file (default /etc/keyhole-agent/agent.toml)")
          ->type_name("FILE");

  ActivateOptions activate;
  auto* activate_cmd = app.add_subcommand("activate", "Activate this agent with a one-time code");
  activate_cmd->add_option("--coordinator", activate.coordinator, "The coordinator's URL (default: the config's)")
      ->type_name("URL");
  activate_cmd->add_option("--code", activate.code,
                           "The activation code, or - to read it from standard input "
                           "(default: $KEYHOLE_ACTIVATION_CODE)")
      ->type_name("CODE");
  activate_cmd->add_option("--name", activate.name, "The agent's name (default: the config's, else the host name)");
  auto* ca = activate_cmd->add_option("--ca-file", activate.ca_file, "Trust only the CAs in this PEM file")
                 ->type_name("FILE");
  auto* pin = activate_cmd->add_option("--pin", activate.pin, "Trust exactly the certificate with this fingerprint")
                  ->type_name("sha256:HEX");
  ca->excludes(pin);
  auto* run_cmd = app.add_subcommand("run", "Run the agent (under systemd: Type=notify)");
  bool json = false;
  auto* status_cmd = app.add_subcommand("status", "Show the agent's state and the coordinator's view of it");
  status_cmd->add_flag("--json", json, "Print JSON");
  auto* rotate_cmd = app.add_subcommand("rotate", "Rotate the agent's token now");
  auto* deactivate_cmd = app.add_subcommand("deactivate", "Deactivate the agent and remove its state");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  common.config_given = config_opt->count() > 0;

  PosixFileSystem fs;
  RealClock clock;
  const HostInfo host = HostInfoReader(fs).Read();
  if (run_cmd->parsed()) return RunDaemon(common, fs, clock, host, journal.get());

  CommandContext ctx{
      .fs = fs,
      .clock = clock,
      .out = std::cout,
      .err = std::cerr,
      .getenv = [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      },
      .read_stdin = [] { return std::string(std::istreambuf_iterator<char>(std::cin), {}); },
      .connect = [](const std::string& url, const TrustAnchor& trust) {
        return RestCoordinatorClient::Connect(url, trust);
      },
      .host = host,
      .fault = KillHookFromEnvironment(),
      .lock_state = [](const std::string& dir, std::string_view command) { return StateLock::TryAcquire(dir, command); },
  };
  AgentCommands commands(ctx, common);
  if (activate_cmd->parsed()) return commands.Activate(activate);
  if (status_cmd->parsed()) return commands.Status(json);
  if (rotate_cmd->parsed()) return commands.Rotate();
  if (deactivate_cmd->parsed()) return commands.Deactivate();
  return kExitUsage;
}
