#pragma once
// Whether the tests are built with AddressSanitizer, for the tests that
// sample under it what the plain build runs in full.

namespace bnstep_test {

// Built with AddressSanitizer (quickstart's build-check): every bnstep the
// tests start is several times slower, and so is every allocation, so a test
// that starts hundreds, or runs reference loops that index element by
// element, may sample what the plain build runs in full.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderSanitizer = true;
#else
inline constexpr bool kUnderSanitizer = false;
#endif
#else
inline constexpr bool kUnderSanitizer = false;
#endif

}  // namespace bnstep_test
