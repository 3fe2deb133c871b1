// Grading a class: `quiz --grade answers.csv` scores every row's answers
// against the quiz's questions for that student's variant, computed here
// through the library, right, wrong, close enough and empty; the scores are
// read back with Python's csv module. Bad input is one line and exit 2.
#include <doctest/doctest.h>

#include <cmath>
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

// The quiz's answers for a variant, as `quiz --student NAME` (or --variant N) asks them.
std::vector<Question> grade_questions(const std::string& lesson, std::uint64_t variant, const std::string& student) {
    LessonOptions o;
    o.variant = variant;
    o.student = student;
    const Graph g = load_lesson(lesson, builtin_ops(), o);
    const Trace t = run_for_display(g);
    return make_quiz(t, QuizOptions{}, NumFmt{});
}

std::string grade_exact(double v) { return fmt::format("{:.17g}", v); }

// An answer no tolerance takes for `q`'s.
std::string grade_wrong(const Question& q) {
    return grade_exact(q.answer + 10 * std::max(std::fabs(q.answer), q.scale) + 1);
}

}  // namespace

TEST_CASE("quiz --grade: each answer judged as the quiz judges it, per student's variant, empty is 0") {
    TempDir tmp;
    const auto ada = grade_questions("batchnorm", student_variant("ada"), "ada");
    const auto bob = grade_questions("batchnorm", student_variant("bob"), "bob");
    REQUIRE(ada.size() >= 4);
    REQUIRE(bob.size() == ada.size());
    // ada: every answer right (her last one only within the tolerance); bob: right, wrong, empty, right ...
    std::vector<std::string> ada_row{"ada"}, bob_row{"bob"};
    std::vector<int> ada_want, bob_want;
    for (std::size_t k = 0; k < ada.size(); ++k) {
        ada_row.push_back(grade_exact(k + 1 == ada.size() ? ada[k].answer * 1.005 : ada[k].answer));
        ada_want.push_back(1);
        const int kind = static_cast<int>(k % 3);
        bob_row.push_back(kind == 0 ? grade_exact(bob[k].answer) : kind == 1 ? grade_wrong(bob[k]) : "");
        bob_want.push_back(kind == 0 ? 1 : 0);
    }
    std::string header = "name";
    for (std::size_t k = 0; k < ada.size(); ++k) header += fmt::format(",q{}", k + 1);
    const fs::path answers = tmp.path() / "answers.csv";
    {
        std::ofstream f(answers);
        f << header << '\n';
        for (const auto* row : {&ada_row, &bob_row}) {
            for (std::size_t k = 0; k < row->size(); ++k) f << (k ? "," : "") << (*row)[k];
            f << '\n';
        }
    }
    const fs::path scores = tmp.path() / "scores.csv";
    const RunResult r = run_bnstep({"quiz", "batchnorm", "--grade", answers.string(), "-o", scores.string()});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.empty());
    CHECK(r.err.empty());
    const auto rows = csv_rows_by_python(scores);
    REQUIRE(rows.size() == 3);
    std::vector<std::string> want_header{"student", "variant"};
    for (std::size_t k = 0; k < ada.size(); ++k) want_header.push_back(fmt::format("q{}", k + 1));
    want_header.emplace_back("total");
    CHECK(rows[0] == want_header);
    auto check_row = [&](const std::vector<std::string>& row, const std::string& name, const std::vector<int>& want) {
        CAPTURE(name);
        REQUIRE(row.size() == want.size() + 3);
        CHECK(row[0] == name);
        CHECK(row[1] == std::to_string(student_variant(name)));
        int total = 0;
        for (std::size_t k = 0; k < want.size(); ++k) {
            CAPTURE(k);
            CHECK(row[k + 2] == std::to_string(want[k]));
            total += want[k];
        }
        CHECK(row.back() == std::to_string(total));
    };
    check_row(rows[1], "ada", ada_want);
    check_row(rows[2], "bob", bob_want);
    // Standard output without -o: the same CSV.
    const RunResult printed = run_bnstep({"quiz", "batchnorm", "--grade", answers.string()});
    CHECK(printed.out == read_text_file(scores));

    // The interactive quiz scores ada's right answers the same: every one at the first try.
    const fs::path typed = tmp.path() / "ada.txt";
    {
        std::ofstream f(typed);
        for (std::size_t k = 1; k < ada_row.size(); ++k) f << ada_row[k] << '\n';
    }
    const RunResult quiz =
        run_bnstep({"quiz", "batchnorm", "--student", "ada", "--answers", typed.string(), "--color", "never"});
    CHECK(quiz.exit_code == 0);
    CHECK(contains(quiz.out, fmt::format("Score: {0} of {0} right ({0} at the first try)", ada.size())));
}

