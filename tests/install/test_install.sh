#!/usr/bin/env bash
# shellcheck disable=SC2016  # checks are single-quoted commands run by bash -c
# The installed tree (docs/install.md): `cmake --install BUILD --prefix P` into a fresh prefix;
# every part of it in place; no path of the build machine in the exported targets; a project of
# its own (tests/install/consumer) found with find_package(deeprfm), built and run on 2 MPI
# ranks; the installed programs, tools and job scripts run; the Lmod modulefile puts P on PATH
# and CMAKE_PREFIX_PATH (the consumer configures with nothing else); then the tree, moved
# elsewhere, works through the Tcl modulefile. Whatever is missing (mpiexec, Lmod, an installed
# file) is a failure, never a skip.
#   usage: test_install.sh BUILD_DIR VERSION CMAKE MPIEXEC [MPIEXEC_FLAGS...]  ('N passed, N failed')
set -uo pipefail
build="$(cd "${1:?build dir}" && pwd)"
version="${2:?project version}"
cmake="${3:?cmake}"
mpiexec="${4:?mpiexec}"
shift 4
mpiflags=("$@")
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
consumer="$here/consumer"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
passed=0; failed=0
check() {
  local what="$1"; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $what"; return 0; fi
  failed=$((failed + 1)); echo "FAILED: $what"; return 1
}
# show FILE: the end of a log, after a failed step.
show() { echo "---- $1 (last 40 lines)"; tail -n 40 "$1"; echo "----"; }
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
export OPENBLAS_NUM_THREADS=1
# The consumer gets the compilers of the build and finds everything else by itself.
compilers=(-DCMAKE_C_COMPILER="$(cache_value CMAKE_C_COMPILER)"
           -DCMAKE_CXX_COMPILER="$(cache_value CMAKE_CXX_COMPILER)")
# No deeprfm from the environment or from the user package registry may stand in for P.
unset CMAKE_PREFIX_PATH deeprfm_DIR DEEPRFM_ROOT DEEPRFM_REPO DEEPRFM_BIN SLURM_JOB_ID
no_registry=(-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

# ---- install
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 </dev/null; rc=$?
check "cmake --install BUILD --prefix P (rc $rc)" test "$rc" -eq 0 || show "$tmp/install.log"
libdir=""
for d in lib lib64 lib/x86_64-linux-gnu; do
  [ -d "$prefix/$d/cmake/deeprfm" ] && libdir="$prefix/$d"
done
check "P/lib*/cmake/deeprfm exists" test -n "$libdir"
cmakedir="$libdir/cmake/deeprfm"
cmakedir_rel="${cmakedir#"$prefix"/}"
libdir_rel="${libdir#"$prefix"/}"

# ---- every part in place
for exe in deeprfm deeprfm-bench deeprfm-mlp; do
  check "P/bin/$exe is an executable" test -x "$prefix/bin/$exe"
done
check "P/$libdir_rel/libdeeprfm.a or .so" \
  bash -c '[ -e "$1/libdeeprfm.a" ] || [ -e "$1/libdeeprfm.so" ]' _ "$libdir"
headers_missing="$(cd "$src/include" && find deeprfm -type f | while read -r f; do
                     cmp -s "$f" "$prefix/include/$f" || echo "$f"; done)"
check "every file of include/deeprfm installed, unchanged${headers_missing:+ (missing or different: $headers_missing)}" \
  test -z "$headers_missing"
check "P/include/deeprfm/version.hpp says $version" \
  grep -q "kVersion = \"$version\"" "$prefix/include/deeprfm/version.hpp"
for f in deeprfmConfig.cmake deeprfmConfigVersion.cmake deeprfmTargets.cmake FindScaLAPACK.cmake; do
  check "P/$cmakedir_rel/$f" test -f "$cmakedir/$f"
