// The closest of a list of names to one that is not in it.
#include "bnstep/did_you_mean.hpp"

#include <algorithm>
#include <cctype>

namespace bnstep {

std::string did_you_mean(std::string_view wanted, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(1, std::min<std::size_t>(3, wanted.size() / 3));
    bool found = false;
    for (const auto& c : candidates) {
        // Edit distance with transpositions (optimal string alignment), ignoring case.
        auto same = [&](std::size_t i, std::size_t j) {
            return std::tolower(static_cast<unsigned char>(wanted[i])) ==
                   std::tolower(static_cast<unsigned char>(c[j]));
        };
        std::vector<std::vector<std::size_t>> d(wanted.size() + 1, std::vector<std::size_t>(c.size() + 1));
        for (std::size_t i = 0; i <= wanted.size(); ++i) d[i][0] = i;
        for (std::size_t j = 0; j <= c.size(); ++j) d[0][j] = j;
        for (std::size_t i = 1; i <= wanted.size(); ++i)
            for (std::size_t j = 1; j <= c.size(); ++j) {
                d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same(i - 1, j - 1) ? 0 : 1)});
                if (i > 1 && j > 1 && same(i - 1, j - 2) && same(i - 2, j - 1))
                    d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        const std::size_t distance = d[wanted.size()][c.size()];
        if (distance <= best_distance && (!found || distance < best_distance)) {
            best = c;
            best_distance = distance;
            found = true;
        }
    }
    return best;
}

}  // namespace bnstep
