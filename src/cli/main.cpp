#include <exception>
#include <iostream>

#include "bnstep/error.hpp"
#include "cli/commands.hpp"

int main(int argc, char** argv) {
    using namespace bnstep;
    try {
        return cli::run(argc, argv);
    } catch (const LessonError& e) {
        std::cerr << "bnstep: error: " << e.what() << '\n';
        return cli::kUsage;
    } catch (const UsageError& e) {
        std::cerr << "bnstep: error: " << e.what() << '\n';
        return cli::kUsage;
    } catch (const NumericError& e) {
        std::cerr << "bnstep: numeric fault: " << e.what() << '\n';
        return cli::kCheckFailed;
    } catch (const std::exception& e) {
        std::cerr << "bnstep: internal error (please report it): " << e.what() << '\n';
        return cli::kUsage;
    } catch (...) {
        std::cerr << "bnstep: internal error (please report it)\n";
        return cli::kUsage;
    }
}
