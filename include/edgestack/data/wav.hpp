// WAV files for the audio front end (data/audio.hpp), read by libsndfile (component
// edgestack::audio, Debian libsndfile1-dev): any sample format libsndfile decodes in a WAV,
// WAVEX or RF64 container, channels averaged to mono, samples as floats in [-1, 1].
#pragma once

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <sndfile.h>

#include "edgestack/core/error.hpp"
#include "edgestack/data/audio.hpp"

namespace edgestack::data {

namespace detail {

// libsndfile reads a WAV whose data chunk ends before the length its header announces (a
// recording cut off mid-copy) without an error, noting it in the file's log only as
// "data : 200 (should be 60)". A length from 0x7ffff000 up means "unknown" (written by
// programs that stream to a pipe) and is no sign of damage.
inline void refuse_cut_data(SNDFILE* file, const std::string& where) {
    char log[8192] = {};
    sf_command(file, SFC_GET_LOG_INFO, log, sizeof log);
    const std::string text(log);
    for (std::size_t at = text.find("data : "); at != std::string::npos;
         at = text.find("data : ", at + 1)) {
        unsigned long long announced = 0, held = 0;
        if (std::sscanf(text.c_str() + at, "data : %llu (should be %llu)", &announced, &held) == 2 &&
            announced > held && announced < 0x7ffff000ull)
            throw format_error(where + ": cut short: the header announces " +
                               std::to_string(announced) + " bytes of samples, the file holds " +
                               std::to_string(held));
    }
}

} // namespace detail

/// Reads a WAV file as mono sound. Throws file_error when the file cannot be opened and
/// format_error, naming the file and what is wrong, when it is not a WAV file (another sound
/// format, or no sound file at all), holds no samples, or is cut short of the samples its
/// header announces.
inline Audio read_wav(const std::filesystem::path& path) {
    const std::string where = path.string();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw file_error(where + ": no such file");
    SF_INFO info{};
    struct Close {
        void operator()(SNDFILE* f) const noexcept { sf_close(f); }
    };
    std::unique_ptr<SNDFILE, Close> file(sf_open(where.c_str(), SFM_READ, &info));
    if (!file)
        throw format_error(where + ": not a readable WAV file (libsndfile: " +
                           sf_strerror(nullptr) + ")");
    const int major = info.format & SF_FORMAT_TYPEMASK;
    if (major != SF_FORMAT_WAV && major != SF_FORMAT_WAVEX && major != SF_FORMAT_RF64) {
        SF_FORMAT_INFO fi{};
        fi.format = major;
        const bool named = sf_command(nullptr, SFC_GET_FORMAT_INFO, &fi, sizeof fi) == 0 && fi.name;
        throw format_error(where + ": " + (named ? std::string(fi.name) : std::string("another")) +
                           " sound, not a WAV file");
    }
    if (info.channels <= 0 || info.samplerate <= 0)
        throw format_error(where + ": header gives " + std::to_string(info.channels) +
                           " channels at " + std::to_string(info.samplerate) + " Hz");
    if (info.frames <= 0) throw format_error(where + ": holds no samples");
    detail::refuse_cut_data(file.get(), where);
    const auto channels = static_cast<std::size_t>(info.channels);
    const auto frames = static_cast<std::size_t>(info.frames);
    std::vector<float> interleaved(frames * channels);
    const sf_count_t got = sf_readf_float(file.get(), interleaved.data(), info.frames);
    if (got != info.frames)
        throw format_error(where + ": cut short: the header announces " + std::to_string(frames) +
                           " samples per channel, " + std::to_string(got < 0 ? 0 : got) +
                           " could be read" +
                           (sf_error(file.get()) ? std::string(" (libsndfile: ") +
                                                       sf_strerror(file.get()) + ")"
                                                 : std::string()));
    Audio a;
    a.sample_rate = static_cast<std::size_t>(info.samplerate);
    a.source = where;
    if (channels == 1) {
        a.samples = std::move(interleaved);
        return a;
    }
    a.samples.resize(frames);
    for (std::size_t t = 0; t < frames; ++t) {
        double s = 0.0;
        for (std::size_t c = 0; c < channels; ++c) s += interleaved[t * channels + c];
        a.samples[t] = static_cast<float>(s / static_cast<double>(channels));
    }
    return a;
}

} // namespace edgestack::data
