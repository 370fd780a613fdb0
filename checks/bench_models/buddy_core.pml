/*
 * The buddy-core scenario of buddycheck, written by hand in Promela, to compare Spin's exhaustive
 * search with buddycheck's explorer on the same state space.
 *
 * The machine (model/presets.py buddy_core, checks/scenarios.py buddy_core): one zone of PAGES pages
 * from pfn 0, block orders 0..MAX_ORDER-1, one migratetype, zero watermarks and reserves, per-cpu lists
 * that hold nothing between operations. The alphabet: an allocation of each order LO..HI
 * (__rmqueue_smallest + expand after the zero-mark watermark test; a request that fails leaves the
 * state as it was), and a free of each allocated block (__free_one_page: merge with the buddy while
 * below MAX_ORDER-1, then the list tail when the parent's buddy is a free block one order up and
 * the order is below MAX_ORDER-2, else the head). Boot frees aligned chunks of at most order
 * MAX_ORDER-1 from pfn 0 upwards through the same free path.
 *
 * Parameters, as -D defines of spin (cpp): PAGES (1..64), MAX_ORDER (1..11), LO and HI (orders
 * allocated, 0 <= LO <= HI < MAX_ORDER). Defaults: the bench's W1 figure, 24 pages, MAX_ORDER 4,
 * orders 1-3.
 *
 * A state is what the explorer distinguishes in this scenario: the free list of each order in list
 * order (head first) and the set of allocated blocks. Abstracted away (each a function of those two,
 * or constant in this scenario, so no state is split or merged by leaving it out): NR_FREE_PAGES and
 * nr_free of each order (sums over the lists), the per-page flags and private orders (block[]
 * below keeps the order of each block for the buddy test and the frees; it is a function of the two), the
 * per-cpu lists (always empty), the migratetypes of pageblocks (one type), the watermarks and
 * lowmem reserves (zero), and the CPU of a free (always CPU 0). Every operation is one d_step, so
 * Spin stores exactly the states between operations.
 *
 * Spin also stores its initial state, and the explorer's first state is the booted machine. So the
 * model runs in two steps (checks/spin.py does both):
 *   spin -DSHOW_BOOT ... buddy_core.pml   simulates boot() and prints the booted arrays;
 *   booted.h                              defines BOOT_HEAD, BOOT_NR, BOOT_BLOCK from them;
 *   spin -a -DBOOTED ... buddy_core.pml   starts from them, so the first stored state is booted.
 * Spin's "states, stored" is then the explorer's reachable_states and its depth the explorer's;
 * its transitions (stored + matched) are the explorer's plus one, the initial state.
 * Without either define the model boots in its first step, one extra state.
 */

#ifndef PAGES
#define PAGES 24
#endif
#ifndef MAX_ORDER
#define MAX_ORDER 4
#endif
#ifndef LO
#define LO 1
#endif
#ifndef HI
#define HI 3
#endif

#define TOP (MAX_ORDER - 1)
/* the list of order o has room for PAGES >> o blocks, from head[OFF(o)]; OFF(o) >= the rooms before it */
#define OFF(o) (2 * PAGES - ((2 * PAGES) >> (o)))
#define SLOT(o, i) (OFF(o) + (i))
#define LIST_SLOTS 2 * PAGES  /* at least OFF(MAX_ORDER); Spin sizes arrays without shifts */
/* block[pfn]: what starts at pfn */
#define FREE_MARK(o) ((o) + 1)     /* a free block of order o */
#define ALLOC_MARK(o) ((o) + 17)   /* an allocated block of order o */

#ifdef BOOTED
/* booted.h: the machine as this model's boot() leaves it, printed by a run with -DSHOW_BOOT */
#include "booted.h"
byte head[LIST_SLOTS] = BOOT_HEAD;
byte nr[MAX_ORDER] = BOOT_NR;
byte block[PAGES] = BOOT_BLOCK;
#else
byte head[LIST_SLOTS];  /* the free list of order o: head[SLOT(o, 0)] .. head[SLOT(o, nr[o] - 1)] */
byte nr[MAX_ORDER];     /* the entries of each free list (nr_free) */
byte block[PAGES];      /* FREE_MARK or ALLOC_MARK of the order of the block starting at each pfn, else 0 */
#endif

/* scratch of one operation, zeroed at its end (scrub) so that it never tells two states apart; Spin's
   BFS keeps no hidden variables, so they are in the state vector */
byte b, o, c, i, nextpfn, partner;
short uncle, nfree;

inline scrub() {
  b = 0; o = 0; c = 0; i = 0; nextpfn = 0; partner = 0; uncle = 0; nfree = 0
}

/* The inlines below take variables, never expressions: Promela substitutes their text. */

