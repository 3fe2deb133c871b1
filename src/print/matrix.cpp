#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/op.hpp"
#include "bnstep/print.hpp"

namespace bnstep {

std::vector<std::string> matrix_lines(const Tensor& t, const NumFmt& num) {
    if (t.rank() == 0) return {num(t[0])};
    std::vector<std::string> cells;
    std::size_t width = 0;
    for (double v : t.data()) {
        cells.push_back(num(v));
        width = std::max(width, cells.back().size());
    }
    const std::size_t cols = t.shape().back();
    auto row = [&](std::size_t first) {
        std::string s;
        for (std::size_t c = 0; c < cols; ++c) s += fmt::format("{}{:>{}}", c ? "  " : "", cells[first + c], width);
        return s;
    };
    std::vector<std::string> lines;
    if (t.rank() == 1) return {"[" + row(0) + "]"};
    const std::size_t rows = t.shape()[t.rank() - 2];
    const std::size_t block = rows * cols;
    for (std::size_t b = 0; b < t.size() / block; ++b) {
        if (t.rank() > 2) {
            Index lead = t.unravel(b * block);
            lead.resize(t.rank() - 2);
            lines.push_back(fmt::format("[{},:,:]", fmt::join(lead, ",")));
        }
        for (std::size_t r = 0; r < rows; ++r)
            lines.push_back(fmt::format("{}[{}]{}", r == 0 ? "[" : " ", row(b * block + r * cols), r + 1 == rows ? "]" : ""));
    }
    return lines;
}

namespace {

// Columns a string takes on screen: ANSI colour sequences take none.
std::size_t visible_width(std::string_view s) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\x1b') {
            while (i < s.size() && s[i] != 'm') ++i;
            continue;
        }
        ++n;
    }
    return n;
}

}  // namespace

std::string wrap(std::string_view text, std::size_t width, std::string_view indent, std::string_view hanging) {
    if (hanging.empty()) hanging = indent;
    std::string out, line;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find(' ', start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view word = text.substr(start, end - start);
        const std::string_view prefix = out.empty() ? indent : hanging;
        if (!line.empty() && prefix.size() + visible_width(line) + 1 + visible_width(word) > width) {
            out += std::string(prefix) + line + "\n";
            line.clear();
        }
        if (!word.empty()) line += (line.empty() ? "" : " ") + std::string(word);
        start = end + 1;
    }
    if (!line.empty()) out += std::string(out.empty() ? indent : hanging) + line + "\n";
    return out;
}

std::string forward_formula(const Graph& g, std::size_t i) {
    const Node& node = g.nodes[i];
    std::vector<std::string> names;
    std::vector<Shape> shapes;
    for (std::size_t in : node.inputs) {
        names.push_back(g.nodes[in].name);
        shapes.push_back(g.nodes[in].shape);
    }
    return render(node.op->forward_formula, formula_names(*node.op, names, node.name, shapes, node.attrs));
}

std::string step_label(const Node& node) { return node.step ? fmt::format("step {}", *node.step) : ""; }

Index default_index(const Shape& shape) {
    Index i;
    for (std::size_t d : shape) i.push_back(d > 1 ? 1 : 0);
    return i;
}

Index project_index(const Index& wanted, const Shape& from, const Shape& shape) {
    const Index source = wanted.size() == from.size() ? wanted : default_index(from);
    Index out(shape.size(), 0);
    for (std::size_t k = 0; k < shape.size(); ++k) {
        // Align trailing axes; an axis the source lacks reads 0.
        const std::ptrdiff_t j = static_cast<std::ptrdiff_t>(source.size()) - static_cast<std::ptrdiff_t>(shape.size()) +
                                 static_cast<std::ptrdiff_t>(k);
        if (j >= 0 && shape[k] > 1) out[k] = std::min(source[static_cast<std::size_t>(j)], shape[k] - 1);
    }
    return out;
}

}  // namespace bnstep
