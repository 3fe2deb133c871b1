// quiz --export: the acceptance interval against answer_matches, the numbers
// the formats read, and the exported files read back by real parsers: GIFT by
// gift-pegjs (npm, installed by `quickstart.sh test` into build/npm), Moodle
// XML and QTI by xmllint (libxml2-utils), the QTI zip by Python's zipfile.
// What they read is compared with the quiz's own Questions, drawn here
// through the library, not through the writers.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "bnstep/lesson.hpp"
#include "bnstep/quiz_export.hpp"
#include "bnstep/rng.hpp"
#include "bnstep/variant.hpp"
#include "bnstep/study.hpp"
#include "sanitizer.hpp"
#include "study_support.hpp"

using namespace bnstep;
using namespace bnstep_test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A fresh directory for one test's files, removed afterwards.
struct ExportScratch {
    fs::path dir;
    explicit ExportScratch(const std::string& name)
        : dir(fs::temp_directory_path() / fmt::format("bnstep-quiz-export-{}-{}", name, ::getpid())) {
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~ExportScratch() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }
    ExportScratch(const ExportScratch&) = delete;
    ExportScratch& operator=(const ExportScratch&) = delete;
    std::string operator/(const std::string& file) const { return (dir / file).string(); }
};

// The questions the quiz itself asks in a variant (the same options as the command's defaults).
struct VariantQuiz {
    Graph graph;
    std::vector<Question> questions;
};

VariantQuiz quiz_of(const std::string& lesson, std::uint64_t variant, const std::string& student = "") {
    LessonOptions o;
    o.variant = variant;
    o.student = student;
    VariantQuiz v{load_lesson(lesson, builtin_ops(), o), {}};
    const Trace t = run_for_display(v.graph);
    v.questions = make_quiz(t, QuizOptions{}, NumFmt{});
    return v;
}

RunResult export_ok(const std::vector<std::string>& args) {
    RunResult r = run_bnstep(args);
    CAPTURE(args);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.empty());
    return r;
}

std::string tool(const std::string& program, const std::string& package) {
    const auto path = find_on_path(program);
    if (!path) FAIL(program << " is not installed: the export tests need it (" << package << "; quickstart.sh test)");
    return *path;
}

// What gift-pegjs read from GIFT files (tests/tools/gift_parse.js): a list of questions per file.
json gift_parsed_files(const std::vector<std::string>& files) {
    // quickstart.sh test installs it into build/npm; the sanitizer tree (build-check) uses that one too.
    fs::path modules = fs::path(BNSTEP_BUILD_DIR) / "npm" / "node_modules";
    if (!fs::exists(modules / "gift-pegjs" / "package.json"))
        modules = fs::path(source_dir()) / "build" / "npm" / "node_modules";
    if (!fs::exists(modules / "gift-pegjs" / "package.json"))
        FAIL("gift-pegjs is not installed in build/npm: run ./quickstart.sh test (it runs npm install)");
    std::vector<std::string> args{tool("node", "nodejs"), source_dir() + "/tests/tools/gift_parse.js",
                                  modules.string()};
    args.insert(args.end(), files.begin(), files.end());
    const RunResult r = run_command(args);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    json parsed = json::parse(r.out);
    REQUIRE(parsed.size() == files.size());
    return parsed;
}

json gift_parsed(const std::string& file) { return gift_parsed_files({file})[0]; }

