// `bnstep html` and `bnstep graph --format svg` as files: the page's embedded
// data against `run --format json` and `trace --format json`, its escaping of
// a hostile lesson read back by Python's HTML parser, its Content-Security-
// Policy against hashes Python computes, its size; the SVG against what the
// `dot` program draws. What the page shows in a browser: test_html_page.cpp.
#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>

#include "cli_test_support.hpp"
#include "tooling_support.hpp"

using namespace bnstep_tooling_test;

namespace {

struct PageScratch {
    fs::path dir;
    explicit PageScratch(const std::string& name)
        : dir(fs::temp_directory_path() / ("bnstep-page-" + name + "-" + std::to_string(::getpid()))) {
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~PageScratch() { fs::remove_all(dir); }
    std::string operator/(const std::string& file) const { return (dir / file).string(); }
};

std::string page_of(const std::vector<std::string>& args, const PageScratch& scratch, const std::string& file) {
    std::vector<std::string> all{"html"};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), {"-o", scratch / file});
    const std::string said = ok_output(all);
    CHECK(contains(said, "wrote " + (scratch / file)));
    return read_text_file(scratch / file);
}

// The text between `open` and the next `close`, after `from`.
std::string between(const std::string& text, const std::string& open, const std::string& close) {
    const std::size_t start = text.find(open);
    REQUIRE_MESSAGE(start != std::string::npos, open);
    const std::size_t end = text.find(close, start + open.size());
    REQUIRE(end != std::string::npos);
    return text.substr(start + open.size(), end - start - open.size());
}

json embedded_data(const std::string& page) {
    return json::parse(between(page, "<script type=\"application/json\" id=\"bnstep-data\">", "</script>"));
}

std::size_t count_of(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
}

std::string python() {
    const std::string p = program("python3");
    REQUIRE_MESSAGE(!p.empty(), "python3 is not installed");
    return p;
}

// Python's own reading of a file: `code` gets the path as sys.argv[1] and prints JSON.
json python_reads(const std::string& code, const std::string& path) {
    const RunResult r = run_command({python(), "-c", code, path});
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
}

// A copy of a built-in lesson with hostile text in its title, description and notes.
std::string hostile_lesson(const PageScratch& scratch, const std::string& text) {
    json lesson = json::parse(read_text_file(lesson_path("batchnorm")));
    lesson["title"] = text;
    lesson["description"] = text + " " + text;
    for (const char* part : {"leaves", "nodes"})
        for (json& node : lesson[part]) node["note"] = text;
    const std::string path = scratch / "hostile.json";
    std::ofstream(path) << lesson.dump(2);
    return path;
}

const std::string kHostile =
    "<img src=x onerror=alert(1)> </script><script>alert(2)</script> <!-- &lt;b&gt; @DATA@ @SCRIPT@ \"'\\";

}  // namespace

TEST_CASE("page: the embedded run document is run --format json, and the page at most 2 MB (batchnorm 300 KB)") {
    PageScratch scratch("run");
    for (const std::string& lesson : lesson_names()) {
        CAPTURE(lesson);
        const std::string page = page_of({lesson}, scratch, lesson + ".html");
        CHECK(page.size() <= (lesson == "batchnorm" ? 300u : 2048u) * 1024u);
        const json data = embedded_data(page);
        CHECK(data["run"] == ok_json({"run", lesson, "--format", "json"}));
        const json& nodes = data["page"]["nodes"];
        REQUIRE(nodes.size() == data["run"]["nodes"].size());
        // Every element of every value is on the page, in run's digits.
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            std::size_t elements = 1;
            for (const json& d : data["run"]["nodes"][i]["shape"]) elements *= d.get<std::size_t>();
            CHECK(nodes[i]["value"]["text"].size() == elements);
        }
    }
}

TEST_CASE("page: a variant's page has the variant's numbers") {
    PageScratch scratch("variant");
    const json data = embedded_data(page_of({"conv2d", "--variant", "7"}, scratch, "conv2d-7.html"));
    CHECK(data["run"] == ok_json({"run", "conv2d", "--variant", "7", "--format", "json"}));
    CHECK(data["run"]["variant"] == 7);
    CHECK(data["run"] != ok_json({"run", "conv2d", "--format", "json"}));
}

