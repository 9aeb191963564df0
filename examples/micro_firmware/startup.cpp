// Reset and fault handling for a Cortex-M7 with no vendor library: the vector table, the
// FPU switched on, .data copied from flash, .bss zeroed, C++ constructors run, the stack
// painted (so main can report how much of it the network used), then main(). The symbols
// come from the linker script (mps2_an500.ld).
#include <stdint.h>

#include "semihosting.hpp"

extern "C" {
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];
extern void (*__init_array_start[])(), (*__init_array_end[])();
int main();
[[noreturn]] void reset_handler();
[[noreturn]] void fault_handler();
}

/// The byte every unused stack byte holds after reset (stack_used() looks for it).
constexpr uint32_t stack_paint = 0x5AA5A55Au;

extern "C" [[noreturn]] void reset_handler() {
    // CPACR: full access to CP10 and CP11 (the FPU) before any floating-point instruction.
    auto* cpacr = reinterpret_cast<volatile uint32_t*>(0xE000ED88u);
    *cpacr = *cpacr | (0xFu << 20);
    asm volatile("dsb\n\tisb" ::: "memory");
    // Volatile stores, so that the compiler does not turn these loops into library calls.
    volatile uint32_t* d = __data_start;
    for (const uint32_t* s = __data_load; d < __data_end;) *d++ = *s++;
    for (volatile uint32_t* b = __bss_start; b < __bss_end;) *b++ = 0;
    // Paint the stack below this frame, leaving 256 bytes for it.
    uint32_t sp;
    asm volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t* p = __stack_limit; reinterpret_cast<uintptr_t>(p) + 256 < sp;) *p++ = stack_paint;
    for (auto* f = __init_array_start; f < __init_array_end; ++f) (*f)();
    firmware::exit(main() == 0);
}

/// Bytes of stack used so far: from the top down to the lowest word that lost its paint.
extern "C" uint32_t stack_used() {
    const uint32_t* p = __stack_limit;
    while (p < __stack_top && *p == stack_paint) ++p;
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(__stack_top) -
                                      reinterpret_cast<uintptr_t>(p));
}

extern "C" [[noreturn]] void fault_handler() {
    firmware::write("fault\n");
    firmware::exit(false);
}

/// Initial stack pointer, then the 15 system exceptions (Cortex-M7, ARMv7-M); no device
/// interrupts are used.
__attribute__((section(".vectors"), used)) void (*const vector_table[16])() = {
    reinterpret_cast<void (*)()>(__stack_top), // initial SP
    reset_handler,
    fault_handler, // NMI
    fault_handler, // HardFault
    fault_handler, // MemManage
    fault_handler, // BusFault
    fault_handler, // UsageFault
    nullptr, nullptr, nullptr, nullptr,
    fault_handler, // SVCall
    fault_handler, // DebugMon
    nullptr,
    fault_handler, // PendSV
    fault_handler, // SysTick
};
