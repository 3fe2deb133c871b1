#include <fmt/format.h>

#include "bnstep/variant.hpp"

namespace bnstep {

std::uint64_t student_variant(std::string_view name) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
    h ^= h >> 31;
    return h == 0 ? 1 : h;
}

std::string variant_label(std::uint64_t variant, std::string_view student) {
    if (!student.empty()) return fmt::format("variant {} (student {})", variant, student);
    return variant == 0 ? std::string() : fmt::format("variant {}", variant);
}

}  // namespace bnstep
