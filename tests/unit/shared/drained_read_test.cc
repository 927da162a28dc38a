// net::DrainedReadBuffer and net::MessageReads on real loopback TCP sockets. The binary
// interposes recv and recvmsg (below), so a test counts the receive system calls Asio makes on
// the socket under test: after a read that drained the socket the next read must make none until
// data arrives, and no data and no end of stream may be missed.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "shared/net/drained_read.h"

namespace {

std::atomic<int> g_watched_fd{-1};
std::atomic<int> g_receives{0};

void Count(int fd) {
  if (fd == g_watched_fd.load()) g_receives.fetch_add(1);
}

}  // namespace

// Interposed for the whole test binary: Asio's reactor calls these (socket_ops::recv, recv1).
extern "C" ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
  Count(fd);
  return syscall(SYS_recvmsg, fd, msg, flags);
}
extern "C" ssize_t recv(int fd, void* buf, size_t len, int flags) {
  Count(fd);
  return syscall(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
}

namespace keyhole::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A connected loopback pair: `reader` (watched) and `writer`, which the test writes with.
class DrainedReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    writer_.connect(acceptor.local_endpoint());
    acceptor.accept(reader_);
    EnableDrainedReads(reader_);
    g_watched_fd = reader_.native_handle();
    g_receives = 0;
  }
  void TearDown() override { g_watched_fd = -1; }

  void Send(const std::string& s) { asio::write(writer_, asio::buffer(s)); }

  // Starts one read of up to `size` bytes into buf_; `wrap` picks the buffer type.
  template <class Wrap>
  void StartRead(size_t size, Wrap wrap) {
    result_.reset();
    reader_.async_read_some(wrap(asio::buffer(buf_, size)), [this](boost::system::error_code ec, size_t n) {
      result_ = std::make_pair(ec, std::string(buf_, n));
    });
  }
  // The same through a MessageReads over reader_.
  void StartRead(MessageReads<tcp::socket>& reads, size_t size) {
    result_.reset();
    reads.async_read_some(asio::buffer(buf_, size), [this](boost::system::error_code ec, size_t n) {
      result_ = std::make_pair(ec, std::string(buf_, n));
    });
  }
  // Runs the io_context until the read completes or `limit` passes.
  bool RunUntilDone(std::chrono::milliseconds limit = 2000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!result_ && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_one_for(10ms);
    }
    return result_.has_value();
  }
  // Waits (poll(2), which leaves epoll's edges alone) until the reader's socket shows `events`.
  void WaitFor(short events) {
    pollfd p{reader_.native_handle(), events, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1) << "the socket never showed " << events;
  }
  // Runs whatever is ready without waiting.
  void Poll() {
    io_.restart();
    io_.poll();
  }

  // Reads "first" whole, then starts the next read before any data: returns the receive calls
  // that read made while nothing was there (0: it waited for epoll; 1: it tried), then checks
  // that it still gets "second".
  template <class Wrap>
  int ReceivesOfTheReadAfterAWholeOne(Wrap wrap) {
    Send("first");
    StartRead(sizeof buf_, wrap);
    EXPECT_TRUE(RunUntilDone());
    g_receives = 0;
    StartRead(sizeof buf_, wrap);
    Poll();
    EXPECT_FALSE(result_);
    const int tried = g_receives.load();
    Send("second");
    EXPECT_TRUE(RunUntilDone());
    EXPECT_TRUE(result_ && !result_->first && result_->second == "second");
    return tried;
  }

  // Sends `sent`, reads its first 16 bytes whole, then starts a second 16-byte read and runs
  // what is ready, counting the receive calls from there.
  void ReadSixteenThenStartTheNext(const std::string& sent) {
    Send(sent);
    StartRead(16, Drained);
    ASSERT_TRUE(RunUntilDone());
    EXPECT_EQ(result_->second, sent.substr(0, 16));
    g_receives = 0;
    StartRead(16, Drained);
    Poll();
  }

  static DrainedReadBuffer Drained(asio::mutable_buffer b) { return DrainedReadBuffer(b); }
  static asio::mutable_buffer Plain(asio::mutable_buffer b) { return b; }

  asio::io_context io_;
  tcp::socket reader_{io_};
  tcp::socket writer_{io_};
  char buf_[1024];
  std::optional<std::pair<boost::system::error_code, std::string>> result_;
};

