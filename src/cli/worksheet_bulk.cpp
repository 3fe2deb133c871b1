#include "worksheet_bulk.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <set>

#include "bnstep/error.hpp"
#include "bnstep/output_file.hpp"
#include "bnstep/text_file.hpp"
#include "bnstep/variant.hpp"
#include "bnstep/visible.hpp"
#include "csv_file.hpp"
#include "guard.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX leaves it to the program to declare

namespace bnstep::cli {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxSlugBytes = 48;
constexpr std::size_t kMaxStagedBytes = std::size_t{1} << 30;  // a staged sheet or PDF: far smaller

// The process's umask (umask() can only be read by setting it).
mode_t current_umask() {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    return mask;
}

// A directory created beside the output and removed, with what is in it,
// unless it was moved into place.
class Staging {
public:
    explicit Staging(const fs::path& out) {
        const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
        std::string pattern = (parent / ("." + out.filename().string() + ".bnstep-XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw UsageError(fmt::format("--out {}: cannot create a directory in {}: {}", visible(out.string()),
                                         visible(parent.string()), std::strerror(errno)));
        dir_ = pattern;
    }
    Staging(const Staging&) = delete;
    Staging& operator=(const Staging&) = delete;
    ~Staging() {
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
    }
    const fs::path& dir() const { return dir_; }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream file(dir_ / name, std::ios::binary);
        file << text;
        file.close();
        if (!file)
            throw UsageError(
                fmt::format("--out: cannot write {}: {}", visible((dir_ / name).string()), std::strerror(errno)));
    }
    // Into place: the whole directory when `out` is absent or empty, else file by file
    // (a file replaced through a symbolic link is the file the link names, as
    // write_file_atomically replaces it; check_out_files made sure each is one).
    // A directory moved into place gets the mode mkdir would give it (mkdtemp's is 0700).
    void move_to(const fs::path& out) {
        std::error_code ec;
        if (!fs::exists(out, ec) || fs::is_empty(out, ec)) {
            if (::chmod(dir_.c_str(), static_cast<mode_t>(0777) & ~current_umask()) != 0)
                throw UsageError(fmt::format("--out {}: cannot set the mode of {}: {}", visible(out.string()),
                                             visible(dir_.string()), std::strerror(errno)));
            if (::rename(dir_.c_str(), out.c_str()) == 0) {
                dir_.clear();
                return;
            }
        }
        for (const auto& entry : fs::directory_iterator(dir_)) {
            const fs::path target = output_target((out / entry.path().filename()).string());
            fs::rename(entry.path(), target, ec);
            if (ec == std::errc::cross_device_link) {  // a link to another file system: written there whole
                ec.clear();
                write_file_atomically(target.string(), read_text_file(entry.path().string(), kMaxStagedBytes, ""));
            }
            if (ec)
                throw UsageError(fmt::format("--out {}: cannot move {} into it: {}", visible(out.string()),
                                             visible(entry.path().filename().string()), ec.message()));
        }
    }

private:
    fs::path dir_;
};

// Checked before any work: DIR is absent (its parent a directory), or an
// empty directory, or any directory with --force.
void check_out_dir(const fs::path& out, bool force) {
    const std::string shown = visible(out.string());
    std::error_code ec;
    const fs::file_status st = fs::status(out, ec);
    if (fs::exists(st)) {
        if (!fs::is_directory(st)) throw UsageError(fmt::format("--out {}: exists and is not a directory", shown));
        if (!force && !fs::is_empty(out, ec))
            throw UsageError(
                fmt::format("--out {}: the directory is not empty; give another one, or --force to "
                            "write into it (replacing files of the same names)",
                            shown));
        if (::access(out.c_str(), W_OK | X_OK) != 0)
            throw UsageError(fmt::format("--out {}: cannot write into it: {}", shown, std::strerror(errno)));
        return;
    }
    const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
    if (!fs::is_directory(parent, ec))
        throw UsageError(
            fmt::format("--out {}: cannot create it: {} is not a directory", shown, visible(parent.string())));
}

// With --force, each file about to be written into an existing DIR: a regular
// file, a symbolic link to one, or nothing; checked before any work, so that
// nothing is half-moved when, say, a directory has a sheet's name.
void check_out_files(const fs::path& out, const std::vector<std::string>& names) {
    for (const std::string& name : names) {
        const std::string path = (out / name).string();
        struct stat st {};
        if (::stat(output_target(path).c_str(), &st) == 0 && !S_ISREG(st.st_mode))
            throw UsageError(
                fmt::format("--out {}: {} is in the way and is not a regular file; remove it or give "
                            "another directory",
                            visible(out.string()), visible(name)));
    }
}

