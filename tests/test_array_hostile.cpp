// Hostile and malformed array files, made at test time (no binary fixture):
// each is refused with one line naming the file, the member or key, and the
// problem, within the limits and without a wait.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>

#include "array_file_support.hpp"

namespace {

using bnstep::ArrayLimits;
using bnstep_test::refused_file;
using bnstep_test::TempDir;

// Zip archives written byte by byte (raw_zip: members as given, sizes, CRC and flags unchecked) and .npy
// files NumPy refuses to make the way bnstep reads them.
const char* kHostileScript = R"(
import io, os, struct, sys, zlib
import numpy as np
d = sys.argv[1]
def path(name):
    return os.path.join(d, name)
def npy(a, **kw):
    b = io.BytesIO()
    np.save(b, a, **kw)
    return b.getvalue()
def raw_zip(name, members):
    out, central = bytearray(), bytearray()
    for member, method, data, crc, size, flags in members:
        n = member.encode()
        central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 20, 20, flags, method, 0, 0x21, crc, len(data),
                               size, len(n), 0, 0, 0, 0, 0, len(out)) + n
        out += struct.pack('<IHHHHHIIIHH', 0x04034b50, 20, flags, method, 0, 0x21, crc, len(data), size, len(n), 0)
        out += n + data
    start = len(out)
    out += central + struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, len(members), len(members), len(central), start, 0)
    with open(path(name), 'wb') as f:
        f.write(bytes(out))
def stored(member, data):
    return (member, 0, data, zlib.crc32(data), len(data), 0)
x = npy(np.arange(12.0).reshape(3, 4))

# 1 GiB of zeros after the header of a (2**27,) float64 array, deflated: one compressed block of 1 MiB of
# zeros repeated (a full flush makes each block stand alone), 1 MiB on disk. The CRC is left 0: the archive
# must be refused before a byte of it is inflated, so nothing may ever check it.
h = io.BytesIO()
np.lib.format.write_array_header_1_0(h, {'descr': '<f8', 'fortran_order': False, 'shape': (2**27,)})
head = h.getvalue()
c = zlib.compressobj(9, zlib.DEFLATED, -15)
chunk = bytes(1 << 20)
first = c.compress(head + chunk) + c.flush(zlib.Z_FULL_FLUSH)
block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
bomb = first + block * 1022 + c.compress(chunk) + c.flush()
raw_zip('bomb.npz', [('x.npy', 8, bomb, 0, len(head) + 2**30, 0)])
# The same stream, its size declared as 1000 bytes.
raw_zip('lying.npz', [('x.npy', 8, bomb, 0, 1000, 0)])

for i, member in enumerate(['../x.npy', '/abs.npy', 'a/b.npy', 'a\\b.npy', '.npy', 'x.txt', '..npy', 'x\n.npy']):
    raw_zip('name%d.npz' % i, [stored(member, x)])
raw_zip('twice.npz', [stored('x.npy', x), stored('y.npy', x), stored('x.npy', x)])
raw_zip('encrypted.npz', [('x.npy', 0, x, zlib.crc32(x), len(x), 1)])
raw_zip('bzip2.npz', [('x.npy', 12, x, zlib.crc32(x), len(x), 0)])
raw_zip('crc.npz', [('x.npy', 0, x, zlib.crc32(x) ^ 1, len(x), 0)])
raw_zip('short.npz', [stored('x.npy', x[:-8])])
raw_zip('long.npz', [stored('x.npy', x + bytes(8))])
raw_zip('five.npz', [stored('a%d.npy' % i, x) for i in range(5)])
# No member, but an end of central directory that declares a billion (in its zip64 record) or 60000.
with open(path('billion.npz'), 'wb') as f:
    f.write(struct.pack('<IQHHIIQQQQ', 0x06064b50, 44, 45, 45, 0, 0, 10**9, 10**9, 0, 0) +
            struct.pack('<IIQI', 0x07064b50, 0, 0, 1) +
            struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0xffff, 0xffff, 0xffffffff, 0xffffffff, 0))
with open(path('sixty.npz'), 'wb') as f:
    f.write(struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 60000, 60000, 0, 0, 0))
