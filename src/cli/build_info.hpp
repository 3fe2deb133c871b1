#pragma once
// What `bnstep --version` and `bnstep version` report: the version, the git
// commit it was built from, how it was built, and the machine it runs on.
#include <nlohmann/json.hpp>
#include <string>

namespace bnstep::cli {

// "bnstep 0.1.0\ncommit ...\nbuild: ...\nkernels: ...\n" (no final newline).
std::string version_text();
// The same, and the machine, as JSON for bug reports.
nlohmann::json version_json();
// The date of the commit built from ("2026-12-03"), or "" outside a git checkout.
std::string commit_date();

}  // namespace bnstep::cli
