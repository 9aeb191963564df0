// Error types of edgestack. Every failure at an edge (loading, parsing, configuration,
// integrity checks) throws one of these; the inference hot path throws nothing.
#pragma once

#include <stdexcept>
#include <string>

namespace edgestack {

/// Base of every exception edgestack throws. Messages name the file, offset, line, layer or
/// field that is wrong, so a user can act on them without a debugger.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A file could not be opened, read or written.
class file_error : public error {
public:
    using error::error;
};

/// Input bytes or text do not follow the format they claim (bad magic, short body, ...).
class format_error : public error {
public:
    using error::error;
};

/// A tensor or sample has the wrong shape or size for where it is used.
class shape_error : public error {
public:
    using error::error;
};

/// A configuration value is out of range or inconsistent.
class config_error : public error {
public:
    using error::error;
};

/// A checksum, signature or fingerprint does not match.
class integrity_error : public error {
public:
    using error::error;
};

} // namespace edgestack
