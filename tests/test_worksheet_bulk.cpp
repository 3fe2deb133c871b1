// Worksheets in bulk: `worksheet --variants/--students --out DIR` writes a
// sheet and a key per variant that are the library's own sheet and key for
// that variant, answers.csv (read back with Python's csv module) holds every
// blank's answer, PDFs when pdflatex is installed, and bad input is one line,
// exit 2, nothing written.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "bnstep/lesson.hpp"
#include "bnstep/study.hpp"
#include "bnstep/variant.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;
namespace fs = std::filesystem;

namespace {

const std::string kBulkBlank = "________";

std::size_t bulk_count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
    return n;
}

// The tensor named `name` in a trace: an edge's contribution or a node's gradient.
const Tensor* bulk_tensor(const Trace& t, const std::string& name) {
    const Graph& g = *t.graph;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        for (const EdgeGrad& e : t.nodes[i].edges)
            if (e.name == name) return &e.contribution;
        if (g.nodes[i].grad_name() == name && t.nodes[i].grad) return &*t.nodes[i].grad;
    }
    return nullptr;
}

// The local gradient ∂node/∂input of a trace.
const Tensor* bulk_local(const Trace& t, const std::string& node, const std::string& input) {
    const Graph& g = *t.graph;
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        for (const EdgeGrad& e : t.nodes[i].edges)
            if (g.nodes[i].name == node && g.nodes[e.input].name == input && e.local) return &*e.local;
    return nullptr;
}

Index bulk_index(const std::string& text) {
    Index at;
    std::stringstream parts(text);
    for (std::string p; std::getline(parts, p, ',');) at.push_back(std::stoul(p));
    return at;
}

// What a blank asks for, looked up in the trace by its name, independently of the sheet.
double bulk_expected(const Trace& t, const SheetBlank& b) {
    std::smatch m;
    static const std::regex local(R"(^local gradient ∂(\w+)/∂(\w+)(?:\[([0-9,]*)\])?$)");
    static const std::regex element(R"(^(?:work one element: )?(\w+)(?:\[([0-9,]*)\])?$)");
    if (std::regex_match(b.asked, m, local)) {
        const Tensor* tensor = bulk_local(t, m[1], m[2]);
        REQUIRE(tensor != nullptr);
        return tensor->at(bulk_index(m[3]));
    }
    REQUIRE(std::regex_match(b.asked, m, element));
    const Tensor* tensor = bulk_tensor(t, m[1]);
    REQUIRE(tensor != nullptr);
    return tensor->at(bulk_index(m[2]));
}

Trace bulk_trace(const std::string& lesson, std::uint64_t variant, const std::string& student = "") {
    LessonOptions o;
    o.variant = variant;
    o.student = student;
    static std::vector<std::unique_ptr<Graph>> graphs;  // a Trace points at its graph
    graphs.push_back(std::make_unique<Graph>(load_lesson(lesson, builtin_ops(), o)));
    return run_for_display(*graphs.back());
}

std::vector<std::string> bulk_files(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

const std::vector<std::pair<std::string, std::string>> kUtf8{{"LC_ALL", "C.UTF-8"}};

// answers.csv against the library: a row per variant and blank, in order.
void check_answers_csv(const fs::path& file, const std::vector<std::pair<std::uint64_t, std::string>>& picks,
                       const std::string& lesson) {
    const auto rows = csv_rows_by_python(file);
    REQUIRE_FALSE(rows.empty());
    CHECK(rows.front() ==
          std::vector<std::string>{"variant", "student", "blank", "asked", "answer", "tolerance", "scale"});
    std::size_t r = 1;
    for (const auto& [variant, student] : picks) {
        const Trace t = bulk_trace(lesson, variant, student);
        const std::vector<SheetBlank> blanks = worksheet_blanks(t, PrintOptions{});
        REQUIRE_FALSE(blanks.empty());
        for (std::size_t b = 0; b < blanks.size(); ++b, ++r) {
            REQUIRE(r < rows.size());
            const auto& row = rows[r];
            CAPTURE(r);
            REQUIRE(row.size() == 7);
            CHECK(row[0] == std::to_string(variant));
            CHECK(row[1] == student);
            CHECK(row[2] == std::to_string(b + 1));
            CHECK(row[3] == blanks[b].asked);
            CHECK(std::stod(row[4]) == blanks[b].answer);  // in full precision: it reads back exactly
            CHECK(std::stod(row[5]) == QuizOptions{}.tolerance);
            CHECK(std::stod(row[6]) == blanks[b].scale);
        }
    }
    CHECK(r == rows.size());  // rows = variants x blanks
}

}  // namespace

