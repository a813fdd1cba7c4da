/* A Python interpreter with libFuzzer linked in, for atheris + a gcc ASan build.
 *
 * - The executable's libFuzzer callbacks come first in symbol lookup, so they win
 *   over the weak coverage stubs in gcc's libasan (LD_PRELOADed).
 * - gcc instruments with -fsanitize-coverage=trace-pc (a call per edge), which
 *   current libFuzzer rejects; here each caller PC is hashed into a table of
 *   8-bit counters registered with libFuzzer, which is what clang's
 *   inline-8bit-counters would give.
 * - gcc's trace-cmp also emits float compares, which libFuzzer lacks: no-ops. */
#include <Python.h>
#include <stdint.h>

#define NCOUNTERS (1u << 18)
static uint8_t counters[NCOUNTERS];
static uintptr_t pcs[2 * NCOUNTERS];

void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop);
void __sanitizer_cov_pcs_init(const uintptr_t *beg, const uintptr_t *end);

void __sanitizer_cov_trace_pc(void)
{
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    uintptr_t h = (pc ^ (pc >> 18)) * 0x9E3779B97F4A7C15ull;
    counters[h >> (64 - 18)]++;
}

void __sanitizer_cov_trace_cmpf(float a, float b) { (void)a; (void)b; }
void __sanitizer_cov_trace_cmpd(double a, double b) { (void)a; (void)b; }

__attribute__((constructor)) static void register_counters(void)
{
    for (uintptr_t i = 0; i < NCOUNTERS; i++) {
        pcs[2 * i] = 0x10000 + i;   /* fake, distinct "PCs", one per counter */
        pcs[2 * i + 1] = 0;
    }
    __sanitizer_cov_8bit_counters_init(counters, counters + NCOUNTERS);
    __sanitizer_cov_pcs_init(pcs, pcs + 2 * NCOUNTERS);
}

int main(int argc, char **argv) { return Py_BytesMain(argc, argv); }
