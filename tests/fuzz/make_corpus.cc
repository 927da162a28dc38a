// Writes the seed corpus of frame_decoder_fuzz: one small valid message per frame type, a batched
// message, and a few near-misses. The seeds are committed (tests/fuzz/corpus/frame_decoder/); run
// this again only when the protocol changes (target frame_decoder_make_corpus in the fuzz build, or):
//   g++ -std=c++20 -I. tests/fuzz/make_corpus.cc shared/protocol/frame.cc shared/protocol/frame_decoder.cc \
//     -o /tmp/make_corpus && /tmp/make_corpus tests/fuzz/corpus/frame_decoder
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "shared/protocol/frame.h"

using namespace keyhole::protocol;

namespace {

std::string Message(const std::vector<Frame>& frames) {
  std::string out;
  for (const Frame& f : frames) Encode(f, out);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::string data_header;
  AppendDataHeader(3, 4, true, data_header);
  std::string bad_flags = Message({Data{.stream = 1, .bytes = "x"}});
  bad_flags[1] = 0x02;
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"hello_agent", Message({Hello{.role = Role::kAgent, .max_streams = 64, .software = "keyhole-agent/0.1.0",
                                     .upstreams = {"grafana", "wiki"}}})},
      {"hello_coordinator", Message({Hello{.role = Role::kCoordinator, .software = "keyhole-coordinator/0.1.0"}})},
      {"request_head", Message({RequestHead{.stream = 1, .upstream = "grafana", .method = "GET",
                                            .target = "/api/health?x=1",
                                            .headers = {{"Accept", "*/*"}, {"X-Forwarded-For", "10.0.0.7"}}}})},
      {"request_head_end", Message({RequestHead{.stream = 3, .end_stream = true, .upstream = "wiki",
                                                .method = "DELETE", .target = "/"}})},
      {"response_head", Message({ResponseHead{.stream = 1, .status = 200,
                                              .headers = {{"Content-Type", "text/plain"}, {"Content-Length", "5"}}}})},
      {"data", Message({Data{.stream = 1, .bytes = "hello"}})},
      {"data_end_empty", Message({Data{.stream = 1, .end_stream = true}})},
      {"reset", Message({Reset{.stream = 5, .code = ResetCode::kUpstreamUnreachable, .reason = "connect refused"}})},
      {"window_updates", Message({WindowUpdate{.stream = 0, .increment = 8 << 20},
                                  WindowUpdate{.stream = 1, .increment = 128 << 10}})},
      {"ping_pong", Message({Ping{.opaque = 0x0102030405060708ULL}, Pong{.opaque = 0x0102030405060708ULL}})},
      {"close", Message({Close{.code = CloseCode::kTokenRevoked, .reason = "token revoked"}})},
      {"exchange", Message({RequestHead{.stream = 7, .upstream = "api", .method = "POST", .target = "/echo",
                                        .headers = {{"Content-Length", "6"}}},
                            Data{.stream = 7, .bytes = "abc"}, Data{.stream = 7, .end_stream = true, .bytes = "def"},
                            ResponseHead{.stream = 7, .status = 200}, Data{.stream = 7, .end_stream = true}})},
      {"data_header_only", data_header + "body"},
      {"bad_flags", bad_flags},
      {"truncated_hello", Message({Hello{.software = "s"}}).substr(0, 17)},
  };
  for (const auto& [name, bytes] : seeds) {
    std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::perror((dir + "/" + name).c_str());
      return 1;
    }
  }
  return 0;
}