TEST_CASE("worksheet blanks: each blank's answer is the trace's number it names, one per blank of the sheet") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run_for_display(g);
        const PrintOptions opt;
        const std::vector<SheetBlank> blanks = worksheet_blanks(t, opt);
        const std::string sheet = worksheet(t, SheetFormat::Markdown, false, opt);
        // The sheet's blanks outside the worked elements: one per grid cell or listed element.
        std::size_t boxed = 0, worked = 0;
        bool in_work = false;
        for (const std::string& line : lines_of(sheet)) {
            if (line == "work one element:") {
                in_work = true;
                ++worked;
            } else if (line == "```") {
                in_work = false;
            } else if (!in_work) {
                boxed += bulk_count(line, kBulkBlank);
            }
        }
        const auto work_blanks = std::count_if(blanks.begin(), blanks.end(), [](const SheetBlank& b) {
            return b.asked.rfind("work one element: ", 0) == 0;
        });
        CHECK(static_cast<std::size_t>(work_blanks) == worked);
        CHECK(blanks.size() - static_cast<std::size_t>(work_blanks) == boxed);
        for (const SheetBlank& b : blanks) {
            CAPTURE(b.asked);
            const double want = bulk_expected(t, b);
            CHECK(std::fabs(b.answer - want) <= 1e-12 * std::max(1.0, std::fabs(want)));
            CHECK(b.scale >= 0);
            CHECK(answer_matches(want, b.answer, QuizOptions{}.tolerance, b.scale));
        }
    }
}

TEST_CASE("worksheet --variants: a sheet and a key per variant, each the library's, and answers.csv") {
    TempDir tmp;
    const fs::path out = tmp.path() / "homework";
    const RunResult r = run_bnstep({"worksheet", "batchnorm", "--variants", "1-2,7", "--out", out.string()}, "", kUtf8);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(contains(r.out, "wrote 3 sheets and 3 answer keys and answers.csv to"));
    CHECK(bulk_files(out) == std::vector<std::string>{"answers.csv", "variant-1-key.md", "variant-1-sheet.md",
                                                      "variant-2-key.md", "variant-2-sheet.md", "variant-7-key.md",
                                                      "variant-7-sheet.md"});
    CHECK(bulk_files(tmp.path()) == std::vector<std::string>{"homework"});  // no staging directory left
    for (const std::uint64_t v : {1, 2, 7}) {
        CAPTURE(v);
        const Trace t = bulk_trace("batchnorm", v);
        const std::string sheet = read_text_file(out / fmt::format("variant-{}-sheet.md", v));
        const std::string key = read_text_file(out / fmt::format("variant-{}-key.md", v));
        CHECK(sheet == worksheet(t, SheetFormat::Markdown, false, PrintOptions{}));
        CHECK(key == worksheet(t, SheetFormat::Markdown, true, PrintOptions{}));
        CHECK(lines_of(sheet).front() == "# Worksheet: " + t.graph->title + ", variant " + std::to_string(v));
        CHECK(lines_of(key).front() == "# Answer key: " + t.graph->title + ", variant " + std::to_string(v));
        CHECK(contains(key, fmt::format("bnstep run batchnorm --variant {} prints it", v)));
        CHECK(bulk_count(sheet, kBulkBlank) > 0);
    }
    CHECK(read_text_file(out / "variant-1-sheet.md") != read_text_file(out / "variant-2-sheet.md"));
    check_answers_csv(out / "answers.csv", {{1, ""}, {2, ""}, {7, ""}}, "batchnorm");

    // The same command again: the same files, byte for byte (the directory named with a trailing slash).
    const fs::path again = tmp.path() / "again";
    REQUIRE(run_bnstep({"worksheet", "batchnorm", "--variants", "1-2,7", "--out", again.string() + "/"}, "", kUtf8)
                .exit_code == 0);
    CHECK(bulk_files(tmp.path()) == std::vector<std::string>{"again", "homework"});
    for (const std::string& name : bulk_files(out)) CHECK(read_text_file(out / name) == read_text_file(again / name));
}

