// Named arrays as JSON: {"x": [[1, 2], [3, 4]], "eps": 1e-05}, a number for
// rank 0 and rectangular nested lists for ranks 1 to 4. Read in one pass of
// nlohmann's SAX parser straight into the values (8 bytes a number, counted
// against the limits as they come); written one array a line, every number
// in the shortest text that reads back as the same double.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>

#include "array_io.hpp"
#include "bnstep/error.hpp"
#include "bnstep/visible.hpp"
#include "json_reader.hpp"

namespace bnstep {
namespace {

// "\"dx\"[2][0]": the key as JSON writes it, then the list indices.
std::string json_array_location(const std::string& key, const std::vector<std::size_t>& index) {
    std::string at = nlohmann::json(key).dump();
    for (const std::size_t i : index) at += fmt::format("[{}]", i);
    return at;
}

class JsonArrayReader {
public:
    JsonArrayReader(const std::string& path, const ArrayLimits& limits) : path_(path), limits_(limits) {}

    bool null() { return wrong("null"); }
    bool boolean(bool) { return wrong("true or false"); }
    bool number_integer(std::int64_t v) { return number(static_cast<double>(v)); }
    bool number_unsigned(std::uint64_t v) { return number(static_cast<double>(v)); }
    bool number_float(double v, const std::string&) { return number(v); }
    bool string(std::string& s);
    bool binary(nlohmann::json::binary_t&) { return wrong("binary data"); }
    bool start_object(std::size_t) {
        if (!started_) return started_ = true;
        return wrong("an object");
    }
    bool end_object() { return true; }
    bool key(std::string& k);
    bool start_array(std::size_t);
    bool end_array();
    bool parse_error(std::size_t byte, const std::string&, const nlohmann::detail::exception& e) {
        error_byte_ = byte;
        error_id_ = e.id;
        error_ = e.what();
        return false;
    }

    std::vector<NamedTensor>& arrays() { return arrays_; }
    const ArrayFileVariant& recorded() const { return recorded_; }
    std::string syntax_error(std::string_view text) const {
        return malformed_json_message(text, path_, error_byte_, error_id_, error_);
    }

private:
    [[noreturn]] void fail(const std::string& at, const std::string& what) const {
        throw DataError(fmt::format("{}: {}: {}", path_, at, what));
    }
    bool number(double v);
    [[noreturn]] bool wrong(const char* got) const;
    void finish(Shape shape);

    const std::string& path_;
    const ArrayLimits& limits_;
    bool started_ = false;
    std::vector<NamedTensor> arrays_;
    ArrayFileVariant recorded_;
    std::set<std::string> names_;
    std::size_t total_values_ = 0;
    // The array being read: its key, values, the item count of each list open (outermost first), its rank (0
    // until a number or an empty list fixes it) and the length of each axis once a list along it has closed.
    std::string key_;
    std::vector<double> values_;
    std::vector<std::size_t> open_;
    std::size_t rank_ = 0;
    std::array<std::size_t, kMaxRank> dims_{};
    std::array<bool, kMaxRank> dims_known_{};
    std::size_t error_byte_ = 0;
    int error_id_ = 0;
    std::string error_;
};

bool JsonArrayReader::wrong(const char* got) const {
    if (!started_)
        throw DataError(
            fmt::format("{}: a JSON object of named arrays was expected ({{\"x\": [1, 2], ...}}), got {}", path_, got));
    const char* expected = open_.empty()                           ? "a number or a list of numbers"
                           : open_.size() < rank_                  ? "a list"
                           : rank_ == 0 && open_.size() < kMaxRank ? "a number or a list"
                                                                   : "a number";
    fail(json_array_location(key_, open_), fmt::format("{} was expected, got {}", expected, got));
}

bool JsonArrayReader::key(std::string& k) {
    if (const std::string problem = array_name_problem(k); !problem.empty())
        fail(json_array_location(k, {}), fmt::format("not an array name: {}", problem));
    if (!names_.insert(k).second) fail(json_array_location(k, {}), "the key appears twice; each array is given once");
    if (arrays_.size() >= limits_.members)
        throw DataError(fmt::format("{}: more than {} arrays, the limit for one file", path_, limits_.members));
    key_ = std::move(k);
    values_.clear();
    rank_ = 0;
    dims_known_.fill(false);
    return true;
}

// A string is the file's "variant" (digits) or "student", never an array.
bool JsonArrayReader::string(std::string& s) {
    if (!started_ || !open_.empty() || (key_ != "variant" && key_ != "student")) return wrong("a string");
    if (key_ == "student") {
        recorded_.student = s;
        return true;
    }
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size())
        fail(json_array_location(key_, {}),
             fmt::format("the variant the file was exported for, a string of digits from 0 to 2^64 - 1, was "
                         "expected, got {}",
                         nlohmann::json(s).dump()));
    recorded_.variant = v;
    return true;
}

bool JsonArrayReader::number(double v) {
    if (!started_) return wrong("a number");
    if (!open_.empty()) {
        if (rank_ == 0) rank_ = open_.size();
        if (open_.size() < rank_) return wrong("a number");
    }
    if (values_.size() >= limits_.elements)
        fail(json_array_location(key_, {}),
             fmt::format("more than {} numbers, the limit for one array", limits_.elements));
    if (saturating_mul(saturating_add(total_values_, 1), sizeof(double)) > limits_.total_bytes)
        throw DataError(fmt::format("{}: the arrays hold more than {} numbers, the limit for one file", path_,
                                    limits_.total_bytes / sizeof(double)));
    ++total_values_;
    values_.push_back(v);
    if (open_.empty()) {
        finish({});
    } else {
        ++open_.back();
    }
    return true;
}

bool JsonArrayReader::start_array(std::size_t) {
    if (!started_) return wrong("a list");
    if (rank_ != 0 && open_.size() >= rank_) return wrong("a list");
    if (open_.size() == kMaxRank)
        fail(json_array_location(key_, open_),
             fmt::format("lists nested more than {} deep: bnstep's tensors have at most {} axes", kMaxRank, kMaxRank));
    open_.push_back(0);
    return true;
}

bool JsonArrayReader::end_array() {
    const std::size_t level = open_.size(), count = open_.back();
    open_.pop_back();
    if (count == 0 && rank_ == 0) rank_ = level;
    if (!dims_known_[level - 1]) {
        dims_known_[level - 1] = true;
        dims_[level - 1] = count;
    } else if (count != dims_[level - 1]) {
        fail(json_array_location(key_, open_), fmt::format("a list of {} {} was expected, got {}", dims_[level - 1],
                                                           level == rank_ ? "numbers" : "lists", count));
    }
    if (open_.empty()) {
        finish(Shape(dims_.begin(), dims_.begin() + static_cast<std::ptrdiff_t>(rank_)));
    } else {
        ++open_.back();
    }
    return true;
}

void JsonArrayReader::finish(Shape shape) {
    arrays_.push_back({key_, Tensor(std::move(shape), std::move(values_))});
    values_ = {};
}

// The shortest text that reads back as `v`; "-0.0" keeps the sign that "-0" loses in readers that make it an
// integer, as Python's json does.
void json_append_number(std::string& out, double v) {
    if (v == 0 && std::signbit(v)) {
        out += "-0.0";
        return;
    }
    char text[32];
    const auto r = std::to_chars(text, text + sizeof text, v);
    out.append(text, r.ptr);
}

struct JsonArrayWriter {
    std::string& out;
    const NamedTensor& array;
    const std::string& where;
    std::vector<std::size_t> index;
    std::size_t flat = 0;

