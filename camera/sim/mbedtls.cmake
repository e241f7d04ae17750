# mbedTLS 3.6.6 as the device builds it: the Debian 13 source package (fetched and
# unpacked by scripts/fetch-source.sh), compiled as static libraries with the device
# configuration camera/sim/mbedtls_config/tm_mbedtls_config.h. As in MicroPython's
# own build, library/error.c is replaced by MicroPython's compact mbedtls_strerror
# (lib/mbedtls_errors/mp_mbedtls_errors.c): the "MBEDTLS_ERR_…" texts the device
# raises come from there.
#
# Targets: tm_mbedtls (DER only, OpenMV) and tm_mbedtls_pem (PEM compiled in).
# The variants differ only in MBEDTLS_PEM_PARSE_C/MBEDTLS_BASE64_C, so the sources
# that never test either (found here by looking, about 95 of 110) are compiled once
# and shared; the public headers test only MBEDTLS_PEM_WRITE_C, which is off in both.
tm_source_tree(mbedtls TM_MBEDTLS_SRC)
tm_source_tree(micropython TM_MICROPYTHON_SRC)
file(GLOB TM_MBEDTLS_LIB_SOURCES ${TM_MBEDTLS_SRC}/library/*.c)
list(REMOVE_ITEM TM_MBEDTLS_LIB_SOURCES ${TM_MBEDTLS_SRC}/library/error.c)
list(APPEND TM_MBEDTLS_LIB_SOURCES ${TM_MICROPYTHON_SRC}/lib/mbedtls_errors/mp_mbedtls_errors.c)
set(TM_MBEDTLS_SHARED_SOURCES)
set(TM_MBEDTLS_VARIANT_SOURCES)
foreach(src ${TM_MBEDTLS_LIB_SOURCES})
  file(STRINGS ${src} pem_lines REGEX "MBEDTLS_(PEM_PARSE|PEM_WRITE|BASE64)_C")
  if(pem_lines)
    list(APPEND TM_MBEDTLS_VARIANT_SOURCES ${src})
  else()
    list(APPEND TM_MBEDTLS_SHARED_SOURCES ${src})
  endif()
endforeach()

# mbedTLS is the same on every build of a machine, so its objects are kept in a
# compiler cache, ccache (keyed by the preprocessed source, the flags and the
# compiler), under TM_CACHE_DIR as the MicroPython port is (scripts/build-micropython.sh:
# default ${XDG_CACHE_HOME:-~/.cache}/tlsmatrix; TM_CACHE_DIR=off at configure time
# turns it off). A fresh clone then compiles it in seconds, not minutes. Paths are
# taken relative to the source tree (CCACHE_BASEDIR) so clones share entries (its debug
# info then names the build directory of the clone that compiled it first); without
# ccache installed nothing is cached. Our own code is not cached: its flags hold the
# clone's paths (TM_SOURCE_DIR...), so no two clones would share an entry.
set(TM_CACHE_DIR "$ENV{TM_CACHE_DIR}")
if(TM_CACHE_DIR STREQUAL "")
  if(NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
    set(TM_CACHE_DIR "$ENV{XDG_CACHE_HOME}/tlsmatrix")
  elseif(NOT "$ENV{HOME}" STREQUAL "")
    set(TM_CACHE_DIR "$ENV{HOME}/.cache/tlsmatrix")
  else()
    set(TM_CACHE_DIR off)
  endif()
endif()
find_program(TM_CCACHE ccache)
set(TM_MBEDTLS_LAUNCHER)
if(TM_CCACHE AND NOT TM_CACHE_DIR STREQUAL "off")
  set(TM_MBEDTLS_LAUNCHER ${CMAKE_COMMAND} -E env CCACHE_DIR=${TM_CACHE_DIR}/ccache
      CCACHE_BASEDIR=${CMAKE_SOURCE_DIR} CCACHE_NOHASHDIR=1 ${TM_CCACHE})
endif()

# Third-party code: none of our warning flags (it is not ours to fix), and in the
# fuzz tree no coverage hooks (no fuzz target reads through mbedTLS; its bignum and
# ECC loops would pay for them in every handshake of the sanitizer tests).
function(tm_mbedtls_flags target pem)
  target_compile_options(${target} PRIVATE -w)
  set_target_properties(${target} PROPERTIES C_COMPILER_LAUNCHER "${TM_MBEDTLS_LAUNCHER}")
  if(TM_FUZZ)
    target_compile_options(${target} PRIVATE -fno-sanitize=fuzzer-no-link)
  endif()
  target_include_directories(${target} PRIVATE ${TM_MBEDTLS_SRC}/library)
  target_include_directories(${target} SYSTEM PUBLIC ${TM_MBEDTLS_SRC}/include
                             ${CMAKE_SOURCE_DIR}/camera/sim/mbedtls_config)
  target_compile_definitions(${target} PUBLIC MBEDTLS_CONFIG_FILE="tm_mbedtls_config.h"
                             TM_MBEDTLS_PEM=${pem})
endfunction()
add_library(tm_mbedtls_shared OBJECT ${TM_MBEDTLS_SHARED_SOURCES})
tm_mbedtls_flags(tm_mbedtls_shared 0)
foreach(variant tm_mbedtls:0 tm_mbedtls_pem:1)
  string(REPLACE ":" ";" v ${variant})
  list(GET v 0 name)
  list(GET v 1 pem)
  add_library(${name} STATIC ${TM_MBEDTLS_VARIANT_SOURCES} $<TARGET_OBJECTS:tm_mbedtls_shared>)
  tm_mbedtls_flags(${name} ${pem})
endforeach()
