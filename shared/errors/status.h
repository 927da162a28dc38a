// Status and StatusOr<T>: how fallible calls report failure across module boundaries,
// instead of exceptions. A closed set of codes; an optional list of causes for validation
// errors; an optional `detail` tag the HTTP layer may use to pick a more specific error.
// Value types, freely copied; no threading concerns.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace keyhole {

enum class StatusCode {
  kOk,
  kInvalidArgument,    // the caller's input is wrong (400)
  kNotFound,           // no such resource (404)
  kAlreadyExists,      // a unique field collides (400 with a cause, as Okta does)
  kFailedPrecondition, // the resource's state forbids the operation (403/400)
  kUnauthenticated,    // no valid credential (401)
  kPermissionDenied,   // authenticated, not allowed (403)
  kRateLimited,        // too many requests (429)
  kUnavailable,        // transient: retry later (503)
  kInternal,           // a bug or an I/O failure (500)
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Field-level problems, phrased "<field>: <message>" (Okta's errorCauses).
  const std::vector<std::string>& causes() const { return causes_; }
  Status& AddCause(std::string cause) {
    causes_.push_back(std::move(cause));
    return *this;
  }
  // A machine-readable refinement of the code, e.g. "already_active" (see http/api_error.cc).
  const std::string& detail() const { return detail_; }
  Status& WithDetail(std::string detail) {
    detail_ = std::move(detail);
    return *this;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::vector<std::string> causes_;
  std::string detail_;
};

inline Status InvalidArgumentError(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status UnauthenticatedError(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status PermissionDeniedError(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// errno → Status, in one place.
Status ErrnoToStatus(int err, const std::string& what);

const char* StatusCodeName(StatusCode code);

template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {}     // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace keyhole
