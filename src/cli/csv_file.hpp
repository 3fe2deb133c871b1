#pragma once
// CSV files a teacher gives or gets back (a roster, a class's answers, the
// answer list of a bulk worksheet): read with libcsv, written with its quoting.
#include <cstddef>
#include <string>
#include <vector>

namespace bnstep::cli {

// The largest CSV file read: a roster or a class's answers is far smaller.
inline constexpr std::size_t kMaxCsvBytes = std::size_t{16} << 20;

// The rows of a CSV file (the first its header), each a list of fields; blank
// lines are skipped. A UsageError of one line "<path>: <what is wrong>" for a
// file that cannot be read, is not UTF-8, holds a NUL byte or is not CSV (a
// quote inside an unquoted field, an unterminated quote). `what` says what the
// file is for ("a roster (--students)").
std::vector<std::vector<std::string>> read_csv(const std::string& path, const std::string& what);

// One line of CSV with its newline: a field that needs it (a comma, a quote,
// a line break, spaces at either end) quoted as libcsv's csv_write quotes.
std::string csv_line(const std::vector<std::string>& fields);

}  // namespace bnstep::cli
