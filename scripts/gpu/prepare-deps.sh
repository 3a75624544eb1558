#!/usr/bin/env bash
# Gathers, on a development machine, what scripts/gpu/device-check.sh needs on
# a GPU machine that has python3's torch, nvcc, cmake and ninja but no Node,
# no system GoogleTest or nlohmann-json and no network, into .device-deps/
# (git-ignored through .git/info/exclude; about 6 MB):
#   googletest/        GoogleTest sources (built there)
#   nlohmann_json/     the json header and a small CMake package config for it
#   node-api-headers/  Node-API headers and node-addon-api, for the addon
#   node-addon-api/
#   midsize-skeleton.json  the mid-sized benchmark models as configs + tensor
#                          shapes (bench/midsize_skeleton.py; needs .venv's diffusers once)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
deps=.device-deps
mkdir -p "$deps"
grep -qx '/.device-deps/' .git/info/exclude 2>/dev/null || echo '/.device-deps/' >> .git/info/exclude
grep -qx '/build-gpu/' .git/info/exclude 2>/dev/null || echo '/build-gpu/' >> .git/info/exclude

gtest_src="${GTEST_SRC:-/usr/src/googletest}"
[[ -f "$gtest_src/CMakeLists.txt" ]] || { echo "no GoogleTest sources at $gtest_src (apt-get install googletest, or set GTEST_SRC)" >&2; exit 1; }
rm -rf "$deps/googletest" && cp -r "$gtest_src" "$deps/googletest"

json_inc="${NLOHMANN_INCLUDE:-/usr/include}"
[[ -f "$json_inc/nlohmann/json.hpp" ]] || { echo "no nlohmann/json.hpp under $json_inc (apt-get install nlohmann-json3-dev, or set NLOHMANN_INCLUDE)" >&2; exit 1; }
version="$(sed -n 's/^#define NLOHMANN_JSON_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$json_inc/nlohmann/detail/abi_macros.hpp" "$json_inc/nlohmann/json.hpp" 2>/dev/null | head -3 | paste -sd.)"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || version=3.11.0
rm -rf "$deps/nlohmann_json" && mkdir -p "$deps/nlohmann_json/include"
cp -r "$json_inc/nlohmann" "$deps/nlohmann_json/include/"
cat > "$deps/nlohmann_json/nlohmann_jsonConfig.cmake" <<CFG
# Header-only nlohmann-json $version, carried for a machine without the system package.
if(NOT TARGET nlohmann_json::nlohmann_json)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "\${CMAKE_CURRENT_LIST_DIR}/include")
endif()
CFG
cat > "$deps/nlohmann_json/nlohmann_jsonConfigVersion.cmake" <<CFG
set(PACKAGE_VERSION "$version")
if(PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
endif()
CFG

rm -rf "$deps/node-api-headers" "$deps/node-addon-api"
if [[ -d node_modules/node-api-headers/include && -d node_modules/node-addon-api ]]; then
  mkdir -p "$deps/node-api-headers" "$deps/node-addon-api"
  cp -r node_modules/node-api-headers/include "$deps/node-api-headers/"
  cp node_modules/node-addon-api/*.h "$deps/node-addon-api/"
else
  echo "note: node_modules lacks node-api-headers / node-addon-api (npm install); the addon will not be built there" >&2
fi

if [[ ! -f "$deps/midsize-skeleton.json" ]]; then
  py="${PYTHON:-$root/.venv/bin/python}"
  "$py" bench/midsize_skeleton.py write "$deps/midsize-skeleton.json"
fi
du -sh "$deps"
