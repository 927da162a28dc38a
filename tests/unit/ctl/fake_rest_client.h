// FakeRestClient: a RestClient that records each request and answers from a script, for
// keyholectl's unit tests. Not thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <sstream>

#include "coordinator/ctl/commands.h"
#include "shared/rest/rest_client.h"
#include "tests/support/fake_clock.h"

namespace keyhole::ctl::testing {

struct SentRequest {
  std::string method, target;
  std::optional<nlohmann::json> body;
  HeaderList headers;
  std::optional<std::string> Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
};

inline RestResponse JsonAnswer(int status, const nlohmann::json& body, HeaderList headers = {}) {
  headers.emplace_back("Content-Type", "application/json");
  return RestResponse{status, std::move(headers), body.dump()};
}

inline RestResponse OktaError(int status, const std::string& code, const std::string& summary,
                              std::vector<std::string> causes = {}) {
  nlohmann::json c = nlohmann::json::array();
  for (auto& s : causes) c.push_back({{"errorSummary", s}});
  return JsonAnswer(status, {{"errorCode", code}, {"errorSummary", summary}, {"errorLink", code},
                             {"errorId", "oaeTest"}, {"errorCauses", c}});
}

class FakeRestClient final : public RestClient {
 public:
  StatusOr<RestResponse> Send(const std::string& method, const std::string& target,
                              const std::optional<nlohmann::json>& body, const HeaderList& extra_headers) override {
    sent.push_back({method, target, body, extra_headers});
    if (answers.empty()) {
      ADD_FAILURE() << "unexpected request " << method << " " << target;
      return InternalError("no scripted answer");
    }
    StatusOr<RestResponse> next = answers.front();
    answers.pop_front();
    return next;
  }

  std::deque<StatusOr<RestResponse>> answers;
  std::vector<SentRequest> sent;
};

// Lets a test keep its FakeRestClient while keyholectl owns the client it connected.
class ForwardingClient final : public RestClient {
 public:
  explicit ForwardingClient(RestClient& to) : to_(to) {}
  StatusOr<RestResponse> Send(const std::string& method, const std::string& target,
                              const std::optional<nlohmann::json>& body, const HeaderList& extra_headers) override {
    return to_.Send(method, target, body, extra_headers);
  }

 private:
  RestClient& to_;
};

inline constexpr const char* kFakeCoordinatorUrl = "https://kh.test:8443";

// A fixture running keyholectl against a FakeRestClient, with a scripted environment, a fake
// clock and captured output. Context() gives the CtlContext; a test may add follow hooks to it.
class CtlFixture : public ::testing::Test {
 protected:
  CtlContext Context() {
    out_.str("");
    err_.str("");
    return CtlContext{
        .getenv = [this](const std::string& name) -> std::optional<std::string> {
          auto it = env_.find(name);
          if (it == env_.end()) return std::nullopt;
          return it->second;
        },
        .connect = [this](const ConnectionSettings& s) -> StatusOr<std::unique_ptr<RestClient>> {
          settings_ = s;
          ++connects_;
          return std::unique_ptr<RestClient>(new ForwardingClient(fake_));
        },
        .clock = clock_,
        .sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d); },
        .out = out_,
        .err = err_,
    };
  }

  std::map<std::string, std::string> env_ = {{"KEYHOLE_URL", kFakeCoordinatorUrl}, {"KEYHOLE_TOKEN", "secret-token"}};
  FakeRestClient fake_;
  keyhole::testing::FakeClock clock_;
  std::ostringstream out_, err_;
  ConnectionSettings settings_;
  int connects_ = 0;
  std::vector<std::chrono::milliseconds> sleeps_;
};

}  // namespace keyhole::ctl::testing
