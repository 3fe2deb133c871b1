// Shell completion: what `bnstep __complete` offers (tested on the library),
// and bash, fish and zsh driven through the scripts `bnstep completions`
// prints, each against what the lesson files and --help say.
#include <doctest/doctest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>

#include "command_specs.hpp"
#include "completion.hpp"
#include "tooling_support.hpp"

using namespace bnstep_tooling_test;

namespace {

std::set<std::string> offered(const std::vector<std::string>& words) {
    static const bnstep::cli::AppSpec spec = bnstep::cli::app_spec();
    std::set<std::string> out;
    for (const auto& c : bnstep::cli::complete_line(spec, words).candidates) out.insert(c.word);
    return out;
}

std::set<std::string> with_prefix(const std::set<std::string>& words, const std::string& prefix) {
    std::set<std::string> out;
    for (const auto& w : words)
        if (w.rfind(prefix, 0) == 0) out.insert(w);
    return out;
}

std::set<std::string> split_lines(const std::string& text) {
    std::set<std::string> out;
    for (const auto& l : lines_of(text))
        if (!l.empty()) out.insert(l.substr(0, l.find('\t')));
    return out;
}

const std::vector<std::pair<std::string, std::string>> kPathWithBnstep = {
    {"PATH", fs::path(binary_path()).parent_path().string() + ":" + std::getenv("PATH")}};

// The shell's path, or "" with a note when it is not installed (the test then has nothing to drive).
std::string shell_or_skip(const std::string& name) {
    std::string path = program(name);
    if (path.empty()) MESSAGE(name << " is not installed: skipped (./quickstart.sh test installs it)");
    return path;
}

}  // namespace

TEST_CASE("completion: commands, options and their values come from the command table") {
    const std::vector<std::string> commands = help_commands();
    CHECK(offered({""}) == std::set<std::string>(commands.begin(), commands.end()));
    CHECK(offered({"ch"}) == std::set<std::string>{"check-gradients"});
    CHECK(offered({"--v"}) == std::set<std::string>{"--version"});
    CHECK(offered({"nosuchcommand", ""}).empty());
    for (const std::string command : {"run", "trace", "quiz", "graph", "check-gradients", "version"}) {
        CAPTURE(command);
        std::set<std::string> options = help_options(command);
        CHECK(offered({command, "-"}) == options);
    }
    CHECK(offered({"run", "--format", ""}) == std::set<std::string>{"text", "json"});
    CHECK(offered({"ops", "--format", ""}) == std::set<std::string>{"text", "markdown", "schema"});
    CHECK(offered({"worksheet", "--format", "l"}) == std::set<std::string>{"latex"});
    CHECK(offered({"check-gradients", "--mode", ""}) ==
          std::set<std::string>{"auto", "full", "sparse", "directional", "local"});
    CHECK(offered({"run", "--color", "a"}) == std::set<std::string>{"auto", "always"});
    CHECK(offered({"completions", ""}) == std::set<std::string>{"bash", "zsh", "fish"});
    SUBCASE("--name=value, and bash's split of it at '='") {
        CHECK(offered({"run", "--format=j"}) == std::set<std::string>{"--format=json"});
        CHECK(offered({"run", "--format", "=", "j"}) == std::set<std::string>{"--format=json"});
        CHECK(offered({"run", "--format", "="}) == std::set<std::string>{"--format=text", "--format=json"});
    }
    SUBCASE("an option given once is not offered again; a repeatable one is") {
        CHECK(offered({"run", "--format", "json", "--fo"}).empty());
        CHECK(offered({"run", "--set", "x.shape=2,3", "--se"}) == std::set<std::string>{"--set"});
    }
    SUBCASE("a number or a size: nothing to offer") {
        CHECK(offered({"run", "--precision", ""}).empty());
        CHECK(offered({"run", "--max-memory", ""}).empty());
    }
}

