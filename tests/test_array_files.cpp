// Array files against NumPy: what np.savez, np.savez_compressed and
// np.lib.format.write_array write reads back exactly, and what bnstep writes
// loads in NumPy (and JSON in Python's json) with the same bits. The values
// compared are the ones Python prints with repr() or the ones the test
// computes, never bnstep's own output.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <limits>

#include "array_file_support.hpp"

namespace {

using bnstep::NamedTensor;
using bnstep::Shape;
using bnstep::Tensor;
using bnstep_test::printed_arrays;
using bnstep_test::run_python;
using bnstep_test::TempDir;

// Every dtype, byte order, memory order and rank bnstep reads, saved by np.savez (stored members, each with a
// zip64 extra field), np.savez_compressed (deflated) and np.savez with zipfile's limits lowered so that every
// entry, the directory and its end are zip64 records; the values printed in C order.
const char* kSavezScript = R"(
import os, sys, zipfile
import numpy as np
d = sys.argv[1]
A = {
    'f8': np.array([[0.1, -0.0, 5e-324], [np.finfo(np.float64).max, np.inf, np.nan]]),
    'f4': np.array([0.1, -2.5, np.finfo(np.float32).max, np.finfo(np.float32).smallest_subnormal], dtype=np.float32),
    'i8': np.array([-2**53, 2**53, 2**60, -2**63, -7, 0], dtype=np.int64),
    'big_f8': (np.arange(6.0).reshape(3, 2) / 7).astype('>f8'),
    'big_f4': (np.arange(4.0) / 3).astype('>f4'),
    'big_i8': np.array([-3, 2**40], dtype='>i8'),
    'fortran3': np.asfortranarray(np.arange(24.0).reshape(2, 3, 4) * 1.5 - 0.25),
    'fortran4': np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)),
    'fortran_big': np.asfortranarray((np.arange(6.0).reshape(2, 3) / 9).astype('>f8')),
    'rank0': np.array(-1.25),
    'rank1': np.linspace(0, 1, 7),
    'rank2': np.arange(12.0).reshape(3, 4) / 11,
    'rank4': np.sqrt(np.arange(12.0).reshape(2, 1, 3, 2)),
    'empty': np.zeros((2, 0)),
}
assert all(A[k].dtype.byteorder == '>' for k in ['big_f8', 'big_f4', 'big_i8', 'fortran_big'])
np.savez(os.path.join(d, 'stored.npz'), **A)
np.savez_compressed(os.path.join(d, 'deflated.npz'), **A)
zipfile.ZIP64_LIMIT = 0
zipfile.ZIP_FILECOUNT_LIMIT = 0
np.savez(os.path.join(d, 'zip64.npz'), **A)
with open(os.path.join(d, 'zip64.npz'), 'rb') as f:
    raw = f.read()
assert b'PK\x06\x06' in raw and b'PK\x06\x07' in raw, 'no zip64 end of central directory'
for name, method in [('stored', zipfile.ZIP_STORED), ('deflated', zipfile.ZIP_DEFLATED)]:
    with zipfile.ZipFile(os.path.join(d, name + '.npz')) as z:
        assert all(i.compress_type == method for i in z.infolist())
with np.load(os.path.join(d, 'stored.npz')) as z:
    assert z['fortran3'].flags.f_contiguous and not z['fortran3'].flags.c_contiguous
for name, a in A.items():
    values = ' '.join(repr(float(x)) for x in np.ascontiguousarray(a).ravel())
    print(name, ','.join(str(n) for n in a.shape), values, sep=';')
)";

