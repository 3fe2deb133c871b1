#include "csv_file.hpp"

#include <csv.h>
#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <memory>

#include "bnstep/error.hpp"
#include "bnstep/text_file.hpp"
#include "bnstep/visible.hpp"

namespace bnstep::cli {
namespace {

// The byte offset of the first byte that is not UTF-8 (glibc's iconv checks
// it), or npos when the whole text is.
std::size_t first_bad_utf8(const std::string& text) {
    iconv_t cd = ::iconv_open("UTF-8", "UTF-8");
    // NOLINTNEXTLINE(performance-no-int-to-ptr): (iconv_t)-1 is how iconv_open reports a failure
    if (cd == reinterpret_cast<iconv_t>(-1)) throw InternalError("iconv cannot convert UTF-8 to UTF-8");
    std::string in = text;
    char* from = in.data();
    std::size_t left = in.size();
    std::string buffer(4096, '\0');
    std::size_t bad = std::string::npos;
    while (left > 0) {
        char* to = buffer.data();
        std::size_t room = buffer.size();
        if (::iconv(cd, &from, &left, &to, &room) != static_cast<std::size_t>(-1)) break;
        if (errno == E2BIG) continue;                      // the output buffer is full: go on from where it stopped
        bad = static_cast<std::size_t>(from - in.data());  // EILSEQ, or EINVAL: cut short at the end
        break;
    }
    ::iconv_close(cd);
    return bad;
}

struct CsvRows {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
};

void on_field(void* field, std::size_t size, void* data) {
    auto* r = static_cast<CsvRows*>(data);
    r->row.emplace_back(static_cast<const char*>(field), size);
}

void on_row_end(int /*terminator*/, void* data) {
    auto* r = static_cast<CsvRows*>(data);
    r->rows.push_back(std::move(r->row));
    r->row.clear();
}

std::size_t line_of(const std::string& text, std::size_t offset) {
    std::size_t line = 1;
    for (std::size_t k = 0; k < offset && k < text.size(); ++k) line += text[k] == '\n' ? 1 : 0;
    return line;
}

}  // namespace

std::vector<std::vector<std::string>> read_csv(const std::string& path, const std::string& what) {
    std::string text;
    try {
        text = read_text_file(path, kMaxCsvBytes, "for " + what);
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
    if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0)
        text.erase(0, 3);  // a spreadsheet's byte-order mark
    if (const std::size_t bad = first_bad_utf8(text); bad != std::string::npos)
        throw UsageError(fmt::format("{}: line {}: not UTF-8 text (byte {}); save {} as UTF-8 CSV", visible(path),
                                     line_of(text, bad), bad + 1, what));
    if (const std::size_t nul = text.find('\0'); nul != std::string::npos)
        throw UsageError(
            fmt::format("{}: line {}: a NUL byte; {} is a text file", visible(path), line_of(text, nul), what));
    csv_parser parser{};
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) throw InternalError("libcsv cannot start a parser");
    std::unique_ptr<csv_parser, void (*)(csv_parser*)> owner(&parser, csv_free);
    CsvRows rows;
    const std::size_t used = csv_parse(&parser, text.data(), text.size(), on_field, on_row_end, &rows);
    if (used != text.size() || csv_fini(&parser, on_field, on_row_end, &rows) != 0)
        throw UsageError(fmt::format(
            "{}: line {}: not CSV ({}); quote a field that holds a quote or a comma, "
            "doubling its quotes",
            visible(path), line_of(text, std::min(used, text.size() - 1)), csv_strerror(csv_error(&parser))));
    return rows.rows;
}

std::string csv_line(const std::vector<std::string>& fields) {
    std::string line;
    for (std::size_t k = 0; k < fields.size(); ++k) {
        const std::string& f = fields[k];
        if (k > 0) line += ',';
        const bool quote =
            f.find_first_of(",\"\r\n") != std::string::npos ||
            (!f.empty() && (f.front() == ' ' || f.back() == ' ' || f.front() == '\t' || f.back() == '\t'));
        if (!quote) {
            line += f;
            continue;
        }
        std::string quoted(csv_write(nullptr, 0, f.data(), f.size()), '\0');
        csv_write(quoted.data(), quoted.size(), f.data(), f.size());
        line += quoted;
    }
    return line + "\n";
}

}  // namespace bnstep::cli
