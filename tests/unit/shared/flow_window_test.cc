#include "shared/protocol/flow_window.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "shared/protocol/frame.h"

namespace keyhole::protocol {
namespace {

using ::testing::HasSubstr;

TEST(FlowWindow, SendWindowConsumesAndGrows) {
  SendWindow w(100);
  EXPECT_EQ(w.available(), 100u);
  w.Consume(60);
  EXPECT_EQ(w.available(), 40u);
  w.Consume(40);
  EXPECT_EQ(w.available(), 0u);
  ASSERT_TRUE(w.Grow(50).ok());
  EXPECT_EQ(w.available(), 50u);
}

TEST(FlowWindow, SendWindowGrowPastMaxWindowFails) {
  struct Case {
    uint32_t initial;
    uint32_t increment;
    bool ok;
  } cases[] = {
      {0, kMaxWindow, true},        {kMaxWindow, 1, false},          {kMaxWindow - 1, 1, true},
      {kMaxWindow - 1, 2, false},   {1, 0xffffffff, false},          {kDefaultStreamWindow, kMaxWindow, false},
  };
  for (const Case& c : cases) {
    SendWindow w(c.initial);
    Status s = w.Grow(c.increment);
    EXPECT_EQ(s.ok(), c.ok) << c.initial << " + " << c.increment;
    if (!s.ok()) {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(s.message(), HasSubstr("kMaxWindow"));
      EXPECT_EQ(w.available(), c.initial) << "a refused update changes nothing";
    }
  }
}

TEST(FlowWindow, ReceiveRefusesMoreThanAllowed) {
  ReceiveWindow w(10);
  EXPECT_FALSE(w.Receive(11).ok());
  ASSERT_TRUE(w.Receive(10).ok());
  EXPECT_EQ(w.buffered(), 10u);
  Status over = w.Receive(1);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(over.message(), HasSubstr("flow control"));
  EXPECT_THAT(over.message(), HasSubstr("only 0 allowed"));
  // Consuming half announces it, and exactly that much more may then arrive.
  EXPECT_EQ(w.Consumed(5), 5u);
  EXPECT_EQ(w.buffered(), 5u);
  ASSERT_TRUE(w.Receive(5).ok());
  EXPECT_FALSE(w.Receive(1).ok());
  EXPECT_TRUE(w.Receive(0).ok());
}

TEST(FlowWindow, AnnouncesOnceHalfAWindowIsConsumed) {
  struct Step {
    size_t consumed;
    uint32_t announce;
  };
  struct Case {
    const char* name;
    uint32_t window;
    std::vector<Step> steps;
  } cases[] = {
      {"exact_half", 100, {{50, 50}}},
      {"below_then_over", 100, {{49, 0}, {1, 50}, {10, 0}, {40, 50}}},
      {"odd_window", 101, {{49, 0}, {1, 50}}},
      {"one_big_chunk", 100, {{100, 100}}},
      {"zero_consumed", 100, {{0, 0}, {0, 0}}},
      {"tiny_window", 1, {{0, 0}, {1, 1}}},
      {"default_stream_window", kDefaultStreamWindow,
       {{kDefaultStreamWindow / 2 - 1, 0},
        {1, kDefaultStreamWindow / 2},
        {kDefaultStreamWindow / 2, kDefaultStreamWindow / 2}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ReceiveWindow w(c.window);
    size_t total = 0;
    for (const Step& s : c.steps) total += s.consumed;
    ASSERT_TRUE(w.Receive(std::min<size_t>(total, c.window)).ok());
    for (const Step& s : c.steps) EXPECT_EQ(w.Consumed(s.consumed), s.announce) << "after consuming " << s.consumed;
  }
}

// A sender pushing as fast as its windows allow, a receiver that drains slowly and announces what
// it consumed: the receiver never buffers more than a window, on the stream or the connection,
// and every byte arrives.
TEST(FlowWindow, SlowReaderNeverLetsTheSenderExceedTheWindow) {
  constexpr uint32_t kStreamWindow = 64 << 10;
  constexpr uint32_t kConnectionWindow = 96 << 10;  // less than two streams' windows: the connection binds too
  constexpr size_t kStreams = 2;
  constexpr size_t kBody = 3 << 20;

  SendWindow send_connection(kConnectionWindow);
  ReceiveWindow receive_connection(kConnectionWindow);
  std::vector<SendWindow> send_stream(kStreams, SendWindow(kStreamWindow));
  std::vector<ReceiveWindow> receive_stream(kStreams, ReceiveWindow(kStreamWindow));
  std::vector<size_t> sent(kStreams, 0), delivered(kStreams, 0);
  std::mt19937 rng(7);
  size_t updates = 0, rounds = 0;

  while (delivered[0] < kBody || delivered[1] < kBody) {
    ASSERT_LT(++rounds, 1'000'000u) << "stalled";
    // Sender: each stream sends what both windows allow, in chunks of at most kMaxDataChunk.
    for (size_t s = 0; s < kStreams; ++s) {
      size_t n = std::min({kBody - sent[s], send_stream[s].available(), send_connection.available(), kMaxDataChunk});
      if (n == 0) continue;
      send_stream[s].Consume(n);
      send_connection.Consume(n);
      sent[s] += n;
      ASSERT_TRUE(receive_stream[s].Receive(n).ok()) << "stream " << s << " overran at " << sent[s];
      ASSERT_TRUE(receive_connection.Receive(n).ok()) << "connection overran at " << sent[s];
    }
    // Receiver: drains a little from each stream; the updates go back to the sender.
    for (size_t s = 0; s < kStreams; ++s) {
      size_t n = std::min<size_t>(receive_stream[s].buffered(), rng() % 3000);
      delivered[s] += n;
      if (uint32_t inc = receive_stream[s].Consumed(n)) {
        ++updates;
        ASSERT_TRUE(send_stream[s].Grow(inc).ok());
      }
      if (uint32_t inc = receive_connection.Consumed(n)) {
        ++updates;
        ASSERT_TRUE(send_connection.Grow(inc).ok());
      }
      ASSERT_LE(receive_stream[s].buffered(), kStreamWindow);
    }
    ASSERT_LE(receive_connection.buffered(), kConnectionWindow);
    ASSERT_EQ(receive_connection.buffered(), receive_stream[0].buffered() + receive_stream[1].buffered());
  }
  EXPECT_EQ(sent[0], kBody);
  EXPECT_EQ(sent[1], kBody);
  EXPECT_EQ(receive_connection.buffered(), 0u);
  // Roughly one update per half window consumed, not one per read.
  EXPECT_LE(updates, 2 * (2 * kBody / (kStreamWindow / 2)) + 4);
}

// The sender that ignores its window is caught at the first byte too many.
TEST(FlowWindow, ASenderIgnoringTheWindowIsCaught) {
  ReceiveWindow w(kDefaultStreamWindow);
  size_t accepted = 0;
  Status s;
  while ((s = w.Receive(kMaxDataChunk)).ok()) accepted += kMaxDataChunk;
  EXPECT_EQ(accepted, kDefaultStreamWindow);
  EXPECT_THAT(s.message(), HasSubstr("sent 65536 bytes with only 0 allowed"));
}

}  // namespace
}  // namespace keyhole::protocol
