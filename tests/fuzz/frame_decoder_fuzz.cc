// libFuzzer target for the tunnel frame decoder (shared/protocol/frame.h), the code that reads
// what a possibly hostile peer sends. Besides the sanitizers' checks it is a round-trip oracle:
// every frame the decoder accepts must re-encode to exactly the bytes it came from, pass
// Validate, and decode again to an equal frame. Run by tests/fuzz/run.sh.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shared/protocol/frame.h"

namespace {

using namespace keyhole::protocol;

[[noreturn]] void Fail(const char* what, const Frame* frame) {
  std::fprintf(stderr, "frame_decoder_fuzz: %s%s%s\n", what, frame ? ": " : "",
               frame ? ToString(*frame).c_str() : "");
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Frame by frame, as the message decoder does, checking each accepted frame.
  std::string_view in = input;
  bool all_ok = !input.empty();
  while (!in.empty()) {
    const std::string_view before = in;
    keyhole::StatusOr<Frame> frame = DecodeFrame(in);
    if (!frame.ok()) {
      if (in.size() != before.size()) Fail("a refused frame was consumed", nullptr);
      if (frame.status().code() != keyhole::StatusCode::kInvalidArgument || frame.status().message().empty()) {
        Fail("a refusal is not an InvalidArgument with a message", nullptr);
      }
      all_ok = false;
      break;
    }
    const std::string_view original = before.substr(0, before.size() - in.size());

    std::string encoded;
    Encode(*frame, encoded);
    if (encoded != original) Fail("re-encoding differs from the decoded bytes", &*frame);
    if (EncodedSize(*frame) != encoded.size()) Fail("EncodedSize differs from Encode", &*frame);
    if (!Validate(*frame).ok()) Fail("Validate refuses a decoded frame", &*frame);

    std::string_view again = encoded;
    keyhole::StatusOr<Frame> redecoded = DecodeFrame(again);
    if (!redecoded.ok()) Fail("the re-encoded frame does not decode", &*frame);
    if (!again.empty()) Fail("the re-encoded frame left bytes behind", &*frame);
    if (!(*redecoded == *frame)) Fail("the round trip changed the frame", &*frame);
    (void)ToString(*frame);
  }

  // The whole-message decoder agrees with the frame-by-frame walk.
  keyhole::StatusOr<std::vector<Frame>> message = DecodeMessage(input);
  if (message.ok() != all_ok) Fail("DecodeMessage disagrees with DecodeFrame", nullptr);
  return 0;
}
