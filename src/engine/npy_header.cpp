#include "npy_header.hpp"

#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/visible.hpp"

namespace bnstep {
namespace {

bool npy_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool npy_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

class NpyHeaderParser {
public:
    NpyHeaderParser(std::string_view text, const std::string& where) : text_(text), where_(where) {}

    NpyHeader parse() {
        NpyHeader h;
        bool seen[3] = {false, false, false};
        skip_space();
        expect('{', "a Python dict literal");
        for (;;) {
            skip_space();
            if (take('}')) break;
            const std::string key = quoted("a quoted key or '}'");
            skip_space();
            expect(':', "':' after the key");
            skip_space();
            const int k = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
            if (k < 0)
                fail(fmt::format("unknown key '{}' (a .npy header has 'descr', 'fortran_order' and 'shape')",
                                 visible(key)));
            if (seen[k]) fail(fmt::format("the key '{}' is given twice", key));
            seen[k] = true;
            if (k == 0) h.descr = descr();
            if (k == 1) h.fortran_order = boolean();
            if (k == 2) h.shape = shape();
            skip_space();
            if (take('}')) break;
            expect(',', "',' or '}' after a value");
        }
        skip_space();
        if (pos_ != text_.size()) malformed("text after the closing '}'");
        for (int k = 0; k < 3; ++k)
            if (!seen[k])
                fail(fmt::format("the key '{}' is missing", k == 0 ? "descr" : k == 1 ? "fortran_order" : "shape"));
        return h;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw DataError(fmt::format("{}: {}", where_, what)); }
    [[noreturn]] void malformed(const std::string& expected) const {
        fail(fmt::format("malformed .npy header: expected {} at byte {} of the header", expected, pos_));
    }

    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
    bool take(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) return ++pos_, true;
        return false;
    }
    void expect(char c, const char* what) {
        if (!take(c)) malformed(what);
    }
    void skip_space() {
        while (pos_ < text_.size() && npy_space(text_[pos_])) ++pos_;
    }

    std::string quoted(const char* what) {
        const char quote = peek();
        if (quote != '\'' && quote != '"') malformed(what);
        const std::size_t start = ++pos_;
        while (pos_ < text_.size() && text_[pos_] != quote) {
            if (text_[pos_] == '\\' || text_[pos_] == '\n') malformed("a string without escapes or line breaks");
            ++pos_;
        }
        if (pos_ == text_.size()) malformed("the end of a string");
        return std::string(text_.substr(start, pos_++ - start));
    }

    std::string descr() {
        if (peek() == '[')
            fail(
                "a structured dtype (a list of fields) is not supported: expected a plain float64, float32 or int64 "
                "array");
        if (peek() == '(') fail("a subarray dtype is not supported: expected a plain float64, float32 or int64 array");
        return quoted("a dtype string such as '<f8'");
    }

    bool boolean() {
        std::size_t end = pos_;
        while (end < text_.size() && npy_word_char(text_[end])) ++end;
        const std::string_view word = text_.substr(pos_, end - pos_);
        if (word != "True" && word != "False") malformed("True or False for 'fortran_order'");
        pos_ = end;
        return word == "True";
    }

    std::size_t dimension() {
        if (peek() == '-') fail("a negative dimension in 'shape'");
        if (peek() < '0' || peek() > '9') malformed("a whole number in 'shape'");
        if (peek() == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')
            malformed("a number without leading zeros in 'shape'");
        std::size_t value = 0;
        const std::size_t start = pos_;
        while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
            if (__builtin_mul_overflow(value, 10, &value) ||
                __builtin_add_overflow(value, static_cast<std::size_t>(text_[pos_] - '0'), &value))
                fail(fmt::format("the dimension {}... in 'shape' is too large for any array", text_.substr(start, 20)));
            ++pos_;
        }
        if (npy_word_char(peek())) malformed("a whole number in 'shape'");
        return value;
    }

    // "(3)" is a number in Python, not a tuple: a tuple of one is "(3,)".
    std::vector<std::size_t> shape() {
        expect('(', "a tuple such as (3, 4) for 'shape'");
        std::vector<std::size_t> dims;
        skip_space();
        if (take(')')) return dims;
        for (;;) {
            skip_space();
            dims.push_back(dimension());
            skip_space();
            if (take(')')) break;
            expect(',', "',' or ')' in 'shape'");
            skip_space();
            if (take(')')) return dims;
        }
        if (dims.size() == 1) malformed("a tuple for 'shape' (a tuple of one is written (3,))");
        return dims;
    }

    std::string_view text_;
    const std::string& where_;
    std::size_t pos_ = 0;
};

}  // namespace

NpyHeader parse_npy_header(std::string_view text, const std::string& where) {
    return NpyHeaderParser(text, where).parse();
}

}  // namespace bnstep
