// export and compare under a variant: the JSON file records the variant (and
// the student), read back by the library and by a real JSON parser; the wrote
// line names it; compare's JSON carries it, and a file of another variant
// compared against this one gets a one-line hint instead of a silent WRONG.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "bnstep/array_file.hpp"
#include "bnstep/variant.hpp"
#include "cli_support.hpp"

using namespace bnstep_test;
namespace fs = std::filesystem;

namespace {

struct ExportScratch {
    fs::path dir;
    explicit ExportScratch(const std::string& name) : dir(fs::temp_directory_path() / ("bnstep-vexport-" + name)) {
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~ExportScratch() { fs::remove_all(dir); }
    std::string operator/(const std::string& file) const { return (dir / file).string(); }
};

void write_variant_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    REQUIRE(out.good());
}

}  // namespace

TEST_CASE("variant export: the JSON file and the wrote line name the variant") {
    const ExportScratch s("names");
    const auto out = run_bnstep({"export", "batchnorm", "--variant", "5", "--with-answers", "-o", s / "v5.json"});
    REQUIRE(out.exit_code == 0);
    CHECK(out.out.rfind("wrote ", 0) == 0);
    CHECK(contains(out.out, "of lesson batchnorm, variant 5 to"));
    const nlohmann::json j = nlohmann::json::parse(read_text_file(s / "v5.json"));
    CHECK(j.at("variant") == "5");
    CHECK(!j.contains("student"));
    CHECK(j.at("dx").is_array());
    bnstep::ArrayFileVariant recorded;
    const auto arrays = bnstep::read_arrays(s / "v5.json", {}, &recorded);
    CHECK(recorded.variant == std::optional<std::uint64_t>(5));
    CHECK(recorded.student.empty());
    for (const auto& a : arrays) CHECK(a.name != "variant");
    // A student: both keys; the largest variants stay exact (a string, not a double).
    const auto ada = run_bnstep({"export", "batchnorm", "--student", "ada"});
    REQUIRE(ada.exit_code == 0);
    const nlohmann::json k = nlohmann::json::parse(ada.out);
    CHECK(k.at("variant") == std::to_string(bnstep::student_variant("ada")));
    CHECK(k.at("student") == "ada");
    // The lesson as written records nothing; .npz names the variant in the wrote line only.
    CHECK(!nlohmann::json::parse(run_bnstep({"export", "batchnorm"}).out).contains("variant"));
    const auto npz = run_bnstep({"export", "batchnorm", "--variant", "5", "-o", s / "v5.npz"});
    REQUIRE(npz.exit_code == 0);
    CHECK(contains(npz.out, "of lesson batchnorm, variant 5 to"));
    for (const auto& a : bnstep::read_arrays(s / "v5.npz")) CHECK(a.name != "variant");
}

TEST_CASE("variant export: a malformed recorded variant is a one-line error") {
    const ExportScratch s("bad");
    write_variant_file(s / "bad.json", R"({"variant": "5x", "dx": [1]})");
    const auto r = run_bnstep({"compare", "batchnorm", s / "bad.json"});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err,
                   "bad.json: \"variant\": the variant the file was exported for, a string of digits from 0 "
                   "to 2^64 - 1, was expected, got \"5x\""));
    write_variant_file(s / "str.json", R"({"dx": "5"})");
    CHECK(contains(run_bnstep({"compare", "batchnorm", s / "str.json"}).err, "got a string"));
}

TEST_CASE("variant export: compare carries the variant and says when the file is of another one") {
    const ExportScratch s("compare");
    REQUIRE(run_bnstep({"export", "batchnorm", "--variant", "5", "--with-answers", "-o", s / "v5.json"}).exit_code ==
            0);
    const auto same = run_bnstep({"compare", "batchnorm", s / "v5.json", "--variant", "5", "--format", "json"});
    CHECK(same.exit_code == 0);
    const nlohmann::json j = nlohmann::json::parse(same.out);
    CHECK(j.at("files").at(0).at("variant") == 5);
    CHECK(!j.at("files").at(0).contains("note"));
    const auto ada = run_bnstep({"compare", "batchnorm", s / "v5.json", "--student", "ada", "--format", "json"});
    const nlohmann::json ja = nlohmann::json::parse(ada.out);
    CHECK(ada.exit_code == 1);
    CHECK(ja.at("files").at(0).at("student") == "ada");
    CHECK(ja.at("files").at(0).at("note") == "the file was exported for variant 5: run compare with --variant 5");
    const auto text = run_bnstep({"compare", "batchnorm", s / "v5.json", "--variant", "6"});
    CHECK(text.exit_code == 1);
    CHECK(contains(text.out, "\nthe file was exported for variant 5: run compare with --variant 5\n"));
    const auto written = run_bnstep({"compare", "batchnorm", s / "v5.json", s / "v5.json"});
    CHECK(contains(written.out, "the file was exported for variant 5: run compare with --variant 5\n"));
    // A student's file against the lesson as written: the student's option.
    REQUIRE(run_bnstep({"export", "batchnorm", "--student", "ada lovelace", "--with-answers", "-o", s / "ada.json"})
                .exit_code == 0);
    std::string note = run_bnstep({"compare", "batchnorm", s / "ada.json"}).out;
    for (std::size_t at = note.find("\n    "); at != std::string::npos; at = note.find("\n    "))
        note.replace(at, 5, " ");  // the line wrapped at 80 columns
    CHECK(contains(note, "the file was exported for variant " +
                             std::to_string(bnstep::student_variant("ada lovelace")) +
                             " (student ada lovelace): run compare with --student 'ada lovelace'\n"));
}
