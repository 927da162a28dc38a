// RssSampler: the resident memory (VmRSS in /proc/PID/status) of some processes, sampled on a
// background thread from construction until Stop(), keeping each one's first and highest value.
// For the tunnel tests' bound on memory growth during a transfer. Not thread-safe apart from that
// background thread, which only the sampler's own methods synchronize with.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace keyhole::testing {

// VmRSS of `pid` in bytes, or nullopt if the process is gone.
std::optional<int64_t> ReadRssBytes(pid_t pid);

class RssSampler {
 public:
  explicit RssSampler(std::vector<pid_t> pids, std::chrono::milliseconds interval = std::chrono::milliseconds(20));
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  void Stop();  // takes a last sample and ends the thread; idempotent
  // Per process, in the order given: the value when sampling began, the highest seen, and their difference.
  int64_t Baseline(size_t i) const;
  int64_t Peak(size_t i) const;
  int64_t Growth(size_t i) const { return Peak(i) - Baseline(i); }
  int samples() const;
  // "pid 123: 10.2 MiB → peak 14.0 MiB (+3.8 MiB)" for each process.
  std::string Describe() const;

 private:
  void Sample();

  std::vector<pid_t> pids_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::vector<int64_t> baseline_, peak_;
  int samples_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace keyhole::testing