np.savez(path('pickle.npz'), ok=np.zeros(2), obj=np.array([{'a': 1}, None], dtype=object))
np.savez(path('good.npz'), x=np.arange(100.0), y=np.ones((3, 3)))
with open(path('good.npz'), 'rb') as f:
    good = f.read()
for name, size in [('half.npz', len(good) // 2), ('cut.npz', len(good) - 10)]:
    with open(path(name), 'wb') as f:
        f.write(good[:size])
with open(path('text.npz'), 'w') as f:
    f.write('x,y\n1,2\n')

np.save(path('rank5.npy'), np.zeros((1, 2, 1, 2, 1)))
np.save(path('complex.npy'), np.array([1j]))
np.save(path('int32.npy'), np.arange(3, dtype=np.int32))
np.save(path('float16.npy'), np.ones(2, dtype=np.float16))
np.save(path('bool.npy'), np.array([True]))
np.save(path('str.npy'), np.array(['ab']))
np.save(path('date.npy'), np.array(['2020-01-01'], dtype='M8[D]'))
np.save(path('fields.npy'), np.zeros(2, dtype=[('a', '<f8'), ('b', '<i4')]))
np.save(path('pickle.npy'), np.array([{'a': 1}], dtype=object), allow_pickle=True)
np.save(path('inexact.npy'), np.array([[0, 1], [2**53 + 1, 3]], dtype=np.int64))
)";

TEST_CASE("arrays: hostile .npz archives are refused in one line, a zip bomb before anything is inflated") {
    TempDir dir;
    bnstep_test::run_python(kHostileScript, dir.path());
    const auto at = [&](const std::string& name) { return (dir.path() / name).string(); };

    const auto start = std::chrono::steady_clock::now();
    refused_file(at("bomb.npz"), "the members hold 1.0 GiB uncompressed, above the limit of 512.0 MiB");
    refused_file(at("lying.npz"), "x.npy: the member holds more than the 1000 bytes its entry declares");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));

    const char* names[] = {"../x.npy", "/abs.npy", "a/b.npy", "a\\b.npy", ".npy", "x.txt", "..npy", "x\\n.npy"};
    for (int i = 0; i < 8; ++i)
        refused_file(at("name" + std::to_string(i) + ".npz"),
                     std::string(names[i]) + ": a member must be named NAME.npy, a name without '/' or '\\'");
    refused_file(at("twice.npz"), "twice.npz: the archive holds two members of the same name");
    refused_file(at("encrypted.npz"), "encrypted.npz: x.npy: an encrypted member cannot be read");
    refused_file(at("bzip2.npz"), "x.npy: compression method 12 (bzip2) is not supported");
    refused_file(at("crc.npz"), "crc.npz: x.npy: a corrupt member (libzip: CRC error)");
    refused_file(at("short.npz"), "short.npz: x.npy: the data is 88 bytes, but shape (3, 4) of float64 needs 96");
    refused_file(at("long.npz"), "long.npz: x.npy: 8 bytes follow the 96 bytes of data");
    refused_file(at("pickle.npz"), "pickle.npz: obj.npy: an object array ('|O', stored as a Python pickle)");
    refused_file(at("half.npz"), "a truncated or corrupt zip archive");
    refused_file(at("cut.npz"), "a truncated or corrupt zip archive");
    refused_file(at("text.npz"), "not a zip archive, which an .npz file is");
    refused_file(bnstep_test::write_file(dir.path() / "empty.npz", ""), "the file is empty");

    refused_file(at("five.npz"), "5 members, above the limit of 4 arrays in one file", ArrayLimits{.members = 4});
    refused_file(at("billion.npz"), "billion.npz: 1000000000 members, above the limit of 10000 arrays in one file");
    refused_file(at("sixty.npz"), "sixty.npz: 60000 members, above the limit of 10000 arrays in one file");
    CHECK(bnstep::read_arrays(at("five.npz"), {.members = 5}).size() == 5);
    refused_file(at("good.npz"), "x.npy: shape (100,) has more than 99 elements", ArrayLimits{.elements = 99});
    refused_file(at("good.npz"), "above the limit of 1000 bytes for the arrays of one file",
                 ArrayLimits{.total_bytes = 1000});
    refused_file(at("good.npz"), "above the limit of 100 bytes for an array file", ArrayLimits{.file_bytes = 100});
}

