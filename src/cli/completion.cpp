#include "completion.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string_view>

#include "bnstep/lesson.hpp"
#include "bnstep/network.hpp"
#include "bnstep/executor.hpp"
#include "bnstep/net_trim.hpp"
#include "bnstep/op.hpp"
#include "bnstep/study.hpp"
#include "bnstep/visible.hpp"

namespace bnstep::cli {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// bash's COMP_WORDS split "--format=js" and "x:y.json" at '=' and ':'; a
// lone '=' or ':' is joined back to its neighbours.
std::vector<std::string> join_split_words(const std::vector<std::string>& words) {
    std::vector<std::string> joined;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if ((words[i] == "=" || words[i] == ":") && !joined.empty()) {
            joined.back() += words[i];
            if (i + 1 < words.size()) joined.back() += words[++i];
        } else {
            joined.push_back(words[i]);
        }
    }
    return joined;
}

// The command line after the command's name, up to the word being completed.
struct Line {
    std::vector<std::string> positionals;
    std::vector<const OptionSpec*> given;
    const OptionSpec* awaiting = nullptr;  // the previous word was this option, still without its value
    bool options_ended = false;            // after "--", every word is an argument
};

Line read_line(const CommandSpec& cmd, const std::vector<std::string>& words) {
    Line line;
    bool& options_ended = line.options_ended;
    for (const std::string& w : words) {
        if (line.awaiting) {
            line.awaiting = nullptr;
            continue;
        }
        if (options_ended || w.size() < 2 || w[0] != '-') {
            line.positionals.push_back(w);
            continue;
        }
        if (w == "--") {
            options_ended = true;
            continue;
        }
        const bool inline_value = w.find('=') != std::string::npos || (w[1] != '-' && w.size() > 2);
        const std::string name = w[1] == '-' ? w.substr(0, w.find('=')) : w.substr(0, 2);
        const OptionSpec* o = cmd.find(name);
        if (!o) continue;
        line.given.push_back(o);
        if (o->value != ValueKind::None && !inline_value) line.awaiting = o;
    }
    return line;
}

void add_matching(Completion& c, const std::string& prefix, const std::string& word, const std::string& description) {
    if (starts_with(word, prefix)) c.candidates.push_back({word, description});
}

// A path as the shell would pass it: quotes and backslashes removed, a
// leading ~ or $HOME expanded (bash hands the completion the word as typed).
std::string shell_path(const std::string& typed) {
    std::string out;
    char quote = 0;
    for (std::size_t i = 0; i < typed.size(); ++i) {
        const char c = typed[i];
        if (quote != 0 && c == quote) {
            quote = 0;
        } else if (quote == 0 && (c == '\'' || c == '"')) {
            quote = c;
        } else if (c == '\\' && quote != '\'' && i + 1 < typed.size()) {
            out += typed[++i];
        } else {
            out += c;
        }
    }
    const char* home = std::getenv("HOME");
    if (home == nullptr) return out;
    for (const std::string prefix : {"~", "$HOME", "${HOME}"})
        if (out == prefix || starts_with(out, prefix + "/")) return home + out.substr(prefix.size());
    return out;
}

// The lesson the line names, or the command's default.
std::string lesson_of(const CommandSpec& cmd, const Line& line) {
    if (!line.positionals.empty()) return shell_path(line.positionals.front());
    const OptionSpec* p = cmd.positional();
    return p ? p->default_value : "";
}

// What each command accepts: saliency's leaves that get a gradient, net-trim's
// layer weights, the nodes quiz has questions for, any node for trace and graph.
NodeSet accepted_nodes(const CommandSpec& cmd, const OptionSpec& o) {
    if (o.value == ValueKind::Leaf) return cmd.name == "net-trim" ? NodeSet::NetTrimWeights : NodeSet::GradientLeaves;
    return cmd.name == "quiz" ? NodeSet::WithQuestions : NodeSet::All;
}

// cur is the value of `o` ("--format=js": prefix "--format=", cur "js").
void complete_value(Completion& c, const CommandSpec& cmd, const Line& line, const OptionSpec& o,
                    const std::string& prefix, const std::string& cur) {
    switch (o.value) {
        case ValueKind::Choice:
            for (const auto& choice : o.choices) add_matching(c, cur, choice, "");
            break;
        case ValueKind::Lesson:
            for (const auto& l : lesson_candidates()) add_matching(c, cur, l.word, l.description);
            c.lesson_files = true;
            break;
        case ValueKind::Node:
        case ValueKind::Leaf: {
            const NodeSet set = accepted_nodes(cmd, o);
            for (const auto& n : node_candidates(lesson_of(cmd, line), set))
                add_matching(c, cur, n.word, n.description);
            break;
        }
        case ValueKind::File: c.files = true; break;
        case ValueKind::Network:
            for (const BuiltinNetwork& n : builtin_networks()) add_matching(c, cur, std::string(n.name), "");
            c.lesson_files = true;
            break;
        case ValueKind::None:
        case ValueKind::Other: break;
    }
    for (auto& candidate : c.candidates) candidate.word = prefix + candidate.word;
}

