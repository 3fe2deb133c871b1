#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>

#include "bnstep/error.hpp"
#include "cli/commands.hpp"
#include "cli/guard.hpp"

namespace {

using namespace bnstep;

int run_guarded(int argc, char** argv) {
    try {
        return cli::run(argc, argv);
    } catch (const LessonError& e) {
        cli::report_error("error", e.what());
        return cli::kUsage;
    } catch (const UsageError& e) {
        cli::report_error("error", e.what());
        return cli::kUsage;
    } catch (const NumericError& e) {
        cli::report_error("numeric fault", e.what());
        return cli::kCheckFailed;
    } catch (const std::bad_alloc&) {
        cli::release_memory_reserve();
        cli::report_error("error", cli::out_of_memory_message());
        return cli::kUsage;
    } catch (const std::exception& e) {
        cli::report_error("internal error (please report it)", e.what());
        return cli::kUsage;
    } catch (...) {
        cli::report_error("internal error (please report it)", "an unknown exception");
        return cli::kUsage;
    }
}

}  // namespace

int main(int argc, char** argv) {
    bnstep::cli::keep_memory_reserve();
    bnstep::cli::route_output();
    const int code = run_guarded(argc, argv);
    return bnstep::cli::finish_output(code);
}
