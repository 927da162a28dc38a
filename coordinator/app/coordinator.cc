#include "coordinator/app/coordinator.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "coordinator/handlers/agent_pools_handler.h"
#include "coordinator/handlers/agents_handler.h"
#include "coordinator/handlers/api_tokens_handler.h"
#include "coordinator/handlers/health_handler.h"
#include "coordinator/handlers/logs_handler.h"
#include "coordinator/handlers/rate_limit_exceptions_handler.h"
#include "coordinator/handlers/rate_limits_handler.h"
#include "coordinator/handlers/tunnel_handler.h"
#include "coordinator/audit/request_events.h"
#include "coordinator/handlers/users_handler.h"
#include "coordinator/http/api_pipeline.h"
#include "coordinator/server/http_server.h"
#include "coordinator/server/self_signed.h"
#include "coordinator/tunnel/tunnel_hub.h"
#include "shared/fs/file_system.h"
#include "shared/log/log.h"

namespace keyhole::coord {

Coordinator::Coordinator(std::unique_ptr<Store> store, const Clock& clock)
    : store_(std::move(store)),
      clock_(clock),
      system_log_(std::make_unique<SystemLog>(*store_, clock_)),
      users_(std::make_unique<UserDirectory>(*store_, clock_)),
      agents_(std::make_unique<AgentRegistry>(*store_, clock_)),
      owners_(std::make_unique<Owners>(*users_, *agents_)),
      tokens_(std::make_unique<TokenService>(*store_, clock_, *owners_, TokenPolicy(), system_log_.get())) {}

Coordinator::~Coordinator() {
  // The offline commands (init, admin-token) record events too.
  if (auto n = system_log_->Flush(/*final=*/true); !n.ok()) LogError("writing the system log: " + n.status().message());
}

namespace {

// 127.0.0.0/8 or ::1, as a literal address (what the listener binds).
bool IsLoopbackAddress(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}


// An event for a token the command line issued (init, admin-token): no request, no client.
LogEvent OfflineTokenEvent(const UserRecord& owner, const TokenRecord& token) {
  LogEvent e;
  e.event_type = event_type::kTokenCreate;
  e.display_message = "Create API token (command line: " + token.name + ")";
  e.actor = {"keyhole", "SystemPrincipal", "system@keyhole", "Keyhole"};
  e.targets.push_back({token.id, "Token", token.name, token.name});
  e.targets.push_back({owner.id, "User", owner.login(), ""});
  return e;
}

}  // namespace

StatusOr<std::unique_ptr<Coordinator>> Coordinator::Open(const std::string& data_dir, const Clock& clock) {
  PosixFileSystem fs;
  if (Status s = fs.MakeDirectories(data_dir, 0700); !s.ok()) return s;
  // One process per data directory, for its whole life (as leveldb's LOCK file): a second
  // coordinator on the same store would never see the first one's revocations.
  int lock_fd = ::open((data_dir + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return ErrnoToStatus(errno, "open " + data_dir + "/LOCK");
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return UnavailableError(data_dir + " is in use by another keyhole-coordinator process");
  }
  auto store = OpenSqliteStore(data_dir + "/keyhole.db");
  if (!store.ok()) {
    ::close(lock_fd);
    return store.status();
  }
  std::unique_ptr<Coordinator> c(new Coordinator(std::move(store).value(), clock));
  c->lock_fd_ = lock_fd;
  if (Status s = c->users_->Load(); !s.ok()) return s;
  if (Status s = c->agents_->Load(); !s.ok()) return s;
  if (Status s = c->tokens_->Load(); !s.ok()) return s;
  return c;
}

StatusOr<std::string> Coordinator::Initialize(const std::string& admin_login) {
  if (initialized()) return FailedPreconditionError("the data directory is already initialized");
  nlohmann::json profile = {{"login", admin_login}, {"email", admin_login}, {"firstName", "Keyhole"},
                            {"lastName", "Administrator"}};
  auto admin = users_->Create(std::move(profile), /*activate=*/true, /*super_admin=*/true);
  if (!admin.ok()) return admin.status();
  auto token = tokens_->Create(OwnerKind::kUser, admin->id, "bootstrap", "Keyhole init");
  if (!token.ok()) return token.status();
  system_log_->Record(OfflineTokenEvent(*admin, token->record));
  return token->secret;
}

StatusOr<std::string> Coordinator::IssueAdminToken(const std::string& login) {
  auto user = users_->Get(login);
  if (!user.ok()) return NotFoundError("no user with login " + login);
  if (!user->super_admin) return PermissionDeniedError(login + " is not a SUPER_ADMIN");
  if (user->status != UserStatus::kActive) {
    return FailedPreconditionError(login + " is " + UserStatusName(user->status) + "; its tokens would not work");
  }
  auto token = tokens_->Create(OwnerKind::kUser, user->id, "recovery", "Keyhole recovery");
  if (!token.ok()) return token.status();
  system_log_->Record(OfflineTokenEvent(*user, token->record));
  return token->secret;
}

void Coordinator::RequestStop() {
  std::lock_guard lock(stop_mu_);
  stop_requested_ = true;
  stop_cv_.notify_all();
}

void Coordinator::RunBackground(std::chrono::milliseconds flush_interval, Notifier* notifier) {
  auto next_sweep = clock_.Monotonic();
  // Pinged from this loop, so a wedged store or maintenance step stops the pings. It wakes at
  // least every flush interval, and at half the watchdog timeout if that is shorter.
  const auto watchdog = notifier ? std::chrono::duration_cast<std::chrono::milliseconds>(notifier->WatchdogInterval())
                                 : std::chrono::milliseconds(0);
  if (watchdog.count() > 0) flush_interval = std::min(flush_interval, watchdog / 2);
  std::unique_lock lock(stop_mu_);
  while (!stop_requested_) {
    stop_cv_.wait_for(lock, flush_interval, [this] { return stop_requested_; });
    lock.unlock();
    if (watchdog.count() > 0) notifier->Watchdog();
    // A bug here must not take the whole coordinator down with an uncaught exception: log it
    // and keep the loop (and so the flushing) alive.
    try {
      if (auto n = tokens_->FlushUsage(); !n.ok()) LogError("flushing token use: " + n.status().message());
      if (auto n = agents_->FlushConnections(); !n.ok()) LogError("flushing agent heartbeats: " + n.status().message());
      system_log_->RunMaintenance();  // writes queued events, prunes past retention hourly
    } catch (const std::exception& e) {
      LogError(std::string("background maintenance: unexpected exception: ") + e.what());
    }
    if (clock_.Monotonic() >= next_sweep) {
      if (size_t n = tokens_->RevokeIdle(); n > 0) LogInfo("revoked " + std::to_string(n) + " idle token(s)");
      next_sweep = clock_.Monotonic() + std::chrono::minutes(1);
    }
    lock.lock();
  }
}

Status Coordinator::Serve(const CoordinatorConfig& config, const std::function<void(const ServingAt&)>& on_ready,
                          Notifier* notifier) {
  ServerOptions options;
  if (Status s = SplitHostPort(config.listen, &options.host, &options.port); !s.ok()) return s;
  if (!config.plain_listen.empty()) {
    if (config.plain_http) return InvalidArgumentError("plain_listen is beside TLS; with plain_http, use listen alone");
    if (Status s = SplitHostPort(config.plain_listen, &options.plain_host, &options.plain_port); !s.ok()) return s;
    // Plain HTTP carries SSWS tokens in clear: only on this host.
    if (!IsLoopbackAddress(options.plain_host)) {
      return InvalidArgumentError("plain_listen must be a loopback address (127.0.0.0/8 or ::1), got " + config.plain_listen);
    }
  }
  options.threads = config.threads;
  options.max_connections = config.max_connections;
  options.request_timeout = std::chrono::seconds(std::max(1u, config.request_timeout_seconds));
  options.tls = !config.plain_http;
  std::string fingerprint;
  if (options.tls) {
    PosixFileSystem fs;
    if (!config.tls_cert_file.empty() || !config.tls_key_file.empty()) {
      if (config.tls_cert_file.empty() || config.tls_key_file.empty()) {
        return InvalidArgumentError("--tls-cert and --tls-key go together");
      }
      options.tls_cert_file = config.tls_cert_file;
      options.tls_key_file = config.tls_key_file;
      auto fp = FingerprintOfFile(fs, config.tls_cert_file);
      if (!fp.ok()) return fp.status();
      fingerprint = *fp;
    } else {
      auto identity = EnsureSelfSignedIdentity(fs, config.data_dir);
      if (!identity.ok()) return identity.status();
      if (identity->created) LogInfo("created a self-signed TLS certificate: " + identity->cert_file);
      options.tls_cert_file = identity->cert_file;
      options.tls_key_file = identity->key_file;
      fingerprint = identity->fingerprint;
    }
  }

  // The agents' tunnels; the server, the handlers and the sweeper share it.
  TunnelHub hub(clock_, config.tunnel);
  options.drain_timeout = std::max<std::chrono::seconds>(
      options.drain_timeout, std::chrono::duration_cast<std::chrono::seconds>(config.tunnel.drain_timeout));

  Router router;
  RegisterHealth(router);
  system_log_->SetRetention(std::chrono::hours(24) * config.system_log_retention_days);
  UsersHandler users_handler(*users_, *tokens_, system_log_.get());
  users_handler.Register(router);
  ApiTokensHandler tokens_handler(*users_, *tokens_, system_log_.get(), agents_.get());
  tokens_handler.Register(router);
  agents_->SetOptions({.code_lifetime = std::chrono::hours(config.activation_code_lifetime_hours),
                       .heartbeat_interval = std::chrono::seconds(config.agent_heartbeat_interval_seconds)});
  AgentPoolsHandler agent_pools_handler(*agents_, *users_, system_log_.get(), &hub);
  agent_pools_handler.Register(router);
  AgentsHandler agents_handler(*agents_, *tokens_, *users_, system_log_.get(),
                               std::chrono::seconds(config.rotation_grace_seconds), &hub);
  agents_handler.Register(router);
  TunnelHandler tunnel_handler(*agents_, hub);
  tunnel_handler.Register(router);
  LogsHandler logs_handler(*system_log_, clock_);
  logs_handler.Register(router);
  RateLimitTable limits(config.rate_limits);
  RateLimitsHandler rate_limits_handler(limits, clock_);
  rate_limits_handler.Register(router);
  RateLimitExceptions exceptions(*store_, clock_, limits, ExceptionOptions{.lead_business_days = config.rate_limit_lead_business_days});
  RateLimitExceptionsHandler exceptions_handler(exceptions, clock_, *users_, system_log_.get());
  exceptions_handler.Register(router);
  // Every route is registered: the rate limiter can count them now.
  if (Status s = limits.Bind(router); !s.ok()) return s;
  if (Status s = exceptions.Load(); !s.ok()) return s;
  IpThrottle ip_throttle(config.rate_limits.unauthenticated_per_minute);
  IpThrottle agent_connects(config.rate_limits.agent_tunnel_connects_per_minute);
  std::string proxy_error;
  auto addresses = ClientAddress::Create(config.rate_limits.trusted_proxies, &proxy_error);
  if (!addresses) return InvalidArgumentError(proxy_error);
  PipelineOptions pipeline_options{config.public_url, *addresses};
  if (config.rate_limits.enabled) {
    pipeline_options.limits = &limits;
    pipeline_options.ip_throttle = &ip_throttle;
    pipeline_options.agent_connects = &agent_connects;
  } else {
    LogWarning("rate limits are off (ratelimits.enabled = false): only for benchmarks");
  }
  pipeline_options.on_violation = [this](const Request& req, const RateLimitViolation& v) {
    LogEvent e = EventFor(req, *users_, event_type::kRateLimitViolation,
                          "Rate limit violation: " + v.endpoint + " over " + std::to_string(v.limit) + " per minute");
    e.severity = "WARN";
    e.outcome_result = "RATE_LIMIT";
    e.outcome_reason = v.endpoint;
    system_log_->Record(std::move(e));
  };
  ApiPipeline pipeline(router, *tokens_, clock_, std::move(pipeline_options));

  // Every sweep: a tunnel whose agent or token went bad closes (within the sweep interval).
  hub.StartSweeper(
      [this](const TunnelLink& link) -> std::optional<LinkVerdict> {
        std::optional<OwnerInfo> owner = agents_->LookupOwner(OwnerKind::kAgent, link.agent_id);
        if (!owner) return LinkVerdict{protocol::CloseCode::kTokenRevoked, "the agent was deleted"};
        if (!owner->active) return LinkVerdict{protocol::CloseCode::kAgentDeactivated, "the agent was deactivated"};
        auto token = tokens_->Get(link.token_id);
        if (!token.ok()) return LinkVerdict{protocol::CloseCode::kTokenRevoked, "its token was revoked"};
        if (token->expires_at < clock_.Now()) return LinkVerdict{protocol::CloseCode::kTokenRevoked, "its token expired"};
        return std::nullopt;
      },
      [this](const std::string& agent_id) { (void)agents_->Heartbeat(agent_id, AgentInfo{}); });

  HttpServer server(pipeline, options, &hub);
  if (Status s = server.Start(); !s.ok()) return s;
  std::thread background([this, &config, notifier] { RunBackground(config.usage_flush_interval, notifier); });

  std::string shown_host = options.host == "0.0.0.0" || options.host == "::" ? "127.0.0.1" : options.host;
  if (shown_host.find(':') != std::string::npos) shown_host = "[" + shown_host + "]";
  std::string url = std::string(options.tls ? "https://" : "http://") + shown_host + ":" + std::to_string(server.port());
  std::string plain_url;
  if (!options.plain_host.empty()) {
    const std::string h = options.plain_host.find(':') != std::string::npos ? "[" + options.plain_host + "]" : options.plain_host;
    plain_url = "http://" + h + ":" + std::to_string(server.plain_port());
  }
  on_ready(ServingAt{url, plain_url, fingerprint});
  if (notifier) notifier->Ready("serving on " + url);

  {
    std::unique_lock lock(stop_mu_);
    stop_cv_.wait(lock, [this] { return stop_requested_; });
  }
  LogInfo("shutting down: draining connections");
  if (notifier) notifier->Stopping();
  server.Stop();
  hub.StopSweeper();
  background.join();
  if (auto n = system_log_->Flush(/*final=*/true); !n.ok()) {
    LogError("final flush of the system log failed: " + n.status().message());
  }
  if (auto n = agents_->FlushConnections(); !n.ok()) LogError("final flush of agent heartbeats: " + n.status().message());
  auto flushed = tokens_->FlushUsage();
  if (!flushed.ok()) {
    LogError("final flush of token use failed: " + flushed.status().message());
    return flushed.status();
  }
  LogInfo("stopped");
  return Status::Ok();
}

}  // namespace keyhole::coord
