#pragma once
// Loading a lesson: JSON text -> validated Graph. Every error is found here,
// before anything runs, and reported as a LessonError of one line:
// "<file>: <JSON location or node>: <what was expected>".
#include <map>
#include <string>
#include <string_view>
#include <vector>

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

// Bounds that keep a hostile or mistaken lesson from crashing bnstep or
// exhausting the machine; each can be raised from the command line.
struct Limits {
    std::size_t file_bytes = 16u << 20;               // --max-file-size
    std::size_t nodes = 10'000;                       // --max-nodes (leaves and op nodes)
    std::size_t elements = 100'000'000;               // --max-elements, per tensor
    std::size_t memory_bytes = std::size_t{1} << 30;  // --max-memory, estimated for a run
    std::size_t json_depth = 64;                      // nesting of JSON lists and objects
    std::size_t work = std::size_t{16} << 30;         // --max-work: multiply-adds of one forward pass
    // What the command keeps per element of every tensor (--max-memory is
    // checked against it), and what for; commands that hold more raise it.
    std::size_t bytes_per_element = kBytesPerElement;
    std::string bytes_per_element_use = "value, gradient, contributions and local gradient";
};

// The largest values the limits may be raised to: a shape of more than 2^63
// elements is refused whatever --max-elements says.
inline constexpr std::size_t kMaxElementsLimit = std::size_t{1} << 63;
inline constexpr std::size_t kMaxNodesLimit = 10'000'000;

// Changes a user asks for on the command line.
struct LessonOptions {
    std::map<std::string, Shape> shapes;  // leaf name -> new shape (--set x.shape=8,32,56,56)
    Limits limits;
};

// `source` names the text in error messages (a path, or "lessons/x.json").
Graph parse_lesson(std::string_view text, const std::string& source, const OpTable& ops = builtin_ops(),
                   const LessonOptions& options = {});

// A built-in lesson's name, or a path to a .json file.
Graph load_lesson(const std::string& name_or_path, const OpTable& ops = builtin_ops(),
                  const LessonOptions& options = {});

// The closest candidate within a small edit distance, or "".
std::string did_you_mean(std::string_view wanted, const std::vector<std::string>& candidates);

}  // namespace bnstep
