# Conan 2 recipe for edgestack: a header-only package whose optional parts are components,
# so a consumer links only what it asks for (edgestack::tbb, edgestack::xnnpack, ...).
import os

from conan import ConanFile
from conan.tools.files import copy
from conan.tools.layout import basic_layout


class EdgestackConan(ConanFile):
    name = "edgestack"
    version = "0.1.0"
    description = "Header-only C++20 toolkit for the edge-AI path: data, training, " \
                  "quantization, compilation, inference engines, deployment, monitoring"
    license = "MIT"
    topics = ("machine-learning", "edge", "quantization", "inference", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    no_copy_source = True

    def export_sources(self):
        root = os.path.join(self.recipe_folder, "..")
        copy(self, "include/*", src=root, dst=self.export_sources_folder)
        copy(self, "LICENSE*", src=root, dst=self.export_sources_folder)

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        self.requires("eigen/3.4.0")
        self.requires("xtensor/0.24.3")
        self.requires("xsimd/8.1.0")
        self.requires("onetbb/2021.10.0")
        self.requires("xnnpack/cci.20220801")
        self.requires("zlib/1.3.1")
        self.requires("libpng/1.6.43")
        self.requires("libjpeg-turbo/3.0.2")
        self.requires("openssl/3.2.2")
        self.requires("onnx/1.14.1")
        self.requires("sqlite3/3.45.0")
        self.requires("boost/1.84.0")
        self.requires("nlohmann_json/3.11.3")
        self.requires("kissfft/131.1.0")
        self.requires("libsndfile/1.2.2")

    def validate(self):
        from conan.tools.build import check_min_cppstd
        check_min_cppstd(self, 20)

    def package(self):
        copy(self, "*.hpp", src=os.path.join(self.source_folder, "include"),
             dst=os.path.join(self.package_folder, "include"))
        # The Simd kernels' per-instruction-set bodies, included several times by one header.
        copy(self, "*.inc", src=os.path.join(self.source_folder, "include"),
             dst=os.path.join(self.package_folder, "include"))
        copy(self, "LICENSE*", src=self.source_folder,
             dst=os.path.join(self.package_folder, "licenses"))

    def package_id(self):
        self.info.clear()

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "edgestack")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        def component(name, target, requires, define=None):
            c = self.cpp_info.components[name]
            c.set_property("cmake_target_name", target)
            c.requires = requires
            c.bindirs = []
            c.libdirs = []
            if define:
                c.defines = [define]
            return c

        core = component("core", "edgestack::edgestack",
                         ["eigen::eigen", "xtensor::xtensor", "xsimd::xsimd"])
        core.defines = ["XTENSOR_USE_XSIMD"]
        component("tbb", "edgestack::tbb", ["core", "onetbb::onetbb"], "EDGESTACK_HAS_TBB=1")
        component("gzip", "edgestack::gzip", ["core", "zlib::zlib"], "EDGESTACK_HAS_GZIP=1")
        component("png", "edgestack::png", ["core", "libpng::libpng"], "EDGESTACK_HAS_PNG=1")
        component("jpeg", "edgestack::jpeg", ["core", "libjpeg-turbo::jpeg"], "EDGESTACK_HAS_JPEG=1")
        component("xnnpack", "edgestack::xnnpack", ["core", "xnnpack::xnnpack"],
                  "EDGESTACK_HAS_XNNPACK=1")
        component("crypto", "edgestack::crypto", ["core", "openssl::crypto"],
                  "EDGESTACK_HAS_CRYPTO=1")
        onnx = component("onnx", "edgestack::onnx", ["core", "onnx::onnx"], "EDGESTACK_HAS_ONNX=1")
        onnx.defines += ["ONNX_ML=1", "ONNX_NAMESPACE=onnx"]
        component("sqlite", "edgestack::sqlite", ["core", "sqlite3::sqlite3"],
                  "EDGESTACK_HAS_SQLITE=1")
        component("audio", "edgestack::audio", ["core", "kissfft::kissfft", "libsndfile::sndfile"],
                  "EDGESTACK_HAS_AUDIO=1")
        component("serve", "edgestack::serve",
                  ["core", "boost::headers", "nlohmann_json::nlohmann_json", "openssl::ssl",
                   "openssl::crypto"], "EDGESTACK_HAS_SERVE=1")