TEST_CASE("page: every element's worked arithmetic is trace's") {
    PageScratch scratch("worked");
    for (const std::string lesson : {"batchnorm", "affine-bn-relu"}) {
        CAPTURE(lesson);
        const json data = embedded_data(page_of({lesson}, scratch, lesson + ".html"));
        const json& run = data["run"];
        for (std::size_t i = 0; i < run["nodes"].size(); ++i) {
            const json& node = run["nodes"][i];
            const json& page = data["page"]["nodes"][i];
            if (node["kind"] != "op") {
                CHECK(page["value_worked"].is_null());
                continue;
            }
            const std::string name = node["name"];
            const json& shape = node["shape"];
            const std::size_t count = page["value_worked"].size();
            // Under the sanitizers each trace costs a tenth of a second: a sample.
            for (std::size_t k = 0; k < count; k += kUnderSanitizer ? 11 : 3) {
                // The index of flat element k, the last axis fastest.
                std::vector<std::size_t> index(shape.size());
                std::size_t rest = k;
                for (std::size_t a = shape.size(); a-- > 0;) {
                    index[a] = rest % shape[a].get<std::size_t>();
                    rest /= shape[a].get<std::size_t>();
                }
                std::string text;
                for (std::size_t v : index) text += (text.empty() ? "" : ",") + std::to_string(v);
                std::vector<std::string> args{"trace", lesson, "--node", name, "--format", "json"};
                if (!text.empty()) args.insert(args.end(), {"--index", text});
                const json trace = ok_json(args);
                CAPTURE(name);
                CAPTURE(text);
                json worked = page["value_worked"][k];
                CHECK(worked["result_text"].is_string());
                worked.erase("result_text");
                CHECK(worked == trace["forward"]);
                // The backward entries of inputs of the node's own shape: the page's element k of that contribution.
                for (const json& entry : trace["backward"]) {
                    std::size_t slot = 0;
                    while (node["inputs"][slot]["name"] != entry["input"]) ++slot;
                    const json& edge = page["edges"][slot];
                    std::size_t flat = 0, in = 0;
                    while (run["nodes"][in]["name"] != entry["input"]) ++in;
                    const json& in_shape = run["nodes"][in]["shape"];
                    for (std::size_t a = 0; a < in_shape.size(); ++a)
                        flat = flat * in_shape[a].get<std::size_t>() + entry["index"][a].get<std::size_t>();
                    json sent = edge["worked"][flat];
                    sent.erase("result_text");
                    CHECK(sent == entry["worked"]);
                }
            }
        }
    }
}

TEST_CASE("page: a tensor over the size limit is summarised as run summarises it, or whole with --full") {
    PageScratch scratch("large");
    const std::vector<std::string> resized{"affine-bn-relu", "--set", "X.shape=120,3"};
    auto with = [&](std::vector<std::string> more) {
        more.insert(more.begin(), resized.begin(), resized.end());
        return more;
    };
    const json data = embedded_data(page_of(resized, scratch, "large.html"));
    const json& x = data["run"]["nodes"][0];
    REQUIRE(x["name"] == "X");
    CHECK(x["value"].is_null());
    CHECK(data["run"]["gradients"]["dX"].is_null());
    CHECK(data["run"]["nodes"][5]["inputs"][0]["contribution"].is_null());
    CHECK(data["run"]["nodes"][5]["inputs"][1]["contribution"].is_array());  // dW, (3, 2), is shown
    const std::string summary = data["page"]["nodes"][0]["value"]["summary"];
    std::vector<std::string> run{"run"};
    run.insert(run.end(), resized.begin(), resized.end());
    run.push_back("--no-pager");
    // run wraps the line at 80 columns.
    std::string text;
    for (char c : ok_output(run))
        if (!std::isspace(static_cast<unsigned char>(c)) || (!text.empty() && text.back() != ' '))
            text += std::isspace(static_cast<unsigned char>(c)) ? ' ' : c;
    CHECK(contains(text, summary));
    // Its worked elements and the boxes of the gradient they came from are left out with it.
    CHECK(data["page"]["nodes"][5]["edges"][0]["worked"].is_null());
    const json whole = embedded_data(page_of(with({"--full"}), scratch, "full.html"));
    run.back() = "--format";
    run.push_back("json");
    CHECK(whole["run"] == ok_json(run));
    CHECK(whole["page"]["nodes"][0]["value"]["text"].size() == 360);
    // --full embeds the numbers; the arithmetic stays with the tensors run shows whole.
    CHECK(whole["page"]["nodes"][5]["edges"][0]["worked"].is_null());
    CHECK(whole["page"]["nodes"][5]["edges"][0]["contribution"]["text"].size() == 360);
}

