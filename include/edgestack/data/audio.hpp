// The audio front end of the data stage: sound to MFCC or log-mel frames, as torchaudio's
// MFCC and MelSpectrogram compute them (framing, periodic Hann window, real FFT, power or
// magnitude spectrum, HTK or Slaney mel filterbank, log, orthonormal DCT-II). Batch and
// streaming; every buffer is sized at construction, so pushing samples allocates nothing.
// The FFT is KissFFT's (component edgestack::audio, Debian libkissfft-dev); WAV files are read
// by data/wav.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <numbers>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <kissfft/kiss_fftr.h>

#include "edgestack/core/error.hpp"

namespace edgestack::data {

/// How hertz map to mels (torchaudio's `mel_scale`).
enum class MelScale {
    htk,   ///< 2595 log10(1 + f / 700)
    slaney ///< linear below 1 kHz, logarithmic above (Slaney's Auditory Toolbox, librosa)
};

/// How each mel filter is scaled (torchaudio's `norm`).
enum class MelNorm {
    none,  ///< triangles of height 1
    slaney ///< each triangle divided by its width in hertz (equal area)
};

/// What the spectrum holds before the filterbank (torchaudio's `power`).
enum class Spectrum {
    power,    ///< |X|^2 (power = 2)
    magnitude ///< |X| (power = 1)
};

/// How the mel energies are put on a log scale.
enum class LogKind {
    /// 10 log10(max(x, amin)): torchaudio's AmplitudeToDB("power") without its utterance-wide
    /// top_db clamp (which a streaming front end cannot know).
    db,
    /// ln(x + log_offset): torchaudio's MFCC with log_mels=True.
    natural
};

/// What one frame of the front end's output holds.
enum class AudioFeature {
    mfcc,   ///< the first n_mfcc coefficients of the orthonormal DCT-II of the log-mel frame
    log_mel ///< the n_mels log mel energies
};

/// The front end's settings, named and defaulted as torchaudio names them, except where a
/// comment says otherwise.
struct AudioOptions {
    std::size_t sample_rate = 16000; ///< samples per second the front end expects
    /// FFT length: even, and n_fft / 2 with no prime factor above 5 (400, 480, 512, 640, 864,
    /// 960, 1024, ...): KissFFT's transform allocates scratch memory for larger factors.
    std::size_t n_fft = 400;
    std::size_t win_length = 0;      ///< Hann window length, at most n_fft; 0: n_fft
    std::size_t hop_length = 0;      ///< samples between frame starts; 0: win_length / 2
    /// Frames centred on t * hop_length, the signal padded by reflection with n_fft / 2 samples
    /// at both ends (torch.stft's center=True, pad_mode="reflect").
    bool center = true;
    Spectrum spectrum = Spectrum::power;   ///< power or magnitude spectrum
    std::size_t n_mels = 40;               ///< mel filters (torchaudio's default is 128)
    double f_min = 0.0;                    ///< lowest frequency of the filterbank, Hz
    double f_max = 0.0;                    ///< highest, Hz; 0: sample_rate / 2
    MelScale mel_scale = MelScale::htk;    ///< hertz to mels
    MelNorm mel_norm = MelNorm::none;      ///< filter scaling
    LogKind log = LogKind::db;             ///< log of the mel energies
    double amin = 1e-10;                   ///< floor of LogKind::db
    double log_offset = 1e-6;              ///< offset of LogKind::natural
    AudioFeature feature = AudioFeature::mfcc; ///< MFCC or log-mel frames
    std::size_t n_mfcc = 13;               ///< coefficients kept (AudioFeature::mfcc; torchaudio: 40)
};

/// Mono sound: samples in [-1, 1] at a sample rate, with where they came from (for messages).
struct Audio {
    std::vector<float> samples;  ///< one channel
    std::size_t sample_rate = 0; ///< samples per second
    std::string source;          ///< file name or other origin, named in errors
};

/// A mel value in the given scale for a frequency in hertz (torchaudio's `_hz_to_mel`).
inline double hz_to_mel(double hz, MelScale scale) noexcept {
    if (scale == MelScale::htk) return 2595.0 * std::log10(1.0 + hz / 700.0);
    constexpr double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = std::log(6.4) / 27.0;
    return hz >= min_log_hz ? min_log_mel + std::log(hz / min_log_hz) / logstep : hz / f_sp;
}

/// The frequency in hertz of a mel value in the given scale (torchaudio's `_mel_to_hz`).
inline double mel_to_hz(double mel, MelScale scale) noexcept {
    if (scale == MelScale::htk) return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
    constexpr double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = std::log(6.4) / 27.0;
    return mel >= min_log_mel ? min_log_hz * std::exp(logstep * (mel - min_log_mel)) : f_sp * mel;
}

/// The periodic Hann window of `length` samples, zero-padded on both sides to `n_fft` as
/// torch.stft centres a shorter window: w[n] = 0.5 - 0.5 cos(2 pi n / length).
inline std::vector<float> hann_window(std::size_t length, std::size_t n_fft) {
    if (length == 0 || length > n_fft)
        throw config_error("hann_window: length " + std::to_string(length) +
                           " must be between 1 and n_fft " + std::to_string(n_fft));
    std::vector<float> w(n_fft, 0.0f);
    const std::size_t left = (n_fft - length) / 2;
    for (std::size_t n = 0; n < length; ++n)
        w[left + n] = static_cast<float>(
            0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(n) /
                                 static_cast<double>(length)));
    return w;
}