TEST_CASE("arrays: what np.savez and np.savez_compressed write reads back exactly, zip64 included") {
    TempDir dir;
    const auto expected = printed_arrays(run_python(kSavezScript, dir.path()));
    REQUIRE(expected.size() == 14);
    for (const char* file : {"stored.npz", "deflated.npz", "zip64.npz"}) {
        CAPTURE(file);
        const std::vector<NamedTensor> arrays = bnstep::read_arrays((dir.path() / file).string());
        REQUIRE(arrays.size() == expected.size());
        CHECK(arrays.front().name == "f8");  // the archive's order, as np.savez wrote it
        for (const NamedTensor& a : arrays) {
            CAPTURE(a.name);
            REQUIRE(expected.count(a.name) == 1);
            bnstep_test::same_as_printed(a.tensor, expected.at(a.name));
        }
    }
}

TEST_CASE("arrays: .npy versions 1.0, 2.0 and 3.0, and a .npy file's array is named by its stem") {
    TempDir dir;
    const auto expected = printed_arrays(run_python(R"(
import os, sys
import numpy as np
d = sys.argv[1]
a = np.asfortranarray((np.arange(24.0).reshape(2, 3, 4) / 7).astype('>f8'))
for v in [(1, 0), (2, 0), (3, 0)]:
    path = os.path.join(d, 'v%d.npy' % v[0])
    with open(path, 'wb') as f:
        np.lib.format.write_array(f, a, version=v)
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x93NUMPY' + bytes(v)
    print('v%d' % v[0], ','.join(str(n) for n in a.shape), ' '.join(repr(float(x)) for x in a.ravel()), sep=';')
np.save(os.path.join(d, 'scalar.npy'), np.float32(0.1))
print('scalar', '', repr(float(np.float32(0.1))), sep=';')
)",
                                                    dir.path()));
    for (const char* name : {"v1", "v2", "v3", "scalar"}) {
        CAPTURE(name);
        const auto arrays = bnstep::read_arrays((dir.path() / (std::string(name) + ".npy")).string());
        REQUIRE(arrays.size() == 1);
        CHECK(arrays[0].name == name);
        bnstep_test::same_as_printed(arrays[0].tensor, expected.at(name));
    }
}

// Values whose every bit matters, computed here.
std::vector<NamedTensor> awkward_arrays() {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Tensor ranked({2, 1, 3, 2});
    for (std::size_t k = 0; k < ranked.size(); ++k) ranked[k] = std::sqrt(double(k)) / 3 - 0.5;
    return {{"scalar", Tensor::scalar(0.1)},
            {"edges", Tensor({3, 3}, {-0.0, DBL_MIN, DBL_TRUE_MIN, DBL_MAX, -DBL_MAX, 1.0 / 3, 0x1p60, 1e-300, 1e22})},
            {"rank4", ranked},
            {"empty", Tensor(Shape{2, 0})},
            {"δx", Tensor({2}, {inf, nan})}};
}

TEST_CASE("arrays: write_arrays' .npz loads in NumPy as float64 in C order, every bit the same") {
    TempDir dir;
    std::vector<NamedTensor> arrays = awkward_arrays();
    arrays.push_back({"rows_of_none", Tensor(Shape{0, 3})});
    const std::string path = (dir.path() / "out.npz").string();
    bnstep::write_arrays(path, bnstep::ArrayFormat::Npz, arrays);
    const auto loaded = printed_arrays(run_python(R"(
import os, sys, zipfile
import numpy as np
path = os.path.join(sys.argv[1], 'out.npz')
with zipfile.ZipFile(path) as z:
    assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
with open(path, 'rb') as f:
    head = f.read(10)
with np.load(path, allow_pickle=False) as z:
    for name in z.files:
        a = z[name]
        assert a.dtype == np.float64 and a.dtype.byteorder in '=<' and a.flags.c_contiguous, name
        with z.zip.open(name + '.npy') as member:
            version = np.lib.format.read_magic(member)
            np.lib.format.read_array_header_1_0(member)
            assert version == (1, 0) and member.tell() % 64 == 0, (name, member.tell())
        print(name, ','.join(str(n) for n in a.shape), ' '.join('%016x' % b for b in a.view(np.uint64).ravel()), sep=';')
)",
                                                  dir.path()));
    REQUIRE(loaded.size() == arrays.size());
    for (const NamedTensor& a : arrays) {
        CAPTURE(a.name);
        REQUIRE(loaded.count(a.name) == 1);
        const auto& got = loaded.at(a.name);
        CHECK(got.shape == a.tensor.shape());
        REQUIRE(got.values.size() == a.tensor.size());
        for (std::size_t k = 0; k < a.tensor.size(); ++k) CHECK(got.values[k] == bnstep_test::bits_hex(a.tensor[k]));
    }
    // And back: the same bits again.
    const auto again = bnstep::read_arrays(path);
    REQUIRE(again.size() == arrays.size());
    for (std::size_t i = 0; i < arrays.size(); ++i) {
        CHECK(again[i].name == arrays[i].name);
        CHECK(again[i].tensor.shape() == arrays[i].tensor.shape());
        for (std::size_t k = 0; k < arrays[i].tensor.size(); ++k)
            CHECK(bnstep_test::bits_hex(again[i].tensor[k]) == bnstep_test::bits_hex(arrays[i].tensor[k]));
    }
}

