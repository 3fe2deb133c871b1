#pragma once
// A Huffman code built from symbol counts, as Deep Compression codes its
// weight indices and relative indices. Deterministic: the two lightest trees
// are merged first, a tie of weight going to the tree made earlier (symbols in
// their order, then merged trees in the order they were made); the code words
// are then the canonical ones for those lengths (shorter first, a length's
// symbols in their order, each word the previous one plus 1).
#include <cstddef>
#include <string>
#include <vector>

namespace bnstep {

struct HuffmanSymbol {
    std::size_t symbol = 0;
    double count = 0;
    int length = 0;         // bits of its code word
    std::string code = {};  // "0", "10", "110" ...
};

struct HuffmanCode {
    std::vector<HuffmanSymbol> symbols;  // the symbols of nonzero count, in symbol order
    double total_count = 0;
    double total_bits = 0;  // sum of count * length
    double average_bits() const { return total_count == 0 ? 0.0 : total_bits / total_count; }
};

// counts[s]: how often symbol s occurs (a whole number, or an expected count).
// A lone symbol gets the one-bit word "0".
HuffmanCode huffman_code(const std::vector<double>& counts);

}  // namespace bnstep