TEST_CASE("arrays: .npy files of what a Tensor cannot hold are refused, naming the dtype or the shape") {
    TempDir dir;
    bnstep_test::run_python(kHostileScript, dir.path());
    const auto at = [&](const std::string& name) { return (dir.path() / name).string(); };
    refused_file(at("rank5.npy"), "rank 5 (shape (1, 2, 1, 2, 1)): bnstep's tensors have at most 4 axes");
    refused_file(at("complex.npy"),
                 "the dtype '<c16' (complex128) is not supported: expected float64, float32 or int64");
    refused_file(at("int32.npy"), "the dtype '<i4' (int32) is not supported");
    refused_file(at("float16.npy"), "the dtype '<f2' (float16) is not supported");
    refused_file(at("bool.npy"), "the dtype '|b1' (bool) is not supported");
    refused_file(at("str.npy"), "the dtype '<U2' (str) is not supported");
    refused_file(at("date.npy"), "the dtype '<M8[D]' (datetime64) is not supported");
    refused_file(at("fields.npy"), "a structured dtype (a list of fields) is not supported");
    refused_file(at("pickle.npy"), "an object array ('|O', stored as a Python pickle) cannot be read");
    refused_file(at("inexact.npy"), "the int64 9007199254740993 at [1,0] has no exact float64 value");
}

// A .npy file: the magic, the version, the header padded as NumPy pads it, then `data`.
std::string npy_file(std::string header, const std::string& data, char major = 1) {
    const std::size_t preamble = major == 1 ? 10 : 12;
    header.append(63 - (preamble + header.size()) % 64, ' ');
    header += '\n';
    std::string out("\x93NUMPY", 6);
    out += major;
    out += '\0';
    for (std::size_t k = 0; k < preamble - 8; ++k) out += static_cast<char>(header.size() >> (8 * k));
    return out + header + data;
}

std::string f8_bytes(const std::vector<double>& values) {
    std::string out(8 * values.size(), '\0');
    for (std::size_t k = 0; k < values.size(); ++k) {
        const auto bits = std::bit_cast<std::uint64_t>(values[k]);
        for (std::size_t b = 0; b < 8; ++b) out[8 * k + b] = static_cast<char>(bits >> (8 * b));
    }
    return out;
}

void refused_npy(const std::string& bytes, const std::string& part) {
    CAPTURE(bytes);
    try {
        (void)bnstep::parse_npy(bytes, "t.npy");
        FAIL("read without an error");
    } catch (const bnstep::DataError& e) {
        CHECK_MESSAGE(std::string(e.what()).starts_with("t.npy: "), e.what());
        CHECK_MESSAGE(bnstep_test::contains(e.what(), part), e.what());
    }
}

