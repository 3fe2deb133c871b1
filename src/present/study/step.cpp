// Step mode: `run`'s blocks one node at a time, with a key between them.
#include <algorithm>
#include <optional>
#include <utility>
#include <fmt/format.h>
#include <istream>
#include <ostream>

#include "bnstep/study.hpp"

namespace bnstep {
namespace {

// Where the reader is: "forward 3/13: step 2 (xmu)".
std::string position(const Graph& g, const RunBlock& b, std::size_t stop, std::size_t stops) {
    const Node& n = g.nodes[*b.node];
    const std::string pass = b.part == RunBlock::Part::Forward ? "forward" : "backward";
    return fmt::format("{}/{} {}: {}", stop + 1, stops, pass,
                       n.step ? fmt::format("step {} ({})", *n.step, n.name) : n.name);
}

}  // namespace

Key key_for_char(int c) {
    switch (c) {
        case '\n':
        case '\r':
        case ' ':
        case 'n':
        case 'N': return Key::Next;
        case 'b':
        case 'B': return Key::Back;
        case 'q':
        case 'Q':
        case 3:
        case 4: return Key::Quit;  // 3, 4: Ctrl-C, Ctrl-D
        case '?':
        case 'h':
        case 'H': return Key::Help;
        default: return Key::Other;
    }
}

Key StreamKeys::next_key() {
    const int c = in_.get();
    if (c == std::char_traits<char>::eof()) return Key::End;
    return key_for_char(c);
}

std::string step_prompt(const std::string& where, const std::string& progress) {
    const std::vector<std::string> tries =
        progress.empty()
            ? std::vector<std::string>{fmt::format("-- {} -- Enter: next, b: back, q: quit, ?: keys", where),
                                       fmt::format("-- {} -- Enter: next, ?: keys", where)}
            : std::vector<std::string>{fmt::format("-- {} -- {} -- Enter: more, b: back, q: quit", where, progress),
                                       fmt::format("-- {} -- {} -- Enter: more", where, progress)};
    for (const std::string& line : tries)
        if (line.size() < kStepColumns) return line;
    const std::string tail = progress.empty() ? " -- ?: keys" : " -- " + progress;
    const std::size_t room = kStepColumns - 1 - tail.size() - 3;
    return (where.size() + 3 > room ? "-- " + where.substr(0, room - 3) + "..." : "-- " + where) + tail;
}

std::string step_keys_help() {
    return "keys: Enter, n or space: next node (or the rest of a long one)   b: back one node   q: quit   ?: "
           "these keys\n";
}

namespace {

// How --nodes names a node: its step number, else its name.
std::string step_node_ref(const Node& n) { return n.step ? std::to_string(*n.step) : n.name; }

// The nodes of the forward pass's blocks, first and last (the --nodes range shown).
std::optional<std::pair<std::size_t, std::size_t>> forward_range(const std::vector<RunBlock>& blocks) {
    std::optional<std::pair<std::size_t, std::size_t>> range;
    for (const RunBlock& b : blocks) {
        if (b.part != RunBlock::Part::Forward) continue;
        if (!range) range = std::make_pair(*b.node, *b.node);
        range->second = *b.node;
    }
    return range;
}

bool has_backward(const std::vector<RunBlock>& blocks) {
    return std::any_of(blocks.begin(), blocks.end(),
                       [](const RunBlock& b) { return b.part == RunBlock::Part::BackwardStart && !b.text.empty(); });
}

}  // namespace

std::string step_stopped(const Graph& g, const std::vector<RunBlock>& blocks, std::size_t at) {
    const RunBlock& b = blocks[at];
    const Node& n = g.nodes[*b.node];
    const std::string where = n.step ? fmt::format("step {} ({})", *n.step, n.name) : n.name;
    const std::string run = "bnstep run " + (g.builtin ? g.name : g.source);
    const auto range = forward_range(blocks);
    const bool whole = !range || (range->first == 0 && range->second + 1 == g.nodes.size());
    std::vector<std::string> commands;
    if (b.part == RunBlock::Part::Forward) {
        const std::string last = range->second + 1 == g.nodes.size() ? "" : step_node_ref(g.nodes[range->second]);
        commands.push_back(fmt::format("{} --only forward --nodes {}..{}", run, step_node_ref(n), last));
        if (has_backward(blocks))
            commands.push_back(
                fmt::format("and then {} --only backward{}", run,
                            whole ? "" : fmt::format(" --nodes {}..{}", step_node_ref(g.nodes[range->first]), last)));
    } else {
        const std::string first = whole ? "" : step_node_ref(g.nodes[range->first]);
        commands.push_back(fmt::format("{} --only backward --nodes {}..{}", run, first, step_node_ref(n)));
    }
    std::string text = wrap(fmt::format("stopped at {}{}; continue with", where,
                                        b.part == RunBlock::Part::Forward ? "" : " of the backward pass"),
                            kStepColumns, "");
    for (const std::string& c : commands) text += wrap(c, kStepColumns, "  ", "      ");
    return text;
}

namespace {

// The lines of one pause (a node's block and the blocks that lead to it), shown
// a screenful at a time.
class StepScreen {
public:
    StepScreen(std::ostream& out, std::size_t rows) : out_(out), page_(rows > 2 ? rows - 1 : 0) {}
    void start(const std::string& text) {
        lines_.clear();
        for (std::size_t k = 0; k < text.size();) {
            const std::size_t end = std::min(text.find('\n', k), text.size() - 1) + 1;
            lines_.push_back(text.substr(k, end - k));
            k = end;
        }
        shown_ = 0;
        more();
    }
    void more() {
        const std::size_t stop = page_ == 0 ? lines_.size() : std::min(lines_.size(), shown_ + page_);
        for (; shown_ < stop; ++shown_) out_ << lines_[shown_];
    }
    bool partial() const { return shown_ < lines_.size(); }
    std::string progress() const { return fmt::format("line {} of {}", shown_, lines_.size()); }

private:
    std::ostream& out_;
    std::size_t page_;
    std::vector<std::string> lines_;
    std::size_t shown_ = 0;
};

}  // namespace

StepEnd step_through(std::ostream& out, KeySource& keys, const std::vector<RunBlock>& blocks, const Graph& g,
                     const StepOptions& o) {
    std::vector<std::size_t> stops;  // the blocks after which to pause
    for (std::size_t k = 0; k < blocks.size(); ++k)
        if (blocks[k].part == RunBlock::Part::Forward || blocks[k].part == RunBlock::Part::Backward) stops.push_back(k);
    StepScreen screen(out, o.rows);
    // Shows the pause `p` with the blocks that lead to it (a heading, the seed).
    auto show = [&](std::size_t p) {
        std::string text;
        for (std::size_t k = p == 0 ? 0 : stops[p - 1] + 1; k <= stops[p]; ++k) text += blocks[k].text;
        screen.start(text);
    };
    auto finish = [&](std::size_t from) {
        for (std::size_t k = from; k < blocks.size(); ++k) out << blocks[k].text;
        out << std::flush;
    };
    if (stops.empty()) {
        finish(0);
        return StepEnd::Finished;
    }
    std::size_t p = 0;
    show(p);
    for (;;) {
        const std::string where = position(g, blocks[stops[p]], p, stops.size());
        out << o.style.dim(step_prompt(where, screen.partial() ? screen.progress() : "")) << std::flush;
        const Key key = keys.next_key();
        out << (o.erase_prompt ? "\r\x1b[K" : "\n");
        switch (key) {
            case Key::Next:
                if (screen.partial()) {
                    screen.more();
                } else if (++p == stops.size()) {
                    finish(stops.back() + 1);
                    return StepEnd::Finished;
                } else {
                    show(p);
                }
                break;
            case Key::Back:
                if (p == 0) {
                    out << "(this is the first node)\n";
                } else {
                    out << kClearScreen;
                    show(--p);
                }
                break;
            case Key::Help: out << step_keys_help(); break;
            case Key::Quit: out << step_stopped(g, blocks, stops[p]) << std::flush; return StepEnd::Quit;
            case Key::End: out << std::flush; return StepEnd::InputEnded;
            case Key::Other: out << "(that key does nothing; ? shows the keys)\n"; break;
        }
    }
}

}  // namespace bnstep
