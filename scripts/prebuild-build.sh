#!/usr/bin/env bash
# The build command prebuildify runs in place of node-gyp (make-prebuild.mjs
# passes it as --node-gyp): prebuildify calls `<this> rebuild --target=...
# --release ...` in its working folder and then takes the one .node file in
# <that folder>/build/Release. The addon is built with cmake-js
# (build-native.sh, no C++ tests) in build-prebuild/, beside build/ so that
# ccache reuses the checkout's objects, and copied there: prebuildify moves
# the file it takes, and the build folder keeps its own.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stage="$PWD"
SPO_BUILD_DIR=build-prebuild SPO_BUILD_TESTS=OFF bash "$root/scripts/build-native.sh"
mkdir -p "$stage/build/Release"
cp "$root/build-prebuild/Release/spo_diffusion.node" "$stage/build/Release/spo_diffusion.node"
