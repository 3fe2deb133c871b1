#include "json_reader.hpp"

#include <fmt/format.h>
#include <vector>

#include "bnstep/error.hpp"

namespace bnstep {
namespace {

using json = nlohmann::json;

// "file:line:col" of byte offset `byte` (1-based, as the JSON parser counts).
std::string text_position(const std::string& source, std::string_view text, std::size_t byte) {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return fmt::format("{}:{}:{}", source, line, col);
}

// Builds the document from the parser's events, as nlohmann's own DOM parser
// does, but checks as it goes (its callback parser rescans a container at the
// end of each object inside it, which is quadratic).
class Builder {
public:
    Builder(const std::string& source, const JsonLimits& limits) : source_(source), limits_(limits) {}

    bool null() { return add(json(nullptr)); }
    bool boolean(bool v) { return add(json(v)); }
    bool number_integer(json::number_integer_t v) { return add(json(v)); }
    bool number_unsigned(json::number_unsigned_t v) { return add(json(v)); }
    bool number_float(json::number_float_t v, const json::string_t&) { return add(json(v)); }
    bool string(json::string_t& v) { return add(json(std::move(v))); }
    bool binary(json::binary_t&) { return add(json()); }
    bool start_object(std::size_t) { return open(json::object()); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(json::string_t& k) {
        Frame& f = frames_.back();
        if (f.value->contains(k)) {
            f.key = k;
            fail(pointer(), fmt::format("duplicate key '{}' in an object (only one may be given)", k));
        }
        f.key = std::move(k);
        return true;
    }
    bool parse_error(std::size_t byte, const std::string&, const nlohmann::detail::exception& e) {
        error_byte_ = byte;
        error_id_ = e.id;
        error_ = e.what();
        return false;
    }

    json& root() { return root_; }
    std::size_t error_byte() const { return error_byte_; }
    int error_id() const { return error_id_; }
    const std::string& error() const { return error_; }

private:
    struct Frame {
        json* value;
        std::string key;            // objects: the key of the value being read
        std::size_t index = 0;      // lists: the index of the value being read
        bool counts_items = false;  // the top-level "leaves" or "nodes" list
    };

    [[noreturn]] void fail(const std::string& where, const std::string& what) const {
        throw LessonError(fmt::format("{}: {}: {}", source_, where.empty() ? "/" : where, what));
    }

    std::string pointer() const {
        std::string p;
        for (const Frame& f : frames_) p += "/" + (f.value->is_array() ? std::to_string(f.index) : f.key);
        return p;
    }

    // Places `v` where the parser is; returns it in its place.
    json* place(json&& v) {
        if (frames_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        Frame& f = frames_.back();
        if (f.value->is_object()) return &((*f.value)[f.key] = std::move(v));
        if (f.counts_items && ++items_ > limits_.items)
            fail(pointer(), fmt::format("at least {} leaves and nodes, above the limit of {} ({})", items_,
                                        limits_.items, limits_.items_name));
        f.value->push_back(std::move(v));
        return &f.value->back();
    }

    bool add(json&& v) {
        place(std::move(v));
        if (!frames_.empty() && frames_.back().value->is_array()) ++frames_.back().index;
        return true;
    }

    bool open(json&& container) {
        if (frames_.size() >= limits_.depth)
            throw LessonError(fmt::format("{}: JSON nested more than {} levels deep; a lesson needs far fewer", source_,
                                          limits_.depth));
        const bool counts = frames_.size() == 1 && frames_[0].value->is_object() &&
                            (frames_[0].key == "leaves" || frames_[0].key == "nodes") && container.is_array();
        json* placed = place(std::move(container));
        frames_.push_back({placed, {}, 0, counts});
        return true;
    }

    bool close() {
        frames_.pop_back();
        if (!frames_.empty() && frames_.back().value->is_array()) ++frames_.back().index;
        return true;
    }

    const std::string& source_;
    const JsonLimits& limits_;
    json root_;
    std::vector<Frame> frames_;
    std::size_t items_ = 0;
    std::size_t error_byte_ = 0;
    int error_id_ = 0;
    std::string error_;
};

// The parser's message without its "[json.exception...] parse error at ...:" prefix.
std::string parser_message(const std::string& what) {
    if (const auto p = what.find(": ", what.find("parse error")); p != std::string::npos) return what.substr(p + 2);
    if (const auto p = what.find("] "); p != std::string::npos) return what.substr(p + 2);
    return what;
}

}  // namespace

json read_lesson_json(std::string_view text, const std::string& source, const JsonLimits& limits) {
    Builder builder(source, limits);
    if (json::sax_parse(text.begin(), text.end(), &builder)) return std::move(builder.root());
    throw LessonError(malformed_json_message(text, source, builder.error_byte(), builder.error_id(), builder.error()));
}

std::string malformed_json_message(std::string_view text, const std::string& source, std::size_t byte, int id,
                                   const std::string& parser_what) {
    std::string what = parser_message(parser_what);
    if (id == 406) {
        // A number beyond a double's range: the message quotes it; point at its first appearance.
        std::string where = source;
        if (const auto q = what.find('\''); q != std::string::npos) {
            const std::string literal = what.substr(q + 1, what.find('\'', q + 1) - q - 1);
            if (const auto at = text.find(literal); at != std::string_view::npos)
                where = text_position(source, text, at + 1);
        }
        return fmt::format("{}: malformed JSON: {} (numbers must fit a double)", where, what);
    }
    // NaN and Infinity are not JSON: say so where the parser stopped at one.
    const std::size_t at_byte = byte > 0 ? byte - 1 : 0;
    const std::size_t from = at_byte > 8 ? at_byte - 8 : 0;
    const std::string_view near = text.substr(std::min(from, text.size()), 17);
    if (what.find("invalid literal") != std::string::npos &&
        (near.find("NaN") != std::string_view::npos || near.find("Infinity") != std::string_view::npos))
        what += " (JSON has no NaN or Infinity: every number must be finite)";
    return fmt::format("{}: malformed JSON: {}", text_position(source, text, byte), what);
}

}  // namespace bnstep
