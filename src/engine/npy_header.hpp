#pragma once
// The header of a .npy file: the Python dict literal NumPy writes,
//   {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
// read by a strict parser of exactly that syntax: the three keys once each,
// in any order, in single or double quotes; True or False; a tuple of
// whole numbers ("()", "(3,)", "(3, 4)"); a trailing comma or not; spaces
// and newlines between tokens. Nothing Python would evaluate beyond that.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace bnstep {

struct NpyHeader {
    std::string descr;  // "<f8"
    bool fortran_order = false;
    std::vector<std::size_t> shape;
};

// DataError "<where>: <what>" for any other text: a malformed literal, a key
// missing, repeated or unknown, a structured dtype (a list of fields), a
// dimension that does not fit a size_t.
NpyHeader parse_npy_header(std::string_view text, const std::string& where);

}  // namespace bnstep
