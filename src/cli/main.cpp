#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>

#include "bnstep/error.hpp"
#include "commands.hpp"
#include "guard.hpp"

namespace {

using namespace bnstep;

int run_guarded(int argc, char** argv) {
    try {
        return cli::run(argc, argv);
    } catch (const Error& e) {
        cli::report_error(e.kind == ErrorKind::Numeric ? "numeric fault" : "error", e.what());
        return cli::exit_code(e.kind);
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
