#pragma once
// Named arrays in and out of files: NumPy's .npy (one array) and .npz (a zip
// of .npy members, as np.savez and np.savez_compressed write them), and JSON
// ({"x": [[1, 2], [3, 4]], "eps": 1e-05}). Every array is read into a float64
// Tensor in C order. Failures are a DataError of one line naming the file, the
// member or JSON key, and what was expected; limits are checked before any
// allocation they guard.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bnstep/tensor.hpp"

namespace bnstep {

struct NamedTensor {
    std::string name;  // "dx": the member "dx.npy", the JSON key "dx", or a .npy file's stem
    Tensor tensor;
};

// The lesson variant a JSON array file was exported for: the keys "variant"
// (a string of digits, so that it is never read as an array and stays exact
// beyond 2^53) and "student" (a string), written only for a variant. An .npz
// holds arrays only (docs/check-your-backward.md says why).
struct ArrayFileVariant {
    std::optional<std::uint64_t> variant;
    std::string student;
};

struct ArrayLimits {
    std::size_t file_bytes = std::size_t{256} << 20;   // the file as stored (compressed)
    std::size_t total_bytes = std::size_t{512} << 20;  // every member's array data, uncompressed
    std::size_t elements = 100'000'000;                // per array
    std::size_t members = 10'000;                      // arrays per file
};

// The format a path names, from its extension: ".npz", ".npy", ".json".
enum class ArrayFormat { Npz, Npy, Json };
ArrayFormat array_format_of(const std::string& path);  // DataError for any other extension

// One .npy file's bytes (versions 1.0, 2.0, 3.0; '<f8' '>f8' '<f4' '>f4' '<i8'
// '>i8' and '|u1'/'|b1' are refused: only float64, float32 and int64, either
// byte order, C or Fortran order; rank 0 to 4). `where` names it in errors.
// '=' and '|' (and no prefix) mean the machine's byte order, as in NumPy; every
// other dtype (int32, complex128, float16, bool, an object array or a
// structured one ...) is refused by name, and so is an int64 value that no
// float64 holds exactly (beyond 2^53 in magnitude and not a multiple of the
// spacing there).
Tensor parse_npy(std::string_view bytes, const std::string& where, const ArrayLimits& limits = {});
// Version 1.0, '<f8', C order.
std::string npy_bytes(const Tensor& t);

// Reads any of the three formats; a .npy file gives one array named by its stem.
// A name is not empty, not "." or "..", and has no '/', '\' or control
// character (an .npz member is NAME.npy). A JSON number reads as the nearest
// double, as Python's float() makes it.
// A JSON file's "variant" and "student" go to `recorded` (when given), not to the arrays.
std::vector<NamedTensor> read_arrays(const std::string& path, const ArrayLimits& limits = {},
                                     ArrayFileVariant* recorded = nullptr);

// Writes an .npz (members stored, like np.savez) or JSON file, replacing it; or
// a .npy file of exactly one array (its name is the file's stem). The names
// must be names as above, each once.
// A JSON file records `label` (what it has) first; an array of the same name keeps the key.
void write_arrays(const std::string& path, ArrayFormat format, const std::vector<NamedTensor>& arrays,
                  const ArrayFileVariant& label = {});
// One line per array, keys in the given order. JSON has no NaN or infinity,
// and an empty list no length for its rows: such arrays are a DataError.
std::string arrays_json(const std::vector<NamedTensor>& arrays, const ArrayFileVariant& label = {});

}  // namespace bnstep
