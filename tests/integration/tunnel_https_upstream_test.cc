// The tunnel to HTTPS upstreams ([upstreams.NAME] url = "https://…" with ca_file; AGENTS.md
// "Forwarding"): bodies both ways through a verified TLS connection, and every upstream the agent
// must not trust (a self-signed certificate, one from another CA under the same name, a name or IP
// address the certificate does not cover, a CA the system does not know) refused with a 502
// naming the upstream, before a byte of the request reaches it. The test CA, the certificates and
// the HTTPS upstreams (HttpsUpstream, Boost.Asio in this process) are made here, on loopback; one
// agent alone in a pool of its own serves them all (HttpsWorld, made by the first test that needs
// it and kept for the binary's run). The coordinator is the suite's (tunnel_fixture.h).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <random>
#include <set>

#include "tests/integration/tunnel_fixture.h"

namespace keyhole::testing {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// A test PKI, made with OpenSSL's C API (EC P-256 keys: fast to generate).

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

Key NewKey() { return Key(EVP_EC_gen("P-256"), EVP_PKEY_free); }

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A CA certificate when `san` is empty, else a server certificate for `san`
// ("IP:127.0.0.1,DNS:localhost"); signed by `issuer`/`issuer_key`, or self-signed when they are null.
Cert NewCert(EVP_PKEY* key, const std::string& cn, const std::string& san, X509* issuer, EVP_PKEY* issuer_key) {
  static long serial = 1000;
  Cert cert(X509_new(), X509_free);
  X509* c = cert.get();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), 24 * 3600);
  X509_set_pubkey(c, key);
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : c;
  if (san.empty()) {
    AddExtension(c, signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(c, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(c, signer, NID_basic_constraints, "CA:FALSE");
    AddExtension(c, signer, NID_ext_key_usage, "serverAuth");
    AddExtension(c, signer, NID_subject_alt_name, san);
  }
  if (X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");
  return cert;
}

void WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  BIO* bio = BIO_new_file(path.c_str(), "w");
  if (!bio) throw std::runtime_error("cannot write " + path);
  const bool ok = cert ? PEM_write_bio_X509(bio, cert) == 1
                       : PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  BIO_free(bio);
  if (!ok) throw std::runtime_error("cannot write " + path);
}

// ---------------------------------------------------------------------------------------------
// HttpsUpstream: an HTTP/1.1 server over TLS on an ephemeral 127.0.0.1 port, serving one certificate
// (and key) file; a thread per connection, keep-alive. GET /bytes?n=N answers N bytes of
// Body(N); ANY /echo answers the request body. Every reply says how the TLS session went
// (X-Tls-Version, X-Sni: the server name the client sent, or "-"). Counts TLS handshakes
// completed and failed, and the HTTP requests read; keeps the last request body.

std::string Body(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

class HttpsUpstream {
 public:
  HttpsUpstream(const std::string& cert_file, const std::string& key_file)
      : tls_(asio::ssl::context::tls_server), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    tls_.use_certificate_chain_file(cert_file);
    tls_.use_private_key_file(key_file, asio::ssl::context::pem);
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~HttpsUpstream() {
    // Shutting the sockets down wakes the blocked accept and reads.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
  }

  unsigned short port() const { return port_; }
  int handshakes() const { return handshakes_; }
  int failed_handshakes() const { return failed_handshakes_; }
  int requests() const { return requests_; }
  std::string last_body() {
    std::lock_guard lock(mu_);
    return last_body_;
  }

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      std::lock_guard lock(mu_);
      open_.insert(socket.native_handle());
      threads_.emplace_back([this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }

  void Serve(tcp::socket socket) {
    asio::ssl::stream<tcp::socket> stream(std::move(socket), tls_);
    boost::system::error_code ec;
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (ec) {
      ++failed_handshakes_;
    } else {
      ++handshakes_;
      const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
      const std::string version = SSL_get_version(stream.native_handle());
      boost::beast::flat_buffer buffer;
      for (;;) {
        http::request<http::string_body> req;
        http::read(stream, buffer, req, ec);
        if (ec) break;
        ++requests_;
        http::response<http::string_body> res(http::status::ok, req.version());
        const std::string target(req.target());
        if (target.rfind("/bytes?n=", 0) == 0) {
          res.body() = Body(std::stoul(target.substr(9)), 7);
        } else if (target.rfind("/echo", 0) == 0) {
          res.body() = req.body();
        } else {
          res.result(http::status::not_found);
        }
        {
          std::lock_guard lock(mu_);
          last_body_ = req.body();
        }
        res.set("X-Tls-Version", version);
        res.set("X-Sni", sni ? sni : "-");
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(stream, res, ec);
        if (ec || !req.keep_alive()) break;
      }
    }
    std::lock_guard lock(mu_);
    open_.erase(stream.next_layer().native_handle());
    stream.next_layer().close(ec);
  }

  asio::io_context io_;  // never run: every operation here is synchronous
  asio::ssl::context tls_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread accept_thread_;
  std::atomic<int> handshakes_{0}, failed_handshakes_{0}, requests_{0};
  std::mutex mu_;
  std::set<int> open_;                 // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;   // GUARDED_BY(mu_)
  std::string last_body_;              // GUARDED_BY(mu_)
};

// ---------------------------------------------------------------------------------------------
// The world of these tests: the PKI, four HTTPS upstreams and an agent configured for them.

struct HttpsWorld {
  TempDir dir;
  std::string pool;
  std::unique_ptr<HttpsUpstream> good;         // leaf signed by the test CA: IP:127.0.0.1, DNS:localhost
  std::unique_ptr<HttpsUpstream> self_signed;  // self-signed leaf for the same names
  std::unique_ptr<HttpsUpstream> other_ca;     // same names, signed by another key under the test CA's name
  std::unique_ptr<HttpsUpstream> wrong_name;   // signed by the test CA for IP:127.0.0.2, DNS:wrong.example (CN=localhost)
  std::unique_ptr<AgentProcess> agent;
};

HttpsWorld* g_https = nullptr;
std::string g_https_error;

// Deletes the world after the last test (the agent stopped, the servers joined).
class HttpsWorldEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    delete g_https;
    g_https = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const g_https_environment =
    ::testing::AddGlobalTestEnvironment(new HttpsWorldEnvironment);

// The fixture's helpers are protected; the world is made outside any one test.
struct FixtureAccess : TunnelTest {
  using TunnelTest::Call;
  using TunnelTest::NewPool;
  using TunnelTest::w_;
  using TunnelTest::WaitTunnel;
};

std::string MakeHttpsWorld(HttpsWorld& h) {
  World& w = *FixtureAccess::w_;
  const std::string ca_file = h.dir.File("ca.pem");
  Key ca_key = NewKey(), other_ca_key = NewKey(), leaf_key = NewKey();
  Cert ca = NewCert(ca_key.get(), "Keyhole Test CA", "", nullptr, nullptr);
  Cert other_ca = NewCert(other_ca_key.get(), "Keyhole Test CA", "", nullptr, nullptr);
  WritePem(ca_file, ca.get(), nullptr);
  WritePem(h.dir.File("leaf.key"), nullptr, leaf_key.get());
  const std::string names = "IP:127.0.0.1,DNS:localhost";
  auto server = [&](const std::string& file, Cert cert) {
    WritePem(h.dir.File(file), cert.get(), nullptr);
    return std::make_unique<HttpsUpstream>(h.dir.File(file), h.dir.File("leaf.key"));
  };
  h.good = server("good.pem", NewCert(leaf_key.get(), "localhost", names, ca.get(), ca_key.get()));
  h.self_signed = server("self-signed.pem", NewCert(leaf_key.get(), "localhost", names, nullptr, nullptr));
  h.other_ca = server("other-ca.pem", NewCert(leaf_key.get(), "localhost", names, other_ca.get(), other_ca_key.get()));
  h.wrong_name = server("wrong-name.pem", NewCert(leaf_key.get(), "localhost", "IP:127.0.0.2,DNS:wrong.example",
                                                  ca.get(), ca_key.get()));

  std::string error;
  h.pool = FixtureAccess::NewPool(w, "https-upstreams", &error);
  if (h.pool.empty()) return "could not create the pool: " + error;
  TestResponse code = w.api->Send("POST", "/api/v1/agentPools/" + h.pool + "/activationCodes", w.admin);
  if (code.status != 200) return "activation code: " + std::to_string(code.status) + " " + code.body;
  auto https = [](const std::string& host, const HttpsUpstream& s) {
    return "https://" + host + ":" + std::to_string(s.port());
  };
  AgentProcess::Options o;
  o.name = "agent-https";
  o.upstreams = {{"tls", https("127.0.0.1", *h.good)},
                 {"tls-dns", https("localhost", *h.good)},
                 {"system-cas", https("127.0.0.1", *h.good)},  // no ca_file: the system's CAs
                 {"self-signed", https("127.0.0.1", *h.self_signed)},
                 {"other-ca", https("127.0.0.1", *h.other_ca)},
                 {"wrong-ip", https("127.0.0.1", *h.wrong_name)},
                 {"wrong-dns", https("localhost", *h.wrong_name)}};
  for (const auto& [name, url] : o.upstreams) {
    if (name != "system-cas") o.ca_files[name] = ca_file;
  }
  o.tunnel_toml = "upstream_connect_timeout_seconds = 2\n";
  o.log_level = "info";
  h.agent = std::make_unique<AgentProcess>(o);
  RunResult a = h.agent->Activate(w.coordinator.url(), w.coordinator.fingerprint(), code.Json().value("code", ""));
  if (a.exit_code != 0) return "keyhole-agent activate → " + std::to_string(a.exit_code) + ": " + a.err;
  h.agent->Start();
  if (!FixtureAccess::WaitTunnel(w, h.agent->agent_id(), true, 15s)) {
    return "the agent did not connect its tunnel:\n" + Tail(h.agent->Stderr());
  }
  return "";
}

// The world, made on first use; nullptr (and g_https_error) if that failed.
HttpsWorld* Https() {
  if (!g_https && g_https_error.empty()) {
    g_https = new HttpsWorld;
    try {
      g_https_error = MakeHttpsWorld(*g_https);
    } catch (const std::exception& e) {
      g_https_error = std::string("setting up: ") + e.what();
    }
  }
  return g_https_error.empty() ? g_https : nullptr;
}

std::string HttpsPath(const std::string& upstream, const std::string& rest) {
  return "/api/v1/agentPools/" + g_https->pool + "/tunnel/" + upstream + "/" + rest;
}

// ---------------------------------------------------------------------------------------------

TEST_F(TunnelTest, HttpsUpstreamVerifiedWithItsCaFileCarriesBodiesBothWays) {
  HttpsWorld* h = Https();
  ASSERT_TRUE(h) << g_https_error;

  // GET by IP address (no SNI: RFC 6066 has none for addresses), a body larger than a DATA frame.
  const size_t down = 300 * 1024 + 17;
  TestResponse get = Call("GET", HttpsPath("tls", "bytes?n=" + std::to_string(down)));
  ASSERT_EQ(get.status, 200) << get.body << "\n" << Tail(h->agent->Stderr());
  EXPECT_EQ(get.body.size(), down);
  EXPECT_TRUE(get.body == Body(down, 7)) << "the response body did not arrive intact";
  EXPECT_EQ(get.Header("X-Sni"), "-");
  const std::string version = get.Header("X-Tls-Version");
  EXPECT_TRUE(version == "TLSv1.2" || version == "TLSv1.3") << version;

  // POST by host name: SNI carries it, the certificate's DNS name matches. Binary bytes both ways.
  const std::string up = Body(200 * 1024 + 3, 11);
  TestResponse post = Call("POST", HttpsPath("tls-dns", "echo"), up, {{"Content-Type", "application/octet-stream"}});
  ASSERT_EQ(post.status, 200) << post.body << "\n" << Tail(h->agent->Stderr());
  EXPECT_TRUE(h->good->last_body() == up) << "the request body did not reach the upstream intact ("
                                          << h->good->last_body().size() << " of " << up.size() << " bytes)";
  EXPECT_EQ(post.body.size(), up.size());
  EXPECT_TRUE(post.body == up) << "the response body did not arrive intact";
  EXPECT_EQ(post.Header("X-Sni"), "localhost");

  // Again on the same upstream: the TLS connection kept alive carries it (or a new one does).
  TestResponse again = Call("POST", HttpsPath("tls-dns", "echo"), "second", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, "second");
  std::cout << "[   info   ] " << h->good->handshakes() << " TLS handshakes for " << h->good->requests()
            << " requests\n";
}

// Refused: a 502 naming the upstream and why (tunnel_test.cc: UnreachableUpstreamIs502NamingIt), for
// a GET and a POST; the server was dialled (a handshake began) but finished no handshake and read no
// request.
void ExpectRefused(HttpsUpstream& server, const std::string& upstream, const std::string& why) {
  SCOPED_TRACE("upstream " + upstream);
  const int completed = server.handshakes();
  const int failed = server.failed_handshakes();
  const int requests = server.requests();
  for (const std::string method : {"GET", "POST"}) {
    TestResponse r = FixtureAccess::Call(method, HttpsPath(upstream, "echo"), method == "POST" ? "secret" : "");
    EXPECT_EQ(r.status, 502) << method << " " << r.body;
    json b = r.Json();
    ASSERT_TRUE(b.is_object()) << r.body;
    EXPECT_EQ(b.value("errorCode", ""), "KH0000005") << r.body;
    EXPECT_NE(r.body.find("upstream: " + upstream + ":"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(why), std::string::npos) << r.body;
  }
  EXPECT_EQ(server.requests(), requests) << "a request reached an upstream the agent must not trust";
  EXPECT_EQ(server.handshakes(), completed) << "a TLS handshake the agent should have refused completed";
  // The server thread counts the failure once it has read the agent's alert or close: a moment.
  for (int i = 0; i < 200 && server.failed_handshakes() < failed + 2; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(server.failed_handshakes(), failed + 2) << "the agent did not dial it once per request";
}

TEST_F(TunnelTest, HttpsUpstreamWithACertificateTheCaFileDoesNotVouchForIs502NamingIt) {
  HttpsWorld* h = Https();
  ASSERT_TRUE(h) << g_https_error;
  ExpectRefused(*h->self_signed, "self-signed", "certificate verify failed");
  // The signature check fails inside EVP (OpenSSL's first queued error is "EVP lib"); the agent
  // names the verification result instead.
  ExpectRefused(*h->other_ca, "other-ca", "certificate verify failed: certificate signature failure");
  // Without ca_file the system's CAs apply, and they do not know the test CA.
  ExpectRefused(*h->good, "system-cas", "certificate verify failed");
  if (HasFailure()) std::cerr << "agent stderr:\n" << Tail(h->agent->Stderr()) << "\n";
}

TEST_F(TunnelTest, HttpsUpstreamWhoseAddressOrNameTheCertificateDoesNotCoverIs502NamingIt) {
  HttpsWorld* h = Https();
  ASSERT_TRUE(h) << g_https_error;
  // Signed by the trusted CA for IP:127.0.0.2 and DNS:wrong.example; its CN (localhost) must not count.
  ExpectRefused(*h->wrong_name, "wrong-ip", "certificate verify failed");
  ExpectRefused(*h->wrong_name, "wrong-dns", "certificate verify failed");
  // The same agent and CA reach the same address and name on a server whose certificate covers them.
  EXPECT_EQ(Call("GET", HttpsPath("tls", "bytes?n=5")).status, 200);
  EXPECT_EQ(Call("GET", HttpsPath("tls-dns", "bytes?n=5")).status, 200);
  if (HasFailure()) std::cerr << "agent stderr:\n" << Tail(h->agent->Stderr()) << "\n";
}

}  // namespace
}  // namespace keyhole::testing