/// The mel filterbank as torchaudio's `melscale_fbanks` builds it: `n_freqs` rows (FFT bins
/// 0 .. sample_rate / 2) by `n_mels` columns, row-major. Throws config_error when a filter
/// covers no FFT bin (too many mels for the FFT length).
inline std::vector<double> mel_filterbank(std::size_t n_freqs, double f_min, double f_max,
                                          std::size_t n_mels, std::size_t sample_rate,
                                          MelScale scale, MelNorm norm) {
    if (n_freqs < 2 || n_mels == 0)
        throw config_error("mel_filterbank: needs at least 2 frequency bins and 1 mel filter");
    const double m_min = hz_to_mel(f_min, scale), m_max = hz_to_mel(f_max, scale);
    std::vector<double> f_pts(n_mels + 2);
    for (std::size_t i = 0; i < f_pts.size(); ++i)
        f_pts[i] = mel_to_hz(m_min + (m_max - m_min) * static_cast<double>(i) /
                                         static_cast<double>(n_mels + 1),
                             scale);
    std::vector<double> fb(n_freqs * n_mels, 0.0);
    const double nyquist = static_cast<double>(sample_rate / 2); // integer, as torchaudio
    for (std::size_t k = 0; k < n_freqs; ++k) {
        const double f = nyquist * static_cast<double>(k) / static_cast<double>(n_freqs - 1);
        for (std::size_t m = 0; m < n_mels; ++m) {
            const double down = (f - f_pts[m]) / (f_pts[m + 1] - f_pts[m]);
            const double up = (f_pts[m + 2] - f) / (f_pts[m + 2] - f_pts[m + 1]);
            double v = std::max(0.0, std::min(down, up));
            if (norm == MelNorm::slaney) v *= 2.0 / (f_pts[m + 2] - f_pts[m]);
            fb[k * n_mels + m] = v;
        }
    }
    for (std::size_t m = 0; m < n_mels; ++m) {
        bool any = false;
        for (std::size_t k = 0; k < n_freqs && !any; ++k) any = fb[k * n_mels + m] > 0.0;
        if (!any)
            throw config_error("mel_filterbank: mel filter " + std::to_string(m) + " of " +
                               std::to_string(n_mels) + " covers no FFT bin (" +
                               std::to_string(n_freqs) +
                               " bins): use fewer mels or a longer n_fft");
    }
    return fb;
}