TEST_CASE("quiz --grade: rows by variant number, fewer answers than questions, another lesson's questions") {
    TempDir tmp;
    const auto v3 = grade_questions("conv2d", 3, ""), v5 = grade_questions("conv2d", 5, "");
    REQUIRE(v3.size() >= 2);
    const fs::path answers = tmp.path() / "class.csv";
    std::ofstream(answers) << "variant,first,second\n"
                           << "3," << grade_exact(v3[0].answer) << "," << grade_exact(v3[1].answer) << "\n"
                           << "5,," << grade_wrong(v5[1]) << "\n";
    const RunResult r = run_bnstep({"quiz", "conv2d", "--grade", answers.string()});
    REQUIRE(r.exit_code == 0);
    const fs::path scores = tmp.path() / "scores.csv";
    std::ofstream(scores) << r.out;
    const auto rows = csv_rows_by_python(scores);
    REQUIRE(rows.size() == 3);
    REQUIRE(rows[1].size() == v3.size() + 3);
    CHECK(rows[1][0].empty());
    CHECK(rows[1][1] == "3");
    CHECK(rows[1][2] == "1");
    CHECK(rows[1][3] == "1");
    for (std::size_t k = 2; k < v3.size(); ++k) CHECK(rows[1][k + 2] == "0");  // not answered
    CHECK(rows[1].back() == "2");
    CHECK(rows[2][1] == "5");
    CHECK(rows[2].back() == "0");
}

TEST_CASE("quiz --grade: bad class files are one line, exit 2, and no scores file") {
    TempDir tmp;
    const fs::path scores = tmp.path() / "scores.csv";
    auto fails = [&](const std::string& csv, const std::string& message, std::vector<std::string> extra = {}) {
        CAPTURE(message);
        const fs::path file = tmp.path() / "class.csv";
        std::ofstream(file, std::ios::binary) << csv;
        std::vector<std::string> args{"quiz", "--grade", file.string(), "-o", scores.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        const RunResult r = run_bnstep(args);
        CHECK(r.exit_code == 2);
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, message));
        CHECK_FALSE(fs::exists(scores));
    };
    fails("name,q1,q2\nada,0.5,abc\n", "class.csv: row 2, column 3: 'abc' is not a number");
    fails("name,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10,q11\nada,1,2,3,4,5,6,7,8,9,10,11\n",
          "row 2, column 12: too many answers: the quiz asks variant");
    fails("who,q1\nada,1\n", "the first column is 'who'; name it 'name'");
    fails("", "class.csv: empty; expected a header row");
    fails("name,q1\n", "a header row and no student");
    fails("variant,q1\nseven,1\n", "row 2: variant 'seven': expected a whole number");
    fails("name,q1\n,1\n", "row 2, name: expected a name or ID, got an empty one");
    fails("name,q1\n\"ada,1\n", "not CSV");
    fails("name,q1\nad\xff,1\n", "not UTF-8 text");
    fails("name,q1\nada,1\n", "--answers excludes --grade", {"--answers", "x.txt"});
    fails("name,q1\nada,1\n", "--grade excludes --student", {"--student", "bob"});
    const RunResult r = run_bnstep({"quiz", "--grade", (tmp.path() / "missing.csv").string()});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "missing.csv: cannot read the file"));
    const RunResult o = run_bnstep({"quiz", "-o", scores.string()});
    CHECK(o.exit_code == 2);
    CHECK(contains(o.err, "-o writes the scores of --grade or the file of --export: give one of them too"));
}