TEST_CASE("page: hostile lesson text is escaped, as Python's HTML parser reads the page") {
    PageScratch scratch("hostile");
    const std::string lesson = hostile_lesson(scratch, kHostile);
    const std::string page = page_of({lesson}, scratch, "hostile.html");
    // The page's own two scripts and nothing else; no element of the lesson's.
    CHECK(count_of(page, "<script") == 2);
    CHECK(count_of(page, "</script>") == 2);
    CHECK_FALSE(contains(page, "<img"));
    CHECK_FALSE(contains(page, "<!-- &lt;b"));
    const json read = python_reads(R"PY(
import html.parser, json, sys
VOID = {'meta', 'input', 'br', 'img', 'link', 'hr'}
class Reader(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.open, self.text = [], [], {}
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID: self.open.append([dict(attrs).get('id', '<' + tag), ''])
    def handle_endtag(self, tag):
        if tag in VOID or not self.open: return
        key, text = self.open.pop()
        self.text.setdefault(key, text)
    def handle_data(self, data):
        if self.open: self.open[-1][1] += data
r = Reader()
r.feed(open(sys.argv[1], encoding='utf-8').read())
print(json.dumps({'tags': sorted(set(r.tags)), 'title': r.text.get('<title'), 'h1': r.text.get('title'),
                  'description': r.text.get('description'), 'data': r.text.get('bnstep-data')}))
)PY",
                                   scratch / "hostile.html");
    CHECK(read["title"] == kHostile);
    CHECK(read["h1"] == kHostile);
    CHECK(read["description"] == kHostile + " " + kHostile);
    for (const std::string tag : read["tags"]) {
        CAPTURE(tag);
        CHECK_FALSE(tag == "img");
    }
    // The note travels as JSON inside the data block, and reads back as written.
    const json data = json::parse(read["data"].get<std::string>());
    for (const json& node : data["page"]["nodes"]) CHECK(node["note"] == kHostile);
    CHECK(data["run"]["title"] == kHostile);
}

TEST_CASE("page: the Content-Security-Policy allows the page's own script and style sheet, by their hashes") {
    PageScratch scratch("csp");
    page_of({"batchnorm"}, scratch, "batchnorm.html");
    const json read = python_reads(R"PY(
import base64, hashlib, json, re, sys
page = open(sys.argv[1], encoding='utf-8').read()
digest = lambda s: 'sha256-' + base64.b64encode(hashlib.sha256(s.encode('utf-8')).digest()).decode()
csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page).group(1)
scripts = re.findall(r'<script>(.*?)</script>', page, re.S)
styles = re.findall(r'<style>(.*?)</style>', page, re.S)
print(json.dumps({'csp': csp, 'scripts': [digest(s) for s in scripts], 'styles': [digest(s) for s in styles]}))
)PY",
                                   scratch / "batchnorm.html");
    REQUIRE(read["scripts"].size() == 1);
    REQUIRE(read["styles"].size() == 1);
    const std::string csp = read["csp"];
    CHECK(contains(csp, "default-src 'none'"));
    CHECK(contains(csp, "script-src '" + read["scripts"][0].get<std::string>() + "'"));
    CHECK(contains(csp, "style-src '" + read["styles"][0].get<std::string>() + "'"));
    CHECK_FALSE(contains(csp, "unsafe"));
}

