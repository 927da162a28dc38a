// The encoder half of frame.h, with Validate and the names; the decoder is in frame_decoder.cc.
#include "shared/protocol/frame.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include "shared/protocol/frame_fields.h"

namespace keyhole::protocol {
namespace {

// Encoding past a limit would put bytes on the wire the peer must refuse (or cannot even
// represent, for a string over 64 KiB): a bug in the caller, so it stops here in every build.
void RequireLimit(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "keyhole::protocol::Encode: %s\n", what);
    std::abort();
  }
}

// --- sizes -------------------------------------------------------------------------------

size_t StringSize(const std::string& s) {
  RequireLimit(s.size() <= kMaxString, "a string is longer than 65535 bytes");
  return 2 + s.size();
}

size_t HeadersSize(const HeaderFields& headers) {
  RequireLimit(headers.size() <= 0xffff, "more than 65535 header fields");
  size_t n = 2;
  for (const auto& [name, value] : headers) n += StringSize(name) + StringSize(value);
  return n;
}

// A reason as it goes on the wire: at most kMaxReason bytes, not ending inside a UTF-8 sequence.
std::string_view WireReason(const std::string& reason) {
  if (reason.size() <= kMaxReason) return reason;
  size_t n = kMaxReason;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xc0) == 0x80) --n;
  return std::string_view(reason.data(), n);
}

size_t PayloadSize(const Hello& f) {
  RequireLimit(f.upstreams.size() <= kMaxHelloUpstreams, "more than kMaxHelloUpstreams upstreams");
  RequireLimit(f.software.size() <= kMaxName, "software is longer than kMaxName");
  for (const std::string& u : f.upstreams) RequireLimit(u.size() <= kMaxName, "an upstream name is longer than kMaxName");
  size_t n = 2 + 1 + 4 + 4 + 4 + StringSize(f.software) + 2;
  for (const std::string& u : f.upstreams) n += StringSize(u);
  return n;
}
size_t PayloadSize(const RequestHead& f) {
  return StringSize(f.upstream) + StringSize(f.method) + StringSize(f.target) + HeadersSize(f.headers);
}
size_t PayloadSize(const ResponseHead& f) { return 2 + HeadersSize(f.headers); }
size_t PayloadSize(const Data& f) { return f.bytes.size(); }
size_t PayloadSize(const Reset& f) { return 4 + 2 + WireReason(f.reason).size(); }
size_t PayloadSize(const WindowUpdate&) { return 4; }
size_t PayloadSize(const Ping&) { return 8; }
size_t PayloadSize(const Pong&) { return 8; }
size_t PayloadSize(const Close& f) { return 4 + 2 + WireReason(f.reason).size(); }

// --- encoding ----------------------------------------------------------------------------

// Writes into space the caller has already sized exactly.
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}
  void U8(uint8_t v) { *p_++ = static_cast<char>(v); }
  void U16(uint16_t v) {
    p_[0] = static_cast<char>(v >> 8);
    p_[1] = static_cast<char>(v);
    p_ += 2;
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v));
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Bytes(std::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void String(std::string_view s) {
    U16(static_cast<uint16_t>(s.size()));
    Bytes(s);
  }
  void Headers(const HeaderFields& headers) {
    U16(static_cast<uint16_t>(headers.size()));
    for (const auto& [name, value] : headers) {
      String(name);
      String(value);
    }
  }

 private:
  char* p_;
};

// Grows `out` once by the whole frame (or, without `with_payload`, by the header while reserving
// room for the payload the caller appends) and returns a writer positioned after the header.
Writer AppendHeader(FrameType type, uint8_t flags, uint32_t stream, size_t payload, std::string& out,
                    bool with_payload = true) {
  RequireLimit(payload <= kMaxPayload, "a payload is larger than kMaxPayload");
  const size_t at = out.size();
  if (with_payload) {
    out.resize(at + kFrameHeaderSize + payload);
  } else {
    out.reserve(at + kFrameHeaderSize + payload);
    out.resize(at + kFrameHeaderSize);
  }
  Writer w(out.data() + at);
  w.U8(static_cast<uint8_t>(type));
  w.U8(flags);
  w.U32(stream);
  w.U32(static_cast<uint32_t>(payload));
  return w;
}

uint8_t EndStreamFlag(bool end_stream) { return end_stream ? kFlagEndStream : 0; }

void EncodeOne(const Hello& f, std::string& out) {
  Writer w = AppendHeader(FrameType::kHello, 0, 0, PayloadSize(f), out);
  w.U16(f.version);
  w.U8(static_cast<uint8_t>(f.role));
  w.U32(f.stream_window);
  w.U32(f.connection_window);
  w.U32(f.max_streams);
  w.String(f.software);
  w.U16(static_cast<uint16_t>(f.upstreams.size()));
  for (const std::string& u : f.upstreams) w.String(u);
}

