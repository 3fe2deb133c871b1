// How numbers, matrices and long lines are written on screen, checked against
// printf and against layouts worked out by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "bnstep/numfmt.hpp"
#include "bnstep/print.hpp"
#include "bnstep/rng.hpp"

using namespace bnstep;

namespace {

std::string printf_g(double v, int precision) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    return buf;
}

}  // namespace

TEST_CASE("numbers are written as printf's %.{precision}g writes them") {
    Rng rng(7);
    int compared = 0;
    for (int precision = 1; precision <= 17; ++precision) {
        for (int e = -30; e <= 30; ++e) {
            for (int k = 0; k < 20; ++k) {
                const double v = (2 * rng.uniform() - 1) * std::pow(10.0, e);
                CHECK_MESSAGE(NumFmt{precision}(v) == printf_g(v, precision), "v = ", printf_g(v, 17));
                ++compared;
            }
        }
        // Values that sit on a rounding boundary or carry into a new digit.
        for (double v : {0.5, 1.5, 2.5, 0.125, 9.9995, 99999.5, 1e-5, 1e-4, 123456789.0, 0.1, 1.0 / 3.0})
            CHECK(NumFmt{precision}(v) == printf_g(v, precision));
    }
    CHECK(compared == 17 * 61 * 20);
    CHECK(NumFmt{}(0.53124) == "0.5312");
    CHECK(NumFmt{}(-1.2251) == "-1.225");
    CHECK(NumFmt{}(1e-5) == "1e-05");
    CHECK(NumFmt{}(-0.0) == "0");
    CHECK(NumFmt{}(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(NumFmt{}(-std::numeric_limits<double>::infinity()) == "-inf");
    CHECK(NumFmt{}.operand(-0.5) == "(-0.5)");
}

TEST_CASE("a matrix's cells are right-aligned to the widest, two spaces apart") {
    const Tensor t(Shape{2, 2}, {1, -2.5, 10, 0.25});
    const std::vector<std::string> expected{"[[   1  -2.5]", " [  10  0.25]]"};
    CHECK(matrix_lines(t, NumFmt{}) == expected);

    // A row wider than the room continues on the next line, under the first cell.
    const Tensor row(Shape{5}, {1, 2, 3, 4, 5});
    const std::vector<std::string> wrapped{"[1  2", " 3  4", " 5]"};
    CHECK(matrix_lines(row, NumFmt{}, 9) == wrapped);
}

TEST_CASE("wrap breaks between words, counts no colour codes, and indents continuation lines") {
    CHECK(wrap("aaa bbb ccc", 7, "", "  ") == "aaa bbb\n  ccc\n");
    CHECK(wrap("aaa bbb ccc", 11, "> ") == "> aaa bbb\n> ccc\n");
    CHECK(wrap("aa bb cc dd ee", 5, "") == "aa bb\ncc dd\nee\n");
    CHECK(wrap("  kept  spaces", 40, "") == "  kept  spaces\n");
    // "\x1b[1maaa\x1b[0m" is 3 columns wide on screen.
    const std::string bold = "\x1b[1maaa\x1b[0m";
    CHECK(wrap(bold + " bbb", 7, "") == bold + " bbb\n");
    CHECK(wrap(bold + " bbb ccc", 7, "") == bold + " bbb\nccc\n");
    // A word longer than the width stands on its own line.
    CHECK(wrap("a bbbbbbbbbb c", 5, "") == "a\nbbbbbbbbbb\nc\n");
}
