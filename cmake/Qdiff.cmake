# Uniform flags for every qdiff target: warnings (as errors), sanitizers, include root.
set(QDIFF_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wimplicit-fallthrough)
if(QDIFF_WERROR)
  list(APPEND QDIFF_WARNINGS -Werror)
endif()
# Numerics must not be reordered or contracted (float results are compared to other engines).
set(QDIFF_FLOAT_FLAGS -ffp-contract=off -fno-fast-math)
set(QDIFF_SANITIZER_FLAGS)
if(QDIFF_SANITIZE)
  # GCC 12's -Wmaybe-uninitialized gives false positives inside libstdc++ (std::regex,
  # std::function) when ASan instrumentation meets -O2.
  set(QDIFF_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-maybe-uninitialized)
endif()

function(qdiff_target_flags target)
  target_compile_options(${target} PRIVATE ${QDIFF_WARNINGS} ${QDIFF_FLOAT_FLAGS} ${QDIFF_SANITIZER_FLAGS})
  target_link_options(${target} PRIVATE ${QDIFF_SANITIZER_FLAGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
endfunction()

# qdiff_add_library(NAME DEPS ...): one folder = one library; sources are the folder's *.cc
# (recursively) except *_test.cc. Tests beside them become qdiff_NAME_test.
function(qdiff_add_library name)
  cmake_parse_arguments(ARG "" "" "DEPS;EXTRA_SOURCES" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_test\\.cc$")
  add_library(qdiff_${name} STATIC ${srcs} ${ARG_EXTRA_SOURCES})
  qdiff_target_flags(qdiff_${name})
  target_link_libraries(qdiff_${name} PUBLIC ${ARG_DEPS})
  if(QDIFF_BUILD_TESTS)
    file(GLOB_RECURSE tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
    if(tests)
      add_executable(qdiff_${name}_test ${tests})
      qdiff_target_flags(qdiff_${name}_test)
      target_link_libraries(qdiff_${name}_test PRIVATE qdiff_${name} qdiff_testing GTest::gtest_main)
      target_compile_definitions(qdiff_${name}_test PRIVATE QDIFF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
      add_test(NAME ${name} COMMAND qdiff_${name}_test --gtest_brief=1)
      set_tests_properties(${name} PROPERTIES LABELS unit)
    endif()
  endif()
endfunction()
