/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: latency histograms of fixed size, for the statistics.
 *
 * Operators want percentiles (p50, p90, p99) and the maximum of store
 * requests and flushes over the life of a server, which may be months:
 * keeping every sample is out of the question.  A struct zhist is a
 * fixed array of counters, one per power-of-two range of microseconds
 * (bucket 0 holds 0 us, bucket B >= 1 holds [2^(B-1), 2^B) us, the last
 * bucket everything from 2^(ZHIST_BUCKETS-2) us, about 4.5 days, up),
 * plus the count, the sum and the exact maximum.  Recording is a few
 * relaxed atomic additions and no lock, so any thread may record at
 * any time; a summary read meanwhile may be off by the samples being
 * recorded, never more.
 *
 * A percentile is estimated by linear interpolation inside the bucket
 * that holds it, and never exceeds the maximum: it is within a factor
 * of two of the true value, which is what a log scale promises and what
 * matters for latency (1 ms or 100 ms, not 41 or 43).
 */
#ifndef ZEROFS_HISTOGRAM_H
#define ZEROFS_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

#define ZHIST_BUCKETS 40

struct zhist {
  _Atomic uint64_t count;
  _Atomic uint64_t sum_us;
  _Atomic uint64_t max_us;
  _Atomic uint64_t buckets[ZHIST_BUCKETS];
};

/* What a histogram says, in microseconds.  All 0 when it is empty. */
struct zhist_summary {
  uint64_t count, sum_us, max_us;
  uint64_t p50_us, p90_us, p99_us;
};

/* The monotonic clock in microseconds (clock_gettime: no system call
 * on Linux, the vDSO answers).
 */
extern uint64_t zhist_now_us (void);

/* Record one sample of US microseconds. */
extern void zhist_record (struct zhist *h, uint64_t us);

/* Record the time since START (a zhist_now_us value). */
extern void zhist_record_since (struct zhist *h, uint64_t start);

/* Which bucket US falls in. */
extern unsigned zhist_bucket (uint64_t us);

/* The percentile PCT (0 < PCT <= 100) of the samples counted in
 * BUCKETS (COUNT of them, the largest MAX_US), estimated as above.
 */
extern uint64_t zhist_percentile (const uint64_t buckets[ZHIST_BUCKETS],
                                  uint64_t count, uint64_t max_us,
                                  double pct);

extern void zhist_summarize (struct zhist *h, struct zhist_summary *s);

#endif /* ZEROFS_HISTOGRAM_H */
