// The reference trainer (examples/fashion_mnist_train) written with dlib 19.24 (Debian
// libdlib-dev), the nearest template-typed C++ peer: the same network, recipes and command
// line, parsed with the same CLI11, so that compile_time.sh measures what each library costs a
// translation unit that trains this model. Built only by that script, never by CMake.
//
//   dlib_trainer                 Adam 1e-3, batch 64, 3 epochs, no augmentation
//   dlib_trainer --long          + shifts of up to 2 pixels and flips, warm-up + cosine, 15 epochs
//   dlib_trainer --checkpoint F  save after every epoch, resume if present
//
// Other options: --epochs N, --limit N (first N training samples), --seed N, --data DIR,
// --quiet. dlib's CPU layers run on one thread (plus whatever BLAS it links).
//
//   g++ -std=c++20 -O3 bench/compare/dlib_trainer.cpp -ldlib -lz -o dlib_trainer
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <dlib/dnn.h>
#include <zlib.h>

namespace {

using namespace dlib;

// Conv 32 3x3 same, ReLU, max-pool 2, conv 64 3x3 same, ReLU, max-pool 2, dense 128, ReLU,
// dense 10, softmax cross-entropy: the network of examples/fashion_mnist_train.
using net_type = loss_multiclass_log<
    fc<10, relu<fc<128,
    max_pool<2, 2, 2, 2, relu<con<64, 3, 3, 1, 1,
    max_pool<2, 2, 2, 2, relu<con<32, 3, 3, 1, 1,
    input<matrix<float>>>>>>>>>>>>;

struct Options {
    std::size_t epochs = 0; // 0: the recipe's default
    std::size_t limit = 0;
    std::uint64_t seed = 1;
    bool long_recipe = false;
    bool quiet = false;
    std::string data = "/usr/share/datasets/fashion-mnist";
    std::string checkpoint;
};

// One gzip-compressed IDX file (Debian ships Fashion-MNIST that way), big-endian header.
std::vector<unsigned char> read_gz(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr) throw std::runtime_error(path + ": cannot open");
    std::vector<unsigned char> bytes;
    unsigned char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    gzclose(f);
    if (n < 0) throw std::runtime_error(path + ": corrupt gzip stream");
    return bytes;
}

std::uint32_t be32(const std::vector<unsigned char>& b, std::size_t at) {
    if (b.size() < at + 4) throw std::runtime_error("IDX header truncated");
    return std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 |
           std::uint32_t{b[at + 2]} << 8 | b[at + 3];
}

void load(const std::string& dir, const std::string& prefix, std::size_t limit,
          std::vector<matrix<float>>& images, std::vector<unsigned long>& labels) {
    const auto img = read_gz(dir + "/" + prefix + "-images-idx3-ubyte.gz");
    const auto lab = read_gz(dir + "/" + prefix + "-labels-idx1-ubyte.gz");
    if (be32(img, 0) != 0x803 || be32(lab, 0) != 0x801)
        throw std::runtime_error(dir + "/" + prefix + ": not an IDX image/label pair");
    std::size_t n = be32(img, 4);
    const std::size_t rows = be32(img, 8), cols = be32(img, 12);
    if (be32(lab, 4) != n || img.size() < 16 + n * rows * cols || lab.size() < 8 + n)
        throw std::runtime_error(dir + "/" + prefix + ": truncated or mismatched");
    if (limit != 0) n = std::min(n, limit);
    images.assign(n, matrix<float>(rows, cols));
    labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char* p = img.data() + 16 + i * rows * cols;
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c)
                images[i](r, c) = static_cast<float>(p[r * cols + c]) / 255.0f;
        labels[i] = lab[8 + i];
    }
}

// The long recipe's augmentation: a shift of up to 2 pixels each way (zero fill), then a
// mirror image with probability 1/2.
matrix<float> augment(const matrix<float>& x, dlib::rand& rnd) {
    const long dy = static_cast<long>(rnd.get_integer_in_range(-2, 3));
    const long dx = static_cast<long>(rnd.get_integer_in_range(-2, 3));
    const bool flip = rnd.get_random_float() < 0.5f;
    matrix<float> y(x.nr(), x.nc());
    for (long r = 0; r < x.nr(); ++r)
        for (long c = 0; c < x.nc(); ++c) {
            const long sr = r - dy, sc0 = c - dx;
            const long sc = flip ? x.nc() - 1 - sc0 : sc0;
            y(r, c) = sr >= 0 && sr < x.nr() && sc >= 0 && sc < x.nc() ? x(sr, sc) : 0.0f;
        }
    return y;
}

double peak_rss_mib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return 0.0;
}

} // namespace

