// Compressing the reference Fashion-MNIST CNN three ways: a student with about a quarter of
// its MACs trained by distillation (against the same student trained on labels alone),
// magnitude pruning to 50 / 75 / 90% sparsity with fine-tuning, and structured channel
// pruning into the student's type followed by fine-tuning.
//
//   distill [--epochs 3] [--finetune 1] [--train 0] [--temperature 4] [--alpha 0.7]
//           [--data /usr/share/datasets/fashion-mnist]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/cli.hpp"
#include "edgestack/backend/reference.hpp"
#include "edgestack/compress/compress.hpp"
#include "edgestack/data/fashion_mnist.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/nn/activation.hpp"
#include "edgestack/nn/conv.hpp"
#include "edgestack/nn/dense.hpp"
#include "edgestack/nn/flatten.hpp"
#include "edgestack/nn/pool.hpp"
#include "edgestack/nn/sequential.hpp"
#include "edgestack/pipeline.hpp"
#include "edgestack/quant/no_quant.hpp"
#include "edgestack/train/evaluate.hpp"
#include "edgestack/train/optimizer.hpp"

namespace es = edgestack;
namespace nn = es::nn;

using Teacher = nn::Sequential<nn::Input<28, 28, 1>,
                               nn::Conv2D<32, 3>, nn::ReLU, nn::MaxPool<2>,
                               nn::Conv2D<64, 3>, nn::ReLU, nn::MaxPool<2>,
                               nn::Flatten, nn::Dense<128>, nn::ReLU, nn::Dense<10>>;
// Half the filters and units everywhere: about a quarter of the MACs.
using Student = nn::Sequential<nn::Input<28, 28, 1>,
                               nn::Conv2D<16, 3>, nn::ReLU, nn::MaxPool<2>,
                               nn::Conv2D<32, 3>, nn::ReLU, nn::MaxPool<2>,
                               nn::Flatten, nn::Dense<64>, nn::ReLU, nn::Dense<10>>;

template <class M>
using Trainer = es::Pipeline<es::data::IdxLoader, es::data::NoAugment, M, es::quant::NoQuant,
                             es::backend::Reference>;

int main(int argc, char** argv) {
    std::size_t epochs = 3, finetune = 1, n_train = 0;
    float temperature = 4.0f, alpha = 0.7f;
    std::string dir = EDGESTACK_FASHION_MNIST_DIR;
    CLI::App app{"distill: a small student learns from a larger teacher"};
    app.name("distill");
    app.add_option("--epochs", epochs, "Teacher and student epochs")->capture_default_str();
    app.add_option("--finetune", finetune, "Fine-tuning epochs after pruning")->capture_default_str();
    app.add_option("--train", n_train, "Training samples (0: all)")->capture_default_str();
    app.add_option("--temperature", temperature, "Distillation temperature")->capture_default_str();
    app.add_option("--alpha", alpha, "Weight of the teacher's soft targets")->capture_default_str();
    app.add_option("--data", dir, "Fashion-MNIST folder")->capture_default_str();
    es::tools::parse_or_exit(app, argc, argv);
    const auto train = es::data::load_fashion_mnist(es::data::Split::train, dir, n_train);
    const auto test = es::data::load_fashion_mnist(es::data::Split::test, dir);
    const es::train::FitOptions fit{epochs, 64, true, false};
    std::printf("teacher MACs %zu, student MACs %zu (%.1f%%); %zu training images, %zu epochs\n",
                Teacher::macs, Student::macs, 100.0 * Student::macs / Teacher::macs,
                train.size(), epochs);

    Trainer<Teacher> teacher(1);
    {
        es::train::Adam adam(1e-3f);
        teacher.fit(train, adam, fit);
    }
    const double acc_teacher = 100.0 * teacher.evaluate(test).accuracy;
    std::printf("teacher:                 %.2f%%\n", acc_teacher);

    Trainer<Student> plain(2);
    {
        es::train::Adam adam(1e-3f);
        plain.fit(train, adam, fit);
    }
    const double acc_plain = 100.0 * plain.evaluate(test).accuracy;
    std::printf("student, labels only:    %.2f%%\n", acc_plain);

    Trainer<Student> distilled(2);
    {
        es::train::Adam adam(1e-3f);
        es::compress::distill(distilled.model(), teacher.model(), train, adam, fit,
                              es::compress::DistillationLoss{temperature, alpha}, es::Rng(3));
    }
    const double acc_distilled = 100.0 * distilled.evaluate(test).accuracy;
    std::printf("student, distilled (T %.1f, alpha %.2f): %.2f%% (%+.2f points against the "
                "teacher)\n", temperature, alpha, acc_distilled, acc_distilled - acc_teacher);

    // Structured: the teacher's strongest channels copied into the student type, fine-tuned.
    Trainer<Student> sliced(4);
    sliced.model() = es::compress::prune_channels<Student>(teacher.model());
    const double acc_sliced0 = 100.0 * sliced.evaluate(test).accuracy;
    {
        es::train::Adam adam(1e-3f);
        sliced.fit(train, adam, {finetune, 64, true, false});
    }
    std::printf("channel-pruned student:  %.2f%% before, %.2f%% after %zu fine-tuning epoch(s)\n",
                acc_sliced0, 100.0 * sliced.evaluate(test).accuracy, finetune);

    // Unstructured: magnitude pruning of the teacher's weights on a polynomial schedule over
    // the first half of fine-tuning, then the rest at the final sparsity.
    for (float target : {0.5f, 0.75f, 0.9f}) {
        Trainer<Teacher> pruned(5);
        pruned.model() = teacher.model();
        const std::size_t steps = finetune * ((train.size() + 63) / 64);
        auto opt = es::compress::prune_while_training(
            es::train::Adam(1e-4f), pruned.model(),
            es::compress::PolynomialSparsity{0.0f, target, 0, std::max<std::size_t>(steps / 2, 1),
                                             std::max<std::size_t>(steps / 20, 1), 3.0f});
        pruned.fit(train, opt, {finetune, 64, true, false});
        std::printf("magnitude-pruned %2.0f%%:    %.2f%% (weights zero: %.1f%%)\n",
                    100.0f * target, 100.0 * pruned.evaluate(test).accuracy,
                    100.0 * es::compress::sparsity_of(pruned.model().parameters(), opt.blocks()));
    }
    return 0;
}