TEST_CASE("completion: lessons, and the nodes of the lesson on the line") {
    const std::set<std::string> lessons = lesson_names();
    REQUIRE(lessons.size() >= 20);
    CHECK(offered({"run", ""}) == lessons);
    CHECK(offered({"run", "conv"}) == with_prefix(lessons, "conv"));
    CHECK(offered({"check-gradients", "batchnorm", "b"}) == with_prefix(lessons, "b"));  // repeatable
    CHECK(offered({"run", "batchnorm", ""}).empty());                                    // one lesson only
    const auto lesson_files = [](const std::vector<std::string>& words) {
        static const bnstep::cli::AppSpec spec = bnstep::cli::app_spec();
        return bnstep::cli::complete_line(spec, words).lesson_files;
    };
    CHECK(lesson_files({"trace", "./"}));
    CHECK(!lesson_files({"run", "--format", ""}));

    // trace's lesson is batchnorm by default; a lesson named anywhere on the line counts.
    CHECK(offered({"trace", "--node", ""}) == node_words("batchnorm"));
    CHECK(offered({"trace", "-n", ""}) == node_words("batchnorm"));
    CHECK(offered({"trace", "conv2d", "--node", ""}) == node_words("conv2d"));
    CHECK(offered({
              "trace",
              "--format",
              "json",
              "--node",
              "",
          }) == node_words("batchnorm"));
    CHECK(offered({"trace", "--node", "x", "--precision", "6", "fire-module", "--index", ""}).empty());
    // quiz: every op node of the lesson (and a leaf only where contributions are summed), each accepted.
    const std::set<std::string> quiz_nodes = offered({"quiz", "--format=json", "distillation", "-n", ""});
    const auto distillation =
        nlohmann::json::parse(read_text_file(fs::path(source_dir()) / "lessons" / "distillation.json"));
    for (const auto& n : distillation.at("nodes")) {
        CHECK(quiz_nodes.count(n.at("name").get<std::string>()) == 1);
        CHECK(quiz_nodes.count(std::to_string(n.at("step").get<int>())) == 1);
    }
    for (const auto& word : quiz_nodes) {
        CAPTURE(word);
        CHECK(node_words("distillation").count(word) == 1);
        CHECK(run_bnstep({"quiz", "distillation", "-n", word, "--format", "json"}).exit_code == 0);
    }
    CHECK(offered({"graph", "xnor-net", "--highlight", "a"}) == with_prefix(node_words("xnor-net"), "a"));
    CHECK(offered({"trace", "--node=x"}) == std::set<std::string>{"--node=x", "--node=xhat", "--node=xmu"});
    // A lesson file on the line.
    const std::string file = (fs::path(source_dir()) / "lessons" / "ternary.json").string();
    CHECK(offered({"trace", file, "-n", ""}) == node_words("ternary"));
    // saliency --param: the lesson's params only.
    const auto params = offered({"saliency", "--param", ""});
    CHECK(params == std::set<std::string>{"x", "W1", "W2"});  // its input and params; the labels get no gradient
    // Only what each command accepts: quiz the nodes it has questions for, saliency the leaves with a
    // gradient (by name) -- each offered word is accepted by the command, and a refused one is not offered.
    const auto accepted = [](const std::vector<std::string>& args) {
        const RunResult r = run_bnstep(args);
        return r.exit_code == 0;
    };
    for (const auto& node : offered({"quiz", "conv2d", "-n", ""})) {
        CAPTURE(node);
        CHECK(accepted({"quiz", "conv2d", "-n", node, "--format", "json"}));
    }
    CHECK(offered({"quiz", "conv2d", "-n", ""}).count("w") == 0);
    CHECK(!accepted({"quiz", "conv2d", "-n", "w", "--format", "json"}));
    const auto depthwise_params = offered({"saliency", "depthwise-separable", "--param", ""});
    CHECK(depthwise_params.count("w_std") == 0);
    CHECK(!accepted({"saliency", "depthwise-separable", "--param", "w_std"}));
    for (const auto& param : depthwise_params) {
        CAPTURE(param);
        CHECK(!param.empty());
        CHECK(!std::isdigit(static_cast<unsigned char>(param[0])));  // names, not steps
    }
    CHECK(accepted({"saliency", "depthwise-separable", "--param", *depthwise_params.begin()}));
    // net-trim --param: the params W of a layer relu(matmul(X, W)), each accepted; not the input X.
    CHECK(offered({"net-trim", "--param", ""}) == std::set<std::string>{"W"});
    CHECK(accepted({"net-trim", "--param", "W", "--epsilon", "0.1", "--format", "json"}));
    CHECK(!accepted({"net-trim", "--param", "X"}));
    CHECK(offered({"net-trim", "obd-saliency", "--param", ""}) == std::set<std::string>{"W1"});
    // After "--" every word is an argument: no option is offered.
    CHECK(offered({"run", "--", "-"}).empty());
    CHECK(offered({"run", "--", "b"}) == with_prefix(lesson_names(), "b"));
    // A path as typed: quotes and ~ are the shell's, undone before the lesson is read.
    const char* home = std::getenv("HOME");
    if (home != nullptr && fs::path(source_dir()).string().rfind(home, 0) == 0) {
        const std::string rest = fs::path(source_dir()).string().substr(std::string(home).size());
        CHECK(offered({"trace", "~" + rest + "/lessons/conv2d.json", "-n", ""}) == node_words("conv2d"));
    }
    CHECK(offered({"trace", "'" + file + "'", "-n", ""}) == node_words("ternary"));
    // A lesson that does not load offers no node, and no error.
    CHECK(offered({"trace", "no-such-lesson", "-n", ""}).empty());
    // quiz --answers: a file name.
    static const bnstep::cli::AppSpec spec = bnstep::cli::app_spec();
    CHECK(bnstep::cli::complete_line(spec, {"quiz", "--answers", ""}).files);
}

