// ONNX Runtime from the io tests: runs an exported model through onnxruntime-node (found in
// the CMake cache variable EDGESTACK_ORT_NODE_DIR) and returns its output.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "io_util.hpp"

namespace iotest {

inline std::string ort_dir() { return EDGESTACK_ORT_NODE_DIR; }

inline bool ort_available() {
    return !ort_dir().empty() &&
           std::filesystem::exists(std::filesystem::path(ort_dir()) / "node_modules" / "onnxruntime-node");
}

/// A Boost.Test precondition: skip (with the reason printed) when ONNX Runtime is missing.
/// A complete build (EDGESTACK_REQUIRE_COMPLETE, as in CI) never skips: its configure step
/// already required ONNX Runtime, and a precondition that still fails makes the test fail.
struct OrtPresent {
    boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
        boost::test_tools::assertion_result r(ort_available());
        if (!r)
            r.message() << "ONNX Runtime not found: set the CMake cache variable EDGESTACK_ORT_NODE_DIR "
                           "to a folder holding node_modules/onnxruntime-node (npm install "
                           "--ignore-scripts onnxruntime-node@1.30.0); currently '"
                        << ort_dir() << "'";
        return r;
    }
};

/// Run `model` on `batch` samples of per-sample shape `dims` (NHWC); returns the output.
/// `level` is ORT's graph optimisation level: "basic" runs QuantizeLinear/DequantizeLinear
/// as the ONNX operators define them; "all" fuses QDQ groups into ORT's int8 kernels.
inline std::vector<float> ort_run(const std::string& model, const std::vector<float>& input,
                                  std::size_t batch, const std::vector<std::size_t>& dims,
                                  const TempDir& dir, const std::string& level = "all") {
    const auto in = dir.file("ort_in.f32"), out = dir.file("ort_out.f32"), log = dir.file("ort.log");
    std::vector<char> b(input.size() * 4);
    std::memcpy(b.data(), input.data(), b.size());
    write_bytes(in, b);
    std::string shape = std::to_string(batch);
    for (auto d : dims) shape.append(",").append(std::to_string(d));
    const std::string cmd = std::string("NODE_PATH='") + ort_dir() + "/node_modules' node '" +
                            std::string(EDGESTACK_IO_TEST_DIR) + "/ort_run.js' '" + model + "' '" + in +
                            "' " + shape + " '" + out + "' " + level + " > '" + log + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
        const auto l = read_bytes(log);
        throw std::runtime_error("onnxruntime failed: " + std::string(l.begin(), l.end()));
    }
    const auto r = read_bytes(out);
    std::vector<float> y(r.size() / 4);
    std::memcpy(y.data(), r.data(), y.size() * 4);
    return y;
}

} // namespace iotest
