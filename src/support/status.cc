#include "support/status.h"

#include <cstdio>
#include <cstdlib>

namespace qdiff {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kInvalidModel:
      return "invalid model";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kIo:
      return "i/o error";
    case ErrorCode::kResourceLimit:
      return "resource limit";
    case ErrorCode::kInternal:
      return "internal error";
    case ErrorCode::kGoalFailed:
      return "goal failed";
  }
  return "unknown";
}

Status::Status(ErrorCode code, std::string message)
    : state_(code == ErrorCode::kOk ? nullptr
                                    : std::make_unique<State>(State{code, std::move(message)})) {}

Status::Status(const Status& other)
    : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
  return *this;
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

Status Status::with_context(std::string_view context) const {
  if (ok()) return Status();
  return Status(state_->code, std::string(context) + ": " + state_->message);
}

void assert_fail(const char* file, int line, const char* cond, std::string_view msg) {
  std::fprintf(stderr, "qdiff internal error at %s:%d: %s (%.*s)\n", file, line, cond,
               static_cast<int>(msg.size()), msg.data());
  std::abort();
}

}  // namespace qdiff
