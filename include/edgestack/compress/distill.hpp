// Knowledge distillation: a student model learns from a trained teacher's temperature-
// softened outputs plus the true labels (Hinton et al. 2015). The teacher and student are
// different model types; only their input and output shapes must match.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgestack/concepts.hpp"
#include "edgestack/core/error.hpp"
#include "edgestack/core/rng.hpp"
#include "edgestack/data/batch.hpp"
#include "edgestack/data/batcher.hpp"
#include "edgestack/data/no_augment.hpp"
#include "edgestack/train/concepts.hpp"
#include "edgestack/train/fit.hpp"

namespace edgestack::compress {

/// loss = alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y),
/// averaged over the batch. The T^2 keeps the soft term's gradient scale independent of T.
struct DistillationLoss {
    float temperature = 4.0f; ///< T, > 0: softens both distributions
    float alpha = 0.7f;       ///< weight of the soft (teacher) term, in [0, 1]

    /// Throws config_error for a temperature <= 0 or an alpha outside [0, 1].
    void validate() const {
        if (!(temperature > 0.0f))
            throw config_error("DistillationLoss: temperature must be > 0, got " +
                               std::to_string(temperature));
        if (!(alpha >= 0.0f && alpha <= 1.0f))
            throw config_error("DistillationLoss: alpha must be in [0, 1], got " +
                               std::to_string(alpha));
    }

    /// Writes d(loss)/d(student logits) into `grad`; returns the loss.
    float operator()(const float* student, const float* teacher, const std::int32_t* labels,
                     std::size_t batch, std::size_t classes, float* grad) const {
        const double T = temperature;
        double total = 0.0;
        std::vector<double> ps(classes), pt(classes), p1(classes);
        for (std::size_t b = 0; b < batch; ++b) {
            const float* s = student + b * classes;
            const float* t = teacher + b * classes;
            softmax(s, T, ps.data(), classes);
            softmax(t, T, pt.data(), classes);
            softmax(s, 1.0, p1.data(), classes);
            double kl = 0.0;
            for (std::size_t k = 0; k < classes; ++k)
                if (pt[k] > 0.0) kl += pt[k] * (std::log(pt[k]) - std::log(std::max(ps[k], 1e-30)));
            const auto y = static_cast<std::size_t>(labels[b]);
            const double ce = -std::log(std::max(p1[y], 1e-30));
            total += alpha * T * T * kl + (1.0 - alpha) * ce;
            for (std::size_t k = 0; k < classes; ++k) {
                const double soft = alpha * T * (ps[k] - pt[k]);
                const double hard = (1.0 - alpha) * (p1[k] - (k == y ? 1.0 : 0.0));
                grad[b * classes + k] = static_cast<float>((soft + hard) / static_cast<double>(batch));
            }
        }
        return static_cast<float>(total / static_cast<double>(batch));
    }

private:
    static void softmax(const float* z, double T, double* p, std::size_t n) {
        double m = z[0];
        for (std::size_t k = 1; k < n; ++k) m = std::max(m, double(z[k]));
        double sum = 0.0;
        for (std::size_t k = 0; k < n; ++k) sum += p[k] = std::exp((z[k] - m) / T);
        for (std::size_t k = 0; k < n; ++k) p[k] /= sum;
    }
};

/// Train `student` from `teacher` on `data` for options.epochs epochs: the teacher runs in
/// eval mode on each batch, the student trains on DistillationLoss. Callbacks as in fit.
template <Model Student, Model Teacher, Loader L, train::Optimizer O, class... Callbacks>
train::FitReport distill(Student& student, Teacher& teacher, const L& data, O& optimizer,
                         const train::FitOptions& options, const DistillationLoss& loss,
                         Rng rng, Callbacks&&... callbacks) {
    static_assert(Student::input_shape::size == Teacher::input_shape::size,
                  "distill: the student and the teacher must read the same input shape");
    static_assert(Student::output_shape::size == Teacher::output_shape::size,
                  "distill: the student and the teacher must have the same number of outputs");
    loss.validate();
    constexpr std::size_t classes = Student::output_shape::size;
    if (data.sample_size() != Student::input_shape::size)
        throw shape_error("distill: the loader's samples have " +
                          std::to_string(data.sample_size()) + " values; the models need " +
                          std::to_string(Student::input_shape::size));
    if (options.batch_size == 0) throw config_error("FitOptions: batch_size must be >= 1");
    const data::NoAugment none;
    data::Batcher<L, data::NoAugment> batches(
        data, none, layout_of<typename Student::input_shape>(),
        {options.batch_size, options.shuffle, options.drop_last}, rng.split(1));
    std::vector<float> soft;
    Rng teacher_rng = rng.split(2);
    // The loss sees the teacher's logits of the current batch through this adapter, so the
    // student trains through the ordinary loop (callbacks, statistics).
    struct WithTeacher {
        const DistillationLoss* loss;
        const std::vector<float>* soft;
        float operator()(const float* logits, const std::int32_t* y, std::size_t n,
                         std::size_t k, float* grad) const {
            return (*loss)(logits, soft->data(), y, n, k, grad);
        }
    } adapter{&loss, &soft};
    // Run the teacher on each batch as it is drawn.
    struct TeacherBatches {
        data::Batcher<L, data::NoAugment>* inner;
        Teacher* teacher;
        std::vector<float>* soft;
        Rng* rng;
        void start_epoch(std::size_t e) { inner->start_epoch(e); }
        std::size_t batches_per_epoch() const { return inner->batches_per_epoch(); }
        bool next(data::Batch& b) {
            if (!inner->next(b)) return false;
            const float* t = teacher->forward(b.x.data(), b.size(), nn::Mode::eval, *rng);
            soft->assign(t, t + b.size() * classes);
            return true;
        }
    } tb{&batches, &teacher, &soft, &teacher_rng};
    auto no_validation = [](Student&) {
        return std::pair{std::nan(""), std::nan("")};
    };
    auto no_hook = [](Student&) {};
    return train::fit(student, tb, optimizer, adapter, options.epochs, rng.split(3),
                      no_validation, no_hook, callbacks...);
}

} // namespace edgestack::compress
