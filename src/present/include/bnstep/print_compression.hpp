#pragma once
// The printers of `bnstep compress` (Deep Compression's storage pipeline on a
// lesson's weights) and `bnstep cost` (networks described by shapes).
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <vector>

#include "bnstep/compress.hpp"
#include "bnstep/network.hpp"
#include "bnstep/print.hpp"

namespace bnstep {

void print_compress_text(std::ostream& os, const LessonCompression& c, const PrintOptions& opt);
nlohmann::json compress_json(const LessonCompression& c);

// One network in full: a row per layer with its formulas, the totals, and the
// Deep Compression estimate when there is one.
void print_network_text(std::ostream& os, const NetworkCost& cost, const std::optional<CompressionEstimate>& estimate,
                        const PrintOptions& opt);
nlohmann::json network_json(const NetworkCost& cost, const std::optional<CompressionEstimate>& estimate);
// Several networks, one line each, and their ratios to the first.
void print_networks_summary(std::ostream& os, const std::vector<NetworkCost>& costs, const PrintOptions& opt);

// "244,400,000 bytes = 244.4 MB (233.1 MiB)" for a number of bits (kB and KiB below 10^6 bytes).
std::string megabytes(double bits);

}  // namespace bnstep
