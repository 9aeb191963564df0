# The fault test, run by ctest: a rank that dies stops the whole job (within a bounded time,
# with a message naming it), and a restart resumes from the last checkpoint and ends with
# the weights of a run that never failed.
#   cmake -DLAUNCH=<mpirun;flags...> -DWORKER=<dist_fault_worker> -DWORK_DIR=<dir> -P fault_test.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run_job out_var rc_var)
  execute_process(COMMAND ${LAUNCH} ${WORKER} ${ARGN}
                  TIMEOUT 300 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc MATCHES "timeout")
    message(FATAL_ERROR "job '${ARGN}' hung (killed after 300 s):\n${out}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
endfunction()

# 1. A run that never fails.
run_job(out rc "${WORK_DIR}/clean.ckpt" 4 --save "${WORK_DIR}/clean.weights")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the clean run failed (${rc}):\n${out}")
endif()

# 2. Rank 1 calls abort() at step 5 of epoch 2: the job must stop, and say which rank died.
run_job(out rc "${WORK_DIR}/crash.ckpt" 4 --die-at 2)
message(STATUS "crashed run (exit ${rc}):\n${out}")
if(rc EQUAL 0)
  message(FATAL_ERROR "the job went on after rank 1 died")
endif()
if(NOT out MATCHES "rank 1 [^\n]*exited on signal 6")
  message(FATAL_ERROR "no message naming the dead rank")
endif()
if(NOT EXISTS "${WORK_DIR}/crash.ckpt")
  message(FATAL_ERROR "no checkpoint was left behind")
endif()

# 3. The restart resumes from the last checkpoint (written at the end of epoch 1) and reaches
#    the clean run's weights, to rounding: same batches, same operations, same momentum.
run_job(out rc "${WORK_DIR}/crash.ckpt" 4 --compare "${WORK_DIR}/clean.weights")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the restart failed (${rc}):\n${out}")
endif()
message(STATUS "restarted run:\n${out}")
if(NOT out MATCHES "resumed from [^\n]* at epoch 2\n")
  message(FATAL_ERROR "the restart did not resume from epoch 2")
endif()
if(NOT out MATCHES "same weights")
  message(FATAL_ERROR "the resumed run did not reach the clean run's weights")
endif()

# 4. An exception on one rank (instead of a crash) also stops every rank, with its text.
run_job(out rc "${WORK_DIR}/throw.ckpt" 4 --throw-at 1)
message(STATUS "run with an exception on rank 1 (exit ${rc}):\n${out}")
if(rc EQUAL 0)
  message(FATAL_ERROR "the job went on after rank 1 failed")
endif()
if(NOT out MATCHES "rank 1 of 2: training failed at epoch 1, step 5: simulated failure")
  message(FATAL_ERROR "no message naming the failed rank and its error")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
