#include "shared/rest/cpprest_client.h"

#include <strings.h>

#include <boost/asio/ssl/context.hpp>
#include <cctype>
#include <condition_variable>
#include <cpprest/http_client.h>
#include <mutex>
#include <pplx/threadpool.h>
#include <stdexcept>

#include "shared/rest/server_trust.h"

#ifndef KEYHOLE_VERSION
#define KEYHOLE_VERSION "unknown"
#endif

using namespace std::chrono_literals;

namespace keyhole::rest {
namespace {

using web::http::client::http_client;
using web::http::client::http_client_config;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int EffectivePort(const web::uri& u) {
  if (u.port() > 0) return u.port();
  return Lower(u.scheme()) == "https" ? 443 : 80;
}

bool IsAbsolute(const std::string& target) {
  return strncasecmp(target.c_str(), "https://", 8) == 0 || strncasecmp(target.c_str(), "http://", 7) == 0;
}

// The host as a certificate names it: no brackets around an IPv6 address.
std::string BareHost(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

struct CpprestClient::Impl {
  Impl(const web::uri& origin_uri, const http_client_config& config) : client(origin_uri, config) {}

  http_client client;
  web::uri origin_uri;
  std::string origin;     // scheme://host:port, for messages
  std::string base_path;  // the base URL's path, without a trailing '/'
  std::string token;
  std::string user_agent;
  std::function<bool()> keep_waiting;
  size_t max_response_bytes = kDefaultMaxResponseBytes;
  std::shared_ptr<ServerTrust> trust;  // https only
};

namespace {

// Where a request's outcome lands; shared with cpprestsdk's continuation, which may finish after
// Send has abandoned the request.
struct PendingAnswer {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;                   // GUARDED_BY(mu)
  std::optional<RestResponse> answer;  // GUARDED_BY(mu)
  std::string error;                   // GUARDED_BY(mu)
  bool too_large = false;              // GUARDED_BY(mu)
};

// Thrown inside the request's continuation when the body passes the limit.
struct ResponseTooLarge : std::runtime_error {
  ResponseTooLarge() : std::runtime_error("response too large") {}
};

// The body, read as it arrives (not buffered whole first), up to `limit` bytes: past it the request
// is cancelled, which closes the connection, and ResponseTooLarge thrown.
std::string ReadBody(web::http::http_response& response, size_t limit, pplx::cancellation_token_source cancel) {
  const auto& headers = response.headers();
  if (headers.has(web::http::header_names::content_length) && headers.content_length() > limit) {
    cancel.cancel();
    throw ResponseTooLarge();
  }
  concurrency::streams::streambuf<uint8_t> in = response.body().streambuf();
  std::string body;
  uint8_t chunk[16384];
  for (;;) {
    const size_t n = in.getn(chunk, sizeof chunk).get();
    if (n == 0) break;
    if (n > limit - body.size()) {
      cancel.cancel();
      throw ResponseTooLarge();
    }
    body.append(reinterpret_cast<const char*>(chunk), n);
  }
  return body;
}

}  // namespace

CpprestClient::CpprestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CpprestClient::~CpprestClient() = default;

StatusOr<std::unique_ptr<RestClient>> CpprestClient::Create(const ConnectionSettings& s) {
  static std::once_flag pool_once;
  std::call_once(pool_once, [] {
    try {
      crossplat::threadpool::initialize_with_threads(2);  // cpprestsdk's default is 40 threads
    } catch (const std::exception&) {
      // Already initialized: keep it.
    }
  });
  try {
    web::uri base(s.url);
    const std::string scheme = Lower(base.scheme());
    if ((scheme != "https" && scheme != "http") || base.host().empty() || !base.user_info().empty() ||
        !base.query().empty() || !base.fragment().empty()) {
      return InvalidArgumentError("coordinator URL " + s.url + ": expected https://host[:port]");
    }
    web::uri_builder origin_builder;
    origin_builder.set_scheme(scheme).set_host(base.host()).set_port(EffectivePort(base));
    web::uri origin_uri = origin_builder.to_uri();

    http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(s.timeout));
    // Always on: cpprestsdk then sets verify_peer, and ServerTrust decides what passes.
    config.set_validate_certificates(true);
    std::shared_ptr<ServerTrust> trust;
    if (scheme == "https") {
      if (!s.pin.empty()) {
        trust = ServerTrust::Pin(s.pin);
      } else if (!s.ca_pem.empty()) {
        auto from_pem = ServerTrust::CaPem(s.ca_pem, BareHost(base.host()), "the CA certificate");
        if (!from_pem.ok()) return from_pem.status();
        trust = *from_pem;
      } else if (!s.ca_file.empty()) {
        auto from_file = ServerTrust::CaFile(s.ca_file, BareHost(base.host()));
        if (!from_file.ok()) return from_file.status();
        trust = *from_file;
      } else {
        trust = ServerTrust::SystemCas(BareHost(base.host()));
      }
      // cpprestsdk calls this for each new connection's context, after set_default_verify_paths().
      config.set_ssl_context_callback([trust](boost::asio::ssl::context& ctx) { trust->Configure(ctx.native_handle()); });
    } else if (!s.pin.empty() || !s.ca_file.empty() || !s.ca_pem.empty()) {
      return InvalidArgumentError("--ca-file and --pin apply to https:// URLs only");
    }

    auto impl = std::make_unique<Impl>(origin_uri, config);
    impl->origin_uri = origin_uri;
    impl->origin = scheme + "://" + base.host() + ":" + std::to_string(EffectivePort(base));
    impl->base_path = base.path();
    while (!impl->base_path.empty() && impl->base_path.back() == '/') impl->base_path.pop_back();
    impl->token = s.token;
    impl->user_agent = s.user_agent.empty() ? std::string("keyhole/") + KEYHOLE_VERSION : s.user_agent;
    impl->keep_waiting = s.keep_waiting;
    impl->max_response_bytes = s.max_response_bytes;
    impl->trust = std::move(trust);
    return std::unique_ptr<RestClient>(new CpprestClient(std::move(impl)));
  } catch (const std::exception& e) {
    return InvalidArgumentError("coordinator URL " + s.url + ": " + e.what());
  }
}

StatusOr<RestResponse> CpprestClient::Send(const std::string& method, const std::string& target,
                                           const std::optional<nlohmann::json>& body, const HeaderList& extra_headers) {
  std::string resource;
  if (IsAbsolute(target)) {
    // A link from the coordinator: follow it only to the origin the token is meant for.
    try {
      web::uri u(target);
      if (Lower(u.scheme()) != Lower(impl_->origin_uri.scheme()) || Lower(u.host()) != Lower(impl_->origin_uri.host()) ||
          EffectivePort(u) != EffectivePort(impl_->origin_uri)) {
        return FailedPreconditionError("not following " + target + ": it leaves " + impl_->origin +
                                       ", the only place the token goes (does the coordinator's --public-url "
                                       "differ from KEYHOLE_URL?)");
      }
      resource = u.resource().to_string();
    } catch (const std::exception& e) {
      return FailedPreconditionError("not following " + target + ": " + e.what());
    }
  } else {
    resource = impl_->base_path + target;
  }

  auto pending = std::make_shared<PendingAnswer>();
  pplx::cancellation_token_source cancel;
  try {
    web::http::http_request request(method);
    request.set_request_uri(web::uri(resource));
    auto& headers = request.headers();
    if (!impl_->token.empty()) headers.add("Authorization", "SSWS " + impl_->token);
    headers.add("Accept", "application/json");
    headers.add("User-Agent", impl_->user_agent);
    for (const auto& [name, value] : extra_headers) headers.add(name, value);
    if (body) request.set_body(body->dump(), "application/json");

    impl_->client.request(request, cancel.get_token())
        .then([limit = impl_->max_response_bytes, cancel](web::http::http_response response) {
          RestResponse out;
          out.status = response.status_code();
          for (const auto& [name, value] : response.headers()) out.headers.emplace_back(name, value);
          out.body = ReadBody(response, limit, cancel);
          return out;
        })
        .then([pending](pplx::task<RestResponse> finished) {
          std::optional<RestResponse> answer;
          std::string error;
          bool too_large = false;
          try {
            answer = finished.get();
          } catch (const ResponseTooLarge&) {
            too_large = true;
          } catch (const std::exception& e) {
            error = e.what();
            if (error.empty()) error = "request failed";
          }
          std::lock_guard lock(pending->mu);
          pending->answer = std::move(answer);
          pending->error = std::move(error);
          pending->too_large = too_large;
          pending->done = true;
          pending->cv.notify_all();
        });
  } catch (const std::exception& e) {
    return UnavailableError("cannot talk to " + impl_->origin + ": " + e.what());
  }

  std::unique_lock lock(pending->mu);
  while (!pending->done) {
    if (impl_->keep_waiting) {
      pending->cv.wait_for(lock, 100ms);
      if (pending->done) break;
      lock.unlock();
      const bool keep = impl_->keep_waiting();
      lock.lock();
      if (!keep && !pending->done) {
        cancel.cancel();  // the continuation still owns `pending` and finishes on its own
        return Status(UnavailableError("request to " + impl_->origin + " abandoned")).WithDetail(kDetailAborted);
      }
    } else {
      pending->cv.wait(lock);
    }
  }
  if (pending->answer) return std::move(*pending->answer);
  if (pending->too_large) {
    return UnavailableError(impl_->origin + " sent a response too large (over " +
                            std::to_string(impl_->max_response_bytes) + " bytes); not read");
  }
  std::string why = pending->error;
  if (impl_->trust) {
    if (std::string refusal = impl_->trust->LastRefusal(); !refusal.empty()) why = "TLS handshake refused: " + refusal;
  }
  return UnavailableError("cannot talk to " + impl_->origin + ": " + why);
}

}  // namespace keyhole::rest