// A Python for zipfile and its XML parser: Debian's (the one with NumPy the
// build found) before a python3 on PATH, which may be a slow shim.
std::string python() {
    const std::string numpy_python = BNSTEP_NUMPY_PYTHON;
    return numpy_python.empty() ? tool("python3", "python3") : numpy_python;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string xpath(const std::string& file, const std::string& expression) {
    const RunResult r = run_command({tool("xmllint", "libxml2-utils"), "--xpath", expression, file});
    CAPTURE(expression);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    std::string out = r.out;
    if (!out.empty() && out.back() == '\n') out.pop_back();  // xmllint ends its answer with a newline
    return out;
}

void check_well_formed(const std::string& file) {
    const RunResult r = run_command({tool("xmllint", "libxml2-utils"), "--noout", file});
    CAPTURE(file);
    CAPTURE(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
}

// The interval the quiz accepts, found by bisection on answer_matches itself.
double edge_by_bisection(double inside, double outside, double answer, double tolerance, double scale) {
    for (int k = 0; k < 200; ++k) {
        const double mid = inside / 2 + outside / 2;
        if (mid == inside || mid == outside) break;
        (answer_matches(mid, answer, tolerance, scale) ? inside : outside) = mid;
    }
    return inside;
}

}  // namespace

TEST_CASE("quiz export: the acceptance interval is what answer_matches accepts, to the last double") {
    const std::vector<std::array<double, 3>> cases{{0.6, 0.01, 1.0},    {0.2, 0.01, 0.2},    {-1.0, 0.01, 2.0},
                                                   {2.0, 0.01, 0.0},    {-3.7, 0.05, 0.0},   {0.0, 0.01, 0.5},
                                                   {1e-9, 0.001, 1e-3}, {123.456, 0.2, 1.0}, {0.0, 0.01, 0.0}};
    for (const auto& one : cases) {
        // Named copies, not structured bindings: CAPTURE's lambda cannot take those (clang 14).
        const double answer = one[0], tolerance = one[1], scale = one[2];
        CAPTURE(answer);
        CAPTURE(tolerance);
        CAPTURE(scale);
        const Acceptance a = acceptance_interval(answer, tolerance, scale);
        const double inf = std::numeric_limits<double>::infinity();
        CHECK(answer_matches(a.low, answer, tolerance, scale));
        CHECK(answer_matches(a.high, answer, tolerance, scale));
        CHECK_FALSE(answer_matches(std::nextafter(a.low, -inf), answer, tolerance, scale));
        CHECK_FALSE(answer_matches(std::nextafter(a.high, inf), answer, tolerance, scale));
        // Independently: the ends by bisection, and the margin tolerance * max(|answer|, scale).
        const double wide = 10 * (std::fabs(answer) + scale) + 1;
        CHECK(a.low == edge_by_bisection(answer, answer - wide, answer, tolerance, scale));
        CHECK(a.high == edge_by_bisection(answer, answer + wide, answer, tolerance, scale));
        const double margin = tolerance * std::max(std::fabs(answer), scale);
        CHECK(std::fabs(a.tolerance - margin) <= 1e-12 * std::max(1.0, margin));
        // A relative tolerance reaches further above |answer| than below it, unless the terms' size rules.
        CHECK(a.symmetric() == (answer == 0 || scale >= std::fabs(answer) / (1 - tolerance)));
    }
}

TEST_CASE("quiz export: numbers are plain decimals that read back as the same double") {
    CHECK(plain_decimal(1.25e-7) == "0.000000125");
    CHECK(plain_decimal(-3.5) == "-3.5");
    CHECK(plain_decimal(1e20) == "100000000000000000000");
    CHECK(plain_decimal(0.0) == "0");
    CHECK(plain_decimal(-2.5e-5) == "-0.000025");
    CHECK(plain_decimal(1.5e17) == "150000000000000000");
    Rng rng(7);
    for (int k = 0; k < 2000; ++k) {
        const double v = (rng.uniform() - 0.5) * std::pow(10.0, static_cast<int>(rng.next() % 40) - 20);
        const std::string text = plain_decimal(v);
        CAPTURE(v);
        CAPTURE(text);
        CHECK(text.find_first_not_of("-.0123456789") == std::string::npos);
        CHECK(std::strtod(text.c_str(), nullptr) == v);
    }
}

TEST_CASE("quiz export: GIFT read by gift-pegjs has the quiz's questions, answers, tolerances and feedback") {
    ExportScratch scratch("gift");
    const std::string file = scratch / "batchnorm.gift";
    const RunResult r = export_ok({"quiz", "batchnorm", "--export", "gift", "--variants", "1-3", "-o", file});
    const json parsed = gift_parsed(file);
    std::size_t at = 0;
    for (std::uint64_t variant = 1; variant <= 3; ++variant) {
        const VariantQuiz v = quiz_of("batchnorm", variant);
        for (std::size_t k = 0; k < v.questions.size(); ++k, ++at) {
            const Question& q = v.questions[k];
            CAPTURE(variant);
            CAPTURE(q.asked);
            REQUIRE(at < parsed.size());
            const json& got = parsed[at];
            CHECK(got["type"] == "Numerical");
            CHECK(got["category"] == fmt::format("$course$/bnstep/batchnorm/variant {}", variant));
            CHECK(got["title"] == fmt::format("batchnorm variant {} Q{}: {}", variant, k + 1, q.asked));
            const json& answers = got["answers"];
            REQUIRE(answers.size() >= 2);
            CHECK(answers[0]["kind"] == "range");
            CHECK(answers[0]["number"].get<double>() == q.answer);
            const double margin = 0.01 * std::max(std::fabs(q.answer), q.scale);
            CHECK(std::fabs(answers[0]["range"].get<double>() - margin) <= 1e-12 * std::max(1.0, margin));
            if (answers.size() == 3) {  // the whole interval, where the relative part reaches further
                CHECK(answers[1]["kind"] == "high-low");
                const double low = answers[1]["low"], high = answers[1]["high"];
                CHECK(answer_matches(low, q.answer, 0.01, q.scale));
                CHECK(answer_matches(high, q.answer, 0.01, q.scale));
                CHECK_FALSE(answer_matches(std::nextafter(high, 1e300), q.answer, 0.01, q.scale));
                CHECK(high - low > 2 * margin);  // wider than answer +- margin
            }
            const json& wrong = answers.back();
            CHECK(wrong["correct"] == false);
            CHECK(wrong["text"] == "*");
            CHECK(trimmed(wrong["feedback"]) == "Hint: " + q.hint + ".");
            const std::string general = got["general"];
            CHECK(contains(general, q.worked.lhs + " = " + q.worked.symbolic));
            const std::string stem = got["stem"];
            CHECK(contains(stem, fmt::format("Question {} of {}", k + 1, v.questions.size())));
            CHECK(contains(stem, q.asked));
        }
    }
    CHECK(at == parsed.size());
    CHECK(contains(r.out, fmt::format("{} questions", parsed.size())));
}

TEST_CASE("quiz export: Moodle XML is well-formed, one category per variant, numerical questions as the quiz's") {
    ExportScratch scratch("moodle");
    const std::string file = scratch / "batchnorm.xml";
    export_ok({"quiz", "batchnorm", "--export", "moodle-xml", "--variants", "4,9", "-o", file});
    check_well_formed(file);
    CHECK(xpath(file, "count(/quiz/question[@type='category'])") == "2");
    std::size_t number = 0;
    for (const std::uint64_t variant : {4, 9}) {
        const VariantQuiz v = quiz_of("batchnorm", variant);
        const std::string category = xpath(
            file, fmt::format("string(/quiz/question[@type='category'][{}]/category/text)", variant == 4 ? 1 : 2));
        CHECK(category == fmt::format("$course$/bnstep/batchnorm/variant {}", variant));
        for (const Question& q : v.questions) {
            ++number;
            CAPTURE(q.asked);
            const std::string at = fmt::format("/quiz/question[@type='numerical'][{}]", number);
            CHECK(std::strtod(xpath(file, "string(" + at + "/answer[1]/text)").c_str(), nullptr) == q.answer);
            CHECK(xpath(file, "string(" + at + "/answer[1]/@fraction)") == "100");
            const double margin = 0.01 * std::max(std::fabs(q.answer), q.scale);
            const double tolerance =
                std::strtod(xpath(file, "string(" + at + "/answer[1]/tolerance)").c_str(), nullptr);
            CHECK(std::fabs(tolerance - margin) <= 1e-12 * std::max(1.0, margin));
            CHECK(xpath(file, "string(" + at + "/answer[last()]/text)") == "*");
            CHECK(xpath(file, "string(" + at + "/answer[last()]/@fraction)") == "0");
            CHECK(contains(xpath(file, "string(" + at + "/answer[last()]/feedback/text)"), "Hint: "));
            CHECK(contains(xpath(file, "string(" + at + "/generalfeedback/text)"), "Worked out:"));
            CHECK(contains(xpath(file, "string(" + at + "/questiontext/text)"), "<table"));
            // Each question follows its variant's category.
            CHECK(xpath(file, "string(" + at + "/preceding-sibling::question[@type='category'][1]/category/text)") ==
                  category);
        }
    }
    CHECK(xpath(file, "count(/quiz/question[@type='numerical'])") == std::to_string(number));
}

TEST_CASE("quiz export: QTI is a zip Canvas reads: a manifest naming every assessment, numerical questions") {
    ExportScratch scratch("qti");
    const std::string file = scratch / "batchnorm.zip";
    export_ok({"quiz", "batchnorm", "--export", "qti", "--variants", "2-3", "-o", file});
    const fs::path unpacked = scratch.dir / "unpacked";
    const std::string script =
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n"
        "print('\\n'.join(z.namelist()))\nz.extractall(sys.argv[2])";
    const RunResult listed = run_command({python(), "-c", script, file, unpacked.string()});
    CAPTURE(listed.err);
    REQUIRE(listed.exit_code == 0);
    std::set<std::string> members;
    for (const std::string& line : lines_of(listed.out))
        if (!line.empty()) members.insert(line);
    const std::string manifest = (unpacked / "imsmanifest.xml").string();
    REQUIRE(members.count("imsmanifest.xml") == 1);
    check_well_formed(manifest);
    std::set<std::string> referenced{"imsmanifest.xml"};
    const std::string count = xpath(manifest, "count(//*[local-name()='resource'][@type='imsqti_xmlv1p2'])");
    CHECK(count == "2");
    for (int k = 1; k <= 2; ++k)
        referenced.insert(xpath(manifest, fmt::format("string((//*[local-name()='file'])[{}]/@href)", k)));
    CHECK(referenced == members);
    for (const std::uint64_t variant : {2, 3}) {
        const std::string name = fmt::format("bnstep_variant_{0}/bnstep_variant_{0}.xml", variant);
        REQUIRE(members.count(name) == 1);
        const std::string assessment = (unpacked / name).string();
        check_well_formed(assessment);
        const VariantQuiz v = quiz_of("batchnorm", variant);
        CHECK(xpath(assessment, "count(//*[local-name()='item'])") == std::to_string(v.questions.size()));
        for (std::size_t k = 0; k < v.questions.size(); ++k) {
            const Question& q = v.questions[k];
            CAPTURE(q.asked);
            const std::string item = fmt::format("(//*[local-name()='item'])[{}]", k + 1);
            CHECK(xpath(assessment, "string(" + item + "//*[local-name()='fieldentry'][1])") == "numerical_question");
            CHECK(std::strtod(xpath(assessment, "string(" + item + "//*[local-name()='varequal'])").c_str(), nullptr) ==
                  q.answer);
            const double low = std::strtod(
                xpath(assessment, "string((" + item + "//*[local-name()='vargte'])[last()])").c_str(), nullptr);
            const double high = std::strtod(
                xpath(assessment, "string((" + item + "//*[local-name()='varlte'])[last()])").c_str(), nullptr);
            CHECK(low == acceptance_interval(q.answer, 0.01, q.scale).low);
            CHECK(high == acceptance_interval(q.answer, 0.01, q.scale).high);
            CHECK(answer_matches(high, q.answer, 0.01, q.scale));
            CHECK(contains(
                xpath(assessment, "string(" + item + "/*[local-name()='itemfeedback'][@ident='general_incorrect_fb'])"),
                "Hint: "));
            CHECK(
                contains(xpath(assessment, "string(" + item + "/*[local-name()='itemfeedback'][@ident='general_fb'])"),
                         "Worked out:"));
        }
    }
}

TEST_CASE("quiz export: a hostile lesson and student name give files both parsers read") {
    ExportScratch scratch("hostile");
    const std::string title =
        "T {}=~#: <&> \\\\frac{1}{2} $x$ \\\\(y\\\\) [tex]z[/tex] -- ]]> \\u0001\\u001b[31m \\n// x";
    const std::string lesson = scratch / "hostile.json";
    std::ofstream(lesson) << R"({"name": "hostile", "title": ")" << title << R"(", "description": "D <&> {#}",
  "leaves": [{"name": "x", "kind": "input", "shape": [2, 2], "values": [[0.5, -1.5], [2, 1]]},
             {"name": "w", "kind": "param", "shape": [2, 2], "values": [[1, 2], [-0.5, 0.25]]}],
  "nodes": [{"name": "y", "step": 1, "op": "matmul", "inputs": ["x", "w"]}],
  "output": {"node": "y", "upstream": {"values": [[1, -1], [0.5, 2]]}}})";
    const std::string student = "ada {}=~#: <&> \\frac $x$ /../ \xff";  // \xff: not UTF-8
    const VariantQuiz v = quiz_of(lesson, student_variant(student), student);
    const std::string gift = scratch / "hostile.gift", xml = scratch / "hostile.xml";
    export_ok({"quiz", lesson, "--student", student, "--export", "gift", "-o", gift});
    export_ok({"quiz", lesson, "--student", student, "--export", "moodle-xml", "-o", xml});
    const json parsed = gift_parsed(gift);
    REQUIRE(parsed.size() == v.questions.size());
    // The title comes back as the lesson wrote it, control characters made visible.
    const std::string shown = "T {}=~#: <&> \\frac{1}{2} $x$ \\(y\\) [tex]z[/tex] -- ]]> \\x01\\x1b[31m \\n// x";
    for (std::size_t k = 0; k < parsed.size(); ++k) {
        CHECK(parsed[k]["type"] == "Numerical");
        CHECK(contains(parsed[k]["stem"], "Lesson hostile (" + shown + ")"));
        CHECK(parsed[k]["answers"][0]["number"].get<double>() == v.questions[k].answer);
        // The question's name is neutralised as the category is: nothing a TeX filter or markup reads.
        CHECK(contains(parsed[k]["title"], "(student ada ______ ___ _frac _x_ _.._ _xff)"));
        // One category, its parts free of the separator.
        CHECK(parsed[k]["category"] ==
              fmt::format("$course$/bnstep/hostile/variant {} (student ada ______ ___ _frac _x_ _.._ _xff)",
                          student_variant(student)));
    }
    check_well_formed(xml);
    CHECK(xpath(xml, "count(/quiz/question[@type='numerical'])") == std::to_string(v.questions.size()));
    CHECK(contains(xpath(xml, "string(/quiz/question[@type='numerical'][1]/questiontext/text)"), "&lt;&amp;&gt;"));
    // No TeX delimiter survives into the HTML a platform's filters read (question, feedback): the
    // lesson's \( $ [tex] are character references there. (A question's name is plain text.)
    for (std::size_t k = 1; k <= v.questions.size(); ++k) {
        const std::string name = xpath(xml, fmt::format("string(/quiz/question[@type='numerical'][{}]/name/text)", k));
        CAPTURE(name);
        CHECK(contains(name, "(student ada ______ ___ _frac _x_ _.._ _xff)"));
        for (const char* bad : {"\\", "$", "<", "&", "{", "~", "#", ":"})
            CHECK_FALSE(contains(name.substr(0, name.rfind(':')), bad));  // the last ':' is "Q1: asked"
    }
    // QTI: each item's title= as neutral.
    const std::string zip = scratch / "hostile.zip";
    export_ok({"quiz", lesson, "--student", student, "--export", "qti", "-o", zip});
    const fs::path unpacked = scratch.dir / "hostile-qti";
    const RunResult listed = run_command({python(), "-c",
                                          "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n"
                                          "print('\\n'.join(n for n in z.namelist() if n != 'imsmanifest.xml'"
                                          " and n.endswith('.xml')))\nz.extractall(sys.argv[2])",
                                          zip, unpacked.string()});
    REQUIRE(listed.exit_code == 0);
    REQUIRE(lines_of(listed.out).size() == 1);
    const std::string assessment = (unpacked / lines_of(listed.out).front()).string();
    check_well_formed(assessment);
    for (std::size_t k = 1; k <= v.questions.size(); ++k) {
        const std::string title = xpath(assessment, fmt::format("string((//*[local-name()='item'])[{}]/@title)", k));
        CAPTURE(title);
        CHECK(contains(title, "(student ada ______ ___ _frac _x_ _.._ _xff)"));
        CHECK_FALSE(contains(title, "$"));
        CHECK_FALSE(contains(title, "\\"));
    }
    for (const std::string field : {"questiontext", "generalfeedback", "answer[last()]/feedback"}) {
        const std::string html = xpath(xml, "string(/quiz/question[@type='numerical'][1]/" + field + "/text)");
        CAPTURE(html);
        CHECK(contains(html, field == "questiontext" ? "&#92;frac" : "<div"));
        CHECK_FALSE(contains(html, "\\"));
        CHECK_FALSE(contains(html, "$"));
        CHECK_FALSE(contains(html, "[tex]"));
    }
}

