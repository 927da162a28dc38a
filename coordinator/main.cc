// keyhole-coordinator: command-line glue. init | serve | admin-token; see README.md.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <thread>

#include "coordinator/app/coordinator.h"
#include "shared/log/log.h"

using keyhole::LogError;
using keyhole::LogInfo;
using keyhole::coord::Coordinator;
using keyhole::coord::CoordinatorConfig;

namespace {

int Fail(const keyhole::Status& s) {
  std::fprintf(stderr, "keyhole-coordinator: %s\n", s.message().c_str());
  return s.code() == keyhole::StatusCode::kInvalidArgument ? 2 : 1;
}

void ApplyLogLevel(const std::string& level) {
  keyhole::SetLogLevel(keyhole::ParseLogLevel(level).value_or(keyhole::LogLevel::kInfo));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Keyhole coordinator: the control plane and tunnel hub"};
  app.require_subcommand(1);
  CoordinatorConfig config;
  std::string admin_login = Coordinator::kDefaultAdminLogin;
  std::string config_file;

  auto* init = app.add_subcommand("init", "Create the database and the first SUPER_ADMIN; print its API token");
  init->add_option("--data-dir", config.data_dir, "Data directory")->required();
  init->add_option("--admin-login", admin_login, "Login (an e-mail address) of the first admin");

  auto* serve = app.add_subcommand("serve", "Run the coordinator");
  serve->add_option("--data-dir", config.data_dir, "Data directory");
  serve->add_option("--config", config_file, "TOML configuration file")->check(CLI::ExistingFile);
  auto* listen_opt = serve->add_option("--listen", config.listen, "HOST:PORT to listen on (port 0: ephemeral)");
  auto* cert_opt = serve->add_option("--tls-cert", config.tls_cert_file, "PEM certificate chain");
  auto* key_opt = serve->add_option("--tls-key", config.tls_key_file, "PEM private key");
  auto* plain_opt = serve->add_flag("--plain-http", config.plain_http, "Serve plain HTTP (behind a TLS proxy, or for benchmarks)");
  plain_opt->excludes(cert_opt)->excludes(key_opt);
  auto* plain_listen_opt = serve->add_option(
      "--plain-listen", config.plain_listen,
      "Loopback HOST:PORT for plain HTTP beside TLS (a local TLS proxy, local callers)");
  plain_listen_opt->excludes(plain_opt);
  auto* threads_opt = serve->add_option("--threads", config.threads, "Worker threads (0: one per core)");
  auto* public_url_opt = serve->add_option("--public-url", config.public_url, "Base URL clients use, for Link headers");
  auto* log_level_opt = serve->add_option("--log-level", config.log_level, "debug, info, warning or error");
  auto* timeout_opt = serve->add_option("--request-timeout", config.request_timeout_seconds,
                                        "Seconds to receive a request's head, and again its body");

  auto* recover = app.add_subcommand("admin-token", "Offline: print a new API token for an existing admin");
  recover->add_option("--data-dir", config.data_dir, "Data directory")->required();
  recover->add_option("--login", admin_login, "The admin's login")->required();

  CLI11_PARSE(app, argc, argv);

  if (*serve && !config_file.empty()) {
    // The file gives defaults; options given on the command line win, so re-apply them.
    CoordinatorConfig from_file = config;
    if (auto s = keyhole::coord::LoadConfigFile(config_file, from_file); !s.ok()) return Fail(s);
    auto keep = [](CLI::Option* o, auto& dst, const auto& cli) {
      if (o->count() > 0) dst = cli;
    };
    keep(listen_opt, from_file.listen, config.listen);
    keep(plain_listen_opt, from_file.plain_listen, config.plain_listen);
    keep(cert_opt, from_file.tls_cert_file, config.tls_cert_file);
    keep(key_opt, from_file.tls_key_file, config.tls_key_file);
    keep(threads_opt, from_file.threads, config.threads);
    keep(public_url_opt, from_file.public_url, config.public_url);
    keep(log_level_opt, from_file.log_level, config.log_level);
    keep(timeout_opt, from_file.request_timeout_seconds, config.request_timeout_seconds);
    if (config.plain_http) from_file.plain_http = true;
    if (!config.data_dir.empty()) from_file.data_dir = config.data_dir;
    config = from_file;
  }
  if (config.data_dir.empty()) {
    std::fprintf(stderr, "keyhole-coordinator: --data-dir is required (or store.data_dir in --config)\n");
    return 2;
  }
  ApplyLogLevel(config.log_level);

  // Block the stop signals before any thread starts, so only the waiter below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Everything the coordinator writes (database, WAL, TLS key) is for its own user only.
  umask(077);

  keyhole::RealClock clock;
  auto coordinator = Coordinator::Open(config.data_dir, clock);
  if (!coordinator.ok()) return Fail(coordinator.status());
  Coordinator& c = **coordinator;

  if (*init) {
    if (c.initialized()) {
      std::fprintf(stderr, "keyhole-coordinator: %s is already initialized; use admin-token to recover access\n",
                   config.data_dir.c_str());
      return 1;
    }
    auto token = c.Initialize(admin_login);
    if (!token.ok()) return Fail(token.status());
    std::cout << *token << std::endl;
    return 0;
  }
  if (*recover) {
    auto token = c.IssueAdminToken(admin_login);
    if (!token.ok()) return Fail(token.status());
    std::cout << *token << std::endl;
    return 0;
  }

  if (!c.initialized()) {
    auto token = c.Initialize(admin_login);
    if (!token.ok()) return Fail(token.status());
    // Shown once, to the operator's terminal or journal; it is never written anywhere else.
    LogInfo(std::string("initialized ") + config.data_dir + "; first admin " + admin_login + " has API token: " + *token);
  }

  std::thread signal_waiter([&c, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != 0) LogInfo(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    c.RequestStop();
  });
  signal_waiter.detach();

  keyhole::SdNotifier notifier;  // does nothing outside systemd
  auto status = c.Serve(config, [](const keyhole::coord::ServingAt& at) {
    std::cout << "keyhole-coordinator listening on " << at.url << std::endl;
    if (!at.fingerprint.empty()) std::cout << "TLS certificate fingerprint " << at.fingerprint << std::endl;
    if (!at.plain_url.empty()) std::cout << "keyhole-coordinator also listening on " << at.plain_url << " (plain HTTP, loopback)" << std::endl;
    LogInfo("listening on " + at.url + (at.plain_url.empty() ? "" : " and " + at.plain_url));
  }, &notifier);
  if (!status.ok()) return Fail(status);
  return 0;
}
