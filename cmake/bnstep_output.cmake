# Writes OUT from what `BNSTEP ARGS` prints (ARGS separated by '|'), and, with
# GZIP set, OUT.gz beside it compressed as Debian wants manual pages (-9n:
# best, without a time stamp). Used for the manual page and the completions.
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND "${BNSTEP}" ${ARGS} OUTPUT_FILE "${OUT}" RESULT_VARIABLE failed)
if(failed)
  file(REMOVE "${OUT}")
  message(FATAL_ERROR "bnstep ${ARGS} failed: ${failed}")
endif()
if(GZIP)
  execute_process(COMMAND "${GZIP}" -9nc "${OUT}" OUTPUT_FILE "${OUT}.gz" RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "${GZIP} ${OUT} failed: ${failed}")
  endif()
endif()
