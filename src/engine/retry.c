/* retry.c — backoff delays and the run's deterministic random numbers.
 *
 * Delay before attempt k+1 (k attempts done in this round) is
 * min(max_delay, delay x factor^(k-1)) for exponential backoff, delay for
 * fixed; with jitter it is uniform in [0, that] ("full jitter"). Randomness
 * comes from a splitmix64 generator seeded by eng_config.seed, so a test with
 * a fixed seed sees the same delays every time and the engine stays a pure
 * function of its inputs. */
#include "engine/priv.h"

#include <math.h>

uint64_t retry_rand(struct eng_run *r)
{
  uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t retry_delay(struct eng_run *r, const struct wf_retry *rt, uint32_t k)
{
  double d = (double)rt->delay_ms;
  if (rt->backoff == WF_BACKOFF_EXPONENTIAL && k > 1) {
    double f = rt->factor > 0 ? rt->factor : 2.0;
    d *= pow(f, (double)(k - 1));
  }
  double cap = rt->max_delay_ms > 0 ? (double)rt->max_delay_ms : d;
  if (d > cap)
    d = cap;
  if (!(d >= 0) || d > 9e15)
    d = cap >= 0 && cap <= 9e15 ? cap : 0;
  int64_t ms = (int64_t)d;
  if (rt->jitter && ms > 0)
    ms = (int64_t)(retry_rand(r) % (uint64_t)(ms + 1));
  return ms;
}
