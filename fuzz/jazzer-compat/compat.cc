// The three symbols that @jazzer.js/fuzzer 4.0.0's prebuilt addon takes from a newer C/C++ runtime
// than Debian 12 has (glibc 2.36, libstdc++ of GCC 12). Loaded with LD_PRELOAD by fuzz/run.mjs,
// only when the addon does not load as it is; see prepare.mjs.
#include <cstdlib>
#include <ios>

// glibc 2.38's C23 strtol/strtoul: the same functions that also accept a "0b" prefix, which
// libFuzzer's flag parsing (the only caller) never sees.
extern "C" long __isoc23_strtol(const char *text, char **end, int base) { return std::strtol(text, end, base); }
extern "C" unsigned long __isoc23_strtoul(const char *text, char **end, int base) {
  return std::strtoul(text, end, base);
}

// GCC 13 headers reference std::ios_base_library_init() so that linking pulls in the library's
// stream initialisation; GCC 12's libstdc++ instead needs an ios_base::Init object, made here.
namespace std {
void ios_base_library_init() {}
}  // namespace std
static std::ios_base::Init streams;