TEST_CASE("completion: what __complete prints, for a built-in lesson and a lesson file") {
    const RunResult r = run_bnstep({"__complete", "nodes", "batchnorm"});
    CHECK(r.exit_code == 0);
    CHECK(split_lines(r.out) == node_words("batchnorm"));
    CHECK(contains(r.out, "xhat\tstep 7: mul\n"));
    CHECK(run_bnstep({"__complete", "line", "run", "--format", ""}).out == "text\njson\n");
    CHECK(contains(run_bnstep({"__complete", "line", "run", ""}).out, ":json\n"));
    CHECK(run_bnstep({"__complete", "bogus"}).exit_code == 2);
    CHECK(!contains(run_bnstep({"--help"}).out, "__complete"));  // hidden
    // A lesson file of one's own; one that does not load offers nothing, silently.
    const std::string example = (fs::path(source_dir()) / "docs" / "examples" / "square-sum.json").string();
    CHECK(split_lines(run_bnstep({"__complete", "nodes", example}).out) ==
          std::set<std::string>{"x", "0", "sq", "1", "loss", "2"});
    TempDir dir;
    const fs::path broken = dir.path() / "broken.json";
    std::ofstream(broken) << "{\"name\": \"broken\", \"nodes\": [";
    const RunResult b = run_bnstep({"__complete", "line", "trace", broken.string(), "-n", ""});
    CHECK(b.exit_code == 0);
    CHECK(b.out.empty());
    CHECK(b.err.empty());
}

TEST_CASE("completion: bash, driven through COMP_WORDS") {
    const std::string bash = program("bash");
    REQUIRE_MESSAGE(!bash.empty(), "bash is not installed");
    TempDir dir;
    const fs::path script = dir.path() / "bnstep.bash";
    std::ofstream(script) << run_bnstep({"completions", "bash"}).out;
    std::ofstream(dir.path() / "mine.json") << "{}";
    fs::create_directory(dir.path() / "sub");
    std::ofstream(dir.path() / "answers.txt") << "1\n";
    // Completes `bnstep WORDS...` (the last word the one under the cursor) and prints one reply per line.
    const auto complete = [&](const std::string& words) {
        const std::string code = "source " + script.string() + " && complete -p bnstep && COMP_WORDS=(bnstep " + words +
                                 ") && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _bnstep && "
                                 "printf '%s\\n' \"${COMPREPLY[@]}\"";
        RunResult r = run_command({bash, "--norc", "-c", code}, dir.path().string(), kPathWithBnstep);
        REQUIRE(r.exit_code == 0);
        REQUIRE(r.err.empty());
        std::vector<std::string> lines = lines_of(r.out);
        REQUIRE(!lines.empty());
        CHECK(lines.front() == "complete -F _bnstep bnstep");
        return std::set<std::string>(lines.begin() + 1, lines.end());
    };
    CHECK(complete("tr") == std::set<std::string>{"trace"});
    CHECK(complete("trace --node ''") == node_words("batchnorm"));
    CHECK(complete("trace conv2d -n ''") == node_words("conv2d"));
    CHECK(complete("run --format = j") == std::set<std::string>{"json"});  // as bash splits --format=j
    CHECK(complete("run --format =") == std::set<std::string>{"text", "json"});
    CHECK(complete("check-gradients --mode d") == std::set<std::string>{"directional"});
    std::set<std::string> lessons = with_prefix(lesson_names(), "m");
    lessons.insert({"mine.json"});
    CHECK(complete("run m") == lessons);
    CHECK(complete("run s") == std::set<std::string>{"sub"});  // directories hold lessons too
    CHECK(complete("quiz --answers a") == std::set<std::string>{"answers.txt"});
    CHECK(complete("run --col") == std::set<std::string>{"--color"});
    // bash splits words at ':' and '=' too: the word is joined back, and bash's part of it replaced.
    std::ofstream(dir.path() / "x:y.json") << read_text_file(fs::path(source_dir()) / "lessons" / "conv2d.json");
    CHECK(complete("run x :") == std::set<std::string>{"y.json"});
    CHECK(complete("trace x : y.json -n ''") == node_words("conv2d"));
    CHECK(complete("quiz --answers = a") == std::set<std::string>{"answers.txt"});
}

