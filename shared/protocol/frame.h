// The tunnel protocol's frames (docs/PROTOCOL.md): value types, an encoder that appends to a
// buffer and a decoder that reads one frame from the front of a buffer. Pure code with no I/O and
// no state, so it is table-tested and fuzzed (tests/fuzz/frame_decoder_fuzz.cc). Every frame
// travels in a WebSocket binary message; a message holds one or more whole frames.
// Layout of every frame: type u8 · flags u8 · stream id u32 · payload length u32 (big-endian),
// then the payload. Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "shared/errors/status.h"

namespace keyhole::protocol {

inline constexpr uint16_t kVersion = 1;
inline constexpr char kWebSocketSubprotocol[] = "keyhole-tunnel.v1";
inline constexpr size_t kFrameHeaderSize = 10;
inline constexpr size_t kMaxPayload = 1 << 20;      // any frame; the decoder refuses more
inline constexpr size_t kMaxHeadPayload = 64 << 10; // a request or response head
inline constexpr size_t kMaxDataChunk = 64 << 10;   // what senders put in one DATA frame
inline constexpr size_t kMaxHeaderFields = 256;
inline constexpr size_t kMaxReason = 1024;         // CLOSE and RESET reasons: Encode truncates, decoders refuse more
inline constexpr size_t kMaxName = 255;            // an upstream name, the HELLO's software string
inline constexpr size_t kMaxHelloUpstreams = 256;  // names in one HELLO
inline constexpr size_t kMaxMessage = 2 << 20;      // a WebSocket message: senders batch within it, receivers accept it
inline constexpr uint32_t kDefaultStreamWindow = 256 << 10;
inline constexpr uint32_t kDefaultConnectionWindow = 16 << 20;
inline constexpr uint32_t kMaxWindow = 0x7fffffff;

enum class FrameType : uint8_t {
  kHello = 1,
  kRequestHead = 2,   // coordinator → agent, opens a stream
  kResponseHead = 3,  // agent → coordinator
  kData = 4,
  kReset = 5,
  kWindowUpdate = 6,
  kPing = 7,
  kPong = 8,
  kClose = 9,
};

inline constexpr uint8_t kFlagEndStream = 0x01;  // on heads and DATA: no more body in this direction

enum class Role : uint8_t { kCoordinator = 1, kAgent = 2 };

// Stream 0. Each side sends one first; nothing else may precede it.
struct Hello {
  uint16_t version = kVersion;
  Role role = Role::kAgent;
  uint32_t stream_window = kDefaultStreamWindow;          // what the sender lets the peer send per stream
  uint32_t connection_window = kDefaultConnectionWindow;  // … and on the whole connection
  uint32_t max_streams = 256;                             // streams the sender accepts at once
  std::string software;                                   // "keyhole-agent/0.1.0"
  std::vector<std::string> upstreams;                     // agent: the names it forwards to
  bool operator==(const Hello&) const = default;
};

using HeaderFields = std::vector<std::pair<std::string, std::string>>;

// Opens stream `stream` (odd ids, increasing, chosen by the coordinator).
struct RequestHead {
  uint32_t stream = 0;
  bool end_stream = false;  // no request body follows
  std::string upstream;     // a name from the agent's Hello
  std::string method;
  std::string target;       // origin-form: "/path?query", as the upstream is to see it
  HeaderFields headers;     // end-to-end fields only
  bool operator==(const RequestHead&) const = default;
};

struct ResponseHead {
  uint32_t stream = 0;
  bool end_stream = false;
  uint16_t status = 0;      // 100..999
  HeaderFields headers;     // end-to-end fields only
  bool operator==(const ResponseHead&) const = default;
};

// Body bytes (already de-chunked). Consumes flow-control credit of its stream and connection.
struct Data {
  uint32_t stream = 0;
  bool end_stream = false;
  std::string bytes;
  bool operator==(const Data&) const = default;
};

enum class ResetCode : uint32_t {
  kCancel = 1,               // the sender no longer wants the stream (client went away)
  kRefused = 2,              // not processed at all: safe to retry elsewhere
  kUnknownUpstream = 3,      // not in the agent's config
  kUpstreamUnreachable = 4,  // connect or TLS to the upstream failed
  kUpstreamTimeout = 5,
  kUpstreamError = 6,        // the upstream broke the exchange after it began
  kProtocolError = 7,
  kFlowControlError = 8,
  kInternal = 9,
};

struct Reset {
  uint32_t stream = 0;
  ResetCode code = ResetCode::kCancel;
  std::string reason;  // human-readable, for logs and error causes
  bool operator==(const Reset&) const = default;
};

// stream 0: connection-level credit; otherwise that stream's.
struct WindowUpdate {
  uint32_t stream = 0;
  uint32_t increment = 0;  // 1..kMaxWindow
  bool operator==(const WindowUpdate&) const = default;
};

struct Ping {
  uint64_t opaque = 0;
  bool operator==(const Ping&) const = default;
};
struct Pong {
  uint64_t opaque = 0;  // echoes the Ping's
  bool operator==(const Pong&) const = default;
};

enum class CloseCode : uint32_t {
  kNormal = 1,
  kShuttingDown = 2,       // reconnect (elsewhere) after the usual backoff
  kTokenRevoked = 3,       // the token is no longer valid: do not retry with it
  kAgentDeactivated = 4,   // retry slowly; the admin may reactivate
  kProtocolError = 5,
  kVersionUnsupported = 6,
  kReplaced = 7,           // the same agent connected again; this connection is the stale one
  kIdleTimeout = 8,
};

// The last frame a side sends; streams still open are reset by it.
struct Close {
  CloseCode code = CloseCode::kNormal;
  std::string reason;
  bool operator==(const Close&) const = default;
};

using Frame = std::variant<Hello, RequestHead, ResponseHead, Data, Reset, WindowUpdate, Ping, Pong, Close>;

// Appends the encoded frame to `out`. A CLOSE or RESET reason longer than kMaxReason is cut there
// (at a UTF-8 boundary): reasons often quote what a peer sent. REQUIRES: the frame is otherwise
// within the limits above (strings ≤ 65535 bytes, heads ≤ kMaxHeadPayload, Data ≤ kMaxPayload, a
// HELLO's names); past them it aborts, in every build: untrusted heads go through Validate first.
void Encode(const Frame& frame, std::string& out);
// Encode(Frame(head)) with `stream` in place of head.stream, without copying the head into a
// Frame: for a head kept for a retry, or built before its stream is numbered.
void Encode(const RequestHead& head, uint32_t stream, std::string& out);
void Encode(const ResponseHead& head, uint32_t stream, std::string& out);
// Appends only a DATA frame's header; the caller appends `length` payload bytes after it.
void AppendDataHeader(uint32_t stream, size_t length, bool end_stream, std::string& out);

// Decodes the frame at the front of `in` and advances `in` past it. InvalidArgument, naming what
// is wrong, for a truncated or malformed frame, an unknown type, a field out of range, a frame on
// the wrong stream (connection frames on 0, stream frames on non-zero), unknown flags, or
// trailing bytes inside the payload. On error `in` is left as it was.
StatusOr<Frame> DecodeFrame(std::string_view& in);

// Decodes a whole WebSocket message (one or more frames; an empty message is an error).
StatusOr<std::vector<Frame>> DecodeMessage(std::string_view message);

// What a sender holding untrusted content (a caller's headers, an upstream's) checks before Encode:
// InvalidArgument, naming the problem, for anything Encode would abort on (a string over 65535
// bytes, a head over kMaxHeadPayload, a payload over kMaxPayload) or the peer's decoder would
// refuse (more than kMaxHeaderFields fields, a field name that is not an HTTP token, a value with
// CR/LF/NUL, an empty method or upstream, a target not in origin-form, a frame on the wrong stream…).
// Encode(frame) then succeeds and DecodeFrame of its bytes returns an equal frame.
Status Validate(const Frame& frame);
// Validate(Frame(head)) with `stream` in place of head.stream, without copying the head into a
// Frame (and without encoding it): for a sender that checks a head before it numbers the stream.
Status Validate(const RequestHead& head, uint32_t stream);
Status Validate(const ResponseHead& head, uint32_t stream);

// Bytes Encode appends, header included. REQUIRES: strings ≤ 65535 bytes.
size_t EncodedSize(const Frame& frame);
FrameType TypeOf(const Frame& frame);
uint32_t StreamOf(const Frame& frame);  // 0 for the connection frames

std::string_view ToString(FrameType type);
std::string_view ToString(ResetCode code);
std::string_view ToString(CloseCode code);
// One line for logs and test failures: "DATA stream=3 bytes=512 END_STREAM". Untrusted strings are
// escaped and cut short.
std::string ToString(const Frame& frame);

}  // namespace keyhole::protocol