int main(int argc, char** argv) try {
    Options o;
    CLI::App app{"dlib_trainer: train the reference CNN on Fashion-MNIST with dlib"};
    app.add_option("--epochs", o.epochs, "Epochs (0: the recipe's default, 3 or 15 with --long)")->capture_default_str();
    app.add_option("--limit", o.limit, "First N training samples (0: all)")->capture_default_str();
    app.add_option("--seed", o.seed, "Seed")->capture_default_str();
    app.add_option("--data", o.data, "Fashion-MNIST folder")->capture_default_str();
    app.add_option("--checkpoint", o.checkpoint, "Save after every epoch, resume if present");
    app.add_flag("--long", o.long_recipe, "Shifts and flips, warm-up + cosine, 15 epochs");
    app.add_flag("--quiet", o.quiet, "No progress output");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }

    std::vector<matrix<float>> train_x, test_x;
    std::vector<unsigned long> train_y, test_y;
    load(o.data, "train", o.limit, train_x, train_y);
    load(o.data, "t10k", 0, test_x, test_y);

    const std::size_t epochs = o.epochs ? o.epochs : (o.long_recipe ? 15 : 3);
    const std::size_t batch = 64, steps_per_epoch = (train_x.size() + batch - 1) / batch;
    net_type net;
    dnn_trainer<net_type, adam> trainer(net, adam(0.0, 0.9, 0.999));
    trainer.set_mini_batch_size(batch);
    if (o.long_recipe) {
        // One epoch of linear warm-up to 2e-3, then a cosine down to 2% of it.
        const double base = 2e-3;
        const std::size_t total = epochs * steps_per_epoch, decay = total - steps_per_epoch;
        matrix<double> lr(total, 1);
        for (std::size_t t = 0; t < total; ++t) {
            if (t < steps_per_epoch) {
                lr(t) = base * static_cast<double>(t + 1) / static_cast<double>(steps_per_epoch);
                continue;
            }
            const double x = std::min(1.0, static_cast<double>(t - steps_per_epoch) / decay);
            lr(t) = base * (0.02 + 0.98 * 0.5 * (1.0 + std::cos(std::numbers::pi * x)));
        }
        trainer.set_learning_rate_schedule(lr);
    } else {
        // A constant rate: dlib would otherwise shrink it when the loss stops falling.
        trainer.set_learning_rate(1e-3);
        trainer.set_learning_rate_shrink_factor(1.0);
    }

    std::size_t first_epoch = 0;
    if (!o.checkpoint.empty() && std::filesystem::exists(o.checkpoint)) {
        std::ifstream in(o.checkpoint, std::ios::binary);
        deserialize(trainer, in);
        deserialize(first_epoch, in);
        std::printf("resumed from %s at epoch %zu\n", o.checkpoint.c_str(), first_epoch);
    }

    dlib::rand rnd(o.seed);
    std::vector<std::size_t> order(train_x.size());
    std::vector<matrix<float>> xs;
    std::vector<unsigned long> ys;
    double seconds = 0.0;
    std::size_t samples = 0;
    for (std::size_t epoch = first_epoch; epoch < epochs; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        for (std::size_t i = order.size(); i > 1; --i)
            std::swap(order[i - 1], order[rnd.get_integer(i)]);
        for (std::size_t b0 = 0; b0 < order.size(); b0 += batch) {
            const std::size_t b1 = std::min(order.size(), b0 + batch);
            xs.clear();
            ys.clear();
            for (std::size_t i = b0; i < b1; ++i) {
                xs.push_back(o.long_recipe ? augment(train_x[order[i]], rnd) : train_x[order[i]]);
                ys.push_back(train_y[order[i]]);
            }
            trainer.train_one_step(xs, ys);
        }
        trainer.get_net(); // waits for the trainer's thread to finish the epoch's steps
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        seconds += s;
        samples += order.size();
        if (!o.quiet)
            std::printf("epoch %zu/%zu  loss %.4f  %.1f s\n", epoch + 1, epochs,
                        trainer.get_average_loss(), s);
        if (!o.checkpoint.empty()) {
            std::ofstream out(o.checkpoint, std::ios::binary);
            serialize(trainer, out);
            serialize(epoch + 1, out);
        }
    }

    net.clean();
    const std::vector<unsigned long> predicted = net(test_x);
    std::vector<std::size_t> right(10, 0), seen(10, 0);
    std::size_t correct = 0;
    for (std::size_t i = 0; i < test_y.size(); ++i) {
        ++seen[test_y[i] % 10];
        if (predicted[i] == test_y[i]) ++right[test_y[i] % 10], ++correct;
    }
    const double accuracy = static_cast<double>(correct) / static_cast<double>(test_y.size());
    if (!o.quiet)
        for (std::size_t c = 0; c < 10; ++c)
            std::printf("class %zu  %.2f%%\n", c, seen[c] ? 100.0 * right[c] / seen[c] : 0.0);
    std::printf("test accuracy %.2f%% after %zu epochs\n", 100.0 * accuracy, epochs);
    std::printf("RESULT name=dlib samples_per_s=%.1f test_accuracy=%.4f train_seconds=%.2f "
                "peak_rss_mib=%.0f threads=1\n",
                seconds > 0 ? samples / seconds : 0.0, accuracy, seconds, peak_rss_mib());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "dlib_trainer: %s\n", e.what());
    return 1;
}
