// Status and Result: how user-facing errors travel (bad model, bad input, unsupported op).
// Internal invariants use QDIFF_ASSERT instead; see docs/error-handling.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace qdiff {

enum class ErrorCode : uint8_t {
  kOk,
  kInvalidArgument,  // bad CLI flag, bad input data, wrong shape or dtype
  kInvalidModel,     // the model file is malformed or inconsistent
  kUnsupported,      // valid, but qdiff does not implement it (yet)
  kIo,               // missing or unreadable file
  kResourceLimit,    // a tensor would exceed the memory limit
  kInternal,         // a bug in qdiff
  // Not an error: the command ran and its result fails a stated goal (qdiff diagnose found
  // error-severity findings, qdiff tune missed its goal). Exit code 1.
  kGoalFailed,
};

std::string_view error_code_name(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message);
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status ok_status() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  ErrorCode code() const { return state_ ? state_->code : ErrorCode::kOk; }
  const std::string& message() const;
  // Prefixes the message with where it happened: "node 'conv1' (Conv): <message>".
  Status with_context(std::string_view context) const;

 private:
  struct State {
    ErrorCode code;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

inline Status invalid_argument(std::string message) {
  return Status(ErrorCode::kInvalidArgument, std::move(message));
}
inline Status invalid_model(std::string message) {
  return Status(ErrorCode::kInvalidModel, std::move(message));
}
inline Status unsupported(std::string message) {
  return Status(ErrorCode::kUnsupported, std::move(message));
}
inline Status io_error(std::string message) {
  return Status(ErrorCode::kIo, std::move(message));
}
inline Status resource_limit(std::string message) {
  return Status(ErrorCode::kResourceLimit, std::move(message));
}
inline Status goal_failed(std::string message) {
  return Status(ErrorCode::kGoalFailed, std::move(message));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(data_); }
  Status status() const { return ok() ? Status() : std::get<Status>(data_); }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T value_or(T fallback) const { return ok() ? std::get<T>(data_) : std::move(fallback); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> data_;
};

[[noreturn]] void assert_fail(const char* file, int line, const char* cond, std::string_view msg);

}  // namespace qdiff

#define QDIFF_CONCAT_INNER(a, b) a##b
#define QDIFF_CONCAT(a, b) QDIFF_CONCAT_INNER(a, b)

#define QDIFF_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::qdiff::Status qdiff_status_ = (expr);        \
    if (!qdiff_status_.ok()) return qdiff_status_; \
  } while (false)

#define QDIFF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#define QDIFF_ASSIGN_OR_RETURN(lhs, expr) \
  QDIFF_ASSIGN_OR_RETURN_IMPL(QDIFF_CONCAT(qdiff_result_, __LINE__), lhs, expr)

// Internal invariant: a failure is a bug in qdiff, never a user error.
#define QDIFF_ASSERT(cond, msg)                                          \
  do {                                                                   \
    if (!(cond)) ::qdiff::assert_fail(__FILE__, __LINE__, #cond, (msg)); \
  } while (false)