TEST_CASE("worksheet --students: files named after each student, the id hashed, a variant column obeyed") {
    TempDir tmp;
    const fs::path roster = tmp.path() / "roster.csv";
    std::ofstream(roster) << "name,id,variant,email\n"
                             "Ada Lovelace,s001,,ada@example.org\n"
                             "\"O'Neil, Cathy\",s002,42,\n"
                             "José Ñúñez,s003,,\n";
    const fs::path out = tmp.path() / "sheets";
    const RunResult r =
        run_bnstep({"worksheet", "conv2d", "--students", roster.string(), "--out", out.string()}, "", kUtf8);
    REQUIRE(r.exit_code == 0);
    CHECK(bulk_files(out) == std::vector<std::string>{"ada-lovelace-key.md", "ada-lovelace-sheet.md", "answers.csv",
                                                      "jos-ez-key.md", "jos-ez-sheet.md", "o-neil-cathy-key.md",
                                                      "o-neil-cathy-sheet.md"});
    const std::vector<std::pair<std::uint64_t, std::string>> picks{
        {student_variant("s001"), "Ada Lovelace"}, {42, "O'Neil, Cathy"}, {student_variant("s003"), "José Ñúñez"}};
    const std::vector<std::string> stems{"ada-lovelace", "o-neil-cathy", "jos-ez"};
    for (std::size_t k = 0; k < picks.size(); ++k) {
        const Trace t = bulk_trace("conv2d", picks[k].first, picks[k].second);
        const std::string sheet = read_text_file(out / (stems[k] + "-sheet.md"));
        CHECK(sheet == worksheet(t, SheetFormat::Markdown, false, PrintOptions{}));
        CHECK(read_text_file(out / (stems[k] + "-key.md")) ==
              worksheet(t, SheetFormat::Markdown, true, PrintOptions{}));
        CHECK(contains(lines_of(sheet).front(),
                       fmt::format(", variant {} (student {})", picks[k].first, picks[k].second)));
    }
    check_answers_csv(out / "answers.csv", picks, "conv2d");
    // Without an id column the name is hashed, as --student hashes it: the key names the command.
    std::ofstream(roster) << "name\nada\n";
    const fs::path by_name = tmp.path() / "by-name";
    REQUIRE(run_bnstep({"worksheet", "--students", roster.string(), "--out", by_name.string()}, "", kUtf8).exit_code ==
            0);
    const std::string key = read_text_file(by_name / "ada-key.md");
    CHECK(contains(key, "bnstep run batchnorm --student ada prints it"));
    CHECK(contains(key, fmt::format("variant {} (student ada)", student_variant("ada"))));
    // Two names that make the same file name: the second is numbered.
    std::ofstream(roster) << "name\nAda L\nada-l\n";
    const fs::path same = tmp.path() / "same";
    REQUIRE(run_bnstep({"worksheet", "--students", roster.string(), "--out", same.string()}).exit_code == 0);
    CHECK(bulk_files(same) == std::vector<std::string>{"ada-l-2-key.md", "ada-l-2-sheet.md", "ada-l-key.md",
                                                       "ada-l-sheet.md", "answers.csv"});
    CHECK(contains(read_text_file(same / "ada-l-2-sheet.md"), "(student ada-l)"));
}