void complete_option(Completion& c, const CommandSpec& cmd, const Line& line, const std::string& cur) {
    for (const auto& o : cmd.options) {
        if (o.positional) continue;
        const bool given = std::find(line.given.begin(), line.given.end(), &o) != line.given.end();
        if (given && !o.repeatable) continue;
        for (const auto& name : o.names) add_matching(c, cur, name, o.help);
    }
    add_matching(c, cur, "-h", "print this command's help");
    add_matching(c, cur, "--help", "print this command's help");
}

Completion complete_command_word(const AppSpec& spec, const std::string& cur) {
    Completion c;
    if (starts_with(cur, "-")) {
        for (const auto& o : spec.options)
            for (const auto& name : o.names) add_matching(c, cur, name, o.help);
        return c;
    }
    for (const auto& cmd : spec.commands) add_matching(c, cur, cmd.name, cmd.help);
    return c;
}

// A lesson file's names are untrusted: a word the shell would have to quote,
// or that hides control characters, is not offered.
bool offerable(const std::string& word) {
    if (word.empty() || word[0] == ':') return false;
    return std::all_of(word.begin(), word.end(), [](char ch) {
        const auto u = static_cast<unsigned char>(ch);
        return std::isalnum(u) || std::string_view("_-.=/+,:@%").find(ch) != std::string_view::npos;
    });
}

}  // namespace

std::vector<Candidate> lesson_candidates() {
    std::vector<Candidate> out;
    for (const auto& lesson : builtin_lessons()) {
        std::string title;
        try {
            title = parse_lesson(lesson.json, "lessons/" + std::string(lesson.name) + ".json").title;
        } catch (const std::exception&) {
        }
        out.push_back({std::string(lesson.name), title});
    }
    return out;
}

std::vector<Candidate> node_candidates(const std::string& lesson, NodeSet set) {
    std::vector<Candidate> out;
    try {
        const Graph g = load_lesson(lesson);
        std::vector<bool> accepted(g.nodes.size(), set == NodeSet::All);
        if (set == NodeSet::NetTrimWeights) {
            for (std::size_t i : net_trim_params(g)) accepted[i] = true;
        } else if (set != NodeSet::All) {
            const Trace t = bnstep::run(g);
            if (set == NodeSet::WithQuestions)
                for (std::size_t i : nodes_with_questions(t, QuizOptions{})) accepted[i] = true;
            else
                for (std::size_t i = 0; i < g.nodes.size(); ++i)
                    accepted[i] = g.nodes[i].is_leaf() && g.nodes[i].kind != NodeKind::Const && t.nodes[i].grad;
        }
        for (std::size_t i = 0; i < g.nodes.size(); ++i) {
            if (!accepted[i]) continue;
            const Node& n = g.nodes[i];
            const std::string what = n.is_leaf() ? std::string(kind_name(n.kind)) : n.op->name;
            // saliency and net-trim --param take names only; trace, quiz and graph steps too.
            if (n.step && set != NodeSet::GradientLeaves && set != NodeSet::NetTrimWeights)
                out.push_back({std::to_string(*n.step), fmt::format("{}: {}", n.name, what)});
            out.push_back({n.name, n.step ? fmt::format("step {}: {}", *n.step, what) : what});
        }
    } catch (const std::exception&) {
        out.clear();  // a lesson that does not load or run has nothing to offer
    }
    return out;
}

Completion complete_line(const AppSpec& spec, std::vector<std::string> words) {
    words = join_split_words(words);
    if (words.empty()) words.emplace_back();
    const std::string cur = words.back();
    words.pop_back();
    const auto named =
        std::find_if(words.begin(), words.end(), [](const std::string& w) { return !starts_with(w, "-"); });
    if (named == words.end()) return complete_command_word(spec, cur);
    const CommandSpec* cmd = spec.find(*named);
    if (!cmd) return {};
    const Line line = read_line(*cmd, std::vector<std::string>(named + 1, words.end()));
    Completion c;
    if (line.awaiting) {
        complete_value(c, *cmd, line, *line.awaiting, "", cur);
        return c;
    }
    if (!line.options_ended && starts_with(cur, "--") && cur.find('=') != std::string::npos) {
        const std::string name = cur.substr(0, cur.find('='));
        if (const OptionSpec* o = cmd->find(name); o && o->value != ValueKind::None)
            complete_value(c, *cmd, line, *o, name + "=", cur.substr(name.size() + 1));
        return c;
    }
    if (starts_with(cur, "-") && !line.options_ended) {
        complete_option(c, *cmd, line, cur);
        return c;
    }
    // A positional argument: the first one, or more of a repeatable one.
    const OptionSpec* p = cmd->positional();
    if (p && (line.positionals.empty() || p->repeatable)) complete_value(c, *cmd, line, *p, "", cur);
    return c;
}

std::string completion_lines(const Completion& c) {
    std::string out;
    for (const auto& candidate : c.candidates) {
        const std::string& w = candidate.word;
        if (!offerable(w)) continue;
        out += w;
        if (!candidate.description.empty()) out += "\t" + visible(candidate.description);
        out += "\n";
    }
    if (c.files) out += ":files\n";
    if (c.lesson_files) out += ":json\n";
    return out;
}

}  // namespace bnstep::cli