TEST_CASE("quiz export: two variants' exports differ, and a variant's export is the same every time") {
    ExportScratch scratch("variants");
    const std::string one = scratch / "one.gift", two = scratch / "two.gift", again = scratch / "again.gift";
    export_ok({"quiz", "batchnorm", "--export", "gift", "--variant", "1", "-o", one});
    export_ok({"quiz", "batchnorm", "--export", "gift", "--variant", "2", "-o", two});
    export_ok({"quiz", "batchnorm", "--export", "gift", "--variant", "1", "-o", again});
    CHECK(read_text_file(one) != read_text_file(two));
    CHECK(read_text_file(one) == read_text_file(again));
}

TEST_CASE("quiz export: bad requests are one-line errors, exit 2, and leave no file behind") {
    ExportScratch scratch("errors");
    const std::string file = scratch / "q.gift";
    const auto refused = [&](const std::vector<std::string>& args, const std::string& says) {
        const RunResult r = run_bnstep(args);
        CAPTURE(args);
        CAPTURE(r.err);
        CHECK(r.exit_code == 2);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(contains(r.err, says));
        CHECK(files_in(scratch.dir).empty());
    };
    refused({"quiz", "batchnorm", "--export", "gift", "--variants", "5-1", "-o", file}, "runs backwards");
    refused({"quiz", "batchnorm", "--export", "gift", "--variants", "1-10000000", "-o", file}, "at most 1000");
    refused({"quiz", "batchnorm", "--export", "gift"}, "-o FILE");
    refused({"quiz", "batchnorm", "--variants", "1-3", "-o", file}, "--variants goes with --export");
    refused({"quiz", "batchnorm", "--export", "qti", "--variants", "1-2", "--variant", "3", "-o", file},
            "leave out --variant");
    refused({"quiz", "batchnorm", "--export", "gift", "--tolerance", "1", "-o", file}, "below 1");
    refused({"quiz", "batchnorm", "--export", "pdf", "-o", file}, "--export");
    // A directory that cannot hold the file: under a regular file (refused even to root), and a missing one.
    std::ofstream(scratch / "plain") << "x";
    for (const std::string format : {"gift", "moodle-xml", "qti"}) {
        for (const std::string& target : {scratch / "plain/q.out", scratch / "missing/q.out"}) {
            const RunResult r = run_bnstep({"quiz", "batchnorm", "--export", format, "-o", target});
            CAPTURE(target);
            CAPTURE(r.err);
            CHECK(r.exit_code == 2);
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            CHECK(contains(r.err, "cannot write the file"));
            CHECK(files_in(scratch.dir) == std::vector<std::string>{"plain"});
        }
    }
    if (::geteuid() != 0) {  // root writes anywhere
        fs::create_directories(scratch.dir / "locked");
        ::chmod((scratch.dir / "locked").c_str(), 0500);
        const RunResult r = run_bnstep({"quiz", "batchnorm", "--export", "qti", "-o", scratch / "locked/q.zip"});
        CHECK(r.exit_code == 2);
        CHECK(fs::is_empty(scratch.dir / "locked"));
        ::chmod((scratch.dir / "locked").c_str(), 0700);
    }
}

