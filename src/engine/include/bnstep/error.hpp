#pragma once
// Errors the library reports. Each carries one line of text that names where
// the problem is (file, JSON location or node) and what was expected, and a
// kind; what a kind means to a caller (how a command reports it) is the
// caller's business.
#include <stdexcept>
#include <string>

namespace bnstep {

enum class ErrorKind {
    Lesson,   // a lesson that cannot be loaded, validated or executed
    Usage,    // a request the caller got wrong (unknown node, bad index ...)
    Numeric,  // a forward value or gradient that is NaN or infinite
    Data,     // a file of arrays (.npz, .npy, JSON) that cannot be read or written
};

struct Error : std::runtime_error {
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind(kind) {}
    ErrorKind kind;
};

struct LessonError : Error {
    explicit LessonError(const std::string& message) : Error(ErrorKind::Lesson, message) {}
};

struct UsageError : Error {
    explicit UsageError(const std::string& message) : Error(ErrorKind::Usage, message) {}
};

struct NumericError : Error {
    explicit NumericError(const std::string& message) : Error(ErrorKind::Numeric, message) {}
};

struct DataError : Error {
    explicit DataError(const std::string& message) : Error(ErrorKind::Data, message) {}
};

// A broken invariant inside bnstep itself (a gradient of the wrong shape ...).
struct InternalError : std::logic_error {
    using std::logic_error::logic_error;
};

}  // namespace bnstep
