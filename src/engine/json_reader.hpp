#pragma once
// Lesson text -> a JSON document, in one linear pass. Limits bite while the
// text is read: nesting depth, and the number of leaves and nodes (the items
// of the top-level "leaves" and "nodes" lists). A duplicate key is an error.
// Every failure is a LessonError naming the file and the line and column, or
// the JSON location.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace bnstep {

struct JsonLimits {
    std::size_t depth = 64;                     // nesting of lists and objects
    std::size_t items = 10'000;                 // leaves and nodes together (Limits::nodes)
    std::string items_name = "the node limit";  // how messages name `items`
};

nlohmann::json read_lesson_json(std::string_view text, const std::string& source, const JsonLimits& limits);

// "file:line:col: malformed JSON: ..." for the error at which a SAX parse of
// `text` stopped: the parser's byte offset, exception id and message.
std::string malformed_json_message(std::string_view text, const std::string& source, std::size_t byte, int id,
                                   const std::string& parser_what);

}  // namespace bnstep
