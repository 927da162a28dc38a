// The decoder half of frame.h (the encoder is in frame.cc). It reads what a possibly hostile peer
// sent: every read is bounds-checked, and every count is checked against the bytes left before
// anything is allocated for it.
#include "shared/protocol/frame.h"

#include <cstdio>
#include <string>
#include <utility>

#include "shared/protocol/frame_fields.h"

namespace keyhole::protocol {
namespace {

uint16_t LoadU16(const char* p) {
  return static_cast<uint16_t>((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
}
uint32_t LoadU32(const char* p) { return (uint32_t{LoadU16(p)} << 16) | LoadU16(p + 2); }

// Reads a payload front to back. The first failure is kept (naming the frame type and the
// field) and every later read fails too, so a decoder chains reads and checks once.
class PayloadReader {
 public:
  PayloadReader(FrameType type, std::string_view payload) : type_(type), rest_(payload) {}

  bool U8(const char* field, uint8_t& v) {
    if (!Need(field, 1)) return false;
    v = static_cast<unsigned char>(rest_[0]);
    rest_.remove_prefix(1);
    return true;
  }
  bool U16(const char* field, uint16_t& v) {
    if (!Need(field, 2)) return false;
    v = LoadU16(rest_.data());
    rest_.remove_prefix(2);
    return true;
  }
  bool U32(const char* field, uint32_t& v) {
    if (!Need(field, 4)) return false;
    v = LoadU32(rest_.data());
    rest_.remove_prefix(4);
    return true;
  }
  bool U64(const char* field, uint64_t& v) {
    if (!Need(field, 8)) return false;
    v = (uint64_t{LoadU32(rest_.data())} << 32) | LoadU32(rest_.data() + 4);
    rest_.remove_prefix(8);
    return true;
  }
  bool String(const char* field, std::string& s, size_t max = kMaxString) {
    uint16_t n = 0;
    if (!U16(field, n)) return false;
    if (n > max) {
      return Fail(std::string(field) + " length " + std::to_string(n) + " exceeds the limit of " + std::to_string(max));
    }
    if (!Need(field, n)) return false;
    s.assign(rest_.data(), n);
    rest_.remove_prefix(n);
    return true;
  }
  // A u16 count of items that each take at least `min_item_size` bytes: checked against what is
  // left before anyone reserves room for that many.
  bool Count(const char* field, size_t min_item_size, size_t max, uint16_t& n) {
    if (!U16(field, n)) return false;
    if (n > max) return Fail(std::string(field) + " count " + std::to_string(n) + " exceeds the limit of " +
                             std::to_string(max));
    if (size_t{n} * min_item_size > rest_.size()) {
      return Fail(std::string(field) + " count " + std::to_string(n) + " does not fit in the " +
                  std::to_string(rest_.size()) + " bytes left (truncated)");
    }
    return true;
  }
  bool Headers(HeaderFields& headers) {
    uint16_t n = 0;
    if (!Count("header", 4, kMaxHeaderFields, n)) return false;
    headers.resize(n);
    for (size_t i = 0; i < n; ++i) {
      auto& [name, value] = headers[i];
      if (!String("header name", name) || !String("header value", value)) return false;
      if (std::string problem = HeaderFieldProblem(i, name, value); !problem.empty()) return Fail(std::move(problem));
    }
    return true;
  }

  bool Fail(std::string problem) {
    if (status_.ok()) status_ = InvalidArgumentError(std::string(ToString(type_)) + ": " + problem);
    return false;
  }
  // The frame's status once every field was read: trailing bytes are an error too.
  Status Finish() {
    if (status_.ok() && !rest_.empty()) Fail(std::to_string(rest_.size()) + " trailing bytes in the payload");
    return status_;
  }
  const Status& status() const { return status_; }
  std::string_view rest() const { return rest_; }

 private:
  bool Need(const char* field, size_t n) {
    if (!status_.ok()) return false;
    if (rest_.size() < n) return Fail(std::string("truncated at ") + field);
    return true;
  }

  FrameType type_;
  std::string_view rest_;
  Status status_;
};

void CheckWindow(PayloadReader& r, const char* field, uint32_t window) {
  if (window > kMaxWindow) r.Fail(std::string(field) + " " + std::to_string(window) + " exceeds kMaxWindow");
}

StatusOr<Frame> DecodeHello(PayloadReader& r) {
  Hello f;
  uint8_t role = 0;
  uint16_t upstreams = 0;
  if (r.U16("version", f.version) && r.U8("role", role) && r.U32("stream_window", f.stream_window) &&
      r.U32("connection_window", f.connection_window) && r.U32("max_streams", f.max_streams) &&
      r.String("software", f.software, kMaxName) && r.Count("upstream", 2, kMaxHelloUpstreams, upstreams)) {
    if (role != static_cast<uint8_t>(Role::kCoordinator) && role != static_cast<uint8_t>(Role::kAgent)) {
      r.Fail("unknown role " + std::to_string(role));
    }
    f.role = static_cast<Role>(role);
    CheckWindow(r, "stream_window", f.stream_window);
    CheckWindow(r, "connection_window", f.connection_window);
    f.upstreams.resize(upstreams);
    for (std::string& u : f.upstreams) {
      if (!r.String("upstream", u, kMaxName)) break;
      if (u.empty()) r.Fail("empty upstream name");
    }
  }
  if (Status s = r.Finish(); !s.ok()) return s;
  return Frame(std::move(f));
}

StatusOr<Frame> DecodeRequestHead(PayloadReader& r, uint32_t stream, bool end_stream) {
  RequestHead f{.stream = stream, .end_stream = end_stream};
  if (r.String("upstream", f.upstream, kMaxName) && r.String("method", f.method) && r.String("target", f.target)) {
    if (std::string problem = RequestLineProblem(f.upstream, f.method, f.target); !problem.empty()) {
      r.Fail(std::move(problem));
    } else {
      r.Headers(f.headers);
    }
  }
  if (Status s = r.Finish(); !s.ok()) return s;
  return Frame(std::move(f));
}

StatusOr<Frame> DecodeResponseHead(PayloadReader& r, uint32_t stream, bool end_stream) {
  ResponseHead f{.stream = stream, .end_stream = end_stream};
  if (r.U16("status", f.status)) {
    if (f.status < 100 || f.status > 999) {
      r.Fail("status " + std::to_string(f.status) + " is outside 100..999");
    } else {
      r.Headers(f.headers);
    }
  }
  if (Status s = r.Finish(); !s.ok()) return s;
  return Frame(std::move(f));
}

StatusOr<Frame> DecodeReset(PayloadReader& r, uint32_t stream) {
  Reset f{.stream = stream};
  uint32_t code = 0;
  if (r.U32("code", code) && r.String("reason", f.reason, kMaxReason)) {
    if (code < static_cast<uint32_t>(ResetCode::kCancel) || code > static_cast<uint32_t>(ResetCode::kInternal)) {
      r.Fail("unknown reset code " + std::to_string(code));
    }
    f.code = static_cast<ResetCode>(code);
  }
  if (Status s = r.Finish(); !s.ok()) return s;
  return Frame(std::move(f));
}

StatusOr<Frame> DecodeWindowUpdate(PayloadReader& r, uint32_t stream) {
  WindowUpdate f{.stream = stream};
  if (r.U32("increment", f.increment)) {
    if (f.increment == 0) {
      r.Fail("window increment 0");
    } else if (f.increment > kMaxWindow) {
      r.Fail("window increment " + std::to_string(f.increment) + " exceeds kMaxWindow");
    }
  }
  if (Status s = r.Finish(); !s.ok()) return s;
  return Frame(std::move(f));
}

template <typename PingOrPong>
StatusOr<Frame> DecodeOpaque(PayloadReader& r) {
  PingOrPong f;
  r.U64("opaque", f.opaque);
  if (Status s = r.Finish(); !s.ok()) return s;
  return Frame(std::move(f));
}

StatusOr<Frame> DecodeClose(PayloadReader& r) {
  Close f;
  uint32_t code = 0;
  if (r.U32("code", code) && r.String("reason", f.reason, kMaxReason)) {
    if (code < static_cast<uint32_t>(CloseCode::kNormal) || code > static_cast<uint32_t>(CloseCode::kIdleTimeout)) {
      r.Fail("unknown close code " + std::to_string(code));
    }
    f.code = static_cast<CloseCode>(code);
  }
  if (Status s = r.Finish(); !s.ok()) return s;
  return Frame(std::move(f));
}

bool IsKnownType(uint8_t type) {
  return type >= static_cast<uint8_t>(FrameType::kHello) && type <= static_cast<uint8_t>(FrameType::kClose);
}

bool CarriesEndStream(FrameType type) { return IsHeadType(type) || type == FrameType::kData; }

}  // namespace

StatusOr<Frame> DecodeFrame(std::string_view& in) {
  if (in.size() < kFrameHeaderSize) {
    return InvalidArgumentError("truncated frame header: " + std::to_string(in.size()) + " of " +
                                std::to_string(kFrameHeaderSize) + " bytes");
  }
  const auto raw_type = static_cast<uint8_t>(in[0]);
  const auto flags = static_cast<uint8_t>(in[1]);
  const uint32_t stream = LoadU32(in.data() + 2);
  const uint32_t length = LoadU32(in.data() + 6);
  if (!IsKnownType(raw_type)) return InvalidArgumentError("unknown frame type " + std::to_string(raw_type));
  const auto type = static_cast<FrameType>(raw_type);
  const std::string name(ToString(type));

  if (length > kMaxPayload) {
    return InvalidArgumentError(name + ": payload length " + std::to_string(length) + " exceeds kMaxPayload (" +
                                std::to_string(kMaxPayload) + ")");
  }
  if (IsHeadType(type) && length > kMaxHeadPayload) {
    return InvalidArgumentError(name + ": head payload length " + std::to_string(length) +
                                " exceeds kMaxHeadPayload (" + std::to_string(kMaxHeadPayload) + ")");
  }
  const uint8_t allowed_flags = CarriesEndStream(type) ? kFlagEndStream : 0;
  if ((flags & ~allowed_flags) != 0) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", flags);
    return InvalidArgumentError(name + ": unknown flags " + hex + " (END_STREAM is the only flag, on heads and DATA)");
  }
  switch (type) {
    case FrameType::kHello:
    case FrameType::kPing:
    case FrameType::kPong:
    case FrameType::kClose:
      if (stream != 0) {
        return InvalidArgumentError(name + ": connection frame on stream " + std::to_string(stream) +
                                    " (must be stream 0)");
      }
      break;
    case FrameType::kRequestHead:
    case FrameType::kResponseHead:
    case FrameType::kData:
    case FrameType::kReset:
      if (stream == 0) return InvalidArgumentError(name + ": stream frame on stream 0");
      break;
    case FrameType::kWindowUpdate:
      break;  // 0 is the connection, anything else a stream
  }
  if (in.size() - kFrameHeaderSize < length) {
    return InvalidArgumentError(name + ": truncated payload: " + std::to_string(in.size() - kFrameHeaderSize) +
                                " of " + std::to_string(length) + " bytes");
  }

  const std::string_view payload = in.substr(kFrameHeaderSize, length);
  const bool end_stream = (flags & kFlagEndStream) != 0;
  PayloadReader r(type, payload);
  StatusOr<Frame> frame = [&]() -> StatusOr<Frame> {
    switch (type) {
      case FrameType::kHello: return DecodeHello(r);
      case FrameType::kRequestHead: return DecodeRequestHead(r, stream, end_stream);
      case FrameType::kResponseHead: return DecodeResponseHead(r, stream, end_stream);
      case FrameType::kData:
        return Frame(Data{.stream = stream, .end_stream = end_stream, .bytes = std::string(payload)});
      case FrameType::kReset: return DecodeReset(r, stream);
      case FrameType::kWindowUpdate: return DecodeWindowUpdate(r, stream);
      case FrameType::kPing: return DecodeOpaque<Ping>(r);
      case FrameType::kPong: return DecodeOpaque<Pong>(r);
      case FrameType::kClose: return DecodeClose(r);
    }
    return InternalError("unreachable");
  }();
  if (frame.ok()) in.remove_prefix(kFrameHeaderSize + length);
  return frame;
}

StatusOr<std::vector<Frame>> DecodeMessage(std::string_view message) {
  if (message.empty()) return InvalidArgumentError("empty message: a message carries at least one frame");
  std::vector<Frame> frames;
  while (!message.empty()) {
    StatusOr<Frame> frame = DecodeFrame(message);
    if (!frame.ok()) return frame.status();
    frames.push_back(std::move(frame).value());
  }
  return frames;
}
}  // namespace keyhole::protocol