TEST_F(DrainedReadTest, AfterAReadThatDrainedTheSocketTheNextMakesNoSystemCallUntilDataArrives) {
  EXPECT_EQ(ReceivesOfTheReadAfterAWholeOne(Drained), 0) << "the drained socket was tried anyway";
  EXPECT_EQ(g_receives.load(), 1);  // once the data came
}

// The control: Asio's own buffer type tries the drained socket, an EAGAIN receive. If this
// stopped holding, the test above would prove nothing.
TEST_F(DrainedReadTest, AsiosOwnBufferTriesTheDrainedSocketFirst) {
  EXPECT_EQ(ReceivesOfTheReadAfterAWholeOne(Plain), 1);
}

TEST_F(DrainedReadTest, DataThatArrivedBeforeTheNextReadStartsIsRead) {
  Send("first");
  StartRead(sizeof buf_, Drained);
  ASSERT_TRUE(RunUntilDone());

  // The data lands while no read is queued, and before the reactor has seen its edge.
  Send("second");
  StartRead(sizeof buf_, Drained);
  ASSERT_TRUE(RunUntilDone(2000ms));
  EXPECT_EQ(result_->second, "second");

  // And once more with the edge already handled by the reactor before the read starts.
  Send("third");
  Poll();
  StartRead(sizeof buf_, Drained);
  ASSERT_TRUE(RunUntilDone(2000ms));
  EXPECT_EQ(result_->second, "third");
}

TEST_F(DrainedReadTest, AReadThatLeftDataBehindTriesTheNextReadAtOnce) {
  ReadSixteenThenStartTheNext("0123456789abcdefXYZ");
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->second, "XYZ");
  EXPECT_EQ(g_receives.load(), 1);
}

// The kernel's count decides, not the read's length: a read that filled its buffer exactly and
// left nothing has drained the socket too.
TEST_F(DrainedReadTest, AFullReadThatLeftNothingCountsAsDrained) {
  ReadSixteenThenStartTheNext("0123456789abcdef");
  EXPECT_FALSE(result_);
  EXPECT_EQ(g_receives.load(), 0);
  Send("more");
  ASSERT_TRUE(RunUntilDone());
  EXPECT_EQ(result_->second, "more");
}

// An upstream that ends its body by closing: the FIN is already queued when the last data is
// read, so no later epoll edge will announce it. The next read must still see the end of stream.
TEST_F(DrainedReadTest, AnEndOfStreamQueuedBehindTheLastDataIsNotMissed) {
  // The read waits in the reactor when data and FIN land together, so one epoll edge announces both.
  StartRead(sizeof buf_, Drained);
  Poll();
  ASSERT_FALSE(result_);
  Send("the whole body");
  writer_.shutdown(tcp::socket::shutdown_send);
  WaitFor(POLLRDHUP);  // the FIN is there before the reactor looks
  ASSERT_TRUE(RunUntilDone());
  EXPECT_EQ(result_->second, "the whole body");

  StartRead(sizeof buf_, Drained);
  ASSERT_TRUE(RunUntilDone(2000ms)) << "the queued end of stream was never read";
  EXPECT_EQ(result_->first, asio::error::eof);
}

