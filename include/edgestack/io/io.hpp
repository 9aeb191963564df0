// Umbrella header of the io stage (model files and ONNX, stage 3 -> deploy): includes what
// the linked components allow - the deployment file with edgestack::crypto, ONNX export and
// import with edgestack::onnx.
#pragma once

#if defined(EDGESTACK_HAS_CRYPTO)
#include "edgestack/io/model_file.hpp"
#endif
#if defined(EDGESTACK_HAS_ONNX)
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/io/onnx_graph_import.hpp"
#include "edgestack/io/onnx_import.hpp"
#endif