/// The orthonormal DCT-II as torchaudio's `create_dct(n_mfcc, n_mels, "ortho")`, stored
/// `n_mfcc` rows by `n_mels` columns: row k is sqrt(2 / n_mels) cos(pi / n_mels (n + 0.5) k),
/// row 0 further scaled by 1 / sqrt(2).
inline std::vector<double> dct_ii_ortho(std::size_t n_mfcc, std::size_t n_mels) {
    if (n_mfcc == 0 || n_mfcc > n_mels)
        throw config_error("dct_ii_ortho: n_mfcc " + std::to_string(n_mfcc) +
                           " must be between 1 and n_mels " + std::to_string(n_mels));
    std::vector<double> d(n_mfcc * n_mels);
    const double scale = std::sqrt(2.0 / static_cast<double>(n_mels));
    for (std::size_t k = 0; k < n_mfcc; ++k)
        for (std::size_t n = 0; n < n_mels; ++n)
            d[k * n_mels + n] = scale * (k == 0 ? 1.0 / std::numbers::sqrt2 : 1.0) *
                                std::cos(std::numbers::pi / static_cast<double>(n_mels) *
                                         (static_cast<double>(n) + 0.5) *
                                         static_cast<double>(k));
    return d;
}

/// Sound to feature frames (MFCC or log-mel), in one call or as the samples arrive.
///
/// Batch: `run(samples)` gives `frames_for(n) x feature_size()` values, time-major (one frame
/// after another), the layout of a keyword-spotting model's `Input<frames, features>`.
/// Streaming: `push` samples as they come; each completed frame is handed to a callback as a
/// span valid during the call; `finish` ends the utterance (with `center`, the frames of the
/// reflected end) and makes the front end ready for the next. Streaming and batch give the
/// same frames. After construction neither `push`, `finish` nor `run(samples, out)` allocates
/// (only their refusals do: the exception for input too short for a frame).
///
/// One front end per stream: it holds the stream's state and KissFFT's scratch space. It moves
/// but does not copy; build another from `options()` for another thread.
class AudioFrontEnd {
public:
    /// Checks the options (config_error names the one that is wrong) and sizes every buffer.
    explicit AudioFrontEnd(const AudioOptions& options) : o_(resolve(options)) {
        n_freqs_ = o_.n_fft / 2 + 1;
        window_ = hann_window(o_.win_length, o_.n_fft);
        const auto fb = mel_filterbank(n_freqs_, o_.f_min, o_.f_max, o_.n_mels, o_.sample_rate,
                                       o_.mel_scale, o_.mel_norm);
        // Each filter as its run of non-zero weights: most of the dense bank is zeros.
        mel_first_.resize(o_.n_mels);
        mel_count_.resize(o_.n_mels);
        mel_offset_.resize(o_.n_mels);
        for (std::size_t m = 0; m < o_.n_mels; ++m) {
            std::size_t first = n_freqs_, last = 0;
            for (std::size_t k = 0; k < n_freqs_; ++k)
                if (fb[k * o_.n_mels + m] > 0.0) {
                    first = std::min(first, k);
                    last = k;
                }
            mel_first_[m] = first;
            mel_count_[m] = last + 1 - first;
            mel_offset_[m] = mel_weights_.size();
            for (std::size_t k = first; k <= last; ++k)
                mel_weights_.push_back(fb[k * o_.n_mels + m]);
        }
        if (o_.feature == AudioFeature::mfcc) dct_ = dct_ii_ortho(o_.n_mfcc, o_.n_mels);
        fft_.reset(kiss_fftr_alloc(static_cast<int>(o_.n_fft), 0, nullptr, nullptr));
        if (!fft_) throw config_error("audio front end: KissFFT could not set up an FFT of " +
                                      std::to_string(o_.n_fft));
        frame_.resize(o_.n_fft);
        spectrum_.resize(n_freqs_);
        power_.resize(n_freqs_);
        mel_.resize(o_.n_mels);
        out_.resize(feature_size());
        buffer_.resize(o_.n_fft);
        pad_ = o_.center ? o_.n_fft / 2 : 0;
        head_.resize(pad_ + 1);
        tail_.resize(pad_ + 1);
    }

    AudioFrontEnd(AudioFrontEnd&&) noexcept = default;            ///< moves the stream along
    AudioFrontEnd& operator=(AudioFrontEnd&&) noexcept = default; ///< moves the stream along

