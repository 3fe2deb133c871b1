// Step mode: `run`'s blocks one node at a time, with a key between them.
#include <algorithm>
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

std::string step_keys_help() {
    return "keys: Enter, n or space: next node (or the rest of a long one)   b: back one node   q: quit   ?: "
           "these keys\n";
}

std::string step_stopped(const Graph& g, const RunBlock& b) {
    const Node& n = g.nodes[*b.node];
    const std::string name = n.step ? std::to_string(*n.step) : n.name;
    const std::string where = n.step ? fmt::format("step {} ({})", *n.step, n.name) : n.name;
    const std::string lesson = g.builtin ? g.name : g.source;
    if (b.part == RunBlock::Part::Forward)
        return fmt::format("stopped at {}; continue with: bnstep run {} --nodes {}..\n", where, lesson, name);
    return fmt::format(
        "stopped at {} of the backward pass; continue with: bnstep run {} --only backward --nodes ..{}\n", where,
        lesson, name);
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
        out << o.style.dim(screen.partial()
                               ? fmt::format("-- {} -- {} -- Enter: more, b: back, q: quit", where, screen.progress())
                               : fmt::format("-- {} -- Enter: next, b: back, q: quit, ?: keys", where))
            << std::flush;
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
            case Key::Quit: out << step_stopped(g, blocks[stops[p]]) << std::flush; return StepEnd::Quit;
            case Key::End: out << std::flush; return StepEnd::InputEnded;
            case Key::Other: out << "(that key does nothing; ? shows the keys)\n"; break;
        }
    }
}

}  // namespace bnstep
