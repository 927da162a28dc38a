#include "agent/forward/upstream_pool.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <deque>

#include "agent/forward/upstream_connection.h"
#include "shared/log/log.h"

namespace keyhole::agent {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// An idle keep-alive connection the server has closed (or sent bytes on, unasked) is unusable:
// reusing it would fail the request it carries.
bool StillOpen(UpstreamConnection& c) {
  char byte;
  const ssize_t n = ::recv(c.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool IsIpAddress(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// One dial: resolve, connect, TLS handshake, under one deadline.
struct Dial : std::enable_shared_from_this<Dial> {
  Dial(asio::io_context& io, asio::ssl::context* tls, uint64_t generation, UpstreamTarget t,
       UpstreamPool::AcquireHandler h)
      : resolver(io), timer(io), target(std::move(t)), handler(std::move(h)),
        connection(std::make_unique<UpstreamConnection>(io, tls, generation)) {}

  void Begin(std::chrono::milliseconds timeout) {
    timer.expires_after(timeout);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->finished) return;
      self->timed_out = true;
      self->resolver.cancel();
      if (self->connection) self->connection->Close();
    });
    resolver.async_resolve(target.host, target.port,
                           [self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type r) {
                             self->OnResolved(ec, std::move(r));
                           });
  }

  void OnResolved(boost::system::error_code ec, tcp::resolver::results_type results) {
    if (ec) return Fail("cannot resolve " + target.host, ec);
    asio::async_connect(connection->socket(), results,
                        [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
                          self->OnConnected(ec);
                        });
  }

  void OnConnected(boost::system::error_code ec) {
    if (ec) return Fail("cannot connect to " + target.host_header, ec);
    connection->socket().set_option(tcp::no_delay(true), ec);
    auto* tls = connection->tls();
    if (!tls) {
      connection->EnableDrainedReads();  // see UpstreamConnection::async_read_some
      return Succeed();
    }
    if (!IsIpAddress(target.host)) SSL_set_tlsext_host_name(tls->native_handle(), target.host.c_str());
    tls->set_verify_mode(asio::ssl::verify_peer);
    tls->set_verify_callback(asio::ssl::host_name_verification(target.host));
    tls->async_handshake(asio::ssl::stream_base::client,
                         [self = shared_from_this()](boost::system::error_code ec) {
                           if (ec) return self->FailHandshake(ec);
                           self->Succeed();
                         });
  }

  // OpenSSL's first queued error can be an inner one ("EVP lib" for a bad signature): when the
  // certificate check is what failed, say so, in X509's words.
  void FailHandshake(boost::system::error_code ec) {
    const std::string what = "TLS handshake with " + target.host_header;
    auto* tls = connection ? connection->tls() : nullptr;
    const long verify = tls ? SSL_get_verify_result(tls->native_handle()) : X509_V_OK;
    if (timed_out || verify == X509_V_OK) return Fail(what, ec);
    Finish(what + ": certificate verify failed: " + X509_verify_cert_error_string(verify));
  }

  void Succeed() {
    finished = true;
    timer.cancel();
    handler(std::move(connection), false);
  }

  void Fail(const std::string& what, boost::system::error_code ec) {
    Finish(timed_out ? what + ": timed out" : what + ": " + ec.message());
  }

  void Finish(const std::string& error) {
    finished = true;
    timer.cancel();
    if (connection) connection->Close();
    handler(UnavailableError(error), false);
  }

  tcp::resolver resolver;
  asio::steady_timer timer;
  UpstreamTarget target;
  UpstreamPool::AcquireHandler handler;
  std::unique_ptr<UpstreamConnection> connection;
  bool finished = false;
  bool timed_out = false;
};

}  // namespace

struct UpstreamPool::Impl {
  struct Entry {
    Upstream config;
    std::shared_ptr<const UpstreamTarget> target;  // shared with the exchanges under way
    std::unique_ptr<asio::ssl::context> tls;
    std::string error;  // why this upstream cannot be used
    uint64_t generation = 0;
    std::deque<std::unique_ptr<UpstreamConnection>> idle;
  };

  Impl(asio::io_context& i, ForwardLimits l) : io(i), limits(l) {}

  asio::io_context& io;
  ForwardLimits limits;
  std::map<std::string, Entry> entries;
  uint64_t next_generation = 1;
};

UpstreamPool::UpstreamPool(asio::io_context& io, ForwardLimits limits) : impl_(std::make_unique<Impl>(io, limits)) {}

UpstreamPool::~UpstreamPool() { CloseIdle(); }

