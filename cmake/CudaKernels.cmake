# CUDA kernels are compiled by calling nvcc directly on the .cu files (which
# include only CUDA headers and our own math headers, never ATen), so no
# CUDA toolkit discovery by CMake is needed. nvcc comes from $CUDACXX, PATH,
# $CUDA_HOME, or the nvidia-cuda-nvcc wheel beside the torch wheel.
set(SPO_CUDA_ENABLED OFF)
set(SPO_NVCC_FOUND OFF)
set(_hints "")
if(DEFINED ENV{CUDA_HOME})
  list(APPEND _hints "$ENV{CUDA_HOME}/bin")
endif()
file(GLOB _wheel_bins "${SPO_TORCH_ROOT}/../nvidia/cu*/bin" "${SPO_TORCH_ROOT}/../nvidia/cuda_nvcc/bin")
list(APPEND _hints ${_wheel_bins})
if(DEFINED ENV{CUDACXX})
  set(SPO_NVCC "$ENV{CUDACXX}")
else()
  find_program(SPO_NVCC nvcc HINTS ${_hints})
endif()
if(SPO_NVCC AND EXISTS "${SPO_NVCC}")
  set(SPO_NVCC_FOUND ON)
  get_filename_component(_nvcc_bin "${SPO_NVCC}" DIRECTORY)
  get_filename_component(SPO_CUDA_ROOT "${_nvcc_bin}/.." ABSOLUTE)
  set(SPO_CUDA_INCLUDE_DIR "${SPO_CUDA_ROOT}/include")
  find_library(SPO_CUDART_LIBRARY NAMES cudart libcudart.so.13 libcudart.so.12
               PATHS "${SPO_CUDA_ROOT}/lib" "${SPO_CUDA_ROOT}/lib64" NO_DEFAULT_PATH)
  if(SPO_WITH_CUDA AND SPO_TORCH_HAS_CUDA AND SPO_CUDART_LIBRARY)
    set(SPO_CUDA_ENABLED ON)
    # The CUDA runtime sits beside the torch wheel: find it through the
    # package-local libtorch link too, so a relocated prebuild still loads.
    get_filename_component(_cudart_dir "${SPO_CUDART_LIBRARY}" DIRECTORY)
    file(RELATIVE_PATH _rel "${SPO_TORCH_ROOT}" "${_cudart_dir}")
    list(APPEND SPO_RUNTIME_RPATH "\$ORIGIN/../../.libtorch/${_rel}" "${_cudart_dir}")
  endif()
endif()
set(SPO_CUDA_ARCHS "80;90" CACHE STRING "CUDA SM architectures to build (PTX of the last is embedded too)")
message(STATUS "spo: nvcc=${SPO_NVCC_FOUND} (${SPO_NVCC}); CUDA kernels linked: ${SPO_CUDA_ENABLED}")

# spo_add_cuda_objects(<out-var> <files...>): compile each .cu to an object.
function(spo_add_cuda_objects out_var)
  set(_objs "")
  set(_gencode "")
  foreach(_a ${SPO_CUDA_ARCHS})
    list(APPEND _gencode "-gencode=arch=compute_${_a},code=sm_${_a}")
    set(_last ${_a})
  endforeach()
  list(APPEND _gencode "-gencode=arch=compute_${_last},code=compute_${_last}")
  foreach(_cu ${ARGN})
    get_filename_component(_name "${_cu}" NAME_WE)
    set(_obj "${CMAKE_CURRENT_BINARY_DIR}/cuda/${_name}.o")
    add_custom_command(
      OUTPUT "${_obj}"
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/cuda"
      COMMAND "${SPO_NVCC}" -c "${_cu}" -o "${_obj}" -O3 -std=c++17 ${_gencode}
              -Xcompiler=-fPIC -I "${PROJECT_SOURCE_DIR}/native/core"
              -ccbin "${CMAKE_CXX_COMPILER}"
      DEPENDS "${_cu}" ${SPO_CUDA_HEADERS}
      COMMENT "nvcc ${_name}.cu"
      VERBATIM)
    list(APPEND _objs "${_obj}")
  endforeach()
  set(${out_var} ${_objs} PARENT_SCOPE)
endfunction()