done
for f in "$src"/tools/*.py; do
  check "P/share/deeprfm/tools/$(basename "$f") is an executable" \
    test -x "$prefix/share/deeprfm/tools/$(basename "$f")"
done
check "P/share/deeprfm/jobs holds jobs/ as it is" diff -r "$src/jobs" "$prefix/share/deeprfm/jobs"
check "P/share/deeprfm/jobs/submit.sh keeps its executable bit" test -x "$prefix/share/deeprfm/jobs/submit.sh"
for f in README.md LICENSE CITATION.cff; do
  check "P/share/doc/deeprfm/$f" cmp -s "$src/$f" "$prefix/share/doc/deeprfm/$f"
done
check "P/share/doc/deeprfm/docs holds docs/ as it is (with the figures)" \
  diff -r "$src/docs" "$prefix/share/doc/deeprfm/docs"
check "CITATION.cff: version $version, as in project()" grep -q "^version: $version\$" "$src/CITATION.cff"
# (share/modulefiles unless the build set DEEPRFM_INSTALL_MODULEDIR)
moduledir="$(cache_value DEEPRFM_INSTALL_MODULEDIR)"
modules="$prefix/${moduledir:?DEEPRFM_INSTALL_MODULEDIR not in the build cache}"
check "P/$moduledir/deeprfm/$version.lua (Lmod)" test -f "$modules/deeprfm/$version.lua"
check "P/$moduledir/deeprfm/$version (Tcl)" \
  bash -c 'head -n 1 "$1" | grep -q "^#%Module"' _ "$modules/deeprfm/$version"

# ---- relocatable: no path of the build machine in what the installed package says
# (the properties of the imported target, INTERFACE_* and IMPORTED_*; ${_IMPORT_PREFIX}/... is fine)
abs="$(grep -hE '^[[:space:]]*(INTERFACE|IMPORTED)_[A-Z_]+ ' "$cmakedir"/deeprfmTargets*.cmake |
       grep -E '"/|;/|-[IL]/')"
check "exported targets name no absolute path${abs:+: $abs}" test -z "$abs"
check "package files name neither the build nor the source tree" \
  bash -c '! grep -lF -e "$1" -e "$2" "$3"/*.cmake' _ "$build" "$src" "$cmakedir"
check "the exported target is deeprfm::deeprfm" \
  grep -q 'add_library(deeprfm::deeprfm ' "$cmakedir/deeprfmTargets.cmake"
check "deeprfm::deeprfm asks for C++17" grep -q 'INTERFACE_COMPILE_FEATURES "cxx_std_17"' "$cmakedir/deeprfmTargets.cmake"
# SameMinorVersion: 0.1 accepts this 0.1.x; 0.2 and 1.0 do not.
cat >"$tmp/compat.cmake" <<'END'
# What find_package(deeprfm VERSION) asks the installed deeprfmConfigVersion.cmake.
string(REPLACE "." ";" parts "${PACKAGE_FIND_VERSION}")
list(GET parts 0 PACKAGE_FIND_VERSION_MAJOR)
list(GET parts 1 PACKAGE_FIND_VERSION_MINOR)
set(PACKAGE_FIND_VERSION_RANGE FALSE)
include("${VERSION_FILE}")
if(PACKAGE_VERSION_COMPATIBLE AND NOT PACKAGE_VERSION_UNSUITABLE)
  message("compatible")
else()
  message("incompatible")
endif()
END
compat() {
  "$cmake" -DPACKAGE_FIND_VERSION="$1" -DVERSION_FILE="$cmakedir/deeprfmConfigVersion.cmake" \
    -DCMAKE_SIZEOF_VOID_P="$(cache_value CMAKE_SIZEOF_VOID_P)" -P "$tmp/compat.cmake" 2>&1 |
    grep -qx "$2"
}
major="${version%%.*}"
minor="$(echo "$version" | cut -d. -f2)"
check "ConfigVersion: find_package(deeprfm $major.$minor) accepts $version" compat "$major.$minor" compatible
check "ConfigVersion: find_package(deeprfm $major.$((minor + 1))) refuses $version" \
  compat "$major.$((minor + 1))" incompatible
check "ConfigVersion: find_package(deeprfm $((major + 1)).0) refuses $version" \
  compat "$((major + 1)).0" incompatible

# ---- the consumer, found through CMAKE_PREFIX_PATH, on 2 ranks
"$cmake" -S "$consumer" -B "$tmp/consumer" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  "${compilers[@]}" "${no_registry[@]}" >"$tmp/consumer-configure.log" 2>&1 </dev/null; rc=$?
check "consumer configures with -DCMAKE_PREFIX_PATH=P (rc $rc)" test "$rc" -eq 0 ||
  show "$tmp/consumer-configure.log"
found_dir() { sed -n 's/^deeprfm_DIR:PATH=//p' "$1/CMakeCache.txt" 2>/dev/null; }
check "consumer found deeprfm in P/$cmakedir_rel" test "$(found_dir "$tmp/consumer")" = "$cmakedir"
check "consumer: ScaLAPACK from the provider of the build, pkgconfig" \
  grep -q "Found ScaLAPACK: PkgConfig::" "$tmp/consumer-configure.log"
"$cmake" --build "$tmp/consumer" -j 2 >"$tmp/consumer-build.log" 2>&1 </dev/null; rc=$?
check "consumer builds (rc $rc)" test "$rc" -eq 0 || show "$tmp/consumer-build.log"
expected="deeprfm-consumer: 2 ranks, grid 1x2, 7x5 matrix in 2x2 blocks: every element in place on every rank"
timeout 60 "$mpiexec" -n 2 "${mpiflags[@]}" "$tmp/consumer/deeprfm_consumer" \
  >"$tmp/consumer-run.log" 2>&1 </dev/null; rc=$?
check "consumer runs on 2 ranks (rc $rc)" test "$rc" -eq 0 || show "$tmp/consumer-run.log"
check "consumer prints: $expected" grep -qxF "$expected" "$tmp/consumer-run.log"

# ---- the installed programs, tools and job scripts
timeout 60 "$mpiexec" -n 1 "${mpiflags[@]}" "$prefix/bin/deeprfm" --version \
  >"$tmp/version.log" 2>&1 </dev/null
check "P/bin/deeprfm --version: deeprfm $version" grep -q "^deeprfm $version " "$tmp/version.log" ||
  show "$tmp/version.log"
for exe in deeprfm-bench deeprfm-mlp; do
  timeout 60 "$mpiexec" -n 1 "${mpiflags[@]}" "$prefix/bin/$exe" --help \
    >"$tmp/$exe-help.log" 2>&1 </dev/null; rc=$?
  check "P/bin/$exe --help (rc $rc)" test "$rc" -eq 0 || show "$tmp/$exe-help.log"
done
check "P/share/deeprfm/tools/perf_model.py project runs" \
  bash -c '"$1" project --n 500000 --nodes 16,64,256 >/dev/null' _ "$prefix/share/deeprfm/tools/perf_model.py"
check "P/share/deeprfm/tools/deeprfm_collect.py --help runs" \
  bash -c '"$1" --help >/dev/null' _ "$prefix/share/deeprfm/tools/deeprfm_collect.py"
# In place, and from a copy of P/share/deeprfm (how a site edits jobs/site.sh).
cp -r "$prefix/share/deeprfm" "$tmp/my-jobs"
for jobs in "$prefix/share/deeprfm/jobs" "$tmp/my-jobs/jobs"; do
  DRY_RUN=1 DEEPRFM_BIN="$prefix/bin/deeprfm" DEEPRFM_RESULTS="$tmp/results" \
    bash "$jobs/submit.sh" run 1 >"$tmp/dry-run.log" 2>&1 </dev/null; rc=$?
  check "${jobs#"$tmp"/}/submit.sh: DRY_RUN run 1 (rc $rc) runs P/bin/deeprfm" \
    bash -c '[ "$1" -eq 0 ] && grep -q -- "runs: .* $2 --continue --output $3/" "$4"' \
    _ "$rc" "$prefix/bin/deeprfm" "$tmp/results" "$tmp/dry-run.log" || show "$tmp/dry-run.log"
done
# A project without C: a message that says so, not an error from deep inside FindMPI.
mkdir -p "$tmp/cxx-only"
printf 'cmake_minimum_required(VERSION 3.20)\nproject(cxx_only LANGUAGES CXX)\nfind_package(deeprfm REQUIRED)\n' \
  >"$tmp/cxx-only/CMakeLists.txt"
"$cmake" -S "$tmp/cxx-only" -B "$tmp/cxx-only/build" -DCMAKE_PREFIX_PATH="$prefix" "${no_registry[@]}" \
  -DCMAKE_CXX_COMPILER="$(cache_value CMAKE_CXX_COMPILER)" >"$tmp/cxx-only.log" 2>&1 </dev/null; rc=$?
check "a project without C: find_package(deeprfm) fails (rc $rc) saying LANGUAGES C CXX" \
  bash -c '[ "$1" -ne 0 ] && tr -s " \n" " " <"$2" | grep -q "LANGUAGES C CXX"' _ "$rc" "$tmp/cxx-only.log" ||
  show "$tmp/cxx-only.log"

# ---- the modulefiles, under Lmod (Debian: apt-get install lmod; scripts/setup.sh --tests)
lmod_init=""
for f in "${LMOD_PKG:+$LMOD_PKG/init/bash}" /usr/share/lmod/lmod/init/bash; do
  if [ -n "$f" ] && [ -f "$f" ]; then lmod_init="$f"; break; fi
done
check "Lmod's bash init found (${lmod_init:-none: install the Debian package lmod, scripts/setup.sh --tests})" \
  test -n "$lmod_init"
# module_session ROOT OUT [CMAKE_ARGS...]: in a shell holding none of this environment's modules, `module use
# ROOT/MODULEDIR; module load deeprfm`; prints the facts the checks below look for: the
# modulefile read, the environment it gave, a consumer configured in OUT with nothing but that
# environment (log: OUT.log), and what `module unload` left.
mkdir -p "$tmp/home"
module_session() {
  env -i HOME="$tmp/home" PATH="$PATH" LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}" TMPDIR="${TMPDIR:-/tmp}" \
    OPENBLAS_NUM_THREADS=1 bash --norc --noprofile -c '
    lmod_init="$1" root="$2" version="$3" cmake="$4" consumer="$5" out="$6" moduledir="$7"; shift 7
    source "$lmod_init" || exit 1
    module use "$root/$moduledir"
    module load deeprfm && echo "loaded"
    echo "file: $(module --redirect show deeprfm 2>&1 | grep -o "/[^ ]*deeprfm/$version[.a-z]*" | head -n 1)"
    echo "deeprfm: $(command -v deeprfm)"
    echo "DEEPRFM_ROOT: ${DEEPRFM_ROOT:-}"
    case ":${CMAKE_PREFIX_PATH:-}:" in *":$root:"*) echo "CMAKE_PREFIX_PATH has root";; esac
    case ":${LD_LIBRARY_PATH:-}:" in *":$root/"*) echo "LD_LIBRARY_PATH has root";; esac
    "$cmake" -S "$consumer" -B "$out" "$@" >"$out.log" 2>&1 </dev/null && echo "configured"
    echo "deeprfm_DIR: $(sed -n "s/^deeprfm_DIR:PATH=//p" "$out/CMakeCache.txt" 2>/dev/null)"
    module unload deeprfm
    [ "$(command -v deeprfm)" != "$root/bin/deeprfm" ] && [ -z "${DEEPRFM_ROOT:-}" ] &&
      case ":${CMAKE_PREFIX_PATH:-}:" in *":$root:"*) false;; *) true;; esac && echo "unloaded"
  ' _ "$lmod_init" "$1" "$version" "$cmake" "$consumer" "$2" "$moduledir" "${compilers[@]}" "${no_registry[@]}" "${@:3}"
}
# module_checks WHAT ROOT LOG OUT MODULEFILE
module_checks() {
  local kind="$1" root="$2" log="$3" out="$4" file="$5"
  check "$kind: module load deeprfm" grep -qx "loaded" "$log" || show "$log"
  check "$kind: Lmod reads deeprfm/$file" grep -qx "file: $root/$moduledir/deeprfm/$file" "$log"
  check "$kind: deeprfm on PATH is $root/bin/deeprfm" grep -qx "deeprfm: $root/bin/deeprfm" "$log"
  check "$kind: DEEPRFM_ROOT=$root" grep -qx "DEEPRFM_ROOT: $root" "$log"
  check "$kind: CMAKE_PREFIX_PATH holds the prefix" grep -qx "CMAKE_PREFIX_PATH has root" "$log"
  if [ -e "$root/$libdir_rel/libdeeprfm.so" ]; then
    check "$kind: LD_LIBRARY_PATH holds the library (shared)" grep -qx "LD_LIBRARY_PATH has root" "$log"
  else
    check "$kind: LD_LIBRARY_PATH left alone (static library)" bash -c '! grep -qx "LD_LIBRARY_PATH has root" "$1"' _ "$log"
  fi
  check "$kind: the consumer configures with only the module loaded" grep -qx "configured" "$log" ||
    show "$out.log"
  check "$kind: ... and finds deeprfm in the prefix" grep -qx "deeprfm_DIR: $root/$cmakedir_rel" "$log"
  check "$kind: module unload takes PATH, CMAKE_PREFIX_PATH and DEEPRFM_ROOT back" grep -qx "unloaded" "$log"
}
if [ -n "$lmod_init" ]; then
  module_session "$prefix" "$tmp/consumer-module" >"$tmp/module.log" 2>&1
  module_checks "Lmod" "$prefix" "$tmp/module.log" "$tmp/consumer-module" "$version.lua"
  # A copy of the modulefile outside the tree cannot find the tree: it refuses and says why.
  mkdir -p "$tmp/elsewhere/deeprfm" && cp "$modules/deeprfm/$version.lua" "$tmp/elsewhere/deeprfm/"
  env -i HOME="$tmp/home" PATH="$PATH" bash --norc --noprofile -c \
    'source "$1" && module use "$2" && module load deeprfm && echo "loaded"' \
    _ "$lmod_init" "$tmp/elsewhere" >"$tmp/module-copy.log" 2>&1
  check "a copy of the modulefile elsewhere refuses to load, saying why" \
    bash -c '! grep -qx loaded "$1" && tr -s " \n" " " <"$1" | grep -q "finds its installation from its own path"' \
    _ "$tmp/module-copy.log" || show "$tmp/module-copy.log"
  # The whole tree moved elsewhere, with the Tcl modulefile alone (Environment Modules' format).
  moved="$tmp/moved/deeprfm-$version"
  mkdir -p "$tmp/moved" && mv "$prefix" "$moved" && rm -f "$moved/$moduledir/deeprfm/$version.lua"
  # Its consumer asks for another ScaLAPACK provider: DEEPRFM_SCALAPACK_VENDOR is honoured.
  module_session "$moved" "$tmp/consumer-moved" -DDEEPRFM_SCALAPACK_VENDOR=Custom \
    "-DScaLAPACK_LIBRARIES=-lscalapack-openmpi;-lopenblas" >"$tmp/module-moved.log" 2>&1
  module_checks "moved tree, Tcl modulefile" "$moved" "$tmp/module-moved.log" "$tmp/consumer-moved" "$version"
  check "moved tree: the consumer's -DDEEPRFM_SCALAPACK_VENDOR=Custom is used" \
    grep -q "Found ScaLAPACK: -lscalapack-openmpi" "$tmp/consumer-moved.log"
  timeout 60 "$mpiexec" -n 1 "${mpiflags[@]}" "$moved/bin/deeprfm" --version \
    >"$tmp/moved-version.log" 2>&1 </dev/null
  check "moved tree: deeprfm --version" grep -q "^deeprfm $version " "$tmp/moved-version.log"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
