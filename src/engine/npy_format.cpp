// NumPy's .npy format (numpy/lib/format.py): "\x93NUMPY", a version byte
// pair, the header's length (2 bytes little-endian in version 1.0, 4 in 2.0
// and 3.0), the header (npy_header.hpp), then the elements.
#include <bit>
#include <cstdint>
#include <cstring>
#include <fmt/format.h>

#include "bnstep/array_file.hpp"
#include "bnstep/error.hpp"
#include "bnstep/visible.hpp"
#include "npy_header.hpp"

namespace bnstep {
namespace {

constexpr std::string_view kNpyMagic("\x93NUMPY", 6);

struct NpyDtype {
    char kind;  // 'f' or 'i'
    std::size_t size;
    bool big_endian;
    const char* name;
};

[[noreturn]] void npy_fail(const std::string& where, const std::string& what) {
    throw DataError(fmt::format("{}: {}", where, what));
}

// NumPy's name of an unsupported type code ("c16" -> "complex128"), or "".
std::string npy_type_name(std::string_view code) {
    if (code.empty()) return "";
    const std::string_view bits = code.substr(1);
    std::size_t bytes = 0;
    for (const char c : bits) {
        if (c < '0' || c > '9' || bytes > 64) return "";
        bytes = bytes * 10 + static_cast<std::size_t>(c - '0');
    }
    const std::string width = std::to_string(bytes * 8);
    switch (code[0]) {
        case 'b': return "bool";
        case 'i': return "int" + width;
        case 'u': return "uint" + width;
        case 'f': return "float" + width;
        case 'c': return "complex" + width;
        case 'U': return "str";
        case 'S': return "bytes";
        case 'V': return "void (raw bytes)";
        case 'M': return "datetime64";
        case 'm': return "timedelta64";
        default: return "";
    }
}

NpyDtype npy_dtype_of(const std::string& descr, const std::string& where) {
    const std::string_view d = descr;
    const char order = d.empty() ? '\0' : d[0];
    const bool prefixed = order == '<' || order == '>' || order == '=' || order == '|';
    const std::string_view code = prefixed ? d.substr(1) : d;
    const bool big = order == '>' || (order != '<' && std::endian::native == std::endian::big);
    if (code == "f8") return {'f', 8, big, "float64"};
    if (code == "f4") return {'f', 4, big, "float32"};
    if (code == "i8") return {'i', 8, big, "int64"};
    if (code == "O")
        npy_fail(where,
                 "an object array ('|O', stored as a Python pickle) cannot be read: save a numeric array, "
                 "e.g. a.astype(np.float64)");
    const std::string name = npy_type_name(code.substr(0, code.find('[')));
    npy_fail(where, fmt::format("the dtype '{}'{} is not supported: expected float64, float32 or int64 (convert with "
                                "a.astype(np.float64))",
                                visible(descr), name.empty() ? "" : " (" + name + ")"));
}

template <typename Bits>
Bits npy_load(const char* at, bool big_endian) {
    Bits v{};
    std::memcpy(&v, at, sizeof v);
    if (big_endian != (std::endian::native == std::endian::big)) {
        if constexpr (sizeof(Bits) == 8) v = __builtin_bswap64(v);
        if constexpr (sizeof(Bits) == 4) v = __builtin_bswap32(v);
    }
    return v;
}

// An int64 a float64 holds exactly: within 2^53 in magnitude, or a multiple of the spacing there.
bool exact_in_double(std::int64_t v) {
    const auto d = static_cast<double>(v);
    if (d >= 0x1p63) return false;
    return static_cast<std::int64_t>(d) == v;
}

double npy_element(const char* at, const NpyDtype& t, const std::string& where, const Shape& shape,
                   const Index& index) {
    if (t.kind == 'f' && t.size == 8) return std::bit_cast<double>(npy_load<std::uint64_t>(at, t.big_endian));
    if (t.kind == 'f') return std::bit_cast<float>(npy_load<std::uint32_t>(at, t.big_endian));
    const auto v = std::bit_cast<std::int64_t>(npy_load<std::uint64_t>(at, t.big_endian));
    if (!exact_in_double(v))
        npy_fail(where, fmt::format("the int64 {}{} has no exact float64 value (beyond 2^53 in magnitude, a float64 "
                                    "keeps 53 bits)",
                                    v, shape.empty() ? "" : " at " + index_str(index)));
    return static_cast<double>(v);
}

// The elements in C order, whichever order the file holds them in.
std::vector<double> npy_values(const char* data, const NpyDtype& t, const Shape& shape, bool fortran,
                               const std::string& where) {
    const std::size_t count = element_count(shape);
    std::vector<double> out(count);
    Index index(shape.size(), 0);
    std::vector<std::size_t> fortran_stride(shape.size(), 1);
    for (std::size_t k = 1; k < shape.size(); ++k) fortran_stride[k] = fortran_stride[k - 1] * shape[k - 1];
    for (std::size_t c = 0; c < count; ++c) {
        std::size_t at = c;
        if (fortran) {
            at = 0;
            for (std::size_t k = 0; k < shape.size(); ++k) at += index[k] * fortran_stride[k];
        }
        out[c] = npy_element(data + at * t.size, t, where, shape, index);
        for (std::size_t k = shape.size(); k-- > 0;) {
            if (++index[k] < shape[k]) break;
            index[k] = 0;
        }
    }
    return out;
}

std::uint32_t npy_header_length(std::string_view bytes, std::size_t width) {
    std::uint32_t n = 0;
    for (std::size_t k = 0; k < width; ++k) n |= std::uint32_t{static_cast<unsigned char>(bytes[8 + k])} << (8 * k);
    return n;
}

}  // namespace

Tensor parse_npy(std::string_view bytes, const std::string& where, const ArrayLimits& limits) {
    if (bytes.substr(0, kNpyMagic.size()) != kNpyMagic)
        npy_fail(where, "not a .npy file: it does not start with \\x93NUMPY");
    if (bytes.size() < 8) npy_fail(where, "a truncated .npy file: it ends before the format version");
    const int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
    if (major < 1 || major > 3 || minor != 0)
        npy_fail(where, fmt::format("unknown .npy format version {}.{} (known: 1.0, 2.0, 3.0)", major, minor));
    const std::size_t width = major == 1 ? 2 : 4;
    if (bytes.size() < 8 + width) npy_fail(where, "a truncated .npy file: it ends inside the header's length");
    const std::size_t header_length = npy_header_length(bytes, width);
    const std::size_t data_at = 8 + width + header_length;
    if (data_at > bytes.size())
        npy_fail(where, fmt::format("the header is said to be {} bytes long, but only {} follow (a truncated file?)",
                                    header_length, bytes.size() - 8 - width));
    const NpyHeader h = parse_npy_header(bytes.substr(8 + width, header_length), where);
    const NpyDtype t = npy_dtype_of(h.descr, where);
    const Shape& shape = h.shape;
    if (shape.size() > kMaxRank)
        npy_fail(where, fmt::format("rank {} (shape {}): bnstep's tensors have at most {} axes", shape.size(),
                                    shape_str(shape), kMaxRank));
    const std::size_t count = element_count(shape);
    if (count > limits.elements)
        npy_fail(where, fmt::format("shape {} has more than {} elements, the limit for one array", shape_str(shape),
                                    limits.elements));
    const std::size_t need = saturating_mul(count, t.size), have = bytes.size() - data_at;
    if (have < need)
        npy_fail(where, fmt::format("the data is {} bytes, but shape {} of {} needs {} (a truncated array?)", have,
                                    shape_str(shape), t.name, need));
    if (have > need)
        npy_fail(where, fmt::format("{} bytes follow the {} bytes of data that shape {} of {} needs", have - need, need,
                                    shape_str(shape), t.name));
    return Tensor(shape, npy_values(bytes.data() + data_at, t, shape, h.fortran_order, where));
}

std::string npy_bytes(const Tensor& t) {
    std::string header = fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}", shape_str(t.shape()));
    // As NumPy pads: spaces and a newline up to a multiple of 64, a whole 64 when the text ends on one.
    const std::size_t preamble = kNpyMagic.size() + 4;
    header.append(64 - (preamble + header.size() + 1) % 64, ' ');
    header += '\n';
    std::string out(kNpyMagic);
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(header.size() & 0xFF);
    out += static_cast<char>(header.size() >> 8);
    out += header;
    const std::size_t data_at = out.size();
    out.resize(data_at + 8 * t.size());
    for (std::size_t k = 0; k < t.size(); ++k) {
        auto bits = std::bit_cast<std::uint64_t>(t[k]);
        if constexpr (std::endian::native == std::endian::big) bits = __builtin_bswap64(bits);
        std::memcpy(out.data() + data_at + 8 * k, &bits, 8);
    }
    return out;
}

}  // namespace bnstep