/* list_del of the free block at pfn x from the list of order k */
inline unlink(x, k) {
  i = 0;
  do
  :: head[SLOT(k, i)] != x -> i++
  :: else -> break
  od;
  do
  :: i + 1 < nr[k] -> head[SLOT(k, i)] = head[SLOT(k, i + 1)]; i++
  :: else -> break
  od;
  nr[k]--;
  head[SLOT(k, nr[k])] = 0;
  block[x] = 0
}

/* list_add: block (x, k) at the head of its list */
inline add_head(x, k) {
  i = nr[k];
  do
  :: i > 0 -> head[SLOT(k, i)] = head[SLOT(k, i - 1)]; i--
  :: else -> break
  od;
  head[SLOT(k, 0)] = x;
  nr[k]++;
  block[x] = FREE_MARK(k)
}

/* list_add_tail: block (x, k) at the tail of its list */
inline add_tail(x, k) {
  head[SLOT(k, nr[k])] = x;
  nr[k]++;
  block[x] = FREE_MARK(k)
}

/* __free_one_page of the block (b, o): merge upwards, then list it at the tail or the head */
inline release() {
  do
  :: o < TOP && (b ^ (1 << o)) < PAGES && block[b ^ (1 << o)] == FREE_MARK(o) ->
       partner = b ^ (1 << o);
       unlink(partner, o);
       b = b & ~(1 << o);
       o++
  :: else -> break
  od;
  uncle = (b & ~(1 << o)) ^ (1 << (o + 1));  /* the buddy of the block one order up */
  if
  :: o + 2 < MAX_ORDER && uncle < PAGES && block[uncle] == FREE_MARK(o + 1) -> add_tail(b, o)
  :: else -> add_head(b, o)
  fi
}

/* __free_pages_memory at boot: aligned chunks of at most MAX_ORDER-1 from pfn 0, each freed */
inline boot() {
  nextpfn = 0;
  do
  :: nextpfn < PAGES ->
       b = nextpfn;
       o = TOP;
       do
       :: o > 0 && b % (1 << o) != 0 -> o--
       :: else -> break
       od;
       do
       :: b + (1 << o) > PAGES -> o--
       :: else -> break
       od;
       nextpfn = b + (1 << o);
       release()
  :: else -> break
  od
}

/* the zero-mark watermark test, then __rmqueue_smallest + expand of order k; a failure changes nothing */
inline alloc(k) {
  nfree = 0;
  c = 0;
  do
  :: c < MAX_ORDER -> nfree = nfree + (nr[c] << c); c++
  :: else -> break
  od;
  c = k;
  do
  :: c < MAX_ORDER && nr[c] == 0 -> c++
  :: else -> break
  od;
  if
  :: nfree - ((1 << k) - 1) > 0 && c < MAX_ORDER ->
       b = head[SLOT(c, 0)];
       unlink(b, c);
       do
       :: c > k -> c--; partner = b + (1 << c); add_head(partner, c)
       :: else -> break
       od;
       block[b] = ALLOC_MARK(k)
  :: else -> skip
  fi
}

/* __free_pages of the allocated block at pfn x */
inline free(x) {
  b = x;
  o = block[x] - ALLOC_MARK(0);
  block[x] = 0;
  release()
}

#define ALLOC(k) :: d_step { LO <= k && k <= HI -> alloc(k); scrub() }
#define FREE(x) :: d_step { x < PAGES && block[x] >= ALLOC_MARK(0) -> free(x); scrub() }
#define FREE8(x) FREE(x) FREE(x + 1) FREE(x + 2) FREE(x + 3) FREE(x + 4) FREE(x + 5) FREE(x + 6) FREE(x + 7)

#if PAGES > 64 || PAGES < 1
#error "PAGES must be between 1 and 64"
#endif
#if MAX_ORDER > 11 || MAX_ORDER < 1
#error "MAX_ORDER must be between 1 and 11"
#endif
#if LO < 0 || LO > HI || HI >= MAX_ORDER
#error "need 0 <= LO <= HI < MAX_ORDER"
#endif

/* one line per array, its name and then its elements: what booted.h defines */
#define PRINT_ARRAY(name, array, size) \
  printf(name); \
  i = 0; \
  do \
  :: i < size -> printf(" %d", array[i]); i++ \
  :: else -> break \
  od; \
  printf("\n")

init {
#ifndef BOOTED
  d_step { boot(); scrub() }
#endif
#ifdef SHOW_BOOT
  PRINT_ARRAY("BOOT_HEAD", head, LIST_SLOTS);
  PRINT_ARRAY("BOOT_NR", nr, MAX_ORDER);
  PRINT_ARRAY("BOOT_BLOCK", block, PAGES)
#else
  do
  ALLOC(0) ALLOC(1) ALLOC(2) ALLOC(3) ALLOC(4) ALLOC(5) ALLOC(6) ALLOC(7) ALLOC(8) ALLOC(9) ALLOC(10)
  FREE8(0) FREE8(8) FREE8(16) FREE8(24) FREE8(32) FREE8(40) FREE8(48) FREE8(56)
  od
#endif
}