TEST_CASE("worksheet --format latex --variants: a PDF of each sheet and key with pdflatex, the .tex alone without") {
    TempDir tmp;
    const fs::path out = tmp.path() / "tex";
    if (!find_on_path("pdflatex")) {
        MESSAGE("pdflatex is not on PATH (Debian: texlive-latex-base): the PDFs of a bulk worksheet were not made");
    } else {
        const RunResult r =
            run_bnstep({"worksheet", "conv2d", "--format", "latex", "--variants", "3-4", "--out", out.string()}, "",
                       kUtf8, Stdin::DevNull, 120);
        REQUIRE(r.exit_code == 0);
        CHECK(contains(r.out, "(each also as PDF)"));
        for (const std::string stem : {"variant-3-sheet", "variant-3-key", "variant-4-sheet", "variant-4-key"}) {
            CAPTURE(stem);
            const std::string pdf = read_text_file(out / (stem + ".pdf"));
            CHECK(pdf.rfind("%PDF-", 0) == 0);
            CHECK(fs::exists(out / (stem + ".tex")));
        }
        CHECK(bulk_files(out).size() == 9);  // 4 .tex, 4 .pdf, answers.csv: no pdflatex leftovers
    }
    // PATH without pdflatex: said once, the .tex written.
    const fs::path empty_path = tmp.path() / "no-programs";
    fs::create_directories(empty_path);
    const fs::path tex_only = tmp.path() / "tex-only";
    const RunResult r = run_bnstep({"worksheet", "--format", "latex", "--variants", "1-2", "--out", tex_only.string()},
                                   "", {{"PATH", empty_path.string()}});
    REQUIRE(r.exit_code == 0);
    CHECK(lines_of(r.err) ==
          std::vector<std::string>{"bnstep: pdflatex is not on PATH: writing the .tex files only (Debian: apt install "
                                   "texlive-latex-base)"});
    CHECK(bulk_files(tex_only) == std::vector<std::string>{"answers.csv", "variant-1-key.tex", "variant-1-sheet.tex",
                                                           "variant-2-key.tex", "variant-2-sheet.tex"});
    CHECK(read_text_file(tex_only / "variant-2-key.tex") ==
          worksheet(bulk_trace("batchnorm", 2), SheetFormat::Latex, true, PrintOptions{}));
}

TEST_CASE("worksheet in bulk: pdflatex runs without shell escape, and when it fails nothing is written") {
    TempDir tmp;
    const fs::path bin = tmp.path() / "bin", calls = tmp.path() / "calls.txt";
    fs::create_directories(bin);
    // A pdflatex that notes its arguments, then makes a PDF of its file or, the second time, fails.
    std::ofstream(bin / "pdflatex") << "#!/bin/sh\n"
                                    << "echo \"$*\" >> '" << calls.string() << "'\n"
                                    << "[ $(wc -l < '" << calls.string() << "') -ge 2 ] && exit 1\n"
                                    << "for a; do f=$a; done\n"
                                    << "printf '%%PDF-1.5\\n' > \"${f%.tex}.pdf\"\n";
    fs::permissions(bin / "pdflatex", fs::perms::owner_all);
    const fs::path out = tmp.path() / "out";
    const RunResult r = run_bnstep({"worksheet", "--format", "latex", "--variants", "1-2", "--out", out.string()}, "",
                                   {{"PATH", bin.string() + ":/usr/bin:/bin"}});
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.err).size() == 1);
    CHECK(contains(r.err, "pdflatex failed on variant-1-key.tex (exit status 1)"));
    CHECK_FALSE(fs::exists(out));
    CHECK(bulk_files(tmp.path()) == std::vector<std::string>{"bin", "calls.txt"});  // no staging directory left
    CHECK(lines_of(read_text_file(calls)) ==
          std::vector<std::string>{"-interaction=nonstopmode -halt-on-error -no-shell-escape variant-1-sheet.tex",
                                   "-interaction=nonstopmode -halt-on-error -no-shell-escape variant-1-key.tex"});
}

