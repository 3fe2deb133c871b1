// export and compare end to end, with NumPy on the other side: the lesson's
// data loaded by numpy.load, the staged backward of examples/ run on it, and
// each classic mistake planted in that script and diagnosed by bnstep.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test_support.hpp"

using namespace bnstep_cli_test;

namespace {

std::string numpy_python() {
    std::string python = BNSTEP_NUMPY_PYTHON;
    if (python.empty())
        FAIL("these tests need python3 with NumPy (Debian: python3-numpy; ./quickstart.sh test installs it)");
    return python;
}

// A fresh directory for one test's files.
struct Scratch {
    fs::path dir;
    explicit Scratch(const std::string& name) : dir(fs::temp_directory_path() / ("bnstep-exercise-" + name)) {
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~Scratch() { fs::remove_all(dir); }
    std::string operator/(const std::string& file) const { return (dir / file).string(); }
};

RunResult python(const std::vector<std::string>& args) {
    std::vector<std::string> argv{numpy_python()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

// Runs a snippet of Python with NumPy; requires success and returns stdout.
std::string python_ok(const std::string& code, const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv{"-c", code};
    argv.insert(argv.end(), args.begin(), args.end());
    const RunResult r = python(argv);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
}

std::string example(const std::string& name) { return source_dir() + "/examples/" + name; }

// The example script with one line replaced: a planted mistake.
// `script` is an example's name, or a file planted before in `s`.
std::string planted(const Scratch& s, const std::string& script, const std::string& line, const std::string& instead) {
    std::ifstream in(fs::exists(s / script) ? s / script : example(script));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t at = text.find(line);
    CAPTURE(line);
    REQUIRE(at != std::string::npos);
    REQUIRE(text.find(line, at + 1) == std::string::npos);
    text.replace(at, line.size(), instead);
    std::string path = s / ("planted_" + script);
    std::ofstream(path) << text;
    return path;
}

json compare_files_json(const std::string& lesson, const std::vector<std::string>& files, int want_exit) {
    std::vector<std::string> args{"compare", lesson};
    args.insert(args.end(), files.begin(), files.end());
    args.insert(args.end(), {"--format", "json"});
    const RunResult r = run_bnstep(args);
    CAPTURE(r.err);
    CHECK(r.exit_code == want_exit);
    json j;
    REQUIRE_NOTHROW(j = json::parse(r.out));
    return j;
}

}  // namespace

TEST_CASE("export: numpy.load reads the lesson's leaves and dout, float64, C order, as the lesson file gives them") {
    const Scratch s("export");
    const std::string out = ok_output({"export", "batchnorm", "-o", s / "bn.npz"});
    CHECK(contains(out, "bn.npz"));
    const json lesson = read_json_file(lesson_path("batchnorm"));
    const std::string got = python_ok(
        "import sys, json, numpy as np\n"
        "d = np.load(sys.argv[1])\n"
        "assert all(d[k].dtype == np.float64 and d[k].flags['C_CONTIGUOUS'] for k in d.files)\n"
        "print(json.dumps({k: d[k].tolist() for k in d.files}))",
        {s / "bn.npz"});
    const json j = json::parse(got);
    CHECK(j.size() == 5);
    CHECK(j.at("x") == leaf(lesson, "x").at("values"));
    CHECK(j.at("gamma") == leaf(lesson, "gamma").at("values"));
    CHECK(j.at("beta") == leaf(lesson, "beta").at("values"));
    CHECK(j.at("eps").get<double>() == leaf(lesson, "eps").at("values").get<double>());
    CHECK(j.at("dout") == lesson.at("output").at("upstream").at("values"));
}

TEST_CASE("export --with-answers: every staged value and gradient, equal to batch norm computed by hand") {
    const Scratch s("answers");
    ok_output({"export", "batchnorm", "--with-answers", "-o", s / "key.json"});
    const json key = read_json_file(s / "key.json");
    const BatchNorm& bn = reference();
    check_close(key.at("xhat"), bn.xhat, kTol, "xhat");
    check_close(key.at("dxhat"), bn.dxhat, kTol, "dxhat");
    check_close(key.at("divar"), bn.divar, kTol, "divar");
    check_close(key.at("dxmu1"), bn.dxmu1, kTol, "dxmu1");
    check_close(key.at("dxmu2"), bn.dxmu2, kTol, "dxmu2");
    check_close(key.at("dx1"), bn.dx1, kTol, "dx1");
    check_close(key.at("dx2"), bn.dx2, kTol, "dx2");
    check_close(key.at("dx"), bn.dx_closed, kTol, "dx");
    check_close(key.at("dgamma"), bn.dgamma, kTol, "dgamma");
    // The same numbers, to the last bit, in the .npz and on standard output.
    ok_output({"export", "batchnorm", "--with-answers", "-o", s / "key.npz"});
    const json from_npz = json::parse(python_ok(
        "import sys, json, numpy as np\nd = np.load(sys.argv[1])\nprint(json.dumps({k: d[k].tolist() for k in d.files}))",
        {s / "key.npz"}));
    CHECK(from_npz == key);
    CHECK(json::parse(ok_output({"export", "batchnorm", "--with-answers"})) == key);
}

TEST_CASE("export: --set resizes what it writes, and the format follows the file name, and bad requests are one-line errors") {
    const Scratch s("export-set");
    ok_output({"export", "conv2d", "--set", "x.shape=1,3,6,6", "-o", s / "c.npz"});
    CHECK(python_ok("import sys, numpy as np\nprint(np.load(sys.argv[1])['x'].shape)", {s / "c.npz"}) ==
          "(1, 3, 6, 6)\n");
    CHECK(contains(usage_error({"export", "batchnorm", "--format", "npz"}), "binary"));
    CHECK(contains(usage_error({"export", "batchnorm", "-o", s / "a.txt"}), ".npz or .json"));
    CHECK(contains(usage_error({"export", "batchnorm", "-o", s / "a.npy"}), "one array"));
    CHECK(contains(usage_error({"export", "batchnorm", "-o", s / "a.json", "--format", "npz"}), "--format"));
    CHECK(contains(usage_error({"export", "batchnorm", "-o", s / "no/such/dir/a.npz"}), "a.npz"));
}

TEST_CASE("compare: the example's staged backward is right on every tensor, as .npz, .npy and JSON") {
    const Scratch s("right");
    ok_output({"export", "batchnorm", "-o", s / "bn.npz"});
    const RunResult py = python({example("batchnorm_backward.py"), s / "bn.npz", s / "mine.npz"});
    CAPTURE(py.err);
    REQUIRE(py.exit_code == 0);
    const json j = compare_files_json("batchnorm", {s / "mine.npz"}, 0);
    const json& f = j.at("files").at(0);
    CHECK(f.at("result") == "ok");
    CHECK(f.at("tensors").size() == 16);
    const std::string text = ok_output({"compare", "batchnorm", s / "mine.npz"});
    CHECK(contains(text, "All 16 tensors right."));

    python_ok(
        "import sys, json, numpy as np\nd = np.load(sys.argv[1])\nnp.save(sys.argv[2], d['dx'])\n"
        "json.dump({'dgamma': d['dgamma'].tolist(), 'dbeta': d['dbeta'].tolist()}, open(sys.argv[3], 'w'))",
        {s / "mine.npz", s / "dx.npy", s / "mine.json"});
    CHECK(compare_files_json("batchnorm", {s / "dx.npy"}, 0).at("files").at(0).at("tensors").at(0).at("name") == "dx");
    CHECK(compare_files_json("batchnorm", {s / "mine.json"}, 0).at("files").at(0).at("result") == "ok");
}

TEST_CASE("compare: each classic mistake planted in the examples is diagnosed as that mistake") {
    struct Mistake {
        std::string lesson, script, line, instead, first_wrong, cause, words;
        std::string line2 = {}, instead2 = {};  // a second edit that keeps the script running
    };
    const std::vector<Mistake> mistakes = {
        {"batchnorm", "batchnorm_backward.py", "divar = (dxhat * xmu).sum(axis=0)",
         "divar = (dxhat * xmu).sum(axis=0, keepdims=True)", "divar", "keepdims", "keepdims=True"},
        {"batchnorm", "batchnorm_backward.py", "dbeta = dout.sum(axis=0)", "dbeta = dout", "dbeta", "not-summed",
         "summed"},
        {"batchnorm", "batchnorm_backward.py", "dsq = np.ones_like(sq) / N * dvar", "dsq = np.ones_like(sq) * dvar",
         "dsq", "factor", "a 1/4 missing"},
        {"batchnorm", "batchnorm_backward.py", "dvar = 0.5 / np.sqrt(var + eps) * dsqrtvar",
         "dvar = 1.0 / np.sqrt(var + eps) * dsqrtvar", "dvar", "factor", "twice"},
        {"batchnorm", "batchnorm_backward.py", "dmu = -dxmu.sum(axis=0)", "dmu = dxmu.sum(axis=0)", "dmu", "factor",
         "sign is flipped"},
        {"batchnorm", "batchnorm_backward.py", "dx = dx1 + dx2", "dx = dx1", "dx", "one-contribution",
         "dx2 (from step 1 (mu)) missing"},
        {"batchnorm", "batchnorm_backward.py", "dxmu1 = dxhat * ivar", "dxmu1 = dxhat * xmu", "dxmu1", "wrong-local",
         "the local gradient for ivar"},
        {"batchnorm", "batchnorm_backward.py", "dxmu1 = dxhat * ivar", "dxmu1 = dout * ivar", "dxmu1", "wrong-upstream",
         "times dout"},
        {"batchnorm", "batchnorm_backward.py", "dxhat = dgammax * gamma", "dxhat = dgammax", "dxhat", "no-local",
         "without the local gradient"},
        {"magnitude-pruning", "pruning_backward.py", "dWp = x.T @ dy", "dWp = dy.T @ x", "dWp", "transposed",
         "transpose of the right answer", "dW = dWp * m", "dW = dWp.T * m"},
        {"magnitude-pruning", "pruning_backward.py", "dW = dWp * m", "dW = dWp", "dW", "no-local",
         "without the local gradient"},
        {"magnitude-pruning", "pruning_backward.py", "dx = dy @ Wp.T", "dx = dy @ W.T", "dx", "wrong-local",
         "with W read where Wp was due"},
    };
    const Scratch s("planted");
    ok_output({"export", "batchnorm", "-o", s / "batchnorm.npz"});
    ok_output({"export", "magnitude-pruning", "-o", s / "magnitude-pruning.npz"});
    for (const Mistake& m : mistakes) {
        CAPTURE(m.instead);
        std::string script = planted(s, m.script, m.line, m.instead);
        if (!m.line2.empty()) script = planted(s, "planted_" + m.script, m.line2, m.instead2);
        const RunResult py = python({script, s / (m.lesson + ".npz"), s / "mine.npz"});
        CAPTURE(py.err);
        REQUIRE(py.exit_code == 0);
        const json j = compare_files_json(m.lesson, {s / "mine.npz"}, 1);
        const json& f = j.at("files").at(0);
        CHECK(f.at("first_wrong") == m.first_wrong);
        for (const json& t : f.at("tensors")) {
            if (t.at("name") != m.first_wrong) continue;
            REQUIRE(t.contains("cause"));
            CHECK(t.at("cause").at("code") == m.cause);
            CHECK(contains(t.at("cause").at("message").get<std::string>(), m.words));
            CHECK(t.at("origin").at("code") == "local");
        }
        // Every later wrong tensor of a single mistake inherits it.
        bool after = false;
        for (const json& t : f.at("tensors")) {
            if (after && t.at("verdict") != "ok") CHECK(t.at("origin").at("code") == "inherited");
            after = after || t.at("name") == m.first_wrong;
        }
    }
}

TEST_CASE("compare: the text names the first wrong tensor, its cause, where it starts, and one element worked") {
    const Scratch s("text");
    ok_output({"export", "batchnorm", "-o", s / "bn.npz"});
    const std::string script = planted(s, "batchnorm_backward.py", "dxmu1 = dxhat * ivar", "dxmu1 = dxhat * xmu");
    REQUIRE(python({script, s / "bn.npz", s / "mine.npz"}).exit_code == 0);
    const RunResult r = run_bnstep({"compare", "batchnorm", s / "mine.npz"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.empty());
    CHECK(contains(r.out, "FIRST WRONG: dxmu1"));
    CHECK(contains(r.out, "cause: the upstream dxhat times the local gradient for ivar"));
    CHECK(contains(r.out, "where it starts: every tensor it depends on that you gave is right"));
    // The worked element is the reference's arithmetic, then the student's number.
    const BatchNorm& bn = reference();
    const std::vector<std::string> lines = lines_of(r.out);
    const auto worked = std::find_if(lines.begin(), lines.end(), [](const std::string& l) {
        return contains(l, "dxmu1[") && contains(l, "= dxhat[");
    });
    REQUIRE(worked != lines.end());
    CHECK(contains(*worked, "* ivar["));
    CHECK(contains(r.out, "yours: "));
    (void)bn;
}

TEST_CASE("compare: a class at once, as CSV and JSON, and an unreadable file is reported and exits 2") {
    const Scratch s("class");
    ok_output({"export", "batchnorm", "-o", s / "bn.npz"});
    REQUIRE(python({example("batchnorm_backward.py"), s / "bn.npz", s / "alice.npz"}).exit_code == 0);
    const std::string script = planted(s, "batchnorm_backward.py", "dx = dx1 + dx2", "dx = dx1");
    REQUIRE(python({script, s / "bn.npz", s / "bob.npz"}).exit_code == 0);
    std::ofstream(s / "carol.npz") << "not a zip";

    RunResult r = run_bnstep({"compare", "batchnorm", s / "alice.npz", s / "bob.npz", "--format", "csv"});
    CHECK(r.exit_code == 1);
    const std::string csv_path = s / "grades.csv";
    std::ofstream(csv_path) << r.out;
    // Python's csv module reads it back: a header and a row per file.
    const json rows = json::parse(
        python_ok("import sys, csv, json\nprint(json.dumps(list(csv.DictReader(open(sys.argv[1])))))", {csv_path}));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].at("result") == "ok");
    CHECK(rows[0].at("dx") == "ok");
    CHECK(rows[1].at("result") == "wrong");
    CHECK(rows[1].at("first_wrong") == "dx");
    CHECK(rows[1].at("cause") == "one-contribution");
    CHECK(rows[1].at("dx") == "wrong");
    CHECK(rows[1].at("dxmu1") == "ok");

    r = run_bnstep({"compare", "batchnorm", s / "alice.npz", s / "carol.npz", s / "bob.npz", "--format", "json"});
    CHECK(r.exit_code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(contains(r.err, "carol.npz"));
    const json j = json::parse(r.out);
    REQUIRE(j.at("files").size() == 3);
    CHECK(j.at("files").at(1).at("result") == "unreadable");
    CHECK(j.at("files").at(2).at("result") == "wrong");

    const std::string one_line = ok_output({"compare", "batchnorm", s / "alice.npz", s / "alice.npz"});
    CHECK(lines_of(one_line).size() == 2);
}

TEST_CASE("compare: a bad file alone is a one-line error, exit 2, and an unknown name gets the nearest") {
    const Scratch s("bad");
    CHECK(contains(usage_error({"compare", "batchnorm", s / "missing.npz"}), "missing.npz"));
    std::ofstream(s / "x.txt") << "1 2 3";
    CHECK(contains(usage_error({"compare", "batchnorm", s / "x.txt"}), "x.txt"));
    usage_error({"compare", "batchnorm"});
    // Hostile files: a member that climbs out of the archive, a header declaring 10^12 elements.
    python_ok(
        "import sys, zipfile, io, numpy as np\n"
        "b = io.BytesIO(); np.save(b, np.zeros(3))\n"
        "with zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr('../dx.npy', b.getvalue())\n"
        "h = \"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }\"\n"
        "h = h + ' ' * (63 - (10 + len(h)) % 64) + '\\n'\n"
        "open(sys.argv[2], 'wb').write(b'\\x93NUMPY\\x01\\x00' + len(h).to_bytes(2, 'little') + h.encode())",
        {s / "climb.npz", s / "dx.npy"});
    CHECK(contains(usage_error({"compare", "batchnorm", s / "climb.npz"}), "../dx.npy"));
    python_ok("import sys, numpy as np\nnp.savez(sys.argv[1])", {s / "empty.npz"});
    CHECK(contains(usage_error({"compare", "batchnorm", s / "empty.npz"}), "holds no arrays"));
    CHECK(contains(usage_error({"compare", "batchnorm", s / "dx.npy"}), "dx.npy"));
    std::ofstream(s / "typo.json") << R"({"d_xhat": [[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]]})";
    const json j = compare_files_json("batchnorm", {s / "typo.json"}, 1);
    const json& t = j.at("files").at(0).at("tensors").at(0);
    CHECK(t.at("verdict") == "unknown");
    CHECK(t.at("did_you_mean") == "dxhat");
}

TEST_CASE("docs: check-your-backward.md excerpts are what its workflow prints") {
    const Scratch s("doc");
    std::ifstream in(source_dir() + "/docs/check-your-backward.md");
    const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The doc's planted mistake: the lines of its ```diff block.
    std::string removed, added;
    std::vector<std::string> excerpt;
    enum class Block { None, Diff, Text, Other } block = Block::None;
    for (const std::string& raw : lines_of(doc)) {
        const std::string line = raw.substr(0, raw.find_last_not_of(' ') + 1);
        if (block == Block::None && line.rfind("```", 0) == 0) {
            block = line == "```diff" ? Block::Diff : line == "```text" ? Block::Text : Block::Other;
        } else if (line == "```") {
            block = Block::None;
        } else if (block == Block::Diff && !line.empty()) {
            (line[0] == '-' ? removed : added) = line.substr(line.find_first_not_of(' ', 1));
        } else if (block == Block::Text && !line.empty() && line != "...") {
            excerpt.push_back(line.substr(line.find_first_not_of(' ')));
        }
    }
    REQUIRE_FALSE(removed.empty());
    REQUIRE(excerpt.size() > 20);

    const std::string dir = s.dir.string();
    auto bnstep_in_dir = [&](const std::vector<std::string>& args) {
        return run_bnstep(args, dir, {{"LC_ALL", "C.UTF-8"}});  // the doc quotes "∂"
    };
    std::string printed = bnstep_in_dir({"export", "batchnorm", "-o", "batchnorm.npz"}).out;
    REQUIRE(
        run_command({numpy_python(), example("batchnorm_backward.py"), "batchnorm.npz", "mine.npz"}, dir).exit_code ==
        0);
    REQUIRE(
        run_command({numpy_python(), example("batchnorm_backward.py"), "batchnorm.npz", "alice.npz"}, dir).exit_code ==
        0);
    printed += bnstep_in_dir({"compare", "batchnorm", "mine.npz"}).out;
    const std::string script = planted(s, "batchnorm_backward.py", removed, added);
    REQUIRE(run_command({numpy_python(), script, "batchnorm.npz", "mine.npz"}, dir).exit_code == 0);
    REQUIRE(run_command({numpy_python(), script, "batchnorm.npz", "bob.npz"}, dir).exit_code == 0);
    printed += bnstep_in_dir({"compare", "batchnorm", "mine.npz"}).out;
    printed += bnstep_in_dir({"compare", "batchnorm", "alice.npz", "bob.npz"}).out;
    printed += bnstep_in_dir({"compare", "batchnorm", "alice.npz", "bob.npz", "--format", "csv"}).out;
    for (const std::string& line : excerpt) {
        CAPTURE(line);
        CHECK(contains(printed, line));
    }
}
