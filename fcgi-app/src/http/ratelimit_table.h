/* ratelimit_table.h - the layout of the shared rate-limit table. Only ratelimit.c reads and
 * writes it; the unit test includes it to hold the lock from a process it then kills. */
#ifndef RATELIMIT_TABLE_H
#define RATELIMIT_TABLE_H

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>

#include "core/bounds.h"

#define RL_MAGIC 0x524c3032u /* "RL02": keyed slots (an "RL01" table is re-created) */

struct rl_slot {
    uint64_t id;     /* keyed hash of (route class, client address or prefix) */
    uint32_t window; /* minute number; 0 = never used */
    uint32_t count;
};

struct rl_table {
    uint32_t magic; /* written last, when the table is ready */
    uint32_t nslots;
    /* Random, made by the process that created the table: every responder mapping the table
     * hashes with it, and nobody outside can precompute addresses that share a slot. */
    unsigned char key[crypto_shorthash_KEYBYTES];
    pthread_mutex_t mu; /* process-shared, robust */
    struct rl_slot slots[RATELIMIT_SLOTS];
};

#endif
