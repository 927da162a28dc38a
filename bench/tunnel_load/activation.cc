#include "bench/tunnel_load/activation.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/tunnel_load/admin_client.h"
#include "bench/tunnel_load/measure.h"

namespace keyhole::bench {

bool ActivateAgents(ssl::context& tls, const Target& target, const std::string& admin_token, size_t count,
                    int workers, const std::string& pool_name, Activated& out) {
  {
    AdminClient admin(tls, target, admin_token);
    unsigned status = 0;
    std::string body, error;
    nlohmann::json pool = {{"name", pool_name}, {"type", "HTTP"}};
    if (!admin.Send(http::verb::post, "/api/v1/agentPools", pool.dump(), true, status, body, error) ||
        status != 200) {
      Log("creating the pool failed: " + (error.empty() ? std::to_string(status) + " " + body : error));
      return false;
    }
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded() || !parsed.contains("id")) {
      Log("unexpected pool answer: " + body);
      return false;
    }
    out.pool_id = parsed["id"].get<std::string>();
  }
  out.tokens.assign(count, "");
  std::atomic<size_t> next{0}, done{0}, failed{0};
  std::mutex error_mutex;
  std::string first_error;
  auto t0 = Clock::now();
  auto work = [&] {
    AdminClient client(tls, target, admin_token);
    for (size_t i = next++; i < count; i = next++) {
      unsigned status = 0;
      std::string body, error;
      std::string code;
      std::string codes_path = "/api/v1/agentPools/" + out.pool_id + "/activationCodes";
      if (client.Send(http::verb::post, codes_path, "{}", true, status, body, error) && status == 200) {
        auto parsed = nlohmann::json::parse(body, nullptr, false);
        if (!parsed.is_discarded() && parsed.contains("code")) code = parsed["code"].get<std::string>();
      }
      if (!code.empty()) {
        std::string name = "load-" + std::to_string(i);
        nlohmann::json req = {{"code", code}, {"name", name}, {"host", name + ".bench.invalid"},
                              {"version", "0.1.0"}, {"os", "keyhole-tunnel-load"}};
        body.clear();
        if (client.Send(http::verb::post, "/api/v1/agents/activate", req.dump(), false, status, body, error) &&
            status == 200) {
          auto parsed = nlohmann::json::parse(body, nullptr, false);
          if (!parsed.is_discarded() && parsed.contains("apiToken") && parsed["apiToken"].contains("token")) {
            out.tokens[i] = parsed["apiToken"]["token"].get<std::string>();
          }
        }
      }
      if (out.tokens[i].empty()) {
        ++failed;
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.empty()) first_error = error.empty() ? std::to_string(status) + " " + body.substr(0, 300) : error;
      }
      ++done;
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back(work);
  size_t last = 0;
  while (done.load() < count) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    size_t d = done.load();
    if (d - last >= 1000 || (d == count && d != last)) {
      last = d;
      char line[160];
      std::snprintf(line, sizeof line, "activated %zu/%zu (%.0f/s, %zu failed)", d, count, d / SecondsSince(t0),
                    failed.load());
      Log(line);
    }
  }
  for (auto& t : threads) t.join();
  char line[200];
  std::snprintf(line, sizeof line, "activation: %zu agents in %.1f s (%.0f/s, %d connections), %zu failed",
                count, SecondsSince(t0), count / SecondsSince(t0), workers, failed.load());
  Log(line);
  if (failed.load() > 0) {
    Log("first activation error: " + first_error);
    return false;
  }
  return true;
}

void CheckListing(ssl::context& tls, const Target& target, const std::string& admin_token,
                  const std::string& pool_id, size_t expected, const char* tag) {
  AdminClient admin(tls, target, admin_token);
  unsigned status = 0;
  std::string body, error;
  auto t0 = Clock::now();
  if (!admin.Send(http::verb::get, "/api/v1/agentPools?poolType=HTTP&limitPerPoolType=200", "", true, status, body,
                  error) ||
      status != 200) {
    Log("GET /api/v1/agentPools failed: " + (error.empty() ? std::to_string(status) : error));
    return;
  }
  double seconds = SecondsSince(t0);
  auto pools = nlohmann::json::parse(body, nullptr, false);
  long listed = 0, connected = 0, with_field = 0;
  if (pools.is_array()) {
    for (auto& pool : pools) {
      if (pool.value("id", "") != pool_id || !pool.contains("agents")) continue;
      for (auto& agent : pool["agents"]) {
        ++listed;
        if (agent.contains("tunnel") && agent["tunnel"].is_object()) {
          ++with_field;
          if (agent["tunnel"].value("connected", false)) ++connected;
        }
      }
    }
  }
  char line[300];
  std::snprintf(line, sizeof line,
                "GET /api/v1/agentPools: %.2f s, %zu bytes; pool lists %ld agents, %ld with a tunnel field, "
                "%ld connected (expected %zu)",
                seconds, body.size(), listed, with_field, connected, expected);
  Log(line);
  std::printf("%s seconds=%.3f bytes=%zu listed=%ld connected=%ld expected=%zu\n", tag, seconds, body.size(), listed,
              connected, expected);
}

}  // namespace keyhole::bench
