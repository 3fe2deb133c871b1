# What `cmake --install` and the Debian package (`cpack -G DEB`) put where:
# the binary, its manual page and shell completions (generated at build time
# by the binary itself, from the same command table as --help), the lessons'
# JSON Schema, the lessons as files, and the documentation.
include(GNUInstallDirs)

set(BNSTEP_SHARE ${PROJECT_BINARY_DIR}/share)
find_program(BNSTEP_GZIP gzip)
set(BNSTEP_MAN_PAGE ${BNSTEP_SHARE}/man/man1/bnstep.1)
if(BNSTEP_GZIP)
  set(BNSTEP_MAN_INSTALLED ${BNSTEP_MAN_PAGE}.gz)
else()
  set(BNSTEP_MAN_INSTALLED ${BNSTEP_MAN_PAGE})
endif()
set(BNSTEP_BASH_COMPLETION ${BNSTEP_SHARE}/bash-completion/completions/bnstep)
set(BNSTEP_ZSH_COMPLETION ${BNSTEP_SHARE}/zsh/_bnstep)
set(BNSTEP_FISH_COMPLETION ${BNSTEP_SHARE}/fish/vendor_completions.d/bnstep.fish)

function(bnstep_generate out args)
  get_filename_component(dir ${out} DIRECTORY)
  file(RELATIVE_PATH name ${PROJECT_BINARY_DIR} ${out})
  set(byproducts ${out})
  set(gzip "")
  if(ARGN)
    set(gzip ${BNSTEP_GZIP})
    list(APPEND byproducts ${out}.gz)
  endif()
  add_custom_command(
    OUTPUT ${byproducts}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
    COMMAND ${CMAKE_COMMAND} -DBNSTEP=$<TARGET_FILE:bnstep> "-DARGS=${args}" -DOUT=${out} -DGZIP=${gzip}
            -P ${PROJECT_SOURCE_DIR}/cmake/bnstep_output.cmake
    DEPENDS bnstep ${PROJECT_SOURCE_DIR}/cmake/bnstep_output.cmake
    COMMENT "Writing the file ${name}"
    VERBATIM)
endfunction()

if(BNSTEP_GZIP)
  bnstep_generate(${BNSTEP_MAN_PAGE} man GZIP)
else()
  bnstep_generate(${BNSTEP_MAN_PAGE} man)
endif()
bnstep_generate(${BNSTEP_BASH_COMPLETION} "completions|bash")
bnstep_generate(${BNSTEP_ZSH_COMPLETION} "completions|zsh")
bnstep_generate(${BNSTEP_FISH_COMPLETION} "completions|fish")
add_custom_target(bnstep_docs ALL
  DEPENDS ${BNSTEP_MAN_INSTALLED} ${BNSTEP_BASH_COMPLETION} ${BNSTEP_ZSH_COMPLETION} ${BNSTEP_FISH_COMPLETION})

install(TARGETS bnstep RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${BNSTEP_MAN_INSTALLED} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${BNSTEP_BASH_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${BNSTEP_FISH_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)
# zsh reads share/zsh/vendor-completions under /usr (Debian's zsh) and
# share/zsh/site-functions under any other prefix; the choice is made when
# installing, so the package (installed under /usr) and `cmake --install`
# (under /usr/local) each put it where their zsh looks. BNSTEP_ZSH_COMPLETION_DIR
# (relative to the prefix) overrides it, e.g. share/zsh/site-functions for a
# distribution whose zsh reads that under /usr.
set(BNSTEP_ZSH_COMPLETION_DIR "" CACHE STRING "Where zsh's completion goes, relative to the prefix (default: by prefix)")
install(CODE "
  set(bnstep_zsh_dir \"${BNSTEP_ZSH_COMPLETION_DIR}\")
  if(NOT bnstep_zsh_dir)
    string(REGEX REPLACE \"/+$\" \"\" bnstep_prefix \"\${CMAKE_INSTALL_PREFIX}\")
    set(bnstep_zsh_dir ${CMAKE_INSTALL_DATADIR}/zsh/site-functions)
    if(bnstep_prefix STREQUAL \"/usr\")
      set(bnstep_zsh_dir ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
    endif()
  endif()
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/\${bnstep_zsh_dir}\"
       TYPE FILE FILES \"${BNSTEP_ZSH_COMPLETION}\")")

file(GLOB BNSTEP_LESSON_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/lessons/*.json)
list(FILTER BNSTEP_LESSON_FILES EXCLUDE REGEX "\\.schema\\.json$")
# The schema beside the lessons, as in the repository: their "$schema" names it so.
install(FILES ${PROJECT_SOURCE_DIR}/lessons/lesson.schema.json ${BNSTEP_LESSON_FILES}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bnstep/lessons)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The Debian package: `cpack -G DEB` in the build directory. A dynamic build
# (-DBNSTEP_STATIC=OFF) gets its libraries' packages from dpkg-shlibdeps
# (dpkg-dev). libzip, which export and compare load for .npz files, is named
# by hand: dpkg-shlibdeps cannot see a library loaded with dlopen. The static
# build loads it through the C library it was linked with, so it also needs
# that glibc release at run time.
set(CPACK_PACKAGE_NAME bnstep)
set(CPACK_PACKAGE_VENDOR "the bnstep developers")
set(CPACK_PACKAGE_CONTACT "the bnstep developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "backpropagation by hand, one node at a time")
# Debian wants the long description in lines of at most 80 characters.
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "bnstep loads a lesson (a small computational graph: batch normalization in\n"
    "its steps, convolution layers, the layers of compressed networks) and prints,\n"
    "node by node, the forward value, the local gradient, the upstream and the\n"
    "downstream gradient, with the arithmetic shown. It checks every gradient\n"
    "against finite differences, quizzes the student, writes worksheets and draws\n"
    "the graph.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION education)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
find_program(BNSTEP_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(BNSTEP_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
elseif(NOT BNSTEP_LINK_STATIC)
  message(STATUS "bnstep: dpkg-shlibdeps (dpkg-dev) is missing: a dynamic build's package would name no dependency")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${BNSTEP_LIBZIP_PACKAGE}")
if(BNSTEP_LIBGVC_PACKAGE)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "${CPACK_DEBIAN_PACKAGE_DEPENDS}, ${BNSTEP_LIBGVC_PACKAGE}")
endif()
if(BNSTEP_LINK_STATIC)
  execute_process(COMMAND getconf GNU_LIBC_VERSION OUTPUT_VARIABLE BNSTEP_GLIBC OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(BNSTEP_GLIBC MATCHES "^glibc ([0-9]+)\\.([0-9]+)")
    math(EXPR BNSTEP_GLIBC_NEXT "${CMAKE_MATCH_2} + 1")
    string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS
           ", libc6 (>= ${CMAKE_MATCH_1}.${CMAKE_MATCH_2}), libc6 (<< ${CMAKE_MATCH_1}.${BNSTEP_GLIBC_NEXT})")
  endif()
endif()
set(CPACK_STRIP_FILES ON)
include(CPack)
