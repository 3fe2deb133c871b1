#pragma once
// Helpers for the array-file tests: NumPy in a Python child process (found by
// tests/CMakeLists.txt: BNSTEP_NUMPY_PYTHON), the values it prints, and the
// checks of a refused file.
#include <doctest/doctest.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bnstep/array_file.hpp"
#include "bnstep/error.hpp"
#include "cli_support.hpp"

namespace bnstep_test {

// The Python that imports numpy; without one the test fails, saying what to install.
inline std::string numpy_python() {
    std::string python = BNSTEP_NUMPY_PYTHON;
    REQUIRE_MESSAGE(!python.empty(),
                    "the array-file tests need NumPy for python3: install python3-numpy (./quickstart.sh test does) "
                    "and configure the build again");
    return python;
}

// Runs `script` with the directory as sys.argv[1]; returns what it printed. A failed script fails the test.
inline std::string run_python(const std::string& script, const std::filesystem::path& dir) {
    const RunResult r = run_command({numpy_python(), "-c", script, dir.string()}, "", {{"PYTHONIOENCODING", "utf-8"}},
                                    Stdin::DevNull, 120);
    REQUIRE_MESSAGE(r.exit_code == 0, "the Python script failed: " << r.err);
    return r.out;
}

// What the scripts print of an array, one line each: "name;shape;values", the shape as "2,3", the values in C
// order as Python's repr() writes a float (or as 16 hex digits of their bits).
struct PrintedArray {
    bnstep::Shape shape;
    std::vector<std::string> values;
};

// The parts of `text` between separators; empty ones too when `keep_empty`.
inline std::vector<std::string> split_text(const std::string& text, char separator, bool keep_empty = false) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, separator))
        if (keep_empty || !part.empty()) parts.push_back(part);
    return parts;
}

inline std::map<std::string, PrintedArray> printed_arrays(const std::string& out) {
    std::map<std::string, PrintedArray> arrays;
    for (const std::string& line : lines_of(out)) {
        const std::vector<std::string> fields = split_text(line, ';', true);
        REQUIRE_MESSAGE(fields.size() >= 2, line);
        PrintedArray& a = arrays[fields[0]];
        for (const std::string& d : split_text(fields[1], ',')) a.shape.push_back(std::stoull(d));
        if (fields.size() > 2) a.values = split_text(fields[2], ' ');
    }
    return arrays;
}

inline double repr_value(const std::string& text) {
    double v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    REQUIRE_MESSAGE((r.ec == std::errc() && r.ptr == text.data() + text.size()), text);
    return v;
}

inline std::string bits_hex(double v) {
    char text[17];
    const auto r = std::to_chars(text, text + 16, std::bit_cast<std::uint64_t>(v), 16);
    return std::string(static_cast<std::size_t>(16 - (r.ptr - text)), '0') + std::string(text, r.ptr);
}

// The tensor holds exactly the values Python printed (NaN: any NaN).
inline void same_as_printed(const bnstep::Tensor& t, const PrintedArray& expected) {
    REQUIRE(t.shape() == expected.shape);
    REQUIRE(t.size() == expected.values.size());
    for (std::size_t k = 0; k < t.size(); ++k) {
        const double want = repr_value(expected.values[k]);
        CAPTURE(k);
        CAPTURE(expected.values[k]);
        if (std::isnan(want)) {
            CHECK(std::isnan(t[k]));
        } else {
            CHECK(bits_hex(t[k]) == bits_hex(want));
        }
    }
}

inline std::string write_file(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
    return path.string();
}

// Reading `path` fails with one line that starts with the file's name ("path: ", or "path:line:col: " for
// malformed JSON) and holds `part`.
inline void refused_file(const std::string& path, const std::string& part,
                         const bnstep::ArrayLimits& limits = bnstep::ArrayLimits{}) {
    CAPTURE(path);
    try {
        (void)bnstep::read_arrays(path, limits);
        FAIL("read without an error");
    } catch (const bnstep::DataError& e) {
        const std::string message = e.what();
        CHECK(lines_of(message).size() == 1);
        CHECK_MESSAGE(message.starts_with(path + ":"), message);
        CHECK_MESSAGE(contains(message, part), message);
    }
}

}  // namespace bnstep_test
