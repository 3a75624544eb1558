# Locates libtorch without find_package(Torch): a CUDA build's TorchConfig
# insists on a full CUDA toolkit at configure time, which a CPU machine lacks.
# Sources, in order: -DSPO_TORCH_ROOT, $LIBTORCH, $Torch_DIR (.../share/cmake/Torch).
set(_root "${SPO_TORCH_ROOT}")
if(NOT _root AND DEFINED ENV{LIBTORCH})
  set(_root "$ENV{LIBTORCH}")
endif()
if(NOT _root AND DEFINED ENV{Torch_DIR})
  get_filename_component(_root "$ENV{Torch_DIR}/../../.." ABSOLUTE)
endif()
if(NOT _root OR NOT EXISTS "${_root}/include/ATen/ATen.h")
  message(FATAL_ERROR "libtorch not found (looked at '${_root}'). Run scripts/bootstrap.sh, "
                      "or set LIBTORCH to a libtorch root (it holds include/ and lib/) "
                      "or Torch_DIR to its share/cmake/Torch.")
endif()
get_filename_component(SPO_TORCH_ROOT "${_root}" REALPATH)
set(SPO_TORCH_ROOT "${SPO_TORCH_ROOT}" CACHE PATH "libtorch root" FORCE)
set(SPO_TORCH_LIB_DIR "${SPO_TORCH_ROOT}/lib")

foreach(_lib c10 torch_cpu)
  find_library(SPO_${_lib}_LIBRARY ${_lib} PATHS "${SPO_TORCH_LIB_DIR}" NO_DEFAULT_PATH REQUIRED)
endforeach()
find_library(SPO_torch_cuda_LIBRARY torch_cuda PATHS "${SPO_TORCH_LIB_DIR}" NO_DEFAULT_PATH)
find_library(SPO_c10_cuda_LIBRARY c10_cuda PATHS "${SPO_TORCH_LIB_DIR}" NO_DEFAULT_PATH)
if(SPO_torch_cuda_LIBRARY AND SPO_c10_cuda_LIBRARY)
  set(SPO_TORCH_HAS_CUDA ON)
else()
  set(SPO_TORCH_HAS_CUDA OFF)
endif()

add_library(spo_torch INTERFACE)
add_library(spo::torch ALIAS spo_torch)
target_include_directories(spo_torch SYSTEM INTERFACE
  "${SPO_TORCH_ROOT}/include" "${SPO_TORCH_ROOT}/include/torch/csrc/api/include")
target_link_libraries(spo_torch INTERFACE ${SPO_c10_LIBRARY} ${SPO_torch_cpu_LIBRARY})
# Old pre-C++11-ABI libtorch builds announce themselves in TorchConfig.cmake.
set(_cfg "${SPO_TORCH_ROOT}/share/cmake/Torch/TorchConfig.cmake")
if(EXISTS "${_cfg}")
  file(READ "${_cfg}" _cfg_text)
  if(_cfg_text MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
    target_compile_definitions(spo_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=0)
  endif()
endif()
find_package(Threads REQUIRED)
target_link_libraries(spo_torch INTERFACE Threads::Threads)

# Runtime search path: the package-local link (.libtorch, made by the
# bootstrap or the installer) first, so a prebuilt binary finds the user's
# libtorch; then the libtorch this build used.
set(SPO_RUNTIME_RPATH "\$ORIGIN/../../.libtorch/lib;${SPO_TORCH_LIB_DIR}")
message(STATUS "spo: libtorch at ${SPO_TORCH_ROOT} (CUDA libraries: ${SPO_TORCH_HAS_CUDA})")
