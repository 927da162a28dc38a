// What keyhole-tunnel-load measures with and how it reports progress: the coordinator's resident
// memory and CPU time from /proc/PID (same host), percentiles, and log lines on stderr.
// Free functions, no state; safe from any thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace keyhole::bench {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0);

// One line "tunnel_load: LINE" on stderr, flushed.
void Log(const std::string& line);

// VmRSS of process `pid` in KiB; -1 when there is no such process.
long ReadRssKib(int pid);

// utime + stime of process `pid` in clock ticks.
long ReadCpuTicks(int pid);

// The value at fraction `p` (0..1) of the sorted values; 0 for none.
double Percentile(std::vector<double> v, double p);

}  // namespace keyhole::bench