void EncodeHead(const RequestHead& f, uint32_t stream, std::string& out) {
  size_t size = PayloadSize(f);
  RequireLimit(size <= kMaxHeadPayload, "a REQUEST_HEAD is larger than kMaxHeadPayload");
  Writer w = AppendHeader(FrameType::kRequestHead, EndStreamFlag(f.end_stream), stream, size, out);
  w.String(f.upstream);
  w.String(f.method);
  w.String(f.target);
  w.Headers(f.headers);
}

void EncodeHead(const ResponseHead& f, uint32_t stream, std::string& out) {
  size_t size = PayloadSize(f);
  RequireLimit(size <= kMaxHeadPayload, "a RESPONSE_HEAD is larger than kMaxHeadPayload");
  Writer w = AppendHeader(FrameType::kResponseHead, EndStreamFlag(f.end_stream), stream, size, out);
  w.U16(f.status);
  w.Headers(f.headers);
}

void EncodeOne(const RequestHead& f, std::string& out) { EncodeHead(f, f.stream, out); }
void EncodeOne(const ResponseHead& f, std::string& out) { EncodeHead(f, f.stream, out); }

void EncodeOne(const Data& f, std::string& out) {
  AppendDataHeader(f.stream, f.bytes.size(), f.end_stream, out);
  out.append(f.bytes);
}

void EncodeOne(const Reset& f, std::string& out) {
  Writer w = AppendHeader(FrameType::kReset, 0, f.stream, PayloadSize(f), out);
  w.U32(static_cast<uint32_t>(f.code));
  w.String(WireReason(f.reason));
}

void EncodeOne(const WindowUpdate& f, std::string& out) {
  Writer w = AppendHeader(FrameType::kWindowUpdate, 0, f.stream, 4, out);
  w.U32(f.increment);
}

void EncodeOne(const Ping& f, std::string& out) { AppendHeader(FrameType::kPing, 0, 0, 8, out).U64(f.opaque); }
void EncodeOne(const Pong& f, std::string& out) { AppendHeader(FrameType::kPong, 0, 0, 8, out).U64(f.opaque); }

void EncodeOne(const Close& f, std::string& out) {
  Writer w = AppendHeader(FrameType::kClose, 0, 0, PayloadSize(f), out);
  w.U32(static_cast<uint32_t>(f.code));
  w.String(WireReason(f.reason));
}

Status Refuse(FrameType type, std::string problem) {
  return InvalidArgumentError(std::string(ToString(type)) + ": " + problem);
}

// What Encode would abort on, as a Status, for the frames other than heads (below): every
// string and count fits its field and the payload its limit.
Status CheckLimits(const Frame& frame) {
  const FrameType type = TypeOf(frame);
  Status s = std::visit(
      [type](const auto& f) -> Status {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, Hello>) {
          if (f.software.size() > kMaxName) return Refuse(type, "software is longer than 255 bytes");
          if (f.upstreams.size() > kMaxHelloUpstreams) {
            return Refuse(type, "more than " + std::to_string(kMaxHelloUpstreams) + " upstreams");
          }
          for (const std::string& u : f.upstreams) {
            if (u.size() > kMaxName) return Refuse(type, "an upstream name is longer than 255 bytes");
          }
        } else if constexpr (std::is_same_v<T, Reset> || std::is_same_v<T, Close>) {
          if (f.reason.size() > kMaxReason) {
            return Refuse(type, "reason is longer than " + std::to_string(kMaxReason) + " bytes (Encode would cut it)");
          }
        }
        return Status::Ok();
      },
      frame);
  if (!s.ok()) return s;
  const size_t payload = std::visit([](const auto& f) { return PayloadSize(f); }, frame);
  if (payload > kMaxPayload) {
    return Refuse(type, "payload of " + std::to_string(payload) + " bytes exceeds the limit of " +
                            std::to_string(kMaxPayload) + " (kMaxPayload)");
  }
  return Status::Ok();
}

// --- heads: validated in place -----------------------------------------------------------
// A head is what a sender builds from untrusted input on every request, so it is checked
// directly rather than encoded and decoded again. The order of the checks (and so which problem
// is named when there are several) is the round trip's: first what Encode would abort on, then
// the decoder's frame header (the stream), then the decoder's field rules (frame_fields.h).

