// Debian ships fmt only as a shared library. The static bnstep compiles fmt's
// out-of-line part here, once, instead of header-only in every file (which
// doubles the build time). The functions come from fmt's own header; the
// templates it defines there and declares `extern` are instantiated below.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
template auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl(locale_ref) -> char;
template locale_ref::locale_ref(const std::locale& loc);
template auto locale_ref::get<std::locale>() const -> std::locale;
}  // namespace detail
FMT_END_NAMESPACE
