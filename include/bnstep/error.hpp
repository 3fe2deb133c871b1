#pragma once
// Errors the library reports. Each carries one line of text that names where
// the problem is (file, JSON location or node) and what was expected.
#include <stdexcept>
#include <string>

namespace bnstep {

// A lesson that cannot be loaded, validated or executed: exit code 2.
struct LessonError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A request the command line got wrong (unknown node, bad index ...): exit code 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A forward value or gradient that is NaN or infinite: exit code 1.
struct NumericError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A broken invariant inside bnstep itself (a gradient of the wrong shape ...).
struct InternalError : std::logic_error {
    using std::logic_error::logic_error;
};

}  // namespace bnstep
