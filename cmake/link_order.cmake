# bnstep_link_libraries_first(target library...): link bnstep's libraries
# whole, the engine first, ahead of the target's own objects.
#
# An inline function (Tensor::operator[], std::vector's) is compiled into
# every object that calls it out of line, and the linker keeps the first copy
# it meets. The target's objects come first on the link line, then the
# libraries in the order they are needed: the command line before the engine.
# Without this, the engine, built at -O2, would call the copies of code built
# at -O1 or -O0 (the command line, the tests), and a test binary whose own code
# is at -O0 would load lessons 2 to 3 times slower under the sanitizers.
function(bnstep_link_libraries_first target)
  set(archives)
  foreach(library IN ITEMS bnstep_engine ${ARGN} bnstep_fmt)
    get_target_property(type ${library} TYPE)
    if(type STREQUAL "STATIC_LIBRARY")
      list(APPEND archives $<TARGET_FILE:${library}>)
    endif()
  endforeach()
  target_link_options(${target} PRIVATE "LINKER:--whole-archive" ${archives} "LINKER:--no-whole-archive")
endfunction()