TEST_CASE("arrays: a .npy of one array, and no arrays at all, as NumPy reads them") {
    TempDir dir;
    const Tensor t({2, 3}, {1, 2, 3, 4, 5, 0.5});
    bnstep::write_arrays((dir.path() / "dx.npy").string(), bnstep::ArrayFormat::Npy, {{"anything", t}});
    bnstep::write_arrays((dir.path() / "none.npz").string(), bnstep::ArrayFormat::Npz, {});
    CHECK(run_python(R"(
import os, sys
import numpy as np
d = sys.argv[1]
a = np.load(os.path.join(d, 'dx.npy'))
assert a.dtype == np.float64 and a.shape == (2, 3) and a.tolist() == [[1, 2, 3], [4, 5, 0.5]]
with open(os.path.join(d, 'dx.npy'), 'rb') as f:
    assert f.read()[:128] == np.lib.format.magic(1, 0) + b'\x76\x00' + (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }".ljust(117) + b'\n')
with np.load(os.path.join(d, 'none.npz')) as z:
    print(len(z.files))
)",
                     dir.path()) == "0\n");
    CHECK(bnstep::read_arrays((dir.path() / "none.npz").string()).empty());
    CHECK(bnstep::read_arrays((dir.path() / "dx.npy").string()).at(0).tensor.data() == t.data());
}

TEST_CASE("arrays: arrays_json loads in Python's json with every bit, one array a line, keys in order") {
    std::vector<NamedTensor> arrays = awkward_arrays();
    arrays.back().tensor = Tensor({2}, {-1e-5, 123456789.125});
    const std::string text = bnstep::arrays_json(arrays);
    CHECK(text.starts_with("{\n  \"scalar\": 0.1,\n  \"edges\": [[-0.0, "));
    CHECK(text.ends_with("\n}\n"));
    CHECK(bnstep_test::lines_of(text).size() == arrays.size() + 2);
    TempDir dir;
    const std::string path = (dir.path() / "out.json").string();
    bnstep::write_arrays(path, bnstep::ArrayFormat::Json, arrays);
    CHECK(bnstep_test::read_text_file(path) == text);
    const auto loaded = printed_arrays(run_python(R"(
import json, os, sys
import numpy as np
def no_constant(name):
    raise ValueError('not JSON: ' + name)
with open(os.path.join(sys.argv[1], 'out.json'), encoding='utf-8') as f:
    doc = json.load(f, parse_constant=no_constant)
for i, (name, value) in enumerate(doc.items()):
    a = np.array(value, dtype=np.float64)
    bits = ' '.join('%016x' % b for b in a.view(np.uint64).ravel())
    print(name, ','.join(str(n) for n in a.shape), str(i) + ' ' + bits, sep=';')
)",
                                                  dir.path()));
    REQUIRE(loaded.size() == arrays.size());
    for (std::size_t i = 0; i < arrays.size(); ++i) {
        const NamedTensor& a = arrays[i];
        CAPTURE(a.name);
        REQUIRE(loaded.count(a.name) == 1);
        const auto& got = loaded.at(a.name);
        CHECK(got.shape == a.tensor.shape());
        REQUIRE(got.values.size() == a.tensor.size() + 1);
        CHECK(got.values[0] == std::to_string(i));
        for (std::size_t k = 0; k < a.tensor.size(); ++k)
            CHECK(got.values[k + 1] == bnstep_test::bits_hex(a.tensor[k]));
    }
    const auto again = bnstep::read_arrays(path);
    REQUIRE(again.size() == arrays.size());
    for (std::size_t i = 0; i < arrays.size(); ++i) {
        CHECK(again[i].tensor.shape() == arrays[i].tensor.shape());
        for (std::size_t k = 0; k < arrays[i].tensor.size(); ++k)
            CHECK(bnstep_test::bits_hex(again[i].tensor[k]) == bnstep_test::bits_hex(arrays[i].tensor[k]));
    }
}

