#pragma once
// Loading a lesson: JSON text -> validated Graph. Every error is found here,
// before anything runs, and reported as a LessonError of one line:
// "<file>: <JSON location or node>: <what was expected>".
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bnstep/did_you_mean.hpp"  // its hints, for callers that name lessons
#include "bnstep/graph.hpp"
#include "bnstep/op.hpp"

namespace bnstep {

struct BuiltinLesson {
    std::string_view name;
    std::string_view json;
};

// The lessons embedded in the binary at build time, sorted by name.
const std::vector<BuiltinLesson>& builtin_lessons();

// What a run keeps per element of every tensor, measured: value, gradient,
// contribution, its unreduced form, local value and a working copy.
inline constexpr std::size_t kBytesPerElement = 6 * sizeof(double);

// How messages name each limit, and a change of shape, to the reader: the
// caller names its own knobs (a command line, its options).
struct LimitNames {
    std::string file_bytes = "the file-size limit";
    std::string nodes = "the node limit";
    std::string elements = "the element limit";
    std::string memory = "the memory limit";
    std::string work = "the work limit";
    std::string shapes = "new shape";  // a LessonOptions::shapes entry: "<shapes> x.shape: ..."
};

// Bounds that keep a hostile or mistaken lesson from crashing bnstep or
// exhausting the machine; each can be raised by the caller.
struct Limits {
    std::size_t file_bytes = 16u << 20;               // the largest lesson text
    std::size_t nodes = 10'000;                       // leaves and op nodes
    std::size_t elements = 100'000'000;               // per tensor, and per window of a node
    std::size_t memory_bytes = std::size_t{1} << 30;  // estimated for a run
    std::size_t json_depth = 64;                      // nesting of JSON lists and objects
    std::size_t work = std::size_t{16} << 30;         // multiply-adds of one forward pass
    // What the caller keeps per element of every tensor (memory_bytes is
    // checked against it), and what for; callers that hold more raise it.
    std::size_t bytes_per_element = kBytesPerElement;
    std::string bytes_per_element_use = "value, gradient, contributions and local gradient";
    LimitNames names;
};

// The largest values the limits may be raised to: a shape of more than 2^63
// elements is refused whatever Limits::elements says.
inline constexpr std::size_t kMaxElementsLimit = std::size_t{1} << 63;
inline constexpr std::size_t kMaxNodesLimit = 10'000'000;

// Changes the caller asks for.
struct LessonOptions {
    std::map<std::string, Shape> shapes;  // leaf name -> new shape (of a leaf given by "random" or "fill";
                                          // of any leaf under a variant)
    Limits limits;
    std::uint64_t variant = 0;  // 0: the lesson as written; else its leaves redrawn (bnstep/variant.hpp)
    std::string student;        // the name the variant came from (--student), shown with it
};

// `source` names the text in error messages (a path, or "lessons/x.json").
Graph parse_lesson(std::string_view text, const std::string& source, const OpTable& ops = builtin_ops(),
                   const LessonOptions& options = {});

// A built-in lesson's name, or a path to a .json file.
Graph load_lesson(const std::string& name_or_path, const OpTable& ops = builtin_ops(),
                  const LessonOptions& options = {});

}  // namespace bnstep
