#pragma once
// A seeded generator whose output is the same on every platform and
// compiler: splitmix64 for the bits, exact IEEE arithmetic for the doubles
// (no std:: distributions, no libm calls).
#include <cstdint>

namespace bnstep {

class Rng {
public:
    explicit Rng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next();
    double uniform();                           // in [0, 1), 53 random bits
    double uniform(double low, double high);    // in [low, high)
    double normal(double mean, double stddev);  // Irwin-Hall: sum of 12 uniforms - 6

private:
    std::uint64_t state_;
};

}  // namespace bnstep