TEST_CASE("worksheet in bulk: bad ranges, rosters and directories are one line, exit 2, nothing written") {
    TempDir tmp;
    const fs::path out = tmp.path() / "out";
    auto roster = [&](const std::string& text) {
        const fs::path p = tmp.path() / "roster.csv";
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    };
    auto fails = [&](std::vector<std::string> args, const std::string& message) {
        CAPTURE(message);
        args.insert(args.begin(), "worksheet");
        const RunResult r = run_bnstep(args);
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, message));
        CHECK_FALSE(fs::exists(out));
        for (const auto& e : fs::directory_iterator(tmp.path()))  // no staging directory left behind
            CHECK(e.path().filename().string().find(".bnstep-") == std::string::npos);
    };
    const std::string o = out.string();
    fails({"--variants", "5-1", "--out", o}, "the range 5-1 runs backwards; write 1-5");
    fails({"--variants", "1-10000000", "--out", o}, "more than 1000 variants");
    fails({"--variants", "1-x", "--out", o}, "'1-x' is not a whole number from 0 to");
    fails({"--variants", "1-3"}, "--variants writes a sheet and a key per variant: give --out DIR");
    fails({"--out", o}, "--out writes many variants: give --variants 1-40 or --students FILE too");
    fails({"--variants", "1-3", "--variant", "2", "--out", o}, "--variants excludes --variant");
    fails({"--students", roster("id,email\ns1,a@b\n"), "--out", o},
          "the header row has no 'name' column (it has: id,email)");
    fails({"--students", roster("name,id\nada,s1\nbob\n"), "--out", o}, "row 3: 1 field, the header has 2");
    fails({"--students", roster("name,id\nada,s1\nbob,s2,x\n"), "--out", o}, "row 3: 3 fields, the header has 2");
    fails({"--students", roster("name\nada\nbob\nada\n"), "--out", o}, "row 4: the name 'ada' is already on row 2");
    fails({"--students", roster("name,id\nada,s1\nbob,s1\n"), "--out", o}, "row 3: the id 's1' is already on row 2");
    fails({"--students", roster("name\nada\nb\xe9\x28\n"), "--out", o}, "line 3: not UTF-8 text");
    fails({"--students", roster(""), "--out", o}, "an empty roster; expected a header row");
    fails({"--students", roster("name\n"), "--out", o}, "an empty roster: a header row and no student");
    fails({"--students", roster("name\n\"ada\n"), "--out", o}, "line 2: not CSV");
    fails({"--students", roster("name,variant\nada,seven\n"), "--out", o},
          "row 2: variant 'seven': expected a whole number");
    fails({"--students", (tmp.path() / "missing.csv").string(), "--out", o}, "missing.csv: cannot read the file");
    std::string many = "name\n";
    for (int k = 0; k <= 1000; ++k) many += fmt::format("s{}\n", k);
    fails({"--students", roster(many), "--out", o}, "1001 students; bnstep writes at most 1000 at a time");
    fails({"--variants", "1-2", "--out", (tmp.path() / "no" / "such" / "dir").string()}, "cannot create it");
    fails({"--variants", "1-2", "--out", roster("name\nada\n")}, "exists and is not a directory");
    fails({"--variants", "1-2", "--out", o, "--set", "x.shape=2,2,2"}, "");  // a lesson error, before any file

    // A directory that is not empty is refused unless --force; --force keeps the other files.
    fs::create_directories(out);
    std::ofstream(out / "notes.txt") << "mine\n";
    const RunResult refused = run_bnstep({"worksheet", "--variants", "1-2", "--out", o});
    CHECK(refused.exit_code == 2);
    CHECK(contains(refused.err, "the directory is not empty; give another one, or --force"));
    CHECK(bulk_files(out) == std::vector<std::string>{"notes.txt"});
    REQUIRE(run_bnstep({"worksheet", "--variants", "1-2", "--out", o, "--force"}).exit_code == 0);
    CHECK(bulk_files(out).size() == 6);
    CHECK(read_text_file(out / "notes.txt") == "mine\n");
    // A directory bnstep may not write into (meaningless for root, who may write anywhere).
    if (::geteuid() != 0) {
        const fs::path locked = tmp.path() / "locked";
        fs::create_directories(locked);
        fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
        const RunResult r = run_bnstep({"worksheet", "--variants", "1", "--out", (locked / "hw").string()});
        CHECK(r.exit_code == 2);
        CHECK(contains(r.err, "cannot create a directory in"));
        CHECK(fs::is_empty(locked));
        fs::permissions(locked, fs::perms::owner_all);
    } else {
        MESSAGE("running as root: the test of a directory bnstep may not write into was skipped");
    }
}
