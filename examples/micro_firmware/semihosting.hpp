// Arm semihosting for the firmware: text to the debugger's (or QEMU's) console and the exit
// call that ends a QEMU run. Each call is a BKPT 0xAB with the operation in r0 and its
// argument in r1 (Arm's "Semihosting for AArch32 and AArch64", SYS_WRITE0 and SYS_EXIT).
// On a board with no debugger attached, BKPT faults: replace these with a UART driver.
#pragma once

#include <stdint.h>

namespace firmware {

/// One semihosting call: operation `op`, argument `arg`; returns r0.
inline uint32_t semihost(uint32_t op, uint32_t arg) noexcept {
    register uint32_t r0 asm("r0") = op;
    register uint32_t r1 asm("r1") = arg;
    asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/// Writes a zero-terminated string (SYS_WRITE0).
inline void write(const char* text) noexcept {
    semihost(0x04, static_cast<uint32_t>(reinterpret_cast<uintptr_t>(text)));
}

/// Ends the program (SYS_EXIT): QEMU exits with status 0 when `ok`, 1 otherwise.
[[noreturn]] inline void exit(bool ok) noexcept {
    // ADP_Stopped_ApplicationExit, or ADP_Stopped_RunTimeErrorUnknown.
    semihost(0x18, ok ? 0x20026u : 0x20023u);
    for (;;) {
    }
}

/// A line being built in a fixed buffer; write_line() sends it and starts over.
class Line {
public:
    /// Appends text (silently cut at the buffer's end).
    Line& operator<<(const char* s) noexcept {
        while (*s != '\0' && n_ + 1 < sizeof buf_) buf_[n_++] = *s++;
        return *this;
    }
    /// Appends a decimal integer.
    Line& operator<<(long v) noexcept {
        char digits[24];
        int k = 0;
        unsigned long u = v < 0 ? 0ul - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
        do {
            digits[k++] = static_cast<char>('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (v < 0) digits[k++] = '-';
        while (k > 0 && n_ + 1 < sizeof buf_) buf_[n_++] = digits[--k];
        return *this;
    }
    /// Sends the line with a newline.
    void write_line() noexcept {
        buf_[n_++] = '\n';
        buf_[n_] = '\0';
        write(buf_);
        n_ = 0;
    }

private:
    char buf_[1024];
    unsigned n_ = 0;
};

} // namespace firmware
