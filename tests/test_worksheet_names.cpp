// Worksheets in bulk for a roster: file names keep a student's name in any
// script and stay inside --out whatever the name, and a name or ID with a
// control character is refused.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "study_support.hpp"
#include "worksheet_bulk.hpp"

using namespace bnstep_test;
namespace fs = std::filesystem;

TEST_CASE("worksheet --students: file names keep letters of any script, and hostile names stay in the directory") {
    CHECK(bnstep::cli::file_slug("李小龍") == "李小龍");
    CHECK(bnstep::cli::file_slug("Zoë") == "zoë");
    CHECK(bnstep::cli::file_slug("José Ñúñez") == "josé-Ñúñez");
    CHECK(bnstep::cli::file_slug("../x") == "x");
    CHECK(bnstep::cli::file_slug(".hidden") == "hidden");
    CHECK(bnstep::cli::file_slug("a/b") == "a-b");
    CHECK(bnstep::cli::file_slug("a\\b:c*d?e\"f<g>h|i") == "a-b-c-d-e-f-g-h-i");
    CHECK(bnstep::cli::file_slug("CON") == "con");
    CHECK(bnstep::cli::file_slug("tab\there\xc2\x85next\xe3\x80\x80wide") ==
          "tab-here-next-wide");  // a C1 control, U+3000
    CHECK(bnstep::cli::file_slug("...") == "student");
    // 300 bytes: cut at 48 bytes at most, between characters (1 + 15 x 3 bytes; a 16th would make 49).
    std::string long_name = "a";
    for (int k = 0; k < 100; ++k) long_name += "李";
    REQUIRE(long_name.size() == 301);
    CHECK(bnstep::cli::file_slug(long_name) == "a" + long_name.substr(1, 45));

    TempDir tmp;
    const fs::path roster = tmp.path() / "roster.csv";
    std::ofstream(roster) << "name\n李小龍\nZoë\n../x\n.hidden\na/b\nCON\n" << long_name << "\n";
    const fs::path out = tmp.path() / "class";
    const RunResult r = run_bnstep({"worksheet", "conv2d", "--students", roster.string(), "--out", out.string()});
    REQUIRE(r.exit_code == 0);
    const std::vector<std::string> stems{"李小龍", "zoë", "x", "hidden", "a-b", "con", "a" + long_name.substr(1, 45)};
    std::vector<std::string> want{"answers.csv"};
    for (const std::string& stem : stems) {
        want.push_back(stem + "-key.md");
        want.push_back(stem + "-sheet.md");
    }
    std::sort(want.begin(), want.end());
    CHECK(files_in(out) == want);
    CHECK(files_in(tmp.path()) == std::vector<std::string>{"class", "roster.csv"});  // nothing outside --out
    // The Markdown sheet names the student as the roster does; LaTeX writes what pdflatex cannot set as code points.
    CHECK(contains(lines_of(read_text_file(out / "李小龍-sheet.md")).front(), "(student 李小龍)"));
    CHECK(contains(lines_of(read_text_file(out / "zoë-key.md")).front(), "(student Zoë)"));
    const fs::path tex = tmp.path() / "tex";
    std::ofstream(roster) << "name\n李小龍\n";
    REQUIRE(
        run_bnstep({"worksheet", "conv2d", "--format", "latex", "--students", roster.string(), "--out", tex.string()},
                   "", {{"PATH", (tmp.path() / "none").string()}})
            .exit_code == 0);
    CHECK(contains(read_text_file(tex / "李小龍-sheet.tex"), "(student [U+674E][U+5C0F][U+9F8D])"));
}

TEST_CASE("worksheet --students: a name or id with a control character is refused, naming the row") {
    TempDir tmp;
    const fs::path roster = tmp.path() / "roster.csv", out = tmp.path() / "out";
    auto refused = [&](const std::string& text, const std::string& message) {
        CAPTURE(message);
        std::ofstream(roster, std::ios::binary) << text;
        const RunResult r = run_bnstep({"worksheet", "--students", roster.string(), "--out", out.string()});
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, message));
        CHECK_FALSE(fs::exists(out));
    };
    refused("name\nada\n\"bob\nsmith\"\n",
            "roster.csv: row 3: the name 'bob\\nsmith' holds a control character (U+000A)");
    refused("name,id\nada,s1\nbob,\"s\t2\"\n", "row 3: the id 's\\t2' holds a control character (U+0009)");
    refused("name\nzo\xc2\x85\xc3\xab\n", "row 2: the name");
    refused("name\nzo\xc2\x85\xc3\xab\n", "(U+0085)");
    refused("name\nada\x7f\n", "(U+007F)");
    // Accented and CJK letters, a comma, a quote are not control characters.
    std::ofstream(roster) << "name\n\"O'Neil, Zoë\"\n李小龍\n";
    CHECK(run_bnstep({"worksheet", "--students", roster.string(), "--out", out.string()}).exit_code == 0);
}
