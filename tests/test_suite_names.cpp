// The suite's own test case names, as ctest sees them. doctest_discover_tests
// splits a name at each ';' into tests that match no case and pass without
// running anything; a name with one would be a test that cannot fail.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "cli_support.hpp"

TEST_CASE("suite: no test case's name holds a semicolon, which ctest would split into tests that run nothing") {
    const auto listed = bnstep_test::run_command({"/proc/self/exe", "--list-test-cases"});
    REQUIRE(listed.exit_code == 0);
    std::istringstream lines(listed.out);
    std::size_t names = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line.rfind("[doctest]", 0) == 0 || line.rfind("=====", 0) == 0) continue;
        ++names;
        CHECK_MESSAGE(line.find(';') == std::string::npos, "the test case '" << line << "'");
    }
    CHECK(names > 400);  // the list was read
}
