// The layers the build enforces, checked on the source tree as well: each
// quoted #include of a layer resolves inside that layer or in the public
// headers of a layer below it (engine < present < cli). A header of a higher
// layer named from a lower one fails here even where an include path would
// happen to find it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
const fs::path kSrc = fs::path(BNSTEP_SOURCE_DIR) / "src";

struct Layer {
    std::string name;
    std::vector<fs::path> roots;  // where its quoted includes may resolve
};

std::vector<std::string> quoted_includes(const fs::path& file) {
    static const std::regex include_line(R"(^\s*#\s*include\s*"([^"]+)\")");
    std::vector<std::string> out;
    std::ifstream in(file);
    std::string line;
    std::smatch m;
    while (std::getline(in, line))
        if (std::regex_search(line, m, include_line)) out.push_back(m[1]);
    return out;
}

// The files of a layer that include something outside `layer.roots`, as "file: include" lines.
std::vector<std::string> escapes(const fs::path& dir, const Layer& layer) {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        const fs::path& file = entry.path();
        if (file.extension() != ".cpp" && file.extension() != ".hpp") continue;
        for (const std::string& inc : quoted_includes(file)) {
            bool resolves = fs::exists(file.parent_path() / inc);
            for (const fs::path& root : layer.roots) resolves = resolves || fs::exists(root / inc);
            if (!resolves) found.push_back(fs::relative(file, kSrc).string() + ": " + inc);
        }
    }
    return found;
}

std::string lines(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += "\n  " + x;
    return s;
}

}  // namespace

TEST_CASE("layers: the engine includes only its own headers") {
    const Layer engine{"engine", {kSrc / "engine", kSrc / "engine" / "include"}};
    const auto found = escapes(kSrc / "engine", engine);
    CHECK_MESSAGE(found.empty(), "engine files including headers of a higher layer:" << lines(found));
}

TEST_CASE("layers: the presentation includes only its own headers and the engine's public ones") {
    const Layer present{"present", {kSrc / "present", kSrc / "present" / "include", kSrc / "engine" / "include"}};
    const auto found = escapes(kSrc / "present", present);
    // bnstep/version.hpp is generated into the build tree for the presentation and the CLI.
    std::vector<std::string> real;
    for (const auto& f : found)
        if (f.find("bnstep/version.hpp") == std::string::npos) real.push_back(f);
    CHECK_MESSAGE(real.empty(),
                  "presentation files including the CLI's or the engine's private headers:" << lines(real));
}

TEST_CASE("layers: the check itself sees a planted violation") {
    const fs::path dir = fs::temp_directory_path() / "bnstep_layer_check";
    fs::create_directories(dir / "include" / "bnstep");
    std::ofstream(dir / "include" / "bnstep" / "a.hpp") << "#pragma once\n#include \"bnstep/print.hpp\"\n";
    std::ofstream(dir / "b.cpp") << "#include \"bnstep/a.hpp\"\n#include \"ops/nothing.hpp\"\n";
    const auto found = escapes(dir, Layer{"planted", {dir, dir / "include"}});
    fs::remove_all(dir);
    REQUIRE(found.size() == 2);
    CHECK(lines(found).find("a.hpp: bnstep/print.hpp") != std::string::npos);
    CHECK(lines(found).find("b.cpp: ops/nothing.hpp") != std::string::npos);
}

TEST_CASE("layers: the engine never names an exit code, a flag or a terminal") {
    // Word-level: messages and comments of the engine speak of limits and
    // settings, and the command line supplies its flags' names.
    const std::regex cli_words(R"((exit code|isatty|tcsetattr|std::exit|--(max|set|param|mode|seed|format)\b))");
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(kSrc / "engine")) {
        const fs::path& file = entry.path();
        if (file.extension() != ".cpp" && file.extension() != ".hpp") continue;
        std::ifstream in(file);
        std::string line;
        for (int n = 1; std::getline(in, line); ++n)
            if (std::regex_search(line, cli_words))
                found.push_back(fs::relative(file, kSrc).string() + ":" + std::to_string(n) + ": " + line);
    }
    CHECK_MESSAGE(found.empty(), "the engine speaks the command line's words:" << lines(found));
}