// What Encode would abort on in the header fields; adds their encoded size to `payload`.
Status HeaderLimits(FrameType type, const HeaderFields& headers, size_t& payload) {
  if (headers.size() > kMaxHeaderFields) {
    return Refuse(type, std::to_string(headers.size()) + " header fields exceed the limit of " +
                            std::to_string(kMaxHeaderFields));
  }
  payload += 2;
  for (const auto& [name, value] : headers) {
    if (name.size() > kMaxString) return Refuse(type, "a header name is longer than 65535 bytes");
    if (value.size() > kMaxString) return Refuse(type, "a header value is longer than 65535 bytes");
    payload += 4 + name.size() + value.size();
  }
  return Status::Ok();
}

Status HeadPayloadLimit(FrameType type, size_t payload) {
  if (payload <= kMaxHeadPayload) return Status::Ok();
  return Refuse(type, "payload of " + std::to_string(payload) + " bytes exceeds the limit of " +
                          std::to_string(kMaxHeadPayload) + " (kMaxHeadPayload)");
}

Status HeadStream(FrameType type, uint32_t stream) {
  if (stream != 0) return Status::Ok();
  return Refuse(type, "stream frame on stream 0");
}

Status HeaderRules(FrameType type, const HeaderFields& headers) {
  for (size_t i = 0; i < headers.size(); ++i) {
    if (std::string problem = HeaderFieldProblem(i, headers[i].first, headers[i].second); !problem.empty()) {
      return Refuse(type, std::move(problem));
    }
  }
  return Status::Ok();
}

}  // namespace

Status Validate(const RequestHead& f, uint32_t stream) {
  constexpr FrameType kType = FrameType::kRequestHead;
  if (f.upstream.size() > kMaxName) return Refuse(kType, "upstream is longer than 255 bytes");
  if (f.method.size() > kMaxString) return Refuse(kType, "method is longer than 65535 bytes");
  if (f.target.size() > kMaxString) return Refuse(kType, "target is longer than 65535 bytes");
  size_t payload = 2 + f.upstream.size() + 2 + f.method.size() + 2 + f.target.size();
  if (Status s = HeaderLimits(kType, f.headers, payload); !s.ok()) return s;
  if (Status s = HeadPayloadLimit(kType, payload); !s.ok()) return s;
  if (Status s = HeadStream(kType, stream); !s.ok()) return s;
  if (std::string problem = RequestLineProblem(f.upstream, f.method, f.target); !problem.empty()) {
    return Refuse(kType, std::move(problem));
  }
  return HeaderRules(kType, f.headers);
}

Status Validate(const ResponseHead& f, uint32_t stream) {
  constexpr FrameType kType = FrameType::kResponseHead;
  size_t payload = 2;
  if (Status s = HeaderLimits(kType, f.headers, payload); !s.ok()) return s;
  if (Status s = HeadPayloadLimit(kType, payload); !s.ok()) return s;
  if (Status s = HeadStream(kType, stream); !s.ok()) return s;
  if (f.status < 100 || f.status > 999) {
    return Refuse(kType, "status " + std::to_string(f.status) + " is outside 100..999");
  }
  return HeaderRules(kType, f.headers);
}

namespace {
}  // namespace

void Encode(const Frame& frame, std::string& out) {
  std::visit([&out](const auto& f) { EncodeOne(f, out); }, frame);
}

void Encode(const RequestHead& head, uint32_t stream, std::string& out) { EncodeHead(head, stream, out); }
void Encode(const ResponseHead& head, uint32_t stream, std::string& out) { EncodeHead(head, stream, out); }

void AppendDataHeader(uint32_t stream, size_t length, bool end_stream, std::string& out) {
  AppendHeader(FrameType::kData, EndStreamFlag(end_stream), stream, length, out, /*with_payload=*/false);
}

Status Validate(const Frame& frame) {
  if (const RequestHead* head = std::get_if<RequestHead>(&frame)) return Validate(*head, head->stream);
  if (const ResponseHead* head = std::get_if<ResponseHead>(&frame)) return Validate(*head, head->stream);
  if (Status s = CheckLimits(frame); !s.ok()) return s;
  if (const Data* data = std::get_if<Data>(&frame)) {
    // Its payload is opaque: only the header could be wrong, and copying the bytes is not needed.
    if (data->stream == 0) return InvalidArgumentError("DATA: stream frame on stream 0");
    return Status::Ok();
  }
  std::string bytes;
  Encode(frame, bytes);
  std::string_view in = bytes;
  return DecodeFrame(in).status();
}

size_t EncodedSize(const Frame& frame) {
  return kFrameHeaderSize + std::visit([](const auto& f) { return PayloadSize(f); }, frame);
}

