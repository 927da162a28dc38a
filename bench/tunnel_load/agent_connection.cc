#include "bench/tunnel_load/agent_connection.h"

#include <deque>
#include <string_view>
#include <variant>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "bench/tunnel_load/measure.h"
#include "shared/protocol/frame.h"

namespace keyhole::bench {
namespace {

namespace protocol = keyhole::protocol;

class AgentConnection : public std::enable_shared_from_this<AgentConnection> {
 public:
  AgentConnection(Worker& w, Settings& s, size_t index)
      : w_(w), s_(s), index_(index), ws_(w.ioc, *s.tls), timer_(w.ioc) {}

  void Start() {
    t0_ = Clock::now();
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(ws_).async_connect(s_.target->endpoint,
        [self = shared_from_this()](error_code ec) { self->OnConnect(ec); });
    // A deadline for the whole set-up, up to the coordinator's HELLO.
    timer_.expires_after(std::chrono::seconds(60));
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && !self->up_) self->SetupFailed("no HELLO from the coordinator within 60 s", {});
    });
  }

 private:
  void OnConnect(error_code ec) {
    if (ec) return SetupFailed("connect", ec);
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    ws_.next_layer().set_verify_callback(ssl::host_name_verification(s_.target->host));
    ws_.next_layer().async_handshake(ssl::stream_base::client,
        [self = shared_from_this()](error_code ec) { self->OnTlsHandshake(ec); });
  }

  void OnTlsHandshake(error_code ec) {
    if (ec) return SetupFailed("TLS handshake", ec);
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    const std::string token = (*s_.tokens)[index_];
    ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      req.set(http::field::authorization, "SSWS " + token);
      req.set(http::field::sec_websocket_protocol, protocol::kWebSocketSubprotocol);
      req.set(http::field::user_agent, "keyhole-tunnel-load");
    }));
    ws_.async_handshake(response_, s_.target->host + ":" + s_.target->port, "/api/v1/agents/me/tunnel",
        [self = shared_from_this()](error_code ec) { self->OnWsHandshake(ec); });
  }

  void OnWsHandshake(error_code ec) {
    if (ec) {
      std::string what = "WebSocket upgrade";
      if (response_.result_int() != 0) {
        what += " answered " + std::to_string(response_.result_int()) + " " + response_.body().substr(0, 200);
      }
      return SetupFailed(what, ec);
    }
    ws_.binary(true);
    protocol::Hello hello;
    hello.role = protocol::Role::kAgent;
    hello.max_streams = 64;
    hello.software = "keyhole-tunnel-load/0.1.0";
    hello.upstreams = {"bench"};
    std::string out;
    protocol::Encode(hello, out);
    Send(std::move(out));
    Read();
  }

  void Read() {
    ws_.async_read(buffer_, [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(error_code ec) {
    if (ec) return Lost("read", ec);
    std::string_view message(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    auto frames = protocol::DecodeMessage(message);
    buffer_.consume(buffer_.size());
    if (!frames.ok()) return Lost("undecodable message: " + frames.status().message(), {});
    for (auto& frame : *frames) {
      if (auto* hello = std::get_if<protocol::Hello>(&frame)) {
        if (hello->role != protocol::Role::kCoordinator) return Lost("HELLO with the wrong role", {});
        OnUp();
      } else if (auto* ping = std::get_if<protocol::Ping>(&frame)) {
        ++w_.peer_pings;
        std::string out;
        protocol::Encode(protocol::Pong{ping->opaque}, out);
        Send(std::move(out));
      } else if (std::get_if<protocol::Pong>(&frame)) {
        ++w_.pongs;
      } else if (auto* close = std::get_if<protocol::Close>(&frame)) {
        return Lost("CLOSE " + std::string(protocol::ToString(close->code)) + ": " + close->reason, {});
      } else if (auto* head = std::get_if<protocol::RequestHead>(&frame)) {
        // Not expected in this test; refuse politely so the coordinator can go elsewhere.
        std::string out;
        protocol::Encode(protocol::Reset{head->stream, protocol::ResetCode::kRefused, "load tool"}, out);
        Send(std::move(out));
      }
    }
    Read();
  }

  void OnUp() {
    if (up_) return;
    up_ = true;
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0_).count();
    {
      std::lock_guard<std::mutex> lock(w_.mutex);
      w_.setup_ms.push_back(ms);
    }
    ++w_.up;
    --w_.in_flight;
    StartNext(w_, s_);
    // First PING at a random point of the interval, as agents connected at different times would.
    std::uniform_int_distribution<long> first(0, s_.ping_interval.count());
    timer_.expires_after(std::chrono::milliseconds(first(w_.rng)));
    timer_.async_wait([self = shared_from_this()](error_code ec) { self->OnPingTimer(ec); });
  }

  void OnPingTimer(error_code ec) {
    if (ec || dead_) return;
    if (s_.pinging.load(std::memory_order_relaxed)) {
      std::string out;
      protocol::Encode(protocol::Ping{++ping_seq_}, out);
      Send(std::move(out));
      ++w_.pings;
    }
    timer_.expires_after(s_.ping_interval);
    timer_.async_wait([self = shared_from_this()](error_code ec) { self->OnPingTimer(ec); });
  }

  void Send(std::string bytes) {
    outbox_.push_back(std::move(bytes));
    if (!writing_) Write();
  }
  void Write() {
    writing_ = true;
    ws_.async_write(asio::buffer(outbox_.front()), [self = shared_from_this()](error_code ec, size_t) {
      self->outbox_.pop_front();
      self->writing_ = false;
      if (ec) return self->Lost("write", ec);
      if (!self->outbox_.empty()) self->Write();
    });
  }

  void SetupFailed(const std::string& what, error_code ec) {
    if (dead_ || up_) return Lost(what, ec);
    dead_ = true;
    timer_.cancel();
    Record(what, ec);
    ++w_.failed;
    --w_.in_flight;
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    StartNext(w_, s_);
  }

  void Lost(const std::string& what, error_code ec) {
    if (dead_) return;
    if (!up_) return SetupFailed(what, ec);
    dead_ = true;
    timer_.cancel();
    Record("dropped after set-up: " + what, ec);
    ++w_.dropped;
    --w_.up;
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  void Record(const std::string& what, error_code ec) {
    std::lock_guard<std::mutex> lock(w_.mutex);
    if (w_.errors.size() < 5) w_.errors.push_back(what + (ec ? ": " + ec.message() : std::string()));
  }

  Worker& w_;
  Settings& s_;
  size_t index_;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
  asio::steady_timer timer_;
  websocket::response_type response_;
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool up_ = false;
  bool dead_ = false;
  uint64_t ping_seq_ = 0;
  Clock::time_point t0_;
};

}  // namespace

void StartNext(Worker& w, Settings& s) {
  while (w.in_flight < w.max_in_flight && w.next < w.todo.size()) {
    ++w.in_flight;
    std::make_shared<AgentConnection>(w, s, w.todo[w.next++])->Start();
  }
}

Totals Sum(const std::vector<std::unique_ptr<Worker>>& workers) {
  Totals t;
  for (auto& w : workers) {
    t.up += w->up;
    t.failed += w->failed;
    t.dropped += w->dropped;
    t.pings += w->pings;
    t.pongs += w->pongs;
    t.peer_pings += w->peer_pings;
  }
  return t;
}

}  // namespace keyhole::bench