void UpstreamPool::Configure(const std::map<std::string, Upstream>& upstreams, ForwardLimits limits) {
  impl_->limits = limits;
  for (auto it = impl_->entries.begin(); it != impl_->entries.end();) {
    auto found = upstreams.find(it->first);
    if (found == upstreams.end() || !(found->second == it->second.config)) {
      for (auto& c : it->second.idle) c->Close();
      it = impl_->entries.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, upstream] : upstreams) {
    if (impl_->entries.count(name)) continue;
    Impl::Entry e;
    e.config = upstream;
    e.generation = impl_->next_generation++;
    auto target = UpstreamTarget::FromConfig(name, upstream);
    auto shared = std::make_shared<UpstreamTarget>();
    if (!target.ok()) {
      e.error = "upstream " + name + ": " + target.status().message();
      shared->name = name;
    } else {
      *shared = std::move(*target);
    }
    e.target = std::move(shared);
    if (e.error.empty() && e.target->tls) {
      e.tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(e.tls->native_handle(), TLS1_2_VERSION);
      boost::system::error_code ec;
      if (e.target->ca_file.empty()) e.tls->set_default_verify_paths(ec);
      else e.tls->load_verify_file(e.target->ca_file, ec);
      if (ec) {
        e.error = "upstream " + name + ": cannot load " +
                  (e.target->ca_file.empty() ? std::string("the system's CAs") : "ca_file " + e.target->ca_file) +
                  ": " + ec.message();
      }
    }
    if (!e.error.empty()) LogError(e.error);
    impl_->entries.emplace(name, std::move(e));
  }
}

bool UpstreamPool::Has(const std::string& name) const { return impl_->entries.count(name) > 0; }

std::vector<std::string> UpstreamPool::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, e] : impl_->entries) names.push_back(name);
  return names;
}

std::shared_ptr<UpstreamExchange> UpstreamPool::Start(const protocol::RequestHead& head, ExchangeSink& sink) {
  const Impl::Entry& e = impl_->entries.at(head.upstream);
  return StartHttpExchange(*this, impl_->io, e.target, head, sink, impl_->limits);
}

std::unique_ptr<UpstreamConnection> UpstreamPool::TakeIdle(const std::string& name, bool retries_closed) {
  auto it = impl_->entries.find(name);
  if (it == impl_->entries.end()) return nullptr;
  Impl::Entry& e = it->second;
  if (!e.error.empty() || e.idle.empty()) return nullptr;
  const auto now = Clock::now();
  while (!e.idle.empty()) {
    std::unique_ptr<UpstreamConnection> c = std::move(e.idle.back());
    e.idle.pop_back();
    const auto idle = now - c->idle_since;
    // The check costs a system call per request; a connection used moments ago is very likely
    // still open, and if not, the caller's retry covers it.
    const bool trusted = retries_closed && idle < kTrustedIdle;
    if (idle > kIdleTime || (!trusted && !StillOpen(*c))) {
      c->Close();
      continue;
    }
    return c;
  }
  return nullptr;
}

void UpstreamPool::Acquire(const std::string& name, bool allow_reuse, bool retries_closed, AcquireHandler handler) {
  auto it = impl_->entries.find(name);
  if (it == impl_->entries.end()) {
    asio::post(impl_->io, [handler = std::move(handler), name] {
      handler(UnavailableError("upstream " + name + " is no longer configured"), false);
    });
    return;
  }
  Impl::Entry& e = it->second;
  if (!e.error.empty()) {
    asio::post(impl_->io, [handler = std::move(handler), error = e.error] { handler(UnavailableError(error), false); });
    return;
  }
  if (allow_reuse) {
    if (auto c = TakeIdle(name, retries_closed)) {
      // The shared_ptr only carries the connection through the (copyable) posted function.
      auto holder = std::make_shared<std::unique_ptr<UpstreamConnection>>(std::move(c));
      asio::post(impl_->io, [handler = std::move(handler), holder] { handler(std::move(*holder), true); });
      return;
    }
  }
  auto dial = std::make_shared<Dial>(impl_->io, e.tls.get(), e.generation, *e.target, std::move(handler));
  dial->Begin(impl_->limits.connect_timeout);
}

void UpstreamPool::Release(const std::string& name, std::unique_ptr<UpstreamConnection> connection) {
  auto it = impl_->entries.find(name);
  if (it == impl_->entries.end() || it->second.generation != connection->generation()) {
    connection->Close();
    return;
  }
  auto& idle = it->second.idle;
  const auto now = Clock::now();
  while (!idle.empty() && now - idle.front()->idle_since > kIdleTime) {
    idle.front()->Close();
    idle.pop_front();
  }
  if (idle.size() >= kMaxIdle) {
    connection->Close();
    return;
  }
  connection->idle_since = now;
  idle.push_back(std::move(connection));
}

void UpstreamPool::CloseIdle() {
  for (auto& [name, e] : impl_->entries) {
    for (auto& c : e.idle) c->Close();
    e.idle.clear();
  }
}

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [name, e] : impl_->entries) n += e.idle.size();
  return n;
}

}  // namespace keyhole::agent