TEST_CASE("html: -o - writes the page on standard output, the file -o FILE writes") {
    PageScratch scratch("stdout");
    const std::string file = page_of({"batchnorm", "--variant", "3"}, scratch, "page.html");
    const RunResult r = run_bnstep({"html", "batchnorm", "--variant", "3", "-o", "-"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == file);
    CHECK(r.err.empty());
}

TEST_CASE("html: bad options and files are one line, exit 2, nothing written") {
    PageScratch scratch("bad");
    CHECK(contains(usage_error({"html", "batchnorm", "--tolerance", "1", "-o", scratch / "a.html"}), "--tolerance"));
    CHECK(contains(usage_error({"html", "batchnorm", "--precision", "0", "-o", scratch / "a.html"}), "--precision"));
    CHECK(contains(usage_error({"html", "no-such-lesson", "-o", scratch / "a.html"}), "no-such-lesson"));
    CHECK(contains(usage_error({"html", "batchnorm", "--set", "x.shape=0,3", "-o", scratch / "a.html"}), "x"));
    const std::string missing_dir = scratch / "no/such/dir/a.html";
    CHECK(contains(usage_error({"html", "batchnorm", "-o", missing_dir}), missing_dir));
    CHECK(contains(usage_error({"html", "affine-bn-relu", "--full", "--max-memory", "1M", "--set", "X.shape=2000,3",
                                "-o", scratch / "a.html"}),
                   "--max-memory"));
    CHECK_FALSE(fs::exists(scratch / "a.html"));
}

TEST_CASE("graph: --format svg is what the dot program draws with the same two Graphviz plugins") {
    const std::string dot = program("dot");
    if (dot.empty()) {
        MESSAGE("graphviz (the dot program) is not installed: skipped; ./quickstart.sh test installs it");
        return;
    }
    // bnstep gives Graphviz its dot layout and SVG renderer alone; so does this folder of plugins.
    fs::path plugins;
    for (const char* dir : {"/usr/lib/x86_64-linux-gnu/graphviz", "/usr/lib/aarch64-linux-gnu/graphviz",
                            "/usr/lib64/graphviz", "/usr/lib/graphviz"})
        if (fs::exists(fs::path(dir) / "libgvplugin_core.so.6")) plugins = dir;
    REQUIRE_MESSAGE(!plugins.empty(), "Graphviz's plugins (libgvc6) were not found");
    PageScratch scratch("svg");
    const fs::path bin = scratch.dir / "gvbin";
    fs::create_directories(bin);
    for (const char* plugin : {"libgvplugin_core.so.6", "libgvplugin_dot_layout.so.6"})
        fs::create_symlink(plugins / plugin, bin / plugin);
    const std::vector<std::pair<std::string, std::string>> env{{"GVBINDIR", bin.string()}};
    REQUIRE(run_command({dot, "-c"}, "", env).exit_code == 0);
    const std::string hostile = hostile_lesson(scratch, "a & b <c> \"d\" \\N &lt; -->");
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"batchnorm", "--backward"}, {"conv2d"}, {"group-conv-shuffle", "--backward", "--values"}, {hostile}}) {
        CAPTURE(args);
        std::vector<std::string> graph{"graph"};
        graph.insert(graph.end(), args.begin(), args.end());
        std::ofstream(scratch / "g.dot") << ok_output(graph);
        graph.insert(graph.end(), {"--format", "svg"});
        const std::string svg = ok_output(graph);
        const RunResult drawn = run_command({dot, "-Tsvg", scratch / "g.dot"}, "", env);
        REQUIRE(drawn.exit_code == 0);
        CHECK(svg == drawn.out);
    }
    // The hostile title reads back as written (Python's XML parser), "&lt;" included.
    std::ofstream(scratch / "h.svg") << ok_output({"graph", hostile, "--format", "svg"});
    const json texts = python_reads(R"PY(
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
print(json.dumps([t.text for t in root.iter('{http://www.w3.org/2000/svg}text')]))
)PY",
                                    scratch / "h.svg");
    CHECK(texts[0] == "a & b <c> \"d\" \\N &lt; -->");
}

TEST_CASE("page: a gradient that adds several contributions is worked out as run works its sum") {
    PageScratch scratch("sum");
    const json data = embedded_data(page_of({"batchnorm"}, scratch, "batchnorm.html"));
    const std::string text = ok_output({"run", "batchnorm", "--no-pager", "--color", "never"});
    std::size_t sums = 0;
    for (std::size_t i = 0; i < data["run"]["nodes"].size(); ++i) {
        const json& node = data["run"]["nodes"][i];
        const json& worked = data["page"]["nodes"][i]["grad_worked"];
        CHECK(worked.is_null() == (node["received"].size() < 2));
        if (worked.is_null()) continue;
        // run works element [1,1] of each sum: flat 4 of the (4, 3) gradients.
        const json& w = worked[4];
        CAPTURE(node["name"]);
        CHECK(contains(text, w["lhs"].get<std::string>() + " = " + w["symbolic"].get<std::string>()));
        CHECK(contains(text, "= " + w["numeric"].get<std::string>()));
        CHECK(contains(text, "= " + w["result_text"].get<std::string>()));
        ++sums;
    }
    CHECK(sums == 2);  // xmu and x
}
