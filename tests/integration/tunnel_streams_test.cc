// The tunnel streaming 1 GiB each way and to a stalled reader, with the resident memory of the
// coordinator and of the agents bounded (tunnel_fixture.h sets up the processes).
#include "tests/integration/tunnel_fixture.h"

namespace keyhole::testing {
namespace {

TEST_F(TunnelTest, GibibyteDownloadStreamsWithBoundedMemory) {
  RssSampler rss({w_->coordinator.process()->pid(), w_->agent[0]->pid(), w_->agent[1]->pid()});
  StreamingResult r = w_->streams->Exchange(
      {.target = TunnelPath("bytes?n=" + std::to_string(kGiB)), .headers = AdminAuth()},
      {.io_timeout = 20s, .read_piece = 256 * 1024, .keep_body = 0, .check_pattern = true});
  rss.Stop();
  EXPECT_TRUE(r.complete) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(kGiB));
  EXPECT_EQ(r.body_bytes, kGiB);
  EXPECT_TRUE(r.pattern_ok) << "the body is not the bytes the upstream sent";
  std::cout << "[   info   ] 1 GiB download in " << r.elapsed.count() << " ms ("
            << MiBs(static_cast<int64_t>(kGiB)) * 1000.0 / std::max<int64_t>(r.elapsed.count(), 1) << " MiB/s); RSS\n"
            << rss.Describe() << "\n";
  EXPECT_LT(rss.Growth(0), kRssGrowthBound) << "coordinator: " << rss.Describe();
  EXPECT_LT(rss.Growth(1), kRssGrowthBound) << "agent 0: " << rss.Describe();
  EXPECT_LT(rss.Growth(2), kRssGrowthBound) << "agent 1: " << rss.Describe();
  EXPECT_GT(rss.samples(), 5);
}

TEST_F(TunnelTest, GibibyteUploadStreamsWithBoundedMemory) {
  RssSampler rss({w_->coordinator.process()->pid(), w_->agent[0]->pid(), w_->agent[1]->pid()});
  StreamingResult r = w_->streams->Exchange(
      {.method = "POST", .target = TunnelPath("sink"), .headers = AdminAuth(),
       .body = StreamingRequest::Body::kContentLength, .body_bytes = kGiB, .piece = 256 * 1024},
      {.io_timeout = 20s, .sha256 = true});
  rss.Stop();
  ASSERT_TRUE(r.complete) << r.error << " (write: " << r.write_error << ")";
  ASSERT_EQ(r.status, 200) << r.body << "\n" << r.request_bytes_sent / kMiB << " MiB sent in " << r.elapsed.count()
                           << " ms";
  json sink = json::parse(r.body, nullptr, false);
  EXPECT_EQ(sink.value("bytes", 0ull), kGiB) << r.body;
  EXPECT_EQ(sink.value("sha256", ""), r.request_sha256) << r.body;
  EXPECT_EQ(sink.value("framing", ""), "length") << r.body;
  EXPECT_TRUE(sink.value("pattern", false)) << r.body;
  std::cout << "[   info   ] 1 GiB upload in " << r.elapsed.count() << " ms ("
            << MiBs(static_cast<int64_t>(kGiB)) * 1000.0 / std::max<int64_t>(r.elapsed.count(), 1) << " MiB/s); RSS\n"
            << rss.Describe() << "\n";
  EXPECT_LT(rss.Growth(0), kRssGrowthBound) << "coordinator: " << rss.Describe();
  EXPECT_LT(rss.Growth(1), kRssGrowthBound) << "agent 0: " << rss.Describe();
  EXPECT_LT(rss.Growth(2), kRssGrowthBound) << "agent 1: " << rss.Describe();
}

TEST_F(TunnelTest, StalledReaderDoesNotSwellMemoryAndCompletesWhenItResumes) {
  const uint64_t n = 256 * kMiB;
  const std::string tag = Tag("stall");
  int served = -1;
  bool upstream_done_during_stall = false;
  RssSampler rss({w_->coordinator.process()->pid(), w_->agent[0]->pid(), w_->agent[1]->pid()});
  int pieces = 0;
  StreamingResult r = w_->streams->Exchange(
      {.target = TunnelPath("bytes?n=" + std::to_string(n) + "&" + tag), .headers = AdminAuth()},
      {.io_timeout = 20s,
       .read_piece = 64 * 1024,
       .keep_body = 0,
       .check_pattern = true,
       .on_head = [&](const StreamingResult& head) { served = Served(head.Header("X-Upstream")); },
       .on_progress =
           [&](uint64_t) {
             ++pieces;
             if (pieces == 1) {
               // 64 KiB read, then nothing for 3 s: only windows and socket buffers may fill.
               std::this_thread::sleep_for(3s);
               upstream_done_during_stall = served >= 0 && w_->upstream[served]->Answered(tag);
             } else if (pieces <= 100) {
               std::this_thread::sleep_for(10ms);  // then a trickle: 64 KiB every 10 ms
             }
           }});
  rss.Stop();
  EXPECT_TRUE(r.complete) << r.error;
  EXPECT_EQ(r.body_bytes, n);
  EXPECT_TRUE(r.pattern_ok);
  ASSERT_NE(served, -1);
  // Back-pressure reached the upstream: it could not hand over 256 MiB while nobody read.
  EXPECT_FALSE(upstream_done_during_stall) << "the whole body was buffered somewhere between upstream and caller";
  std::cout << "[   info   ] stalled reader (256 MiB, 3 s stall, 1 s trickle) in " << r.elapsed.count()
            << " ms; RSS\n"
            << rss.Describe() << "\n";
  EXPECT_LT(rss.Growth(0), kRssGrowthBound) << "coordinator: " << rss.Describe();
  EXPECT_LT(rss.Growth(1 + served), kRssGrowthBound) << "serving agent: " << rss.Describe();
}

}  // namespace
}  // namespace keyhole::testing
