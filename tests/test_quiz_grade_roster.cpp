// quiz --grade --students roster.csv: a class row names a student by the
// roster's id (or name) and is graded in the roster's variant; names are
// trimmed and checked alike in --student, rosters and class files; a student
// or variant twice, or a row longer than the header, is an error.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <fstream>

#include "bnstep/lesson.hpp"
#include "bnstep/study.hpp"
#include "bnstep/variant.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;
namespace fs = std::filesystem;

namespace {

// The quiz's right answers for `variant`, as a class row's fields after the name.
std::string roster_right_answers(std::uint64_t variant) {
    LessonOptions o;
    o.variant = variant;
    const Graph g = load_lesson("batchnorm", builtin_ops(), o);  // the trace points into it
    const Trace t = run_for_display(g);
    std::string fields;
    for (const Question& q : make_quiz(t, QuizOptions{}, NumFmt{})) fields += fmt::format(",{:.17g}", q.answer);
    return fields;
}

std::size_t roster_question_count() {
    const Graph g = load_lesson("batchnorm", builtin_ops(), LessonOptions{});
    const Trace t = run_for_display(g);
    return make_quiz(t, QuizOptions{}, NumFmt{}).size();
}

std::string roster_header() {
    std::string h = "name";
    for (std::size_t k = 0; k < roster_question_count(); ++k) h += fmt::format(",q{}", k + 1);
    return h + "\n";
}

}  // namespace

TEST_CASE("quiz --grade --students: a row's id or name gives the roster's variant") {
    TempDir tmp;
    const std::size_t n = roster_question_count();
    const fs::path roster = tmp.path() / "roster.csv", answers = tmp.path() / "class.csv";
    std::ofstream(roster) << "name,id,variant\nAda,s1,7\nBob,s2,\n";
    // s1 answers right for variant 7 (the roster's), s2 for the hash of "s2" (no variant given).
    std::ofstream(answers) << roster_header() << "s1" << roster_right_answers(7) << "\n"
                           << " s2 " << roster_right_answers(student_variant("s2")) << "\n";
    const RunResult r = run_bnstep({"quiz", "--grade", answers.string(), "--students", roster.string()});
    REQUIRE(r.exit_code == 0);
    const fs::path scores = tmp.path() / "scores.csv";
    std::ofstream(scores) << r.out;
    const auto rows = csv_rows_by_python(scores);
    REQUIRE(rows.size() == 3);
    CHECK(rows[1][0] == "Ada");
    CHECK(rows[1][1] == "7");
    CHECK(rows[1].back() == std::to_string(n));
    CHECK(rows[2][0] == "Bob");
    CHECK(rows[2][1] == std::to_string(student_variant("s2")));
    CHECK(rows[2].back() == std::to_string(n));
    // Without the roster, "s1" is hashed as --student s1 would: not variant 7, so not all right.
    const RunResult hashed = run_bnstep({"quiz", "--grade", answers.string()});
    REQUIRE(hashed.exit_code == 0);
    CHECK(contains(hashed.out, fmt::format("s1,{},", student_variant("s1"))));
    // A roster of names only: a class row names the student.
    std::ofstream(roster) << "name,variant\nAda,7\n";
    std::ofstream(answers) << roster_header() << "Ada" << roster_right_answers(7) << "\n";
    const RunResult by_name = run_bnstep({"quiz", "--grade", answers.string(), "--students", roster.string()});
    CHECK(by_name.exit_code == 0);
    CHECK(contains(by_name.out, fmt::format("Ada,7,")));
    CHECK(contains(by_name.out, fmt::format(",{}\n", n)));
}

TEST_CASE("quiz --grade: a stranger, a student or variant twice, a long row, a control character") {
    TempDir tmp;
    const fs::path roster = tmp.path() / "roster.csv", scores = tmp.path() / "scores.csv";
    std::ofstream(roster) << "name,id\nAda,s1\nBob,s2\n";
    auto fails = [&](const std::string& csv, const std::string& message, bool with_roster) {
        CAPTURE(message);
        const fs::path file = tmp.path() / "class.csv";
        std::ofstream(file, std::ios::binary) << csv;
        std::vector<std::string> args{"quiz", "--grade", file.string(), "-o", scores.string()};
        if (with_roster) args.insert(args.end(), {"--students", roster.string()});
        const RunResult r = run_bnstep(args);
        CHECK(r.exit_code == 2);
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, message));
        CHECK_FALSE(fs::exists(scores));
    };
    fails("name,q1\ns1,1\ns3,1\n", "class.csv: row 3: 's3' is not in the roster", true);
    fails("name,q1\nAda,1\n", "row 2: 'Ada' is not in the roster", true);  // the roster has ids: rows give them
    fails("name,q1\nada,1\nbob,\n ada,2\n", "row 4: the student 'ada' is already on row 2", false);
    fails("name,q1\ns1,1\ns1,2\n", "row 3: the student 'Ada' is already on row 2", true);
    fails("variant,q1\n3,1\n4,\n3,2\n", "row 4: variant 3 is already on row 2", false);
    fails("name,q1\nada,1,2\n", "row 2: 3 fields, the header has 2", false);
    fails("name,q1\nad\x1b[31ma,1\n", "row 2, name: the name 'ad\\x1b[31ma' holds a control character", false);
    fails("name,q1\n\"ad\na\",1\n", "the name 'ad\\na' holds a control character", false);
    std::ofstream(roster) << "name\nad\x1b"
                             "a\n";
    fails("name,q1\nada,1\n", "roster.csv: row 2: the name 'ad\\x1ba' holds a control character", true);
}

TEST_CASE("--student and --variants: trimmed names, control characters, empty and negative lists") {
    const RunResult plain = run_bnstep({"run", "batchnorm", "--student", "ada"});
    REQUIRE(plain.exit_code == 0);
    CHECK(run_bnstep({"run", "batchnorm", "--student", " ada\t"}).out == plain.out);
    auto fails = [](const std::vector<std::string>& args, const std::string& message) {
        CAPTURE(args);
        const RunResult r = run_bnstep(args);
        CHECK(r.exit_code == 2);
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, message));
    };
    fails({"run", "batchnorm", "--student", ""}, "--student: expected a name or ID, got an empty one");
    fails({"run", "batchnorm", "--student", " "}, "--student: expected a name or ID, got an empty one");
    CHECK_FALSE(contains(run_bnstep({"run", "--student", ""}).err, "--student: --student"));
    fails({"run", "batchnorm", "--student", "ada\nbob"}, "--student: the name 'ada\\nbob' holds a control character");
    TempDir tmp;
    const std::string out = (tmp.path() / "out").string();
    fails({"quiz", "--student", "a\x1b", "--export", "gift", "-o", out}, "holds a control character");
    fails({"worksheet", "--variants", "", "--out", out}, "--variants: the list is empty");
    fails({"quiz", "--export", "gift", "--variants", "", "-o", out}, "--variants: the list is empty");
    fails({"worksheet", "--variants", "-1", "--out", out}, "'-1' is not a whole number from 0 to 18446744073709551615");
    fails({"worksheet", "--variants=-1", "--out", out}, "'-1' is not a whole number from 0 to 18446744073709551615");
    fails({"worksheet", "--variants", "2,,3", "--out", out}, "'' is not a whole number");
    CHECK_FALSE(fs::exists(out));
}
