/* t_bits.c -- the bit commands on strings: SETBIT, GETBIT, BITCOUNT,
 * BITPOS. */
#include "command.h"

const ldb_command ldb_commands_bits[] = {
    {NULL, 0, 0, 0, 0, 0, NULL},
};
