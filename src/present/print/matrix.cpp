#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/op.hpp"
#include "bnstep/print.hpp"

namespace bnstep {

std::vector<std::string> matrix_lines(const Tensor& t, const NumFmt& num, std::size_t max_width) {
    if (t.rank() == 0) return {num(t[0])};
    if (t.rank() == 4 && t.shape()[2] == 1 && t.shape()[3] == 1) {
        // 1x1 kernels or images: one matrix over the first two axes, not a block per element.
        std::vector<std::string> lines{"[:,:,0,0]"};
        for (auto& line : matrix_lines(Tensor(Shape{t.shape()[0], t.shape()[1]}, t.data()), num, max_width))
            lines.push_back(std::move(line));
        return lines;
    }
    std::vector<std::string> cells;
    std::size_t width = 0;
    for (double v : t.data()) {
        cells.push_back(num(v));
        width = std::max(width, cells.back().size());
    }
    const std::size_t cols = t.shape().back();
    // How many cells fit on a line after a 2-character prefix ("[[" or " [").
    const std::size_t per_line =
        max_width == 0 ? cols : std::max<std::size_t>(1, (max_width > 4 ? max_width - 4 + 2 : 1) / (width + 2));
    std::vector<std::string> lines;
    // One row, wrapped onto continuation lines when it is wider than max_width.
    auto row = [&](const std::string& open, std::size_t first, const std::string& close) {
        for (std::size_t c = 0; c < cols; c += per_line) {
            std::string s = c == 0 ? open : std::string(open.size(), ' ');
            for (std::size_t k = c; k < std::min(cols, c + per_line); ++k) {
                const std::string& cell = cells[first + k];
                s.append((k > c ? 2 : 0) + width - cell.size(), ' ');
                s += cell;
            }
            if (c + per_line >= cols) s += close;
            lines.push_back(std::move(s));
        }
    };
    if (t.rank() == 1) {
        row("[", 0, "]");
        return lines;
    }
    const std::size_t rows = t.shape()[t.rank() - 2];
    const std::size_t block = rows * cols;
    for (std::size_t b = 0; b < t.size() / block; ++b) {
        if (t.rank() > 2) {
            Index lead = t.unravel(b * block);
            lead.resize(t.rank() - 2);
            lines.push_back(fmt::format("[{},:,:]", fmt::join(lead, ",")));
        }
        for (std::size_t r = 0; r < rows; ++r)
            row(r == 0 ? "[[" : " [", b * block + r * cols, r + 1 == rows ? "]]" : "]");
    }
    return lines;
}

namespace {

// Columns a string takes on screen: ANSI colour sequences take none, a UTF-8 character one.
std::size_t visible_width(std::string_view s) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\x1b') {
            while (i < s.size() && s[i] != 'm') ++i;
            continue;
        }
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;  // a UTF-8 continuation byte adds no column
    }
    return n;
}

}  // namespace

std::string tensor_summary(const Tensor& t, const NumFmt& num) {
    double lo = t[0], hi = t[0], sum = 0, squares = 0;
    for (double v : t.data()) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
        squares += v * v;
    }
    const double n = static_cast<double>(t.size());
    return fmt::format("({} values: min {}, max {}, mean {}, rms {}; --full prints them all)", t.size(), num(lo),
                       num(hi), num(sum / n), num(std::sqrt(squares / n)));
}

std::string wrap(std::string_view text, std::size_t width, std::string_view indent, std::string_view hanging) {
    if (hanging.empty()) hanging = indent;
    std::string out, line;
    std::size_t line_width = 0;  // visible_width(line)
    std::size_t start = 0;
    while (start < text.size()) {
        // A word and the spaces before it, kept as written unless the line breaks there.
        std::size_t word_start = text.find_first_not_of(' ', start);
        if (word_start == std::string_view::npos) break;
        std::size_t end = text.find(' ', word_start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view gap = text.substr(start, word_start - start);
        const std::string_view word = text.substr(word_start, end - word_start);
        const std::string_view prefix = out.empty() ? indent : hanging;
        const std::size_t word_width = visible_width(word);
        if (!line.empty() && prefix.size() + line_width + gap.size() + word_width > width) {
            out.append(prefix).append(line) += '\n';
            line.clear();
            line_width = 0;
        }
        if (!line.empty() || out.empty()) {  // leading spaces of the text are kept
            line += gap;
            line_width += gap.size();
        }
        line += word;
        line_width += word_width;
        start = end;
    }
    if (!line.empty()) out.append(out.empty() ? indent : hanging).append(line) += '\n';
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

Index input_element(const Index& index, const Shape& node_shape, const Shape& shape,
                    const std::optional<Index>& input_index) {
    if (input_index && Tensor(shape).contains(*input_index)) return *input_index;
    return project_index(index, node_shape, shape);
}

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
        const std::ptrdiff_t j = static_cast<std::ptrdiff_t>(source.size()) -
                                 static_cast<std::ptrdiff_t>(shape.size()) + static_cast<std::ptrdiff_t>(k);
        if (j >= 0 && shape[k] > 1) out[k] = std::min(source[static_cast<std::size_t>(j)], shape[k] - 1);
    }
    return out;
}

}  // namespace bnstep