TEST_CASE("completion: fish, driven through complete -C") {
    const std::string fish = shell_or_skip("fish");
    if (fish.empty()) return;
    TempDir dir;
    const fs::path script = dir.path() / "bnstep.fish";
    std::ofstream(script) << run_bnstep({"completions", "fish"}).out;
    const auto complete = [&](const std::string& line) {
        RunResult r =
            run_command({fish, "--no-config", "-c", "source " + script.string() + "; complete -C'" + line + "'"},
                        dir.path().string(), kPathWithBnstep);
        REQUIRE(r.exit_code == 0);
        return split_lines(r.out);
    };
    CHECK(complete("bnstep tr") == std::set<std::string>{"trace"});
    CHECK(complete("bnstep trace --node ") == node_words("batchnorm"));
    CHECK(complete("bnstep quiz fire-module -n ") == offered({"quiz", "fire-module", "-n", ""}));
    CHECK(complete("bnstep graph fire-module --highlight ") == node_words("fire-module"));
    CHECK(complete("bnstep run --format=") == std::set<std::string>{"--format=text", "--format=json"});
    CHECK(complete("bnstep run dist") == std::set<std::string>{"distillation"});
    std::ofstream(dir.path() / "mine.json") << "{}";
    std::ofstream(dir.path() / "notes.txt") << "";
    CHECK(complete("bnstep run ma") == std::set<std::string>{"magnitude-pruning"});
    CHECK(complete("bnstep run mi") == std::set<std::string>{"mimic-learning", "mine.json"});  // no notes.txt
    CHECK(complete("bnstep quiz --answers=n") == std::set<std::string>{"--answers=notes.txt"});
}

TEST_CASE("completion: zsh, driven through a pseudo-terminal") {
    const std::string zsh = shell_or_skip("zsh");
    if (zsh.empty()) return;
    TempDir dir;
    std::ofstream(dir.path() / "_bnstep") << run_bnstep({"completions", "zsh"}).out;
    CHECK(run_command({zsh, "-n", (dir.path() / "_bnstep").string()}).exit_code == 0);
    // An interactive zsh with compinit and the script on its fpath; Tab after
    // `bnstep trace --node ` lists the nodes with their descriptions.
    const std::string driver =
        "zmodload zsh/zpty\n"
        "zpty z 'PS1=\"> \" TERM=dumb zsh -f -i'\n"
        "zpty -w z 'fpath=(" +
        dir.path().string() +
        " $fpath); autoload -U compinit; compinit -u -D'\n"
        "zpty -w z 'zstyle \":completion:*\" list-prompt \"\"; LISTMAX=1000'\n"
        "zpty -w -n z $'bnstep trace conv2d --node \\t'\n"
        // Read until the list is out and the prompt drawn again below it (20 s at most).
        "out=''\n"
        "for i in {1..100}; do\n"
        "  while zpty -rt z line 2>/dev/null; do out+=$line; done\n"
        "  [[ $out == *'step 2: relu'*'> bnstep trace conv2d --node'* ]] && break\n"
        "  sleep 0.2\n"
        "done\n"
        "print -rn -- \"$out\"\n"
        "zpty -d z\n";
    const RunResult r =
        run_command({zsh, "-f", "-c", driver}, dir.path().string(), kPathWithBnstep, Stdin::DevNull, 60);
    REQUIRE(r.exit_code == 0);
    for (const auto& word : node_words("conv2d")) {
        CAPTURE(word);
        CHECK(std::regex_search(r.out, std::regex("(^|[ \\n\\r])" + word + "( |\\r|\\n)")));
    }
    CHECK(contains(r.out, "-- step 1: conv2d"));
}
