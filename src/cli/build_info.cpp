#include "build_info.hpp"

#include <sys/utsname.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bnstep/build_commit.hpp"
#include "bnstep/kernels.hpp"
#include "bnstep/parallel.hpp"
#include "bnstep/version.hpp"

namespace bnstep::cli {

namespace {

std::string compiler() {
#if defined(__clang__)
    return fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    return fmt::format("GCC {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    return "an unknown compiler";
#endif
}

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

std::string commit_text() {
    if (*kCommit == '\0') return "commit: none (not built from a git checkout)";
    return fmt::format("commit: {} ({}){}", kCommit, kCommitDate, kCommitHasLocalChanges ? ", with local changes" : "");
}

std::string kernels_text(const KernelBuild& k) {
    if (k.clones.empty()) return fmt::format("kernels: {}", k.baseline);
    return fmt::format("kernels: {}; {} also {}, picked at start-up: this CPU runs {}", k.baseline, k.cloned_loops,
                       fmt::join(k.clones, ", "), k.in_use);
}

}  // namespace

std::string commit_date() { return kCommitDate; }

std::string version_text() {
    return fmt::format("bnstep {}\n{}\nbuild: {}, {} linking, {}{}\n{}", kVersion, commit_text(), BNSTEP_BUILD_TYPE,
                       BNSTEP_LINKING, compiler(), sanitized() ? ", with AddressSanitizer" : "",
                       kernels_text(kernel_build()));
}

nlohmann::json version_json() {
    const KernelBuild k = kernel_build();
    nlohmann::json system = nlohmann::json::object();
    utsname u{};
    if (uname(&u) == 0) system = {{"os", u.sysname}, {"release", u.release}, {"machine", u.machine}};
    system["threads"] = worker_count();
    return {{"bnstep", kVersion},
            {"command", "version"},
            {"version", kVersion},
            {"commit", *kCommit ? nlohmann::json(kCommit) : nlohmann::json(nullptr)},
            {"commit_date", *kCommitDate ? nlohmann::json(kCommitDate) : nlohmann::json(nullptr)},
            {"local_changes", kCommitHasLocalChanges},
            {"build",
             {{"type", BNSTEP_BUILD_TYPE},
              {"linking", BNSTEP_LINKING},
              {"compiler", compiler()},
              {"sanitizers", sanitized()}}},
            {"kernels",
             {{"baseline", k.baseline}, {"clones", k.clones}, {"cloned_loops", k.cloned_loops}, {"in_use", k.in_use}}},
            {"system", system}};
}

}  // namespace bnstep::cli