TEST_CASE("arrays: JSON arrays: a number is rank 0, nested lists ranks 1 to 4, an empty list has a 0") {
    TempDir dir;
    const std::string path = bnstep_test::write_file(dir.path() / "mine.json", R"({"x": [[1, 2], [3, 4]],
        "eps": 1e-05, "v": [-0.5], "none": [], "rows": [[], []],
        "r4": [[[[1, 2]], [[3, 4]]]], "big": 18446744073709551615, "neg": -9007199254740993})");
    const auto arrays = bnstep::read_arrays(path);
    REQUIRE(arrays.size() == 8);
    const std::vector<std::pair<std::string, Shape>> shapes = {{"x", {2, 2}}, {"eps", {}},      {"v", {1}},
                                                               {"none", {0}}, {"rows", {2, 0}}, {"r4", {1, 2, 1, 2}},
                                                               {"big", {}},   {"neg", {}}};
    for (std::size_t i = 0; i < shapes.size(); ++i) {
        CHECK(arrays[i].name == shapes[i].first);
        CHECK(arrays[i].tensor.shape() == shapes[i].second);
    }
    CHECK(arrays[0].tensor.data() == std::vector<double>{1, 2, 3, 4});
    CHECK(arrays[1].tensor[0] == 1e-05);
    CHECK(arrays[5].tensor.data() == std::vector<double>{1, 2, 3, 4});
    // A JSON number is a decimal: it reads as the nearest double, as Python's float() makes it.
    CHECK(arrays[6].tensor[0] == 0x1p64);
    CHECK(arrays[7].tensor[0] == -0x1p53);
}

TEST_CASE("arrays: what JSON cannot hold is refused when written, naming the array and the element") {
    const auto refused = [](const std::vector<NamedTensor>& arrays, const std::string& part) {
        try {
            (void)bnstep::arrays_json(arrays);
            FAIL("written");
        } catch (const bnstep::DataError& e) {
            CHECK_MESSAGE(bnstep_test::contains(e.what(), part), e.what());
        }
    };
    refused({{"dx", Tensor({2, 2}, {1, 2, std::nan(""), 4})}},
            "\"dx\"[1][0]: NaN cannot be written as JSON, which has only finite numbers");
    refused({{"dx", Tensor::scalar(-HUGE_VAL)}}, "\"dx\": -inf cannot be written as JSON");
    refused({{"dx", Tensor(Shape{0, 3})}}, "\"dx\": shape (0, 3) cannot be written as JSON");
    TempDir dir;
    const std::string json = (dir.path() / "out.json").string();
    try {
        bnstep::write_arrays(json, bnstep::ArrayFormat::Json, {{"dx", Tensor(Shape{1}, std::nan(""))}});
        FAIL("written");
    } catch (const bnstep::DataError& e) {
        CHECK(std::string(e.what()).starts_with(json + ": \"dx\"[0]: NaN"));
    }
}

}  // namespace
