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
#include <sys/stat.h>
#include <tuple>

#include "bnstep/lesson.hpp"
#include "bnstep/notation.hpp"
#include "bnstep/study.hpp"
#include "bnstep/variant.hpp"
#include "study_support.hpp"
#include "worksheet_bulk.hpp"

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

// Whether the '-' of a number printed at `at` of `text` is the number's own
// (after "(", "[", "," or at the start), not an operator the sheet keeps ("[7 more terms: -0.0064]").
bool bulk_own_sign(const std::string& text, std::ptrdiff_t at) {
    const std::size_t before = text.find_last_not_of(' ', static_cast<std::size_t>(at) - (at > 0 ? 1 : 0));
    return at == 0 || before == std::string::npos || std::string_view("([,").find(text[before]) != std::string::npos;
}

Trace bulk_trace(const std::string& lesson, std::uint64_t variant, const std::string& student = "") {
    LessonOptions o;
    o.variant = variant;
    o.student = student;
    static std::vector<std::unique_ptr<Graph>> graphs;  // a Trace points at its graph
    graphs.push_back(std::make_unique<Graph>(load_lesson(lesson, builtin_ops(), o)));
    return run_for_display(*graphs.back());
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

TEST_CASE("worksheet blanks: each blank's answer is the trace's number it names, or the key's number it stands for") {
    for (const auto& lesson : builtin_lessons()) {
        CAPTURE(lesson.name);
        const Graph g = load_lesson(std::string(lesson.name));
        const Trace t = run_for_display(g);
        const PrintOptions opt;
        const std::vector<SheetBlank> blanks = worksheet_blanks(t, opt);
        const std::string key = worksheet(t, SheetFormat::Markdown, true, opt);
        // A worked element's numbers: found in the key in order, in its block (the next one of that element).
        std::size_t work_from = 0, searched_from = 0;
        for (const SheetBlank& b : blanks) {
            CAPTURE(b.asked);
            CHECK(b.scale >= 0);
            const std::size_t number = b.asked.find(", number ");
            const bool worked = b.asked.rfind("work one element: ", 0) == 0;
            if (worked) {
                const std::string lhs = b.asked.substr(18, number == std::string::npos ? number : number - 18);
                const std::size_t block = key.find("\n  " + lhs + " = ", work_from);
                REQUIRE(block != std::string::npos);
                if (number == std::string::npos) {
                    work_from = block + 1;
                    searched_from = 0;
                } else {
                    // The next number of the block, as printed, that reads back as the answer.
                    static const std::regex printed(R"(-?[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)");
                    const std::size_t arithmetic = key.find("\n  " + std::string(lhs.size(), ' ') + " = ", block);
                    REQUIRE(arithmetic < key.find("```", block));
                    const std::size_t from = std::max(searched_from, arithmetic);
                    const std::string rest = key.substr(from, key.find("```", block) - from);
                    std::size_t at = std::string::npos;
                    for (auto it = std::sregex_iterator(rest.begin(), rest.end(), printed);
                         it != std::sregex_iterator() && at == std::string::npos; ++it)
                        if (const double v = std::stod(it->str());
                            v == b.answer || (v == -b.answer && !bulk_own_sign(rest, it->position())))
                            at = from + static_cast<std::size_t>(it->position() + it->length());
                    REQUIRE(at != std::string::npos);
                    CHECK(std::fabs(b.answer) == b.scale);
                    searched_from = at;
                    continue;
                }
            }
            const double want = bulk_expected(t, b);
            CHECK(std::fabs(b.answer - want) <= 1e-12 * std::max(1.0, std::fabs(want)));
            CHECK(answer_matches(want, b.answer, QuizOptions{}.tolerance, b.scale));
        }
    }
}

namespace {

// What a sheet asks at each of its blanks, read off the sheet alone: a grid's
// header names the tensor and its shape (the blank's row and column give the
// element), a listed element names itself, and a worked element's blanks are
// the numbers of its arithmetic, then its result.
std::vector<std::string> sheet_asks(const std::string& sheet, bool latex) {
    static const std::regex grid(R"(^(.*) \(([0-9, ]*)\) =$)"), listed(R"(^(.*) \([0-9, ]*\), some elements:$)");
    const std::string open = latex ? "\\begin{verbatim}" : "```text", close = latex ? "\\end{verbatim}" : "```";
    std::vector<std::string> asks, block;
    bool in_block = false;
    for (const std::string& line : lines_of(sheet)) {
        if (!in_block) {
            CHECK(bulk_count(line, kBulkBlank) == 0);  // blanks only in the blocks
            in_block = line == open;
            block.clear();
            continue;
        }
        if (line != close) {
            block.push_back(line);
            continue;
        }
        in_block = false;
        std::smatch m;
        if (!block.empty() && block.front() == "work one element:") {
            REQUIRE(block.size() >= 2);
            const std::string lhs = block[1].substr(2, block[1].find(" = ") - 2);
            std::size_t count = 0;
            for (std::size_t k = 1; k < block.size(); ++k) count += bulk_count(block[k], kBulkBlank);
            REQUIRE(count >= 1);
            for (std::size_t k = 1; k < count; ++k)
                asks.push_back(fmt::format("work one element: {}, number {} of the arithmetic", lhs, k));
            asks.push_back("work one element: " + lhs);
        } else if (!block.empty() && std::regex_match(block.front(), m, grid)) {
            const std::string name = m[1];
            // "(4, 3)", "(3,)", "()": the rank is the number of sizes.
            std::size_t rank = 0;
            std::stringstream sizes(m[2].str());
            for (std::string size; std::getline(sizes, size, ',');)
                rank += size.find_first_not_of(' ') != std::string::npos;
            for (std::size_t r = 1; r < block.size(); ++r)
                for (std::size_t c = 0; c < bulk_count(block[r], kBulkBlank); ++c)
                    asks.push_back(rank == 0   ? name
                                   : rank == 1 ? fmt::format("{}[{}]", name, c)
                                               : fmt::format("{}[{},{}]", name, r - 1, c));
        } else if (!block.empty() && std::regex_match(block.front(), m, listed)) {
            for (std::size_t r = 1; r < block.size(); ++r) {
                REQUIRE(bulk_count(block[r], kBulkBlank) == 1);
                const std::size_t open_at = block[r].rfind('[', block[r].find(" = "));
                asks.push_back(m[1].str() + block[r].substr(open_at, block[r].find(']', open_at) + 1 - open_at));
            }
        } else {
            for (const std::string& l : block) CHECK(bulk_count(l, kBulkBlank) == 0);
        }
    }
    return asks;
}

// A question as LaTeX's verbatim shows it: ∂y/∂x as d(y)/d(x) (partials, on
// the name without its element), other non-ASCII bytes as '?'.
std::string bulk_verbatim(const std::string& asked) {
    const std::size_t open = asked.back() == ']' ? asked.rfind('[') : asked.size();
    std::string out;
    for (const unsigned char c : partials(asked.substr(0, open), false)) out += c < 0x80 ? static_cast<char>(c) : '?';
    return out + asked.substr(open);
}

}  // namespace

TEST_CASE("worksheet blanks: blank N of the list is the N-th blank of the sheet, in Markdown and LaTeX") {
    for (const auto& lesson : builtin_lessons()) {
        for (const std::uint64_t variant : {0, 3}) {
            CAPTURE(lesson.name);
            CAPTURE(variant);
            const Trace t = bulk_trace(std::string(lesson.name), variant);
            const std::vector<SheetBlank> blanks = worksheet_blanks(t, PrintOptions{});
            for (const bool latex : {false, true}) {
                CAPTURE(latex);
                const std::string sheet =
                    worksheet(t, latex ? SheetFormat::Latex : SheetFormat::Markdown, false, PrintOptions{});
                const std::vector<std::string> asks = sheet_asks(sheet, latex);
                CHECK(asks.size() == bulk_count(sheet, kBulkBlank));
                REQUIRE(asks.size() == blanks.size());
                for (std::size_t n = 0; n < asks.size(); ++n) {
                    CAPTURE(n + 1);
                    CHECK(asks[n] == (latex ? bulk_verbatim(blanks[n].asked) : blanks[n].asked));
                }
            }
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
    CHECK(files_in(out) == std::vector<std::string>{"answers.csv", "variant-1-key.md", "variant-1-sheet.md",
                                                    "variant-2-key.md", "variant-2-sheet.md", "variant-7-key.md",
                                                    "variant-7-sheet.md"});
    CHECK(files_in(tmp.path()) == std::vector<std::string>{"homework"});  // no staging directory left
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
    CHECK(files_in(tmp.path()) == std::vector<std::string>{"again", "homework"});
    for (const std::string& name : files_in(out)) CHECK(read_text_file(out / name) == read_text_file(again / name));
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
    CHECK(files_in(out) == std::vector<std::string>{"ada-lovelace-key.md", "ada-lovelace-sheet.md", "answers.csv",
                                                    "josé-Ñúñez-key.md", "josé-Ñúñez-sheet.md", "o-neil-cathy-key.md",
                                                    "o-neil-cathy-sheet.md"});
    const std::vector<std::pair<std::uint64_t, std::string>> picks{
        {student_variant("s001"), "Ada Lovelace"}, {42, "O'Neil, Cathy"}, {student_variant("s003"), "José Ñúñez"}};
    const std::vector<std::string> stems{"ada-lovelace", "o-neil-cathy", "josé-Ñúñez"};
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
    CHECK(files_in(same) == std::vector<std::string>{"ada-l-2-key.md", "ada-l-2-sheet.md", "ada-l-key.md",
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
        CHECK(files_in(out).size() == 9);  // 4 .tex, 4 .pdf, answers.csv: no pdflatex leftovers
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
    CHECK(files_in(tex_only) == std::vector<std::string>{"answers.csv", "variant-1-key.tex", "variant-1-sheet.tex",
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
    CHECK(files_in(tmp.path()) == std::vector<std::string>{"bin", "calls.txt"});  // no staging directory left
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
    CHECK(files_in(out) == std::vector<std::string>{"notes.txt"});
    REQUIRE(run_bnstep({"worksheet", "--variants", "1-2", "--out", o, "--force"}).exit_code == 0);
    CHECK(files_in(out).size() == 6);
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

TEST_CASE("worksheet --variants: answers.csv has a row per blank of each sheet, and the files get the umask's modes") {
    TempDir tmp;
    const fs::path out = tmp.path() / "sheets";
    const mode_t saved = ::umask(022);  // the child bnstep inherits it
    const RunResult r = run_bnstep({"worksheet", "batchnorm", "--variants", "3-4", "--out", out.string()});
    ::umask(027);
    const fs::path strict = tmp.path() / "strict";
    const RunResult r2 =
        run_bnstep({"worksheet", "conv2d", "--format", "latex", "--variants", "3", "--out", strict.string()}, "",
                   {{"PATH", (tmp.path() / "none").string()}});  // no pdflatex: the .tex only
    ::umask(saved);
    REQUIRE(r.exit_code == 0);
    REQUIRE(r2.exit_code == 0);
    auto mode = [](const fs::path& p) { return static_cast<unsigned>(fs::status(p).permissions() & fs::perms::mask); };
    CHECK(mode(out) == 0755U);
    for (const std::string& name : files_in(out)) CHECK(mode(out / name) == 0644U);
    CHECK(mode(strict) == 0750U);
    for (const std::string& name : files_in(strict)) CHECK(mode(strict / name) == 0640U);

    // Blank N of a variant's rows is the N-th "________" of its sheet, in Markdown and in LaTeX.
    const auto rows = csv_rows_by_python(out / "answers.csv");
    const auto latex_rows = csv_rows_by_python(strict / "answers.csv");
    for (const auto& [dir, stem, lesson, variant, latex] :
         {std::tuple{out, std::string("variant-3"), "batchnorm", "3", false},
          std::tuple{out, std::string("variant-4"), "batchnorm", "4", false},
          std::tuple{strict, std::string("variant-3"), "conv2d", "3", true}}) {
        const std::string lesson_name = lesson, variant_number = variant;  // CAPTURE takes no structured binding (clang 14)
        CAPTURE(lesson_name);
        CAPTURE(variant_number);
        const std::string sheet = read_text_file(dir / (stem + (latex ? "-sheet.tex" : "-sheet.md")));
        const std::vector<std::string> asks = sheet_asks(sheet, latex);
        CHECK(asks.size() == bulk_count(sheet, kBulkBlank));
        std::vector<std::string> asked;
        for (const auto& row : latex ? latex_rows : rows)
            if (row.size() == 7 && row[0] == variant) {
                CHECK(row[2] == std::to_string(asked.size() + 1));
                asked.push_back(latex ? bulk_verbatim(row[3]) : row[3]);
            }
        CHECK(asked == asks);
    }
}