    void value() {
        const double v = array.tensor[flat++];
        if (!std::isfinite(v))
            throw DataError(
                fmt::format("{}{}: {} cannot be written as JSON, which has only finite numbers (write "
                            ".npz instead)",
                            where, json_array_location(array.name, index),
                            std::isnan(v) ? "NaN"
                            : v > 0       ? "inf"
                                          : "-inf"));
        json_append_number(out, v);
    }

    void axis(std::size_t k) {
        out += '[';
        for (std::size_t i = 0; i < array.tensor.shape()[k]; ++i) {
            if (i > 0) out += ", ";
            index.push_back(i);
            if (k + 1 == array.tensor.rank()) {
                value();
            } else {
                axis(k + 1);
            }
            index.pop_back();
        }
        out += ']';
    }
};

}  // namespace

std::vector<NamedTensor> read_json_arrays(std::string_view text, const std::string& path, const ArrayLimits& limits,
                                          ArrayFileVariant* recorded) {
    const std::string where = visible(path);
    JsonArrayReader reader(where, limits);
    if (!nlohmann::json::sax_parse(text.begin(), text.end(), &reader)) throw DataError(reader.syntax_error(text));
    if (recorded) *recorded = reader.recorded();
    return std::move(reader.arrays());
}

std::string json_array_text(const std::vector<NamedTensor>& arrays, const std::string& where,
                            const ArrayFileVariant& label) {
    std::string out = "{";
    const auto named = [&](std::string_view key) {
        return std::any_of(arrays.begin(), arrays.end(), [&](const NamedTensor& a) { return a.name == key; });
    };
    if (label.variant && !named("variant")) out += fmt::format("\n  \"variant\": \"{}\"", *label.variant);
    if (!label.student.empty() && !named("student"))
        out += fmt::format("{}\n  \"student\": {}", out.size() > 1 ? "," : "", nlohmann::json(label.student).dump());
    const bool labelled = out.size() > 1;
    for (const NamedTensor& a : arrays) {
        const Shape& shape = a.tensor.shape();
        for (std::size_t k = 0; k + 1 < shape.size(); ++k)
            if (shape[k] == 0)
                throw DataError(
                    fmt::format("{}{}: shape {} cannot be written as JSON: an empty list does not say "
                                "how long its rows would be (write .npz instead)",
                                where, json_array_location(a.name, {}), shape_str(shape)));
        out += &a == &arrays.front() && !labelled ? "\n  " : ",\n  ";
        out += nlohmann::json(a.name).dump();
        out += ": ";
        JsonArrayWriter w{out, a, where, {}, 0};
        if (shape.empty()) {
            w.value();
        } else {
            w.axis(0);
        }
    }
    out += out.size() == 1 ? "}\n" : "\n}\n";
    return out;
}

std::string arrays_json(const std::vector<NamedTensor>& arrays, const ArrayFileVariant& label) {
    check_array_names(arrays, "");
    return json_array_text(arrays, "", label);
}

}  // namespace bnstep
