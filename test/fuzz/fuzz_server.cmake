# fuzz_server: the inference server's request handling (Server::handle), built like the
# other libFuzzer targets; included from CMakeLists.txt when the fuzzers are built.
if(TARGET edgestack::serve)
  add_executable(fuzz_server fuzz_server.cpp)
  target_compile_options(fuzz_server PRIVATE -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(fuzz_server PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_server PRIVATE edgestack::edgestack edgestack::serve)
else()
  message(FATAL_ERROR "test/fuzz: fuzz_server needs edgestack::serve (Boost, nlohmann-json, OpenSSL)")
endif()
