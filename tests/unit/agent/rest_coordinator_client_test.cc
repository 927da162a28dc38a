// The agent's REST calls: paths, methods, the token in the Authorization header only, bodies, how
// answers map to Status codes (401 vs no answer), and that the cpprestsdk client abandons a request
// that hangs as soon as it is told to stop.
#include "agent/activation/rest_coordinator_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <thread>

#include "shared/rest/cpprest_client.h"

namespace keyhole::agent {
namespace {

using ::testing::HasSubstr;

struct Sent {
  std::string method, target;
  std::optional<nlohmann::json> body;
  rest::HeaderList headers;
};

class ScriptedRest final : public rest::RestClient {
 public:
  ScriptedRest(std::vector<Sent>& sent, std::deque<StatusOr<rest::RestResponse>>& answers)
      : sent_(sent), answers_(answers) {}
  StatusOr<rest::RestResponse> Send(const std::string& method, const std::string& target,
                                    const std::optional<nlohmann::json>& body,
                                    const rest::HeaderList& headers) override {
    sent_.push_back({method, target, body, headers});
    auto next = answers_.front();
    answers_.pop_front();
    return next;
  }

 private:
  std::vector<Sent>& sent_;
  std::deque<StatusOr<rest::RestResponse>>& answers_;
};

rest::RestResponse Json(int status, const nlohmann::json& body) { return {status, {}, body.dump()}; }

const nlohmann::json kAgent = {{"id", "ajd1"}, {"name", "n"}, {"poolId", "0oa1"}, {"type", "HTTP"},
                               {"status", "ACTIVE"}, {"operationalStatus", "OPERATIONAL"},
                               {"lastConnection", 1795820988000}};

TEST(RestCoordinatorClientTest, CallsAndAnswers) {
  std::vector<Sent> sent;
  std::deque<StatusOr<rest::RestResponse>> answers;
  RestCoordinatorClient client(std::make_unique<ScriptedRest>(sent, answers));

  answers.push_back(Json(200, {{"agent", kAgent}, {"apiToken", {{"id", "00T1"}, {"token", "kha_secret"}}}}));
  auto grant = client.Activate("khc_code", "n", {.host = "h", .version = "0.1.0", .os = "Debian"});
  ASSERT_TRUE(grant.ok()) << grant.status().message();
  EXPECT_EQ(grant->agent.id, "ajd1");
  EXPECT_EQ(grant->agent.pool_id, "0oa1");
  EXPECT_EQ(grant->token, "kha_secret");
  EXPECT_EQ(grant->token_id, "00T1");
  EXPECT_EQ(sent.back().method, "POST");
  EXPECT_EQ(sent.back().target, "/api/v1/agents/activate");
  EXPECT_EQ(*sent.back().body, (nlohmann::json{{"code", "khc_code"}, {"name", "n"}, {"host", "h"},
                                               {"version", "0.1.0"}, {"os", "Debian"}}));
  EXPECT_TRUE(sent.back().headers.empty());  // no token to send yet

  answers.push_back(Json(200, kAgent));
  auto me = client.Me("kha_t");
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->operational_status, "OPERATIONAL");
  EXPECT_EQ(me->last_connection, 1795820988000);
  EXPECT_EQ(sent.back().target, "/api/v1/agents/me");
  EXPECT_EQ(sent.back().headers, (rest::HeaderList{{"Authorization", "SSWS kha_t"}}));

  answers.push_back(Json(200, kAgent));
  ASSERT_TRUE(client.Heartbeat("kha_t", {}).ok());
  EXPECT_EQ(sent.back().target, "/api/v1/agents/me/heartbeat");

  answers.push_back(Json(200, {{"id", "00T2"}, {"name", "agent"}}));
  auto rotated = client.Rotate("kha_t", "kha_new");
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(*rotated, "00T2");
  EXPECT_EQ(sent.back().target, "/api/v1/agents/me/token/rotate");
  EXPECT_EQ(*sent.back().body, (nlohmann::json{{"token", "kha_new"}}));