// pdflatex on `tex` (a file of `dir`), in a directory of its own; its PDF moved into `dir`.
void run_pdflatex(const std::string& pdflatex, const fs::path& dir, const std::string& tex) {
    std::string work = (dir / ".pdflatex-XXXXXX").string();
    if (::mkdtemp(work.data()) == nullptr)
        throw UsageError(fmt::format("pdflatex: cannot create a directory: {}", std::strerror(errno)));
    struct Remove {
        fs::path p;
        ~Remove() {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    } remove{work};
    fs::copy_file(dir / tex, fs::path(work) / tex);
    std::vector<std::string> args{pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", tex};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addchdir_np(&actions, work.c_str());
    pid_t pid = 0;
    const int spawned = ::posix_spawn(&pid, pdflatex.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0)
        throw UsageError(fmt::format("pdflatex: cannot start {}: {}", visible(pdflatex), std::strerror(spawned)));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string pdf = fs::path(tex).replace_extension(".pdf").string();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(fs::path(work) / pdf))
        throw UsageError(
            fmt::format("pdflatex failed on {} (exit status {}): compile that sheet by hand (bnstep worksheet "
                        "--format latex) to read pdflatex's log",
                        visible(tex), WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
    fs::rename(fs::path(work) / pdf, dir / pdf);
}

// The start of each file's name: "variant-7", or the student's slug (unique in the run).
std::vector<std::string> file_stems(const BulkSheets& bulk) {
    std::vector<std::string> stems;
    std::set<std::string> used;
    for (const VariantPick& p : bulk.picks) {
        std::string stem = bulk.by_student ? file_slug(p.student) : fmt::format("variant-{}", p.variant);
        for (int n = 2; !used.insert(stem).second; ++n)
            stem = fmt::format("{}-{}", bulk.by_student ? file_slug(p.student) : "variant", n);
        stems.push_back(stem);
    }
    return stems;
}

// Characters that stand for a '-' in a file name: ASCII other than letters
// and digits, and the C1 controls, spaces and invisible formatting characters
// of Unicode. Any other character (a letter or digit of any script) stays.
bool slug_separator(char32_t cp) {
    if (cp < 0x80) return std::isalnum(static_cast<int>(cp)) == 0;
    return cp <= 0xA0 || cp == 0xAD || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) ||
           (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF;
}

// The length of the UTF-8 sequence that starts with byte `c` (1 for a byte that starts none).
std::size_t slug_sequence_length(unsigned char c) { return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; }

}  // namespace

std::string file_slug(const std::string& name) {
    std::string slug;
    for (std::size_t k = 0; k < name.size();) {
        const auto lead = static_cast<unsigned char>(name[k]);
        const std::size_t len = std::min(slug_sequence_length(lead), name.size() - k);
        char32_t cp = len == 1 ? lead : lead & (0x7F >> len);
        for (std::size_t j = 1; j < len; ++j) cp = (cp << 6) | (static_cast<unsigned char>(name[k + j]) & 0x3F);
        const bool separator = slug_separator(cp);
        const std::size_t add = separator ? 1 : len;
        if (slug.size() + add > kMaxSlugBytes) break;  // whole characters only
        if (!separator)
            slug += len == 1 ? std::string(1, static_cast<char>(std::tolower(lead))) : name.substr(k, len);
        else if (!slug.empty() && slug.back() != '-')
            slug += '-';
        k += len;
    }
    while (!slug.empty() && slug.back() == '-') slug.pop_back();
    return slug.empty() ? "student" : slug;
}

std::string find_on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    if (path == nullptr) return "";
    const std::string dirs = path;
    for (std::size_t start = 0; start <= dirs.size();) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
        std::string candidate = dir + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
        start = end + 1;
    }
    return "";
}

int write_worksheets(const BulkSheets& bulk, const Common& common) {
    // "homework/" names the directory "homework": the staging directory goes beside it.
    fs::path out = fs::path(bulk.out).lexically_normal();
    if (out.filename().empty() && out.has_parent_path() && out != out.root_path()) out = out.parent_path();
    // A symbolic link (to a directory, or to none yet) writes where it leads, as for -o.
    out = fs::path(output_target(out.string()));
    check_out_dir(out, bulk.force);
    const bool latex = bulk.format == SheetFormat::Latex;
    const std::string pdflatex = latex ? find_on_path("pdflatex") : "";
    if (latex && pdflatex.empty())
        std::cerr << "bnstep: pdflatex is not on PATH: writing the .tex files only (Debian: apt install "
                     "texlive-latex-base)\n";
    const std::string ext = latex ? ".tex" : ".md";
    const std::vector<std::string> stems = file_stems(bulk);
    std::vector<std::string> names{"answers.csv"};
    for (const std::string& stem : stems)
        for (const char* part : {"-sheet", "-key"}) {
            names.push_back(stem + part + ext);
            if (!pdflatex.empty()) names.push_back(stem + part + ".pdf");
        }
    check_out_files(out, names);
    Staging staging(out);
    PrintOptions opt = common.print();
    opt.style.color = false;
    const QuizOptions quiz;  // the tolerance answers.csv gives: the quiz's own
    std::string answers = csv_line({"variant", "student", "blank", "asked", "answer", "tolerance", "scale"});
    for (std::size_t k = 0; k < bulk.picks.size(); ++k) {
        const VariantPick& p = bulk.picks[k];
        const Graph g = common.load(bulk.lesson, p.variant, p.student);
        const Trace t = run_for_display(g);
        for (const bool key : {false, true}) {
            const std::string name = stems[k] + (key ? "-key" : "-sheet") + ext;
            staging.write(name, worksheet(t, bulk.format, key, opt));
            if (!pdflatex.empty()) run_pdflatex(pdflatex, staging.dir(), name);
        }
        const std::vector<SheetBlank> blanks = worksheet_blanks(t, opt);
        for (std::size_t b = 0; b < blanks.size(); ++b)
            answers += csv_line({std::to_string(p.variant), p.student, std::to_string(b + 1), blanks[b].asked,
                                 fmt::format("{}", blanks[b].answer), fmt::format("{}", quiz.tolerance),
                                 fmt::format("{}", blanks[b].scale)});
    }
    staging.write("answers.csv", answers);
    staging.move_to(out);
    std::cout << fmt::format("wrote {} sheet{} and {} answer key{}{} and answers.csv to {}\n", bulk.picks.size(),
                             bulk.picks.size() == 1 ? "" : "s", bulk.picks.size(), bulk.picks.size() == 1 ? "" : "s",
                             pdflatex.empty() ? "" : " (each also as PDF)", visible(out.string()));
    return kOk;
}

}  // namespace bnstep::cli
