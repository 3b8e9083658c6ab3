/* SPDX-License-Identifier: BSD-3-Clause
 *
 * zerofs: latency histograms of fixed size (see histogram.h).
 */
#include <config.h>

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "histogram.h"

uint64_t
zhist_now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

unsigned
zhist_bucket (uint64_t us)
{
  unsigned b;

  if (us == 0)
    return 0;
  b = 64 - __builtin_clzll (us);        /* 2^(b-1) <= us < 2^b */
  return b < ZHIST_BUCKETS ? b : ZHIST_BUCKETS - 1;
}

void
zhist_record (struct zhist *h, uint64_t us)
{
  uint64_t max = atomic_load_explicit (&h->max_us, memory_order_relaxed);

  atomic_fetch_add_explicit (&h->buckets[zhist_bucket (us)], 1,
                             memory_order_relaxed);
  atomic_fetch_add_explicit (&h->sum_us, us, memory_order_relaxed);
  atomic_fetch_add_explicit (&h->count, 1, memory_order_relaxed);
  while (us > max &&
         !atomic_compare_exchange_weak_explicit (&h->max_us, &max, us,
                                                 memory_order_relaxed,
                                                 memory_order_relaxed))
    ;
}

void
zhist_record_since (struct zhist *h, uint64_t start)
{
  uint64_t now = zhist_now_us ();

  zhist_record (h, now > start ? now - start : 0);
}

uint64_t
zhist_percentile (const uint64_t buckets[ZHIST_BUCKETS], uint64_t count,
                  uint64_t max_us, double pct)
{
  uint64_t rank, seen = 0, lo, hi, v;
  unsigned b;

  if (count == 0)
    return 0;
  /* The sample of rank RANK (1-based) in sorted order. */
  rank = (uint64_t) (pct / 100.0 * count + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > count)
    rank = count;
  for (b = 0; b < ZHIST_BUCKETS; b++) {
    if (buckets[b] == 0 || seen + buckets[b] < rank) {
      seen += buckets[b];
      continue;
    }
    if (b == 0)
      return 0;
    lo = UINT64_C (1) << (b - 1);
    hi = b == ZHIST_BUCKETS - 1 ? max_us : (UINT64_C (1) << b) - 1;
    if (hi > max_us)
      hi = max_us;
    if (hi < lo)
      return hi;
    /* Spread the bucket's samples evenly over [lo, hi]. */
    v = lo + (uint64_t) ((double) (hi - lo) * (rank - seen) / buckets[b]);
    return v;
  }
  return max_us;                /* counts moved under us: the safe answer */
}

void
zhist_summarize (struct zhist *h, struct zhist_summary *s)
{
  uint64_t buckets[ZHIST_BUCKETS], count = 0;
  unsigned b;

  /* The count is the buckets' sum, so that it agrees with them even
   * while other threads record.
   */
  for (b = 0; b < ZHIST_BUCKETS; b++) {
    buckets[b] = atomic_load_explicit (&h->buckets[b], memory_order_relaxed);
    count += buckets[b];
  }
  s->count = count;
  s->sum_us = atomic_load_explicit (&h->sum_us, memory_order_relaxed);
  s->max_us = atomic_load_explicit (&h->max_us, memory_order_relaxed);
  s->p50_us = zhist_percentile (buckets, count, s->max_us, 50);
  s->p90_us = zhist_percentile (buckets, count, s->max_us, 90);
  s->p99_us = zhist_percentile (buckets, count, s->max_us, 99);
}