  answers.push_back(Json(200, kAgent));
  ASSERT_TRUE(client.DeactivateSelf("kha_t").ok());
  EXPECT_EQ(sent.back().target, "/api/v1/agents/me/lifecycle/deactivate");
}

TEST(RestCoordinatorClientTest, MapsAnswersToCodes) {
  auto okta = [](int status, const char* code, const char* summary) {
    return Json(status, {{"errorCode", code}, {"errorSummary", summary}});
  };
  struct Case {
    StatusOr<rest::RestResponse> answer;
    StatusCode code;
    const char* message;
  } cases[] = {
      {okta(401, "E0000011", "Invalid token provided"), StatusCode::kUnauthenticated, "E0000011 Invalid token provided (HTTP 401)"},
      {okta(403, "E0000006", "You do not have permission"), StatusCode::kPermissionDenied, "HTTP 403"},
      {okta(404, "E0000022", "The endpoint does not support the provided HTTP method"), StatusCode::kNotFound, "HTTP 404"},
      {okta(429, "E0000047", "API call exceeded rate limit"), StatusCode::kRateLimited, "HTTP 429"},
      {rest::RestResponse{502, {}, "<html>bad gateway</html>"}, StatusCode::kUnavailable, "<html>bad gateway</html> (HTTP 502)"},
      {okta(400, "E0000001", "Api validation failed"), StatusCode::kInvalidArgument, "HTTP 400"},
      {UnavailableError("cannot talk to https://h:1: Connection refused"), StatusCode::kUnavailable, "Connection refused"},
      {rest::RestResponse{200, {}, "not json"}, StatusCode::kUnavailable, "not JSON"},
  };
  for (const auto& c : cases) {
    auto r = RestCoordinatorClient::Interpret(c.answer);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status().message();
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
  }
  Status aborted = UnavailableError("abandoned");
  aborted.WithDetail(rest::kDetailAborted);
  EXPECT_EQ(RestCoordinatorClient::Interpret(aborted).status().detail(), rest::kDetailAborted);
}

TEST(RestCoordinatorClientTest, AbandonsAHangingRequestWhenToldToStop) {
  // A listening socket that never answers: the kernel completes the handshake, nobody reads.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  std::atomic<bool> stop{false};
  auto client = RestCoordinatorClient::Connect(url, {}, [&stop] { return !stop.load(); });
  ASSERT_TRUE(client.ok()) << client.status().message();
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
  });
  auto r = (*client)->Me("kha_t");
  const auto took = std::chrono::steady_clock::now() - start;
  stopper.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().detail(), rest::kDetailAborted);
  EXPECT_LT(took, std::chrono::seconds(2));
  ::close(fd);
}

TEST(RestCoordinatorClientTest, ErrorSummariesAreCutShortAndPrintable) {
  auto r = RestCoordinatorClient::Interpret(
      Json(400, {{"errorCode", "E0000001\x1b[2J"}, {"errorSummary", "bad\r\nforged log line " + std::string(5000, 'x')}}));
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_THAT(m, HasSubstr("E0000001 [2J bad  forged log line xxx"));
  EXPECT_THAT(m, HasSubstr("... (HTTP 400)"));
  EXPECT_LT(m.size(), 450u);
  for (char c : m) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << m;

  auto html = RestCoordinatorClient::Interpret(rest::RestResponse{502, {}, "<h1>\x1b]0;title\x07</h1>" + std::string(5000, 'y')});
  ASSERT_FALSE(html.ok());
  EXPECT_LT(html.status().message().size(), 250u);
  EXPECT_EQ(html.status().message().find('\x1b'), std::string::npos);
}

TEST(RestCoordinatorClientTest, RefusesPlainHttpToAHostThatIsNotLoopback) {
  auto client = RestCoordinatorClient::Connect("http://kh.example:8080", {});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(client.status().message(), HasSubstr("use https://"));
  EXPECT_TRUE(RestCoordinatorClient::Connect("https://kh.example:8443", {}).ok());
  EXPECT_TRUE(RestCoordinatorClient::Connect("http://127.0.0.1:8080", {}).ok());
}

// One connection on loopback, answered with `response` once the request's headers are in.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  const std::string& url() const { return url_; }
  size_t sent() const { return sent_; }

 private:
  void Serve() {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    size_t off = 0;
    while (off < response_.size()) {
      ssize_t n = ::send(c, response_.data() + off, std::min<size_t>(response_.size() - off, 65536), MSG_NOSIGNAL);
      if (n <= 0) break;  // the client hung up
      off += static_cast<size_t>(n);
    }
    sent_ = off;
    ::close(c);
  }

  int fd_ = -1;
  std::string url_;
  std::string response_;
  std::atomic<size_t> sent_{0};
  std::thread thread_;
};

std::string Chunked(const std::string& body) {
  std::string out;
  for (size_t off = 0; off < body.size(); off += 65536) {
    const std::string chunk = body.substr(off, 65536);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    out += size + chunk + "\r\n";
  }
  return out + "0\r\n\r\n";
}

TEST(RestCoordinatorClientTest, ResponsesOverOneMebibyteAreRefused) {
  const std::string big = "{\"id\":\"" + std::string(2 << 20, 'a') + "\"}";
  const std::string json_headers = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n";
  struct Case {
    const char* what;
    std::string response;
  } cases[] = {
      {"with a Content-Length", json_headers + "Content-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big},
      {"chunked", json_headers + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(big)},
      {"an error page", "HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: " + std::to_string(big.size()) +
                            "\r\n\r\n" + big},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    OneShotServer server(c.response);
    auto client = RestCoordinatorClient::Connect(server.url(), {});
    ASSERT_TRUE(client.ok());
    auto me = (*client)->Me("kha_t");
    ASSERT_FALSE(me.ok());
    EXPECT_EQ(me.status().code(), StatusCode::kUnavailable);
    EXPECT_THAT(me.status().message(), HasSubstr("response too large"));
  }
  // Just under the limit is read.
  const std::string fits = nlohmann::json{{"id", "ajd1"}, {"name", std::string(rest::kDefaultMaxResponseBytes - 100, 'n')}}.dump();
  OneShotServer server(json_headers + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(fits));
  auto client = RestCoordinatorClient::Connect(server.url(), {});
  ASSERT_TRUE(client.ok());
  auto me = (*client)->Me("kha_t");
  ASSERT_TRUE(me.ok()) << me.status().message();
  EXPECT_EQ(me->id, "ajd1");
}

}  // namespace
}  // namespace keyhole::agent
