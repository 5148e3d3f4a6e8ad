# Writes the version header with the git revision of the tree being built (run at every build
# by the deeprfm_version target, so results files and benchmark reports never carry a stale
# revision). "-dirty" marks uncommitted changes to tracked files. configure_file rewrites the
# header only when its text changes, so an unchanged revision triggers no recompilation.
# Inputs: SOURCE_DIR, INPUT (version.hpp.in), OUTPUT, PROJECT_VERSION.
execute_process(COMMAND git rev-parse --short=12 HEAD
                WORKING_DIRECTORY "${SOURCE_DIR}"
                OUTPUT_VARIABLE DEEPRFM_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE rev_status ERROR_QUIET)
if(NOT rev_status EQUAL 0 OR NOT DEEPRFM_GIT_REVISION)
  set(DEEPRFM_GIT_REVISION "unknown")
else()
  execute_process(COMMAND git diff --quiet HEAD --
                  WORKING_DIRECTORY "${SOURCE_DIR}" RESULT_VARIABLE dirty ERROR_QUIET)
  if(dirty EQUAL 1)
    string(APPEND DEEPRFM_GIT_REVISION "-dirty")
  endif()
endif()
configure_file("${INPUT}" "${OUTPUT}" @ONLY)
