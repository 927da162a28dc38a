// keyhole-syscall-cost: what the kernel charges this machine for the calls a proxy makes per
// request, so that benchmark figures from different machines (a paravirtualised guest charges
// ten times what bare metal does for a system call) can be told apart. Loopback only; takes
// about a second. Prints one line:
//   null 1.14 us, recv EAGAIN 1.34 us, epoll_wait(0) 1.22 us, epoll_ctl MOD 1.49 us,
//   loopback send+recv 60 B 8.9 us, wake-up round trip 24.8 us
//
//   g++ -O2 -o /tmp/keyhole-syscall-cost bench/syscall_cost.cc && /tmp/keyhole-syscall-cost
//
// Built by bench/tunnel_vs_nginx_ssh.sh, which prints the line with its results. Standalone (no
// Keyhole code, no libraries) so that the script can compile it on any machine with g++.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

// Mean wall time of one call of `f`, in microseconds, over `n` calls.
template <class F>
double MeanMicros(int n, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / n;
}

// A connected TCP pair on 127.0.0.1: `client` blocking, `server` non-blocking.
void LoopbackPair(int& client, int& server) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("listen on loopback");
  }
  client = socket(AF_INET, SOCK_STREAM, 0);
  if (client < 0 || connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("connect");
  server = accept(listener, nullptr, nullptr);
  if (server < 0 || fcntl(server, F_SETFL, O_NONBLOCK) != 0) Die("accept");
  close(listener);
}

}  // namespace

int main() {
  constexpr int kCalls = 100000;
  int client = -1;
  int server = -1;
  LoopbackPair(client, server);
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;  // as Asio registers a socket
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, server, &ev) != 0) Die("epoll");
  epoll_event events[16];
  char buf[64] = {};

  const double null_call = MeanMicros(kCalls, [] { (void)getppid(); });
  const double eagain = MeanMicros(kCalls, [&] { (void)recv(server, buf, sizeof buf, 0); });
  const double poll0 = MeanMicros(kCalls, [&] { (void)epoll_wait(ep, events, 16, 0); });
  const double modify = MeanMicros(kCalls, [&] { (void)epoll_ctl(ep, EPOLL_CTL_MOD, server, &ev); });
  const double send_recv = MeanMicros(kCalls / 4, [&] {
    (void)send(client, buf, 60, 0);
    (void)recv(server, buf, sizeof buf, 0);
  });

  // Two processes passing a byte back and forth: two wake-ups and two sleeps per round trip.
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) Die("socketpair");
  constexpr int kTrips = 20000;
  const pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    char b;
    for (int i = 0; i < kTrips; ++i) {
      if (read(pair[1], &b, 1) != 1 || write(pair[1], &b, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  char b = 0;
  const double round_trip = MeanMicros(kTrips, [&] {
    if (write(pair[0], &b, 1) != 1 || read(pair[0], &b, 1) != 1) Die("ping-pong");
  });
  waitpid(child, nullptr, 0);

  std::printf(
      "null %.2f us, recv EAGAIN %.2f us, epoll_wait(0) %.2f us, epoll_ctl MOD %.2f us, loopback send+recv 60 B %.1f us, "
      "wake-up round trip %.1f us\n",
      null_call, eagain, poll0, modify, send_recv, round_trip);
  return 0;
}
