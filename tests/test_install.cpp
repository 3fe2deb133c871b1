// bnstep as an installed tool: what --version reports, what `cmake --install`
// puts where, and the Debian package installed into and removed from a
// scratch root.
#include <doctest/doctest.h>
#include <elf.h>

#include <cctype>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tooling_support.hpp"

using namespace bnstep_tooling_test;

namespace {

// Whether an ELF file asks for a dynamic loader (a PT_INTERP header): read
// from the file itself, not from what bnstep says of itself.
bool has_interpreter(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    Elf64_Ehdr header{};
    REQUIRE(in.read(reinterpret_cast<char*>(&header), sizeof header));
    REQUIRE(std::string(reinterpret_cast<const char*>(header.e_ident), 4) ==
            "\x7f"
            "ELF");
    REQUIRE(header.e_ident[EI_CLASS] == ELFCLASS64);
    for (std::uint64_t i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr ph{};
        in.seekg(static_cast<std::streamoff>(header.e_phoff + i * header.e_phentsize));
        REQUIRE(in.read(reinterpret_cast<char*>(&ph), sizeof ph));
        if (ph.p_type == PT_INTERP) return true;
    }
    return false;
}

// x86-64-v3 as /proc/cpuinfo lists its features.
bool cpu_has_x86_64_v3() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("flags", 0) != 0) continue;
        line += " ";
        for (const char* f : {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave"})
            if (!contains(line, std::string(" ") + f + " ")) return false;
        return true;
    }
    return false;
}

std::string git_output(const std::vector<std::string>& args) {
    std::vector<std::string> all{"-C", source_dir()};
    all.insert(all.end(), args.begin(), args.end());
    const RunResult r = run_program("git", all);
    REQUIRE(r.exit_code == 0);
    return r.out;
}

std::set<std::string> files_under(const fs::path& root) {
    std::set<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(root))
        if (!e.is_directory()) files.insert(fs::relative(e.path(), root).string());
    return files;
}

// Every file the installation must have, relative to the prefix.
std::vector<std::string> expected_files(const std::string& zsh_dir) {
    std::vector<std::string> files{"bin/bnstep",
                                   "share/man/man1/bnstep.1.gz",
                                   "share/bash-completion/completions/bnstep",
                                   "share/zsh/" + zsh_dir + "/_bnstep",
                                   "share/fish/vendor_completions.d/bnstep.fish",
                                   "share/bnstep/lessons/lesson.schema.json",
                                   "share/doc/bnstep/README.md",
                                   "share/doc/bnstep/docs/lesson-format.md",
                                   "share/doc/bnstep/docs/background.md",
                                   "share/doc/bnstep/docs/check-your-backward.md",
                                   "share/doc/bnstep/examples/batchnorm_backward.py"};
    for (const auto& lesson : lesson_names()) files.push_back("share/bnstep/lessons/" + lesson + ".json");
    return files;
}

}  // namespace

TEST_CASE("version: --version names the version, the commit, the build and the kernels") {
    const RunResult r = run_bnstep({"--version"});
    REQUIRE(r.exit_code == 0);
    const std::vector<std::string> lines = lines_of(r.out);
    REQUIRE(lines.size() == 4);
    const nlohmann::json j = nlohmann::json::parse(run_bnstep({"version", "--format", "json"}).out);
    CHECK(j.at("command") == "version");
    CHECK(lines[0] == "bnstep " + j.at("version").get<std::string>());
    CHECK(run_bnstep({"version"}).out == r.out);

    if (fs::exists(fs::path(source_dir()) / ".git") && !program("git").empty()) {
        const std::string commit = git_output({"log", "-1", "--format=%h", "--abbrev=12"});
        const std::string date = git_output({"log", "-1", "--format=%cs"});
        const bool changed = !git_output({"status", "--porcelain", "--untracked-files=no"}).empty();
        CHECK(lines[1] == "commit: " + commit.substr(0, commit.size() - 1) + " (" + date.substr(0, date.size() - 1) +
                              ")" + (changed ? ", with local changes" : ""));
        CHECK(j.at("commit") == commit.substr(0, commit.size() - 1));
        CHECK(j.at("local_changes") == changed);
    }

    const bool dynamic = has_interpreter(binary_path());
    CHECK(j.at("build").at("linking") == (dynamic ? "dynamic" : "static"));
    CHECK(contains(lines[2], dynamic ? "dynamic linking" : "static linking"));
    CHECK(contains(lines[2], j.at("build").at("type").get<std::string>()));
    CHECK(j.at("build").at("sanitizers") == kUnderSanitizer);

    const auto& kernels = j.at("kernels");
    CHECK(contains(lines[3], kernels.at("baseline").get<std::string>()));
    if (!kernels.at("clones").empty()) {
        const std::string in_use = kernels.at("in_use");
        CHECK(contains(lines[3], "this CPU runs " + in_use));
        CHECK(contains(in_use, "x86-64-v3") == cpu_has_x86_64_v3());
    }
    CHECK(j.at("system").at("threads").get<int>() >= 1);
}