TEST_CASE("arrays: the .npy header is read by a strict parser of NumPy's dict literal") {
    const std::string six = f8_bytes({1, 2, 3, 4, 5, 6});
    // What NumPy (or a hand) may write: either quote, any key order, no trailing comma, spacing, '=' and '|'.
    for (const char* header : {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                               R"({"shape": (2,3), "descr": "<f8", "fortran_order": False})",
                               "{ 'fortran_order' : False ,\n'shape':( 2 , 3 ),'descr':'=f8' }",
                               "{'descr': '|f8', 'fortran_order': False, 'shape': (2, 3,)}"}) {
        CAPTURE(header);
        CHECK(bnstep::parse_npy(npy_file(header, six), "t.npy").data() == std::vector<double>{1, 2, 3, 4, 5, 6});
    }
    const std::string fortran = npy_file("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", six);
    CHECK(bnstep::parse_npy(fortran, "t.npy").data() == std::vector<double>{1, 3, 5, 2, 4, 6});
    CHECK(bnstep::parse_npy(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", f8_bytes({7})), "t")
              .shape()
              .empty());

    const auto with = [&](const std::string& header) { return npy_file(header, six); };
    refused_npy(with("{'descr': '<f8', 'fortran_order': False, 'shape': (6), }"),
                "malformed .npy header: expected a tuple for 'shape' (a tuple of one is written (3,))");
    refused_npy(with("{'descr': '<f8' 'fortran_order': False, 'shape': (6,), }"), "expected ',' or '}' after a value");
    refused_npy(with("{'descr': '<f8', 'shape': (6,), }"), "the key 'fortran_order' is missing");
    refused_npy(with("{'descr': '<f8', 'fortran_order': False, 'shape': (6,), 'x': 1}"), "unknown key 'x'");
    refused_npy(with("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (6,)}"),
                "the key 'descr' is given twice");
    refused_npy(with("{'descr': '<f8', 'fortran_order': 0, 'shape': (6,)}"), "expected True or False");
    refused_npy(with("{'descr': '<f8, 'fortran_order': False, 'shape': (6,)}"), "malformed .npy header");
    refused_npy(with("{'descr': '\\x3cf8', 'fortran_order': False, 'shape': (6,)}"), "a string without escapes");
    refused_npy(with("{'descr': '<f8', 'fortran_order': False, 'shape': (-6,)}"), "a negative dimension");
    refused_npy(with("{'descr': '<f8', 'fortran_order': False, 'shape': (6,)} x"), "text after the closing '}'");
    refused_npy(with("['descr', '<f8']"), "expected a Python dict literal");

    // The preamble, and the data against the header.
    refused_npy(std::string("\x93NUMPX\x01\x00", 8) + with("{}").substr(8), "not a .npy file");
    refused_npy(std::string("\x93NUMPY\x04\x00", 8) + with("{}").substr(8), "unknown .npy format version 4.0");
    refused_npy(std::string("\x93NUMPY\x01\x01", 8) + with("{}").substr(8), "unknown .npy format version 1.1");
    refused_npy(std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17), "the header is said to be 255 bytes long");
    refused_npy(std::string("\x93NUMPY\x02\x00\x10", 9), "it ends inside the header's length");
    refused_npy("", "not a .npy file");
    refused_npy(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (7,), }", six),
                "the data is 48 bytes, but shape (7,) of float64 needs 56 (a truncated array?)");
    refused_npy(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", six),
                "8 bytes follow the 40 bytes of data");
}

TEST_CASE("arrays: a huge declared shape is refused before anything is allocated") {
    const auto header = [](const std::string& shape) {
        return npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }", "");
    };
    refused_npy(header("(1000000000000,)"), "shape (1000000000000,) has more than 100000000 elements");
    refused_npy(header("(4294967296, 4294967296, 4294967296)"), "has more than 100000000 elements");
    refused_npy(header("(1000000000000000000000000,)"), "is too large for any array");
    // Zero elements need nothing, whatever the other axes say.
    CHECK(bnstep::parse_npy(header("(0, 1000000000000)"), "t.npy").size() == 0);
}

TEST_CASE("arrays: int64 values read exactly, up to the last one a float64 holds") {
    const auto i8 = [](std::int64_t v) {
        std::string bytes(8, '\0');
        for (std::size_t b = 0; b < 8; ++b) bytes[b] = static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * b));
        return npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", bytes);
    };
    CHECK(bnstep::parse_npy(i8(-(std::int64_t{1} << 53)), "t")[0] == -0x1p53);
    CHECK(bnstep::parse_npy(i8(std::int64_t{1} << 62), "t")[0] == 0x1p62);
    CHECK(bnstep::parse_npy(i8(INT64_MIN), "t")[0] == -0x1p63);
    refused_npy(i8((std::int64_t{1} << 53) + 1), "the int64 9007199254740993 has no exact float64 value");
    refused_npy(i8(INT64_MAX), "the int64 9223372036854775807 has no exact float64 value");
}

