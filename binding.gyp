# Kept inert on purpose: the addon is built by cmake-js (CMakeLists.txt),
# which can locate libtorch and nvcc; node-gyp cannot. The package defines its
# own "install" script, so npm never runs node-gyp on this file. An empty
# target list keeps `node-gyp rebuild`, if someone runs it, a harmless no-op.
{
  "targets": []
}
