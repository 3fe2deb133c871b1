#include "bnstep/huffman.hpp"

#include <algorithm>
#include <queue>
#include <utility>

namespace bnstep {
namespace {

// Each symbol's depth in the Huffman tree of `weights` (all above 0).
std::vector<int> huffman_tree_depths(const std::vector<double>& weights) {
    const std::size_t n = weights.size();
    using Tree = std::pair<double, std::size_t>;  // weight, order of making
    std::priority_queue<Tree, std::vector<Tree>, std::greater<>> lightest;
    std::vector<std::size_t> parent(n, 0);
    for (std::size_t i = 0; i < n; ++i) lightest.push({weights[i], i});
    std::size_t made = n;
    while (lightest.size() > 1) {
        const Tree a = lightest.top();
        lightest.pop();
        const Tree b = lightest.top();
        lightest.pop();
        parent.push_back(0);
        parent[a.second] = made;
        parent[b.second] = made;
        lightest.push({a.first + b.first, made++});
    }
    std::vector<int> depth(parent.size(), 0);
    // A tree is made after its children, so walking down from the root sees parents first.
    for (std::size_t t = parent.size() - 1; t-- > 0;) depth[t] = depth[parent[t]] + 1;
    depth.resize(n);
    return depth;
}

// The binary number one above `code`, of the same length (it never overflows
// for the lengths of a Huffman code).
void increment_code_word(std::string& code) {
    for (std::size_t i = code.size(); i-- > 0;) {
        if (code[i] == '0') {
            code[i] = '1';
            return;
        }
        code[i] = '0';
    }
}

}  // namespace

HuffmanCode huffman_code(const std::vector<double>& counts) {
    HuffmanCode code;
    std::vector<double> weights;
    for (std::size_t s = 0; s < counts.size(); ++s) {
        if (counts[s] <= 0) continue;
        code.symbols.push_back({.symbol = s, .count = counts[s]});
        weights.push_back(counts[s]);
    }
    if (weights.empty()) return code;
    std::vector<int> lengths = weights.size() == 1 ? std::vector<int>{1} : huffman_tree_depths(weights);
    std::vector<std::size_t> order(weights.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] < lengths[b]; });
    std::string word;
    for (std::size_t k = 0; k < order.size(); ++k) {
        HuffmanSymbol& s = code.symbols[order[k]];
        s.length = lengths[order[k]];
        if (k > 0) increment_code_word(word);
        word.append(static_cast<std::size_t>(s.length) - word.size(), '0');
        s.code = word;
        code.total_count += s.count;
        code.total_bits += s.count * s.length;
    }
    return code;
}

}  // namespace bnstep