TEST_CASE("arrays: hostile and malformed JSON is refused naming the key and the place") {
    TempDir dir;
    const auto refused = [&](const std::string& text, const std::string& part, ArrayLimits limits = {}) {
        refused_file(bnstep_test::write_file(dir.path() / "mine.json", text), part, limits);
    };
    refused(R"({"dx": 1, "dx": 2})", "mine.json: \"dx\": the key appears twice");
    refused(R"({"dx": [[1, 2], [3]]})", "mine.json: \"dx\"[1]: a list of 2 numbers was expected, got 1");
    refused(R"({"dx": [[1, 2, 3], [4, 5, 6], [7, 8]]})", "\"dx\"[2]: a list of 3 numbers was expected, got 2");
    refused(R"({"dx": [[[1], [2]], [[3]]]})", "\"dx\"[1]: a list of 2 lists was expected, got 1");
    refused(R"({"dx": [[1, 2], [3, [4]]]})", "\"dx\"[1][1]: a number was expected, got a list");
    refused(R"({"dx": [[1], 2]})", "\"dx\"[1]: a list was expected, got a number");
    refused(R"({"dx": [[], [1]]})", "\"dx\"[1]: a list of 0 numbers was expected, got 1");
    refused(R"({"dx": [1, "2"]})", "\"dx\"[1]: a number was expected, got a string");
    refused(R"({"dx": null})", "\"dx\": a number or a list of numbers was expected, got null");
    refused(R"({"dx": [{"a": 1}]})", "\"dx\"[0]: a number or a list was expected, got an object");
    refused(R"({"dx": [[[[[1]]]]]})", "\"dx\"[0][0][0][0]: lists nested more than 4 deep");
    refused(R"([1, 2])", "mine.json: a JSON object of named arrays was expected");
    refused(R"({"dx": NaN})", "malformed JSON");
    refused(R"({"dx": 1e999})", "numbers must fit a double");
    refused("{\"dx\": 1}\n}", "mine.json:2:1: malformed JSON");
    refused(R"({"a/b": 1})", "\"a/b\": not an array name: it holds a '/' or '\\'");
    refused(R"({"": 1})", "\"\": not an array name: it is empty");
    refused(R"({"x\u0007": 1})", "\"x\\u0007\": not an array name");
    refused(R"({"dx": [1, 2, 3, 4]})", "\"dx\": more than 3 numbers, the limit for one array", {.elements = 3});
    refused(R"({"a": 1, "b": 2, "c": 3})", "more than 2 arrays, the limit for one file", {.members = 2});
    refused(R"({"a": [1, 2], "b": [3]})", "more than 2 numbers, the limit for one file", {.total_bytes = 16});
}

TEST_CASE("arrays: paths: a directory, a FIFO, a missing file, another extension, an unwritable place") {
    TempDir dir;
    const auto at = [&](const std::string& name) { return (dir.path() / name).string(); };
    std::filesystem::create_directory(at("d.npz"));
    refused_file(at("d.npz"), "is a directory; expected a regular file");
    for (const char* name : {"f.npz", "f.npy", "f.json"}) {
        REQUIRE(::mkfifo(at(name).c_str(), 0600) == 0);
        refused_file(at(name), "is a FIFO (named pipe); expected a regular file");
    }
    refused_file(at("missing.npz"), "cannot read the file: No such file or directory");
    refused_file(at("dx.csv"), "the name of an array file ends in .npz, .npy or .json");

    const std::vector<bnstep::NamedTensor> one = {{"dx", bnstep::Tensor::scalar(1)}};
    const auto refused_write = [&](const std::string& path, bnstep::ArrayFormat format,
                                   const std::vector<bnstep::NamedTensor>& arrays, const std::string& part) {
        CAPTURE(path);
        try {
            bnstep::write_arrays(path, format, arrays);
            FAIL("written");
        } catch (const bnstep::DataError& e) {
            CHECK_MESSAGE(std::string(e.what()).starts_with(path + ": "), e.what());
            CHECK_MESSAGE(bnstep_test::contains(e.what(), part), e.what());
        }
    };
    using bnstep::ArrayFormat;
    refused_write(at("no/such/x.npz"), ArrayFormat::Npz, one, "cannot write the file");
    refused_write(at("no/such/x.json"), ArrayFormat::Json, one, "cannot write the file: No such file or directory");
    refused_write(at("d.npz"), ArrayFormat::Npz, one, "cannot write the file: it is a directory");
    refused_write(at("f.npz"), ArrayFormat::Npz, one, "cannot write the file: it is not a regular file");
    refused_write(at("x.npz"), ArrayFormat::Npz, {{"a/b", bnstep::Tensor()}}, "\"a/b\": not an array name");
    refused_write(at("x.json"), ArrayFormat::Json, {one[0], one[0]}, "\"dx\": two arrays of this name");
    refused_write(at("x.npy"), ArrayFormat::Npy, {one[0], {"dy", bnstep::Tensor()}}, "holds one array, not 2");
}

}  // namespace
