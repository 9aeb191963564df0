// Writes the seed corpora of the fuzz targets (test/fuzz/corpus/<target>/): a few small,
// valid files of each format, so that fuzzing starts from inputs that pass the first checks.
//   make_seeds <corpus dir>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "edgestack/data/clean.hpp"
#include "edgestack/deploy/registry.hpp"
#include "edgestack/io/model_file.hpp"
#include "edgestack/monitor/drift.hpp"
#include "edgestack/io/onnx_export.hpp"
#include "edgestack/train/checkpoint.hpp"

namespace fs = std::filesystem;
using namespace edgestack;

static void write(const fs::path& p, const std::string& s) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << s;
}

static compile::Graph tiny(bool int8) {
    auto g = compile::Graph::with_input({4, 4, 1});
    compile::Node conv;
    conv.op = compile::Op::conv2d;
    conv.name = "conv2d_0";
    conv.kernel = {3, 3};
    conv.pad = {1, 1, 1, 1};
    conv.weights.assign(2 * 9, 0.25f);
    conv.bias = {0.1f, -0.1f};
    int v = g.append(conv, {0}, {4, 4, 2});
    compile::Node pool;
    pool.op = compile::Op::max_pool2d;
    pool.name = "max_pool2d_0";
    pool.kernel = pool.stride = {2, 2};
    v = g.append(pool, {v}, {2, 2, 2});
    compile::Node flat;
    flat.op = compile::Op::flatten;
    flat.name = "flatten_0";
    v = g.append(flat, {v}, {8});
    compile::Node dense;
    dense.op = compile::Op::dense;
    dense.name = "dense_0";
    dense.weights.assign(3 * 8, -0.5f);
    dense.bias = {1, 2, 3};
    g.append(dense, {v}, {3});
    if (int8) {
        g.value_quant.assign(g.values.size(), {{0.05f}, {-3}, -1});
        for (auto& n : g.nodes) {
            if (n.weights.empty()) continue;
            n.qweights.assign(n.weights.size(), 42);
            n.qbias.assign(n.bias.size(), 7);
            n.weight_quant = {std::vector<float>(n.bias.size(), 0.01f), std::vector<std::int32_t>(n.bias.size(), 0), 0};
        }
    }
    return g;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds <corpus dir>\n");
        return 2;
    }
    const fs::path dir = argv[1];
    fs::create_directories(dir / "model_file");
    io::save_model((dir / "model_file/fp32.esm").string(), tiny(false));
    io::save_model((dir / "model_file/int8.esm").string(), tiny(true));

    fs::create_directories(dir / "onnx_import");
    io::export_onnx((dir / "onnx_import/tiny_fp32.onnx").string(), tiny(false));
    io::export_onnx((dir / "onnx_import/tiny_qdq.onnx").string(), tiny(true));

    train::CheckpointInfo c;
    c.fingerprint = 0x1234;
    c.architecture = "Input 4 | Dense<2> 2 p10";
    c.parameters = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    c.state = {0.5f, 1.5f};
    c.progress.epoch = 3;
    c.progress.seed = 42;
    const auto ck = train::detail::encode_checkpoint(c);
    write(dir / "checkpoint/small.ckpt", std::string(ck.begin(), ck.end()));

    // IDX: 2 images of 3x3 and 2 labels.
    std::string img{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3};
    for (int i = 0; i < 18; ++i) img += static_cast<char>(i * 13);
    write(dir / "idx/images.idx3", img);
    write(dir / "idx/labels.idx1", std::string{0, 0, 8, 1, 0, 0, 0, 2, 1, 7});

    // NPY version 1.0: float32 2x3 and uint8 4.
    auto npy = [](const std::string& descr, const std::string& shape, const std::string& body) {
        std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
        while ((10 + h.size() + 1) % 64 != 0) h += ' ';
        h += '\n';
        std::string s = "\x93NUMPY";
        s += '\x01';
        s += '\x00';
        s += static_cast<char>(h.size() & 0xff);
        s += static_cast<char>(h.size() >> 8);
        return s + h + body;
    };
    std::string f32(24, '\0');
    for (int i = 0; i < 6; ++i) {
        const float v = 0.5f * static_cast<float>(i);
        std::memcpy(f32.data() + 4 * i, &v, 4);
    }
    write(dir / "npy/f32.npy", npy("<f4", "(2, 3)", f32));
    write(dir / "npy/u1.npy", npy("|u1", "(4,)", std::string{1, 2, 3, 4}));

    write(dir / "csv/labelled.csv", "a,b,label\n1.5,2,cat\n3,NA,dog\n\"4\",5e-1,cat\n");
    write(dir / "csv/plain.csv", "x;y\n1;2\n");

    // Training histories: HistoryWriter's JSON Lines, and a Keras CSVLogger file.
    write(dir / "history/writer.jsonl",
          "{\"epoch\":0,\"epochs\":2,\"loss\":0.68,\"accuracy\":0.76,\"val_loss\":null,"
          "\"val_accuracy\":null,\"learning_rate\":0.001,\"samples\":6000,\"seconds\":2.8}\n"
          "{\"epoch\":1,\"loss\":0.41,\"note\":\"x\",\"best\":true}\n");
    write(dir / "history/keras.csv", "epoch,accuracy,loss,lr,val_accuracy,val_loss\r\n"
                                     "0,0.8125,0.5,0.001,0.84375,0.4375\r\n1,0.875,,0.001,nan,0.3125\r\n");

    // Netpbm: every kind, 8- and 16-bit.
    write(dir / "pnm/p2.pgm", "P2\n# a comment\n3 2\n255\n0 1 2\n250 251 255\n");
    write(dir / "pnm/p3.ppm", "P3 2 1 15 0 1 2 13 14 15\n");
    write(dir / "pnm/p5.pgm", std::string("P5 2 2 255\n") + std::string{1, 2, 3, 4});
    write(dir / "pnm/p6_16bit.ppm", std::string("P6 1 1 65535\n") + std::string{1, 2, 3, 4, 5, 6});

    // Cleaning states of the two policy lists fuzz_clean.cpp loads.
    data::Table t;
    t.columns = {"a", "b", "c"};
    t.values = {1, 2, 3, 4, NAN, 6, 7, 8, 90, 1, 2, 3, -5, 2, 1};
    t.labels = {0, 1, 1, 0, 2};
    {
        data::Table u = t;
        data::Cleaner<data::ImputeMedian, data::IqrClip, data::ZScoreClip, data::DropOutliers,
                      data::DropBadLabels, data::DropNonFinite, data::DropDuplicates,
                      data::MinMaxScale, data::Standardize> c;
        c.fit(u);
        const auto b = c.serialize();
        write(dir / "clean/rows.bin", std::string(b.begin(), b.end()));
    }
    {
        data::Table u = t;
        data::Cleaner<data::ForwardFill, data::ImputeConstant, data::ImputeMean> c;
        c.fit(u);
        const auto b = c.serialize();
        write(dir / "clean/series.bin", std::string(b.begin(), b.end()));
    }

    // A drift reference of 3 features and 4 classes.
    std::vector<float> x, y;
    for (int i = 0; i < 40; ++i) {
        for (int f = 0; f < 3; ++f) x.push_back(static_cast<float>((i * 7 + f * 3) % 11) * 0.1f);
        for (int k = 0; k < 4; ++k) y.push_back(static_cast<float>((i + k) % 4));
    }
    write(dir / "drift_reference/small.json", monitor::ReferenceSample::build(x, y, 40, 4).to_json());

    // A registry manifest and a serving pointer.
    deploy::Manifest m;
    m.name = "fashion";
    m.version = 3;
    m.created = "2024-01-02T03:04:05Z";
    m.model_file = "model.esm";
    m.format = "application/x-edgestack";
    m.model_size = 1234;
    m.sha256 = std::string(64, 'a');
    m.metrics = {{"accuracy", 0.91}, {"loss", 0.25}};
    m.dataset_fingerprint = std::string(64, 'b');
    m.parent = 2;
    m.files = {{"MODEL_CARD.md", std::string(64, 'c')}, {"labels.txt", std::string(64, 'd')}};
    write(dir / "manifest/manifest.json", deploy::detail::to_json(m).dump(2) + "\n");
    write(dir / "manifest/serving.json", "{\"version\": 3, \"history\": [1, 2]}\n");
    return 0;
}
