# cmake -P script: install into WORK_DIR/prefix, build CONSUMER_DIR against it, run it.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${step} failed (${rc}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/share/cmake/edgestack/edgestackConfig.cmake OR
   NOT EXISTS ${prefix}/share/cmake/edgestack/edgestackConfigVersion.cmake OR
   NOT EXISTS ${prefix}/include/edgestack/pipeline.hpp)
  message(FATAL_ERROR "install: config files or headers missing under ${prefix}")
endif()
run("configure consumer" ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build
    -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
run("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("run consumer" ${WORK_DIR}/build/consumer)
set(consumer_output "${last_output}")

# A component that was not built must be refused by find_package, with its name.
file(WRITE ${WORK_DIR}/missing/CMakeLists.txt
  "cmake_minimum_required(VERSION 3.25)\nproject(m LANGUAGES CXX)\n"
  "find_package(edgestack CONFIG REQUIRED COMPONENTS no_such_part)\n")
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/missing -B ${WORK_DIR}/missing/build
                -DCMAKE_PREFIX_PATH=${prefix} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "no_such_part")
  message(FATAL_ERROR "find_package accepted a component that does not exist:\n${out}${err}")
endif()

# The core alone: every optional dependency hidden, the quickstart still configures and builds.
set(_hidden "")
foreach(_p TBB ZLIB OpenSSL ONNX Protobuf SQLite3 Boost nlohmann_json MPI)
  list(APPEND _hidden -DCMAKE_DISABLE_FIND_PACKAGE_${_p}=TRUE)
endforeach()
run("configure core-only consumer" ${CMAKE_COMMAND} -S ${CORE_CONSUMER_DIR} -B ${WORK_DIR}/core
    -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
    -DQUICKSTART_SOURCE=${QUICKSTART_SOURCE} ${_hidden})
run("build core-only consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/core)

# A requested component whose dependency is missing: refused, naming the Debian package.
file(WRITE ${WORK_DIR}/nodep/CMakeLists.txt
  "cmake_minimum_required(VERSION 3.25)\nproject(m LANGUAGES CXX)\n"
  "find_package(edgestack CONFIG REQUIRED COMPONENTS sqlite)\n")
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/nodep -B ${WORK_DIR}/nodep/build
                -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=TRUE
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "libsqlite3-dev")
  message(FATAL_ERROR "a component with a missing dependency was not refused by name:\n${out}${err}")
endif()
# The same component asked for as optional: configure goes on, the component is not found.
file(WRITE ${WORK_DIR}/optdep/CMakeLists.txt
  "cmake_minimum_required(VERSION 3.25)\nproject(m LANGUAGES CXX)\n"
  "find_package(edgestack CONFIG REQUIRED OPTIONAL_COMPONENTS sqlite)\n"
  "if(edgestack_sqlite_FOUND OR TARGET edgestack::sqlite)\n  message(FATAL_ERROR \"sqlite found\")\nendif()\n")
run("configure optional-component consumer" ${CMAKE_COMMAND} -S ${WORK_DIR}/optdep
    -B ${WORK_DIR}/optdep/build -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=TRUE)

# Printed last, so the test's pass pattern appears only when every step above succeeded.
message("consumer says: ${consumer_output}")