FrameType TypeOf(const Frame& frame) {
  // The variant's alternatives are declared in FrameType order.
  return static_cast<FrameType>(frame.index() + 1);
}

uint32_t StreamOf(const Frame& frame) {
  return std::visit(
      [](const auto& f) -> uint32_t {
        if constexpr (requires { f.stream; }) {
          return f.stream;
        } else {
          return 0;
        }
      },
      frame);
}

std::string_view ToString(FrameType type) {
  switch (type) {
    case FrameType::kHello: return "HELLO";
    case FrameType::kRequestHead: return "REQUEST_HEAD";
    case FrameType::kResponseHead: return "RESPONSE_HEAD";
    case FrameType::kData: return "DATA";
    case FrameType::kReset: return "RESET";
    case FrameType::kWindowUpdate: return "WINDOW_UPDATE";
    case FrameType::kPing: return "PING";
    case FrameType::kPong: return "PONG";
    case FrameType::kClose: return "CLOSE";
  }
  return "UNKNOWN_FRAME_TYPE";
}

std::string_view ToString(ResetCode code) {
  switch (code) {
    case ResetCode::kCancel: return "CANCEL";
    case ResetCode::kRefused: return "REFUSED";
    case ResetCode::kUnknownUpstream: return "UNKNOWN_UPSTREAM";
    case ResetCode::kUpstreamUnreachable: return "UPSTREAM_UNREACHABLE";
    case ResetCode::kUpstreamTimeout: return "UPSTREAM_TIMEOUT";
    case ResetCode::kUpstreamError: return "UPSTREAM_ERROR";
    case ResetCode::kProtocolError: return "PROTOCOL_ERROR";
    case ResetCode::kFlowControlError: return "FLOW_CONTROL_ERROR";
    case ResetCode::kInternal: return "INTERNAL";
  }
  return "UNKNOWN_RESET_CODE";
}

std::string_view ToString(CloseCode code) {
  switch (code) {
    case CloseCode::kNormal: return "NORMAL";
    case CloseCode::kShuttingDown: return "SHUTTING_DOWN";
    case CloseCode::kTokenRevoked: return "TOKEN_REVOKED";
    case CloseCode::kAgentDeactivated: return "AGENT_DEACTIVATED";
    case CloseCode::kProtocolError: return "PROTOCOL_ERROR";
    case CloseCode::kVersionUnsupported: return "VERSION_UNSUPPORTED";
    case CloseCode::kReplaced: return "REPLACED";
    case CloseCode::kIdleTimeout: return "IDLE_TIMEOUT";
  }
  return "UNKNOWN_CLOSE_CODE";
}

std::string ToString(const Frame& frame) {
  std::string s(ToString(TypeOf(frame)));
  std::visit(
      [&s](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        auto end = [&s](bool end_stream) {
          if (end_stream) s += " END_STREAM";
        };
        if constexpr (std::is_same_v<T, Hello>) {
          s += " v" + std::to_string(f.version) + (f.role == Role::kAgent ? " agent" : " coordinator") +
               " software=" + EscapeForMessage(f.software) + " upstreams=" + std::to_string(f.upstreams.size());
        } else if constexpr (std::is_same_v<T, RequestHead>) {
          s += " stream=" + std::to_string(f.stream) + " " + EscapeForMessage(f.method) + " " +
               EscapeForMessage(f.upstream) + EscapeForMessage(f.target);
          end(f.end_stream);
        } else if constexpr (std::is_same_v<T, ResponseHead>) {
          s += " stream=" + std::to_string(f.stream) + " status=" + std::to_string(f.status);
          end(f.end_stream);
        } else if constexpr (std::is_same_v<T, Data>) {
          s += " stream=" + std::to_string(f.stream) + " bytes=" + std::to_string(f.bytes.size());
          end(f.end_stream);
        } else if constexpr (std::is_same_v<T, Reset>) {
          s += " stream=" + std::to_string(f.stream) + " " + std::string(ToString(f.code)) + " " +
               EscapeForMessage(f.reason);
        } else if constexpr (std::is_same_v<T, WindowUpdate>) {
          s += " stream=" + std::to_string(f.stream) + " increment=" + std::to_string(f.increment);
        } else if constexpr (std::is_same_v<T, Ping> || std::is_same_v<T, Pong>) {
          s += " " + std::to_string(f.opaque);
        } else if constexpr (std::is_same_v<T, Close>) {
          s += " " + std::string(ToString(f.code)) + " " + EscapeForMessage(f.reason);
        }
      },
      frame);
  return s;
}

}  // namespace keyhole::protocol