    /// The options with every 0 ("default") replaced by the value used.
    const AudioOptions& options() const noexcept { return o_; }
    /// Values per output frame: n_mfcc or n_mels.
    std::size_t feature_size() const noexcept {
        return o_.feature == AudioFeature::mfcc ? o_.n_mfcc : o_.n_mels;
    }
    /// Frames an utterance of `samples` samples gives (0 when it is too short for one).
    std::size_t frames_for(std::size_t samples) const noexcept {
        if (o_.center) return samples > pad_ ? 1 + (samples + 2 * pad_ - o_.n_fft) / o_.hop_length : 0;
        return samples >= o_.n_fft ? 1 + (samples - o_.n_fft) / o_.hop_length : 0;
    }
    /// The fewest samples that give a frame.
    std::size_t min_samples() const noexcept { return o_.center ? pad_ + 1 : o_.n_fft; }

    /// Streaming: takes the next samples of the utterance; calls `on_frame(std::span<const
    /// float>)` for each frame they complete. Returns the number of frames completed.
    template <class OnFrame>
    std::size_t push(std::span<const float> samples, OnFrame&& on_frame) {
        std::size_t done = 0, i = 0;
        if (pad_ > 0) {
            // The last pad + 1 samples, kept to reflect the end in finish().
            const std::size_t n = samples.size(), t = tail_.size();
            for (std::size_t j = n > t ? n - t : 0; j < n; ++j) tail_[(seen_ + j) % t] = samples[j];
        }
        for (; i < samples.size() && pad_ > 0 && !started_; ++i) {
            head_[head_count_++] = samples[i];
            if (head_count_ == head_.size()) { // the reflection of the start is known now
                started_ = true;
                for (std::size_t k = pad_; k >= 1; --k) done += feed(std::span<const float>(&head_[k], 1), on_frame);
                done += feed(std::span<const float>(head_), on_frame);
            }
        }
        done += feed(samples.subspan(i), on_frame);
        seen_ += samples.size();
        return done;
    }

    /// Streaming: ends the utterance, calling `on_frame` for the frames that only its end
    /// completes (with `center`), and resets the stream for the next utterance. Throws
    /// format_error when the utterance was empty or too short for one frame (the stream is
    /// reset all the same). Returns the number of frames completed.
    template <class OnFrame>
    std::size_t finish(OnFrame&& on_frame) {
        const std::size_t seen = seen_;
        std::size_t done = 0;
        if (seen >= min_samples() && pad_ > 0) {
            // torch.stft's reflect padding: x[n-2], x[n-3], ..., x[n-1-pad].
            for (std::size_t j = 1; j <= pad_; ++j)
                done += feed(std::span<const float>(&tail_[(seen - 1 - j) % tail_.size()], 1), on_frame);
        }
        reset();
        check_length(seen, "");
        return done;
    }

    /// Forgets the utterance under way.
    void reset() noexcept {
        seen_ = filled_ = skip_ = head_count_ = 0;
        started_ = false;
    }

