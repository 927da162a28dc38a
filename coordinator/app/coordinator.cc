#include "coordinator/app/coordinator.h"

#include "coordinator/handlers/api_tokens_handler.h"
#include "coordinator/handlers/health_handler.h"
#include "coordinator/handlers/users_handler.h"
#include "coordinator/http/api_pipeline.h"
#include "coordinator/server/http_server.h"
#include "coordinator/server/self_signed.h"
#include "shared/fs/file_system.h"
#include "shared/log/log.h"

namespace keyhole::coord {

Coordinator::Coordinator(std::unique_ptr<Store> store, const Clock& clock)
    : store_(std::move(store)),
      clock_(clock),
      users_(std::make_unique<UserDirectory>(*store_, clock_)),
      tokens_(std::make_unique<TokenService>(*store_, clock_, *users_)) {}

Coordinator::~Coordinator() = default;

StatusOr<std::unique_ptr<Coordinator>> Coordinator::Open(const std::string& data_dir, const Clock& clock) {
  PosixFileSystem fs;
  if (Status s = fs.MakeDirectories(data_dir, 0700); !s.ok()) return s;
  auto store = OpenSqliteStore(data_dir + "/keyhole.db");
  if (!store.ok()) return store.status();
  std::unique_ptr<Coordinator> c(new Coordinator(std::move(store).value(), clock));
  if (Status s = c->users_->Load(); !s.ok()) return s;
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
  return token->secret;
}

void Coordinator::RequestStop() {
  std::lock_guard lock(stop_mu_);
  stop_requested_ = true;
  stop_cv_.notify_all();
}

void Coordinator::RunBackground(std::chrono::milliseconds flush_interval) {
  auto next_sweep = clock_.Monotonic();
  std::unique_lock lock(stop_mu_);
  while (!stop_requested_) {
    stop_cv_.wait_for(lock, flush_interval, [this] { return stop_requested_; });
    lock.unlock();
    if (auto n = tokens_->FlushUsage(); !n.ok()) LogError("flushing token use: " + n.status().message());
    if (clock_.Monotonic() >= next_sweep) {
      if (size_t n = tokens_->RevokeIdle(); n > 0) LogInfo("revoked " + std::to_string(n) + " idle token(s)");
      next_sweep = clock_.Monotonic() + std::chrono::minutes(1);
    }
    lock.lock();
  }
}

Status Coordinator::Serve(const CoordinatorConfig& config,
                          const std::function<void(const std::string&, const std::string&)>& on_ready) {
  ServerOptions options;
  if (Status s = SplitHostPort(config.listen, &options.host, &options.port); !s.ok()) return s;
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

  Router router;
  ApiPipeline pipeline(router, *tokens_, clock_, PipelineOptions{config.public_url});
  RegisterHealth(router, pipeline);
  UsersHandler users_handler(*users_, *tokens_);
  users_handler.Register(router);
  ApiTokensHandler tokens_handler(*users_, *tokens_);
  tokens_handler.Register(router);

  HttpServer server(pipeline, options);
  if (Status s = server.Start(); !s.ok()) return s;
  std::thread background([this, &config] { RunBackground(config.usage_flush_interval); });

  std::string shown_host = options.host == "0.0.0.0" || options.host == "::" ? "127.0.0.1" : options.host;
  if (shown_host.find(':') != std::string::npos) shown_host = "[" + shown_host + "]";
  std::string url = std::string(options.tls ? "https://" : "http://") + shown_host + ":" + std::to_string(server.port());
  on_ready(url, fingerprint);

  {
    std::unique_lock lock(stop_mu_);
    stop_cv_.wait(lock, [this] { return stop_requested_; });
  }
  LogInfo("shutting down: draining connections");
  server.Stop();
  background.join();
  auto flushed = tokens_->FlushUsage();
  if (!flushed.ok()) {
    LogError("final flush of token use failed: " + flushed.status().message());
    return flushed.status();
  }
  LogInfo("stopped");
  return Status::Ok();
}

}  // namespace keyhole::coord
