// Firmware that runs a generated int8 network on fixed inputs and prints its output codes
// over semihosting: "out <sample>: <code> <code> ...", then the arena and stack it used.
// model.hpp comes from deploy::micro_source (namespace model); inputs.hpp declares
// `inline constexpr int8_t inputs[samples][model::network.input_size]`.
#include <stddef.h>
#include <stdint.h>

#include "edgestack/micro/engine.hpp"
#include "inputs.hpp"
#include "model.hpp"
#include "semihosting.hpp"

extern "C" uint32_t stack_used();

namespace {
// The arena: every activation of one sample, in SRAM (.bss).
alignas(8) int8_t arena[model::network.arena_bytes > 0 ? model::network.arena_bytes : 1];
} // namespace

int main() {
    constexpr auto& net = model::network;
    firmware::Line line;
    for (size_t s = 0; s < sizeof inputs / sizeof inputs[0]; ++s) {
        for (size_t i = 0; i < net.input_size; ++i) arena[net.input + i] = inputs[s][i];
        edgestack::micro::run(net, arena);
        line << "out " << static_cast<long>(s) << ":";
        for (size_t i = 0; i < net.output_size; ++i)
            line << " " << static_cast<long>(arena[net.output + i]);
        line.write_line();
    }
    line << "arena " << static_cast<long>(net.arena_bytes) << " stack " << static_cast<long>(stack_used());
    line.write_line();
    return 0;
}