TEST_CASE("quiz export: every built-in lesson exports in all three formats, read back by the parsers") {
    ExportScratch scratch("lessons");
    std::vector<std::string> gifts, zips;
    std::vector<std::size_t> counts;
    std::size_t seen = 0;
    for (const auto& lesson : builtin_lessons()) {
        // Under the sanitizers every bnstep is several times slower: every sixth lesson there.
        if (bnstep_test::kUnderSanitizer && seen++ % 6 != 0) continue;
        const std::string name(lesson.name);
        CAPTURE(name);
        counts.push_back(quiz_of(name, 1).questions.size());
        const std::string xml = scratch / (name + ".xml");
        gifts.push_back(scratch / (name + ".gift"));
        zips.push_back(scratch / (name + ".zip"));
        export_ok({"quiz", name, "--export", "gift", "--variant", "1", "-o", gifts.back()});
        export_ok({"quiz", name, "--export", "moodle-xml", "--variant", "1", "-o", xml});
        export_ok({"quiz", name, "--export", "qti", "--variant", "1", "-o", zips.back()});
        check_well_formed(xml);
        CHECK(xpath(xml, "count(/quiz/question[@type='numerical'])") == std::to_string(counts.back()));
    }
    const json parsed = gift_parsed_files(gifts);
    // Every member of every zip parsed by Python's XML parser; the items of the assessments counted.
    const std::string script =
        "import sys, zipfile, xml.etree.ElementTree as ET\nfor f in sys.argv[1:]:\n"
        "    z = zipfile.ZipFile(f)\n"
        "    print(sum(len(ET.fromstring(z.read(n)).findall('.//{*}item')) for n in z.namelist()))";
    std::vector<std::string> args{python(), "-c", script};
    args.insert(args.end(), zips.begin(), zips.end());
    const RunResult r = run_command(args);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const std::vector<std::string> items = lines_of(r.out);
    REQUIRE(items.size() >= counts.size());
    for (std::size_t k = 0; k < counts.size(); ++k) {
        CAPTURE(gifts[k]);
        CHECK(parsed[k].size() == counts[k]);
        for (const json& q : parsed[k]) CHECK(q["type"] == "Numerical");
        CHECK(std::stoul(items[k]) == counts[k]);
    }
}
