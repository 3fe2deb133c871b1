// The files the homework commands write (quiz --grade -o, quiz --export -o,
// worksheet --out): a symbolic link writes the file it names, as shell
// redirection does, and stays a link; anything that is not a regular file in
// the way (a FIFO) is refused in one line, exit 2, and left as it was.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "study_support.hpp"

using namespace bnstep_test;
namespace fs = std::filesystem;

namespace {

// A class of one student, "ada", who left every answer empty.
fs::path homework_class(const fs::path& dir) {
    fs::path p = dir / "class.csv";
    std::ofstream(p) << "name,q1\nada,\n";
    return p;
}

bool homework_is_fifo(const fs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

}  // namespace

TEST_CASE("homework files: -o through a symbolic link writes the file it names, for --grade and --export") {
    TempDir tmp;
    const fs::path answers = homework_class(tmp.path());
    const RunResult printed = run_bnstep({"quiz", "--grade", answers.string()});
    REQUIRE(printed.exit_code == 0);
    fs::create_directories(tmp.path() / "a");
    fs::create_directories(tmp.path() / "b");
    std::ofstream(tmp.path() / "b" / "scores.csv") << "old\n";
    fs::create_symlink("../b/scores.csv", tmp.path() / "a" / "link.csv");  // relative: read from a/
    const RunResult graded =
        run_bnstep({"quiz", "--grade", answers.string(), "-o", (tmp.path() / "a" / "link.csv").string()});
    CHECK(graded.exit_code == 0);
    CHECK(fs::is_symlink(tmp.path() / "a" / "link.csv"));
    CHECK(read_text_file(tmp.path() / "b" / "scores.csv") == printed.out);
    // A link to no file yet: the file is made where it points.
    fs::create_symlink(tmp.path() / "b" / "new.csv", tmp.path() / "dangling.csv");
    CHECK(run_bnstep({"quiz", "--grade", answers.string(), "-o", (tmp.path() / "dangling.csv").string()}).exit_code ==
          0);
    CHECK(fs::is_symlink(tmp.path() / "dangling.csv"));
    CHECK(read_text_file(tmp.path() / "b" / "new.csv") == printed.out);
    for (const std::string format : {"gift", "moodle-xml", "qti"}) {
        CAPTURE(format);
        const fs::path target = tmp.path() / "b" / ("quiz." + format), link = tmp.path() / ("quiz-link." + format);
        fs::create_symlink(target, link);
        const fs::path plain = tmp.path() / ("plain." + format);
        REQUIRE(run_bnstep({"quiz", "--export", format, "-o", plain.string()}).exit_code == 0);
        const RunResult r = run_bnstep({"quiz", "--export", format, "-o", link.string()});
        CHECK(r.exit_code == 0);
        CHECK(fs::is_symlink(link));
        if (format != "qti") CHECK(read_text_file(target) == read_text_file(plain));  // a zip's dates may differ
        CHECK(fs::file_size(target) > 0);
    }
    // No temporary file is left beside the targets.
    std::set<std::string> written;
    for (const auto& e : fs::directory_iterator(tmp.path() / "b")) written.insert(e.path().filename().string());
    CHECK(written == std::set<std::string>{"new.csv", "quiz.gift", "quiz.moodle-xml", "quiz.qti", "scores.csv"});
}

TEST_CASE("homework files: --export -o - prints GIFT and Moodle XML alone on standard output, and refuses QTI") {
    TempDir tmp;
    for (const std::string format : {"gift", "moodle-xml"}) {
        CAPTURE(format);
        const fs::path file = tmp.path() / ("quiz." + format);
        REQUIRE(run_bnstep({"quiz", "--export", format, "--variants", "1-2", "-o", file.string()}).exit_code == 0);
        std::ifstream in(file, std::ios::binary);
        const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const RunResult dash =
            run_bnstep({"quiz", "--export", format, "--variants", "1-2", "-o", "-"}, tmp.path().string());
        CHECK(dash.exit_code == 0);
        CHECK(dash.err.empty());
        CHECK(dash.out == written);  // the file itself, with no "wrote" line
        CHECK(contains(dash.out, format == "gift" ? "$CATEGORY:" : "<quiz>"));
        CHECK_FALSE(fs::exists(tmp.path() / "-"));
    }
    const RunResult qti = run_bnstep({"quiz", "--export", "qti", "-o", "-"}, tmp.path().string());
    CHECK(qti.exit_code == 2);
    CHECK(lines_of(qti.err).size() == 1);
    CHECK(contains(qti.err, "--export qti writes a zip file"));
    CHECK(qti.out.empty());
    CHECK_FALSE(fs::exists(tmp.path() / "-"));
}

TEST_CASE("homework files: --grade -o - is standard output, and a FIFO in the way is refused") {
    TempDir tmp;
    const fs::path answers = homework_class(tmp.path());
    const RunResult printed = run_bnstep({"quiz", "--grade", answers.string()});
    REQUIRE(printed.exit_code == 0);
    const RunResult dash = run_bnstep({"quiz", "--grade", answers.string(), "-o", "-"}, tmp.path().string());
    CHECK(dash.exit_code == 0);
    CHECK(dash.out == printed.out);
    CHECK_FALSE(fs::exists(tmp.path() / "-"));

    const fs::path fifo = tmp.path() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    fs::create_symlink(fifo, tmp.path() / "to-fifo");
    for (const fs::path& path : {fifo, tmp.path() / "to-fifo"}) {
        CAPTURE(path);
        const RunResult r = run_bnstep({"quiz", "--grade", answers.string(), "-o", path.string()});
        CHECK(r.exit_code == 2);
        CHECK(lines_of(r.err).size() == 1);
        CHECK(contains(r.err, "cannot write the file: it is not a regular file"));
        const RunResult e = run_bnstep({"quiz", "--export", "gift", "-o", path.string()});
        CHECK(e.exit_code == 2);
        CHECK(contains(e.err, "it is not a regular file"));
        CHECK(homework_is_fifo(fifo));
    }
}

TEST_CASE("homework files: worksheet --out through a link, and a FIFO where a sheet goes") {
    TempDir tmp;
    // A link to a directory that does not exist yet: it is made there, the link kept.
    fs::create_symlink(tmp.path() / "sheets", tmp.path() / "out-link");
    const RunResult r = run_bnstep({"worksheet", "--variants", "1-2", "--out", (tmp.path() / "out-link").string()});
    CHECK(r.exit_code == 0);
    CHECK(fs::is_symlink(tmp.path() / "out-link"));
    CHECK(fs::is_regular_file(tmp.path() / "sheets" / "variant-1-sheet.md"));
    CHECK(fs::is_regular_file(tmp.path() / "sheets" / "answers.csv"));

    // --force into a directory: a FIFO with a sheet's name is refused before anything is written.
    const fs::path out = tmp.path() / "forced";
    fs::create_directories(out);
    REQUIRE(::mkfifo((out / "variant-2-key.md").c_str(), 0600) == 0);
    const RunResult refused = run_bnstep({"worksheet", "--variants", "1-2", "--out", out.string(), "--force"});
    CHECK(refused.exit_code == 2);
    CHECK(lines_of(refused.err).size() == 1);
    CHECK(contains(refused.err, "variant-2-key.md is in the way and is not a regular file"));
    CHECK(homework_is_fifo(out / "variant-2-key.md"));
    CHECK_FALSE(fs::exists(out / "answers.csv"));
    CHECK_FALSE(fs::exists(out / "variant-1-sheet.md"));

    // A sheet's name that is a link: the file it names gets the sheet, the link stays.
    fs::remove(out / "variant-2-key.md");
    std::ofstream(tmp.path() / "elsewhere.md") << "old\n";
    fs::create_symlink(tmp.path() / "elsewhere.md", out / "variant-2-key.md");
    REQUIRE(run_bnstep({"worksheet", "--variants", "1-2", "--out", out.string(), "--force"}).exit_code == 0);
    CHECK(fs::is_symlink(out / "variant-2-key.md"));
    CHECK(read_text_file(tmp.path() / "elsewhere.md") == read_text_file(tmp.path() / "sheets" / "variant-2-key.md"));
}