    /// Batch: the frames of `samples` into `out` (frames_for(size) x feature_size() values,
    /// time-major), allocation-free. Throws format_error for empty or too short input and
    /// shape_error when `out` has the wrong size.
    void run(std::span<const float> samples, std::span<float> out) {
        check_length(samples.size(), "");
        const std::size_t need = frames_for(samples.size()) * feature_size();
        if (out.size() != need)
            throw shape_error("audio front end: output holds " + std::to_string(out.size()) +
                              " values, " + std::to_string(samples.size()) + " samples give " +
                              std::to_string(frames_for(samples.size())) + " frames of " +
                              std::to_string(feature_size()) + " = " + std::to_string(need));
        reset();
        std::size_t at = 0;
        auto store = [&](std::span<const float> f) {
            std::copy(f.begin(), f.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
            at += f.size();
        };
        push(samples, store);
        finish(store);
    }

    /// Batch: the frames of `samples`, frames_for(size) x feature_size() values, time-major.
    std::vector<float> run(std::span<const float> samples) {
        check_length(samples.size(), "");
        std::vector<float> out(frames_for(samples.size()) * feature_size());
        run(samples, out);
        return out;
    }

    /// Batch, on sound whose sample rate is checked against the front end's (format_error
    /// naming the source and both rates when they differ).
    std::vector<float> run(const Audio& audio) {
        if (audio.sample_rate != o_.sample_rate)
            throw format_error("audio front end: " + name(audio.source) + " is sampled at " +
                               std::to_string(audio.sample_rate) + " Hz, the front end expects " +
                               std::to_string(o_.sample_rate) +
                               " Hz (resample it, or set AudioOptions::sample_rate)");
        check_length(audio.samples.size(), audio.source);
        return run(std::span<const float>(audio.samples));
    }

private:
    struct KissFree {
        void operator()(kiss_fftr_state* p) const noexcept { kiss_fftr_free(p); }
    };

    static std::string name(const std::string& source) {
        return source.empty() ? std::string("the audio") : "'" + source + "'";
    }

    static AudioOptions resolve(AudioOptions o) {
        auto bad = [](const std::string& what) { return config_error("audio front end: " + what); };
        if (o.sample_rate == 0) throw bad("sample_rate must be positive");
        if (o.n_fft < 2 || o.n_fft % 2 != 0)
            throw bad("n_fft " + std::to_string(o.n_fft) +
                      " must be even and at least 2 (KissFFT's real FFT needs an even length)");
        // KissFFT has butterflies of its own for the factors 2, 3, 4 and 5 only; any other
        // factor of the half-length complex transform goes through its generic butterfly,
        // which (as Debian builds it, without alloca) mallocs scratch on every call.
        if (const std::size_t f = largest_prime_factor(o.n_fft / 2); f > 5) {
            std::size_t below = o.n_fft - 2, above = o.n_fft + 2;
            while (below > 2 && largest_prime_factor(below / 2) > 5) below -= 2;
            while (largest_prime_factor(above / 2) > 5) above += 2;
            throw bad("n_fft " + std::to_string(o.n_fft) + ": n_fft / 2 = " +
                      std::to_string(o.n_fft / 2) + " has the prime factor " + std::to_string(f) +
                      ", and KissFFT allocates on every transform with a factor above 5; use an "
                      "n_fft whose half has only the factors 2, 3 and 5 (nearest: " +
                      std::to_string(below) + " or " + std::to_string(above) + ")");
        }
        if (o.win_length == 0) o.win_length = o.n_fft;
        if (o.win_length > o.n_fft)
            throw bad("win_length " + std::to_string(o.win_length) + " is longer than n_fft " +
                      std::to_string(o.n_fft));
        if (o.hop_length == 0) o.hop_length = std::max<std::size_t>(1, o.win_length / 2);
        const double nyquist = static_cast<double>(o.sample_rate) / 2.0;
        if (o.f_max == 0.0) o.f_max = nyquist;
        if (o.f_max > nyquist)
            throw bad("f_max " + std::to_string(o.f_max) + " Hz is above half the sample rate (" +
                      std::to_string(nyquist) + " Hz)");
        if (o.f_min < 0.0 || o.f_min >= o.f_max)
            throw bad("f_min " + std::to_string(o.f_min) + " Hz must be at least 0 and below f_max " +
                      std::to_string(o.f_max) + " Hz");
        if (o.n_mels == 0) throw bad("n_mels must be positive");
        if (o.feature == AudioFeature::mfcc && (o.n_mfcc == 0 || o.n_mfcc > o.n_mels))
            throw bad("n_mfcc " + std::to_string(o.n_mfcc) + " must be between 1 and n_mels " +
                      std::to_string(o.n_mels));
        if (o.log == LogKind::db && !(o.amin > 0.0)) throw bad("amin must be positive");
        if (o.log == LogKind::natural && !(o.log_offset > 0.0))
            throw bad("log_offset must be positive");
        return o;
    }

    static std::size_t largest_prime_factor(std::size_t n) noexcept {
        std::size_t largest = 1;
        for (std::size_t p = 2; p * p <= n; ++p)
            while (n % p == 0) {
                largest = p;
                n /= p;
            }
        return n > 1 ? std::max(largest, n) : largest;
    }

    void check_length(std::size_t n, const std::string& source) const {
        if (n == 0)
            throw format_error("audio front end: " + name(source) + " has no samples");
        if (n < min_samples())
            throw format_error(
                "audio front end: " + name(source) + " is too short: " + std::to_string(n) +
                " samples, a frame needs at least " + std::to_string(min_samples()) + " (n_fft " +
                std::to_string(o_.n_fft) + (o_.center ? ", centred" : "") + ")");
    }

    template <class OnFrame>
    std::size_t feed(std::span<const float> x, OnFrame& on_frame) {
        std::size_t done = 0;
        while (!x.empty()) {
            if (skip_ > 0) { // hop_length > n_fft: samples between frames
                const std::size_t n = std::min(skip_, x.size());
                skip_ -= n;
                x = x.subspan(n);
                continue;
            }
            const std::size_t n = std::min(o_.n_fft - filled_, x.size());
            std::copy_n(x.begin(), n, buffer_.begin() + static_cast<std::ptrdiff_t>(filled_));
            filled_ += n;
            x = x.subspan(n);
            if (filled_ < o_.n_fft) break;
            compute();
            on_frame(std::span<const float>(out_));
            ++done;
            if (o_.hop_length < o_.n_fft) {
                std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(o_.hop_length),
                          buffer_.end(), buffer_.begin());
                filled_ = o_.n_fft - o_.hop_length;
            } else {
                filled_ = 0;
                skip_ = o_.hop_length - o_.n_fft;
            }
        }
        return done;
    }

