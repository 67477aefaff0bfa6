#pragma once
// The one scalar type of bilevel-opt, chosen at build time (-DBILEVEL_DOUBLE=ON selects double).
namespace bilevel {
#ifdef BILEVEL_DOUBLE
using real = double;
inline constexpr const char* real_name = "double";
#else
using real = float;
inline constexpr const char* real_name = "float";
#endif
}  // namespace bilevel
