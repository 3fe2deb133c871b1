#pragma once
// The parts of the array files (bnstep/array_file.hpp) that its formats share:
// each format's reader and writer, and the rule for an array's name.
#include <string>
#include <string_view>
#include <vector>

#include "bnstep/array_file.hpp"

namespace bnstep {

// Why `name` cannot name an array, or "" when it can: a name is not empty,
// not "." or "..", has no '/' or '\', and is text visible() leaves as it is
// (UTF-8, no control character).
std::string array_name_problem(std::string_view name);
// A DataError "<where>"<name>": ..." for the first array whose name has a problem or is a repeat; `where` starts
// the message ("out.json: ") or is empty.
void check_array_names(const std::vector<NamedTensor>& arrays, const std::string& where);

// `bytes` is the whole file at `path`.
std::vector<NamedTensor> read_npz_arrays(const std::string& bytes, const std::string& path, const ArrayLimits& limits);
std::vector<NamedTensor> read_json_arrays(std::string_view text, const std::string& path, const ArrayLimits& limits,
                                          ArrayFileVariant* recorded = nullptr);

// The arrays' names have passed check_array_names; `where` starts each error message ("out.json: ") or is empty.
void write_npz_file(const std::string& path, const std::vector<NamedTensor>& arrays);
std::string json_array_text(const std::vector<NamedTensor>& arrays, const std::string& where,
                            const ArrayFileVariant& label = {});

// Creates or truncates `path` and writes `bytes`; DataError "<path>: cannot write the file: ...".
void write_array_file_bytes(const std::string& path, std::string_view bytes);

}  // namespace bnstep