    void compute() noexcept {
        for (std::size_t i = 0; i < o_.n_fft; ++i) frame_[i] = buffer_[i] * window_[i];
        kiss_fftr(fft_.get(), frame_.data(), spectrum_.data());
        for (std::size_t k = 0; k < n_freqs_; ++k) {
            const double re = spectrum_[k].r, im = spectrum_[k].i;
            const double p = re * re + im * im;
            power_[k] = o_.spectrum == Spectrum::power ? p : std::sqrt(p);
        }
        for (std::size_t m = 0; m < o_.n_mels; ++m) {
            const double* w = mel_weights_.data() + mel_offset_[m];
            const double* p = power_.data() + mel_first_[m];
            double acc = 0.0;
            for (std::size_t k = 0; k < mel_count_[m]; ++k) acc += w[k] * p[k];
            mel_[m] = o_.log == LogKind::db ? 10.0 * std::log10(std::max(acc, o_.amin))
                                            : std::log(acc + o_.log_offset);
        }
        if (o_.feature == AudioFeature::log_mel) {
            for (std::size_t m = 0; m < o_.n_mels; ++m) out_[m] = static_cast<float>(mel_[m]);
            return;
        }
        for (std::size_t k = 0; k < o_.n_mfcc; ++k) {
            const double* d = dct_.data() + k * o_.n_mels;
            double acc = 0.0;
            for (std::size_t m = 0; m < o_.n_mels; ++m) acc += d[m] * mel_[m];
            out_[k] = static_cast<float>(acc);
        }
    }

    AudioOptions o_;
    std::size_t n_freqs_ = 0;
    std::vector<float> window_;
    std::vector<std::size_t> mel_first_, mel_count_, mel_offset_;
    std::vector<double> mel_weights_;
    std::vector<double> dct_;
    std::unique_ptr<kiss_fftr_state, KissFree> fft_;
    std::vector<float> frame_;
    std::vector<kiss_fft_cpx> spectrum_;
    std::vector<double> power_;
    std::vector<double> mel_;
    std::vector<float> out_;
    // The stream: the frame being filled, the first pad + 1 samples (to reflect the start)
    // and the last pad + 1 (to reflect the end).
    std::vector<float> buffer_;
    std::vector<float> head_, tail_;
    std::size_t pad_ = 0, seen_ = 0, filled_ = 0, skip_ = 0, head_count_ = 0;
    bool started_ = false;
};

} // namespace edgestack::data
