// net::SendNow and net::ConsumeFront on a real loopback TCP pair: all of a write when the socket
// has room, would_block (never a wait) when it has none, the error (never SIGPIPE) when the peer
// is gone, and the bookkeeping of a partial write.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/container/small_vector.hpp>
#include <string>
#include <vector>

#include "shared/net/send_now.h"

namespace keyhole::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class SendNowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    writer_.connect(acceptor.local_endpoint());
    acceptor.accept(reader_);
  }
  std::string ReadSome() {
    char buf[4096];
    return std::string(buf, reader_.read_some(asio::buffer(buf)));
  }

  asio::io_context io_;
  tcp::socket writer_{io_}, reader_{io_};
};

TEST_F(SendNowTest, WritesAGatherOfBuffersWhole) {
  const std::string head = "HTTP/1.1 200 OK\r\n\r\n", body = "hello";
  std::vector<asio::const_buffer> buffers{asio::buffer(head), asio::const_buffer(), asio::buffer(body)};
  boost::system::error_code ec;
  EXPECT_EQ(SendNow(writer_.native_handle(), buffers, ec), head.size() + body.size());
  EXPECT_FALSE(ec) << ec.message();
  std::string got;
  while (got.size() < head.size() + body.size()) got += ReadSome();
  EXPECT_EQ(got, head + body);
}

TEST_F(SendNowTest, AFullSocketIsWouldBlockNotAWait) {
  int small = 4096;
  ASSERT_EQ(::setsockopt(writer_.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(::setsockopt(reader_.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  const std::string chunk(64 << 10, 'x');
  boost::system::error_code ec;
  size_t total = 0;
  for (int i = 0; i < 1000 && !ec; ++i) total += SendNow(writer_.native_handle(), asio::buffer(chunk), ec);
  EXPECT_EQ(ec, asio::error::would_block) << ec.message();
  EXPECT_GT(total, 0u);
  EXPECT_EQ(SendNow(writer_.native_handle(), asio::buffer(chunk), ec), 0u);
  EXPECT_EQ(ec, asio::error::would_block);
}

TEST_F(SendNowTest, APeerThatResetIsAnErrorNotASignal) {
  linger reset{1, 0};
  ASSERT_EQ(::setsockopt(reader_.native_handle(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  reader_.close();
  const std::string bytes = "after the reset";
  boost::system::error_code ec;
  for (int i = 0; i < 100 && !ec; ++i) SendNow(writer_.native_handle(), asio::buffer(bytes), ec);
  ASSERT_TRUE(ec);
  EXPECT_NE(ec, asio::error::would_block);
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == asio::error::broken_pipe) << ec.message();
}

TEST(ConsumeFrontTest, DropsWhatWasSent) {
  const std::string a = "abc", b = "defgh", c = "ij";
  using Buffers = boost::container::small_vector<asio::const_buffer, 4>;
  auto text = [](const Buffers& buffers) {
    std::string out;
    for (const auto& buf : buffers) out.append(static_cast<const char*>(buf.data()), buf.size());
    return out;
  };
  const struct {
    size_t sent;
    std::string left;
    size_t buffers_left;
  } cases[] = {{0, "abcdefghij", 3}, {2, "cdefghij", 3}, {3, "defghij", 2}, {4, "efghij", 2},
               {8, "ij", 1},         {9, "j", 1},         {10, "", 0}};
  for (const auto& t : cases) {
    Buffers buffers{asio::buffer(a), asio::buffer(b), asio::buffer(c)};
    ConsumeFront(buffers, t.sent);
    EXPECT_EQ(text(buffers), t.left) << "sent " << t.sent;
    EXPECT_EQ(buffers.size(), t.buffers_left) << "sent " << t.sent;
  }
}

}  // namespace
}  // namespace keyhole::net
