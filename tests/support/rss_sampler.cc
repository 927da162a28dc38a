#include "tests/support/rss_sampler.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace keyhole::testing {

std::optional<int64_t> ReadRssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
  }
  return std::nullopt;
}

RssSampler::RssSampler(std::vector<pid_t> pids, std::chrono::milliseconds interval)
    : pids_(std::move(pids)), interval_(interval), baseline_(pids_.size(), -1), peak_(pids_.size(), -1) {
  Sample();
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      std::this_thread::sleep_for(interval_);
      Sample();
    }
  });
}

RssSampler::~RssSampler() { Stop(); }

void RssSampler::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  thread_.join();
  Sample();
}

void RssSampler::Sample() {
  std::vector<std::optional<int64_t>> now;
  for (pid_t pid : pids_) now.push_back(ReadRssBytes(pid));
  std::lock_guard lock(mu_);
  ++samples_;
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (!now[i]) continue;
    if (baseline_[i] < 0) baseline_[i] = *now[i];
    if (*now[i] > peak_[i]) peak_[i] = *now[i];
  }
}

int64_t RssSampler::Baseline(size_t i) const {
  std::lock_guard lock(mu_);
  return baseline_.at(i);
}

int64_t RssSampler::Peak(size_t i) const {
  std::lock_guard lock(mu_);
  return peak_.at(i);
}

int RssSampler::samples() const {
  std::lock_guard lock(mu_);
  return samples_;
}

std::string RssSampler::Describe() const {
  std::lock_guard lock(mu_);
  std::ostringstream out;
  auto mib = [](int64_t b) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
    return std::string(buf);
  };
  for (size_t i = 0; i < pids_.size(); ++i) {
    out << "pid " << pids_[i] << ": " << mib(baseline_[i]) << " → peak " << mib(peak_[i]) << " (+"
        << mib(peak_[i] - baseline_[i]) << ")\n";
  }
  out << samples_ << " samples";
  return out.str();
}

}  // namespace keyhole::testing
