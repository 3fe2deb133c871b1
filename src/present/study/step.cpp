// Step mode: `run`'s blocks one node at a time, with a key between them.
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
    return "keys: Enter, n or space: next node   b: back one node   q: quit   ?: these keys\n";
}

StepEnd step_through(std::ostream& out, KeySource& keys, const std::vector<RunBlock>& blocks, const Graph& g,
                     const StepOptions& o) {
    std::vector<std::size_t> stops;  // the blocks after which to pause
    for (std::size_t k = 0; k < blocks.size(); ++k)
        if (blocks[k].part == RunBlock::Part::Forward || blocks[k].part == RunBlock::Part::Backward) stops.push_back(k);
    // Shows the pause `p` with the blocks that lead to it (a heading, the seed).
    auto show = [&](std::size_t p) {
        for (std::size_t k = p == 0 ? 0 : stops[p - 1] + 1; k <= stops[p]; ++k) out << blocks[k].text;
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
        out << o.style.dim(fmt::format("-- {} -- Enter: next, b: back, q: quit, ?: keys",
                                       position(g, blocks[stops[p]], p, stops.size())))
            << std::flush;
        const Key key = keys.next_key();
        out << (o.erase_prompt ? "\r\x1b[K" : "\n");
        switch (key) {
            case Key::Next:
                if (++p == stops.size()) {
                    finish(stops.back() + 1);
                    return StepEnd::Finished;
                }
                show(p);
                break;
            case Key::Back:
                if (p == 0) {
                    out << "(this is the first node)\n";
                } else {
                    show(--p);
                }
                break;
            case Key::Help: out << step_keys_help(); break;
            case Key::Quit: out << std::flush; return StepEnd::Quit;
            case Key::End: out << std::flush; return StepEnd::InputEnded;
            case Key::Other: out << "(that key does nothing; ? shows the keys)\n"; break;
        }
    }
}

}  // namespace bnstep
