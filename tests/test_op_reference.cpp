#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "bnstep/op.hpp"
#include "bnstep/print.hpp"

TEST_CASE("op reference: docs/ops.md is what the op table generates") {
    std::ifstream file(BNSTEP_SOURCE_DIR "/docs/ops.md");
    REQUIRE(file.good());
    std::ostringstream text;
    text << file.rdbuf();
    const std::string generated = bnstep::op_reference_markdown(bnstep::builtin_ops());
    CHECK_MESSAGE(text.str() == generated,
                  "docs/ops.md is stale: regenerate it with ./build/bnstep ops --format markdown > docs/ops.md");
    for (const auto& op : bnstep::builtin_ops().all()) {
        CAPTURE(op.name);
        CHECK(generated.find("### `" + op.name + "`") != std::string::npos);
        for (const auto& in : op.inputs) CHECK(generated.find("- gradient for `" + in.name + "`") != std::string::npos);
    }
}
