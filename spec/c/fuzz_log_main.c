/* fuzz_log_main.c -- the libFuzzer entry for the log fuzzer (fuzz_log.h).
 *
 * Build (from the repository root; the engine's sources are the Makefile's
 * LIB_SRC, not every src/ file: src/ also holds the Lua binding and a main):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *         -fno-sanitize-recover=all -Isrc spec/c/fuzz_log_main.c \
 *         src/alloc.c src/os.c src/table.c src/log_format.c src/writer.c \
 *         src/recovery.c src/keyspace.c src/db.c -lxxhash -lpthread \
 *         -o build-fuzz/fuzz_log
 * Run:
 *   mkdir -p CORPUS SEEDS
 *   LAYERDB_FUZZ_CORPUS=SEEDS build/test/fuzz_log_test   (200 valid logs)
 *   build-fuzz/fuzz_log -max_total_time=60 -max_len=8192 CORPUS SEEDS
 * A broken property of fuzz_one (it prints "fuzz_log: ..." and returns 1)
 * aborts, so libFuzzer saves the input as a crash-* file. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_one(data, size) != 0) abort();
    return 0;
}