// A reset (SO_LINGER 0) right behind the last data is queued before that data is read, and the
// kernel's count does not include it. MessageReads reads the rest of a message by trying the
// socket at once, so the reset is seen now rather than at the next timeout.
TEST_F(DrainedReadTest, MessageReadsSeesAResetQueuedBehindTheDataThatDrainedTheSocket) {
  MessageReads<tcp::socket> reads(reader_);
  reads.Enable();
  reads.BeginMessage();
  StartRead(reads, sizeof buf_);
  Poll();
  ASSERT_FALSE(result_);
  Send("partial");
  linger abort{1, 0};
  ASSERT_EQ(::setsockopt(writer_.native_handle(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  writer_.close();
  WaitFor(POLLERR);  // the reset is there before the reactor looks
  ASSERT_TRUE(RunUntilDone());
  if (!result_->first) {  // the data first (the kernel may also drop it for the reset)
    EXPECT_EQ(result_->second, "partial");
    StartRead(reads, sizeof buf_);
    ASSERT_TRUE(RunUntilDone(2000ms)) << "the queued reset was never read";
  }
  EXPECT_EQ(result_->first, asio::error::connection_reset) << result_->first.message();
}

// The first read of a message is the one that may skip the try; the others try at once, and a
// read that finds nothing then waits for epoll.
TEST_F(DrainedReadTest, MessageReadsSkipsTheTryOnlyForAMessagesFirstRead) {
  MessageReads<tcp::socket> reads(reader_);
  reads.Enable();
  Send("one");
  reads.BeginMessage();
  StartRead(reads, sizeof buf_);
  ASSERT_TRUE(RunUntilDone());
  EXPECT_EQ(result_->second, "one");

  g_receives = 0;
  reads.BeginMessage();
  StartRead(reads, sizeof buf_);
  Poll();
  EXPECT_FALSE(result_);
  EXPECT_EQ(g_receives.load(), 0) << "a message's first read tried the drained socket";
  Send("two");
  ASSERT_TRUE(RunUntilDone());
  EXPECT_EQ(result_->second, "two");

  g_receives = 0;
  StartRead(reads, sizeof buf_);  // the same message goes on
  Poll();
  EXPECT_FALSE(result_);
  EXPECT_EQ(g_receives.load(), 1) << "a later read of the message must try the socket at once";
  Send("three");
  ASSERT_TRUE(RunUntilDone());
  EXPECT_EQ(result_->second, "three");

  // Data already there: the try gets it, and the handler still runs from the io_context.
  Send("four");
  WaitFor(POLLIN);
  g_receives = 0;
  StartRead(reads, sizeof buf_);
  EXPECT_FALSE(result_) << "completed inside the initiating call";
  EXPECT_EQ(g_receives.load(), 1);
  ASSERT_TRUE(RunUntilDone());
  EXPECT_EQ(result_->second, "four");
  EXPECT_EQ(g_receives.load(), 1) << "the try's data was read again";
}

// A socket without TCP_INQ gets no count back: its reads behave as Asio's own.
TEST_F(DrainedReadTest, WithoutTcpInqAReadNeverCountsAsDrained) {
  int off = 0;
  ASSERT_EQ(::setsockopt(reader_.native_handle(), IPPROTO_TCP, TCP_INQ, &off, sizeof off), 0);
  EXPECT_EQ(ReceivesOfTheReadAfterAWholeOne(Drained), 1);
}

TEST_F(DrainedReadTest, ThePeerClosingWakesAWaitingRead) {
  Send("last");
  StartRead(sizeof buf_, Drained);
  ASSERT_TRUE(RunUntilDone());

  StartRead(sizeof buf_, Drained);
  Poll();
  EXPECT_FALSE(result_);
  writer_.close();
  ASSERT_TRUE(RunUntilDone());
  EXPECT_EQ(result_->first, asio::error::eof);
}

// The coordinator's shape: Beast's HTTP reads through MessageReads over a tcp_stream (whose reads
// Beast wraps in a buffers_prefix_view), two requests on one keep-alive connection, the second
// in two parts: its first read skips the drained socket, its second tries at once.
TEST_F(DrainedReadTest, BeastHttpReadsThroughMessageReadsOverATcpStream) {
  beast::tcp_stream stream(std::move(reader_));
  MessageReads<beast::tcp_stream> reads(stream);
  reads.Enable();
  beast::flat_buffer buffer;
  std::optional<http::request<http::string_body>> request;
  auto read = [&] {
    result_.reset();
    request.emplace();
    http::async_read(reads, buffer, *request, [&](beast::error_code ec, size_t) {
      result_ = std::make_pair(ec, std::string());
    });
  };

  Send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
  reads.BeginMessage();
  read();
  ASSERT_TRUE(RunUntilDone());
  ASSERT_FALSE(result_->first) << result_->first.message();
  EXPECT_EQ(request->target(), "/one");

  g_receives = 0;
  reads.BeginMessage();
  read();
  Poll();
  EXPECT_FALSE(result_);
  EXPECT_EQ(g_receives.load(), 0) << "the drained socket was tried anyway";

  Send("POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc");
  for (int i = 0; i < 200 && g_receives.load() < 1; ++i) {  // the head and half the body
    io_.restart();
    io_.run_one_for(10ms);
  }
  EXPECT_FALSE(result_);
  g_receives = 0;
  Send("def");
  ASSERT_TRUE(RunUntilDone());
  ASSERT_FALSE(result_->first) << result_->first.message();
  EXPECT_EQ(request->target(), "/two");
  EXPECT_EQ(request->body(), "abcdef");
  EXPECT_GE(g_receives.load(), 1);
}

}  // namespace
}  // namespace keyhole::net
