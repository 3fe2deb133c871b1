#include <algorithm>

#include <fmt/format.h>

#include "bnstep/variant.hpp"

namespace bnstep {

std::uint64_t fnv1a64(std::string_view bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

std::uint64_t student_variant(std::string_view name) {
    const std::uint64_t h = mix64(fnv1a64(name));
    return h == 0 ? 1 : h;
}

std::string variant_suffix(const Graph& g) {
    const std::string label = variant_label(g.variant, g.student);
    return label.empty() ? label : ", " + label;
}

std::uint64_t variant_seed(std::uint64_t variant, std::uint64_t attempt, std::string_view leaf) {
    return mix64(mix64(variant) ^ attempt) ^ fnv1a64(leaf);
}

std::string variant_label(std::uint64_t variant, std::string_view student) {
    if (!student.empty()) return fmt::format("variant {} (student {})", variant, student);
    return variant == 0 ? std::string() : fmt::format("variant {}", variant);
}

std::string shell_word(std::string_view word) {
    const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("_.@+-").find(c) != std::string_view::npos;
    });
    if (plain) return std::string(word);
    std::string quoted = "'";
    for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string variant_arguments(std::uint64_t variant, std::string_view student) {
    const bool one_line = std::none_of(student.begin(), student.end(),
                                       [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
    // The student's name picks the variant unless a roster gave it another way (an ID, a number).
    if (!student.empty() && one_line && student_variant(student) == variant) return " --student " + shell_word(student);
    return variant != 0 ? fmt::format(" --variant {}", variant) : "";
}

}  // namespace bnstep