TEST_CASE("install: cmake --install puts each file where its reader looks") {
    TempDir dir;
    SUBCASE("under a prefix of one's own: zsh's site-functions") {
        const fs::path prefix = dir.path() / "opt";
        const RunResult r = run_program("cmake", {"--install", build_dir().string(), "--prefix", prefix.string()});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        const auto files = files_under(prefix);
        for (const auto& f : expected_files("site-functions")) {
            CAPTURE(f);
            CHECK(files.count(f) == 1);
        }
        const RunResult v = run_command({(prefix / "bin" / "bnstep").string(), "--version"});
        CHECK(v.exit_code == 0);
        CHECK(v.out == run_bnstep({"--version"}).out);
        CHECK(read_text_file(prefix / "share" / "bnstep" / "lessons" / "lesson.schema.json") ==
              run_bnstep({"ops", "--format", "schema"}).out);
    }
    SUBCASE("under /usr, as a package does: zsh's vendor-completions") {
        const RunResult r = run_program("cmake", {"--install", build_dir().string(), "--prefix", "/usr"},
                                        {{"DESTDIR", dir.path().string()}});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        const auto files = files_under(dir.path() / "usr");
        for (const auto& f : expected_files("vendor-completions")) {
            CAPTURE(f);
            CHECK(files.count(f) == 1);
        }
        CHECK(files.count("share/zsh/site-functions/_bnstep") == 0);
        // Each lesson's "$schema" names a file beside it.
        const fs::path lessons = dir.path() / "usr" / "share" / "bnstep" / "lessons";
        for (const auto& lesson : lesson_names()) {
            CAPTURE(lesson);
            const auto j = nlohmann::json::parse(read_text_file(lessons / (lesson + ".json")));
            CHECK(fs::is_regular_file(lessons / j.at("$schema").get<std::string>()));
        }
    }
    SUBCASE("a trailing slash is the same prefix") {
        const RunResult r = run_program("cmake", {"--install", build_dir().string(), "--prefix", "/usr/"},
                                        {{"DESTDIR", dir.path().string()}});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        CHECK(fs::exists(dir.path() / "usr" / "share" / "zsh" / "vendor-completions" / "_bnstep"));
    }
}

TEST_CASE("package: cpack -G DEB builds a package that dpkg installs into a root and removes cleanly") {
    if (program("dpkg").empty() || program("cpack").empty()) {
        MESSAGE("dpkg or cpack is not installed: skipped");
        return;
    }
    TempDir dir;
    const fs::path out = dir.path() / "package";
    const RunResult pack =
        run_command({program("cpack"), "-G", "DEB", "-B", out.string()}, build_dir().string(), {}, Stdin::DevNull, 300);
    REQUIRE_MESSAGE(pack.exit_code == 0, pack.out << pack.err);
    fs::path deb;
    for (const auto& e : fs::directory_iterator(out))
        if (e.path().extension() == ".deb") deb = e.path();
    REQUIRE(!deb.empty());

    // Its contents, as dpkg-deb lists them.
    const RunResult contents = run_program("dpkg-deb", {"--contents", deb.string()});
    REQUIRE(contents.exit_code == 0);
    for (const auto& f : expected_files("vendor-completions")) {
        CAPTURE(f);
        CHECK(contains(contents.out, " ./usr/" + f + "\n"));
    }
    // libzip, loaded with dlopen for .npz files, is named by hand; a static
    // bnstep loads it through the glibc release it was linked with, a dynamic
    // one names its libraries' packages.
    std::string depends = run_program("dpkg-deb", {"--field", deb.string(), "Depends"}).out;
    while (!depends.empty() && std::isspace(static_cast<unsigned char>(depends.back()))) depends.pop_back();
    const bool dynamic = has_interpreter(binary_path());
    CAPTURE(depends);
    CHECK(contains(depends, "libzip4"));
    CHECK(contains(depends, dynamic ? "libc6" : "libc6 (<< "));
    // Debian's control fields: a description of lines of at most 80 characters.
    const std::string description = run_program("dpkg-deb", {"--field", deb.string(), "Description"}).out;
    CHECK(lines_of(description).size() >= 3);
    for (const auto& line : lines_of(description)) {
        CAPTURE(line);
        CHECK(line.size() <= 80);
    }

    // Installed into a scratch root, run from there, and removed again.
    const fs::path root = dir.path() / "root";
    fs::create_directories(root / "var" / "lib" / "dpkg" / "info");
    fs::create_directories(root / "var" / "lib" / "dpkg" / "updates");
    std::ofstream status(root / "var" / "lib" / "dpkg" / "status");  // an empty database
    status.close();
    const std::string root_option = "--root=" + root.string();
    // --path-include: a machine whose dpkg leaves out manual pages (Docker's slim images) still installs them here.
    std::vector<std::string> install{root_option,        "--force-not-root", "--force-script-chrootless",
                                     "--path-include=*", "--install",        deb.string()};
    install.insert(install.begin(), "--force-depends");  // the scratch root holds no other package
    const RunResult i = run_program("dpkg", install);
    REQUIRE_MESSAGE(i.exit_code == 0, i.out << i.err);
    const RunResult v = run_command({(root / "usr" / "bin" / "bnstep").string(), "--version"});
    CHECK(v.exit_code == 0);
    CHECK(contains(v.out, "bnstep "));
    const RunResult listed = run_program("dpkg", {root_option, "--listfiles", "bnstep"});
    CHECK(contains(listed.out, "/usr/share/man/man1/bnstep.1.gz"));
    if (!program("man").empty()) {
        const RunResult m = run_program("man", {"-l", (root / "usr/share/man/man1/bnstep.1.gz").string()},
                                        {{"MANPAGER", "cat"}, {"MANWIDTH", "80"}});
        CHECK(m.exit_code == 0);
        CHECK(contains(m.out, "EXIT STATUS"));
    }
    const RunResult removed =
        run_program("dpkg", {root_option, "--force-not-root", "--force-script-chrootless", "--remove", "bnstep"});
    REQUIRE_MESSAGE(removed.exit_code == 0, removed.out << removed.err);
    CHECK(!fs::exists(root / "usr"));  // every file and the folders they made are gone
}
