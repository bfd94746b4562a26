/* samples: intset: a set of integers (sorted list, red-black tree, skip list or hash set) under concurrent updates and lookups. */
/*
 * Usage: intset [-t list|rbtree|skiplist|hash] [-n threads] [-d duration_ms]
 *               [-i initial_size] [-r range] [-u update_percent] [-a] [-b buckets] [-s seed]
 *
 * The options and the workload follow TinySTM's intset benchmark. The set
 * starts with -i distinct random keys from 1 to -r. Each thread then runs
 * operations, each one transaction: with probability -u percent an update,
 * otherwise a lookup of a random key. Updates alternate: an insertion of a
 * random key, then the removal of the key it inserted (so half are inserts,
 * half removals, and the size stays near -i); with -a they are independent,
 * random inserts and removals of random keys instead.
 *
 * At the end the structure is checked (order, links, the red-black rules,
 * every key in its bucket) and its size must be the initial size plus the
 * successful inserts minus the successful removals. Prints one result line;
 * exits 0 when all of that held, 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "samples/tm.h"

TM_DEFINE_GLOBALS

enum set_type { SET_LIST, SET_RBTREE, SET_SKIPLIST, SET_HASH };
static const char *const type_names[] = { "list", "rbtree", "skiplist", "hash" };

static TM_PURE __attribute__((noreturn)) void out_of_memory(void)
{
	fprintf(stderr, "intset: out of memory\n");
	exit(1);
}

static void *alloc_or_die(size_t n)
{
	void *p = malloc(n);

	if (!p)
		out_of_memory();
	return p;
}

/* Counts what the final check found wrong (the first problem is printed). */
static long damage;

static __attribute__((format(printf, 1, 2))) void damaged(const char *fmt, ...)
{
	va_list ap;

	if (damage++ == 0) {
		fprintf(stderr, "intset: damaged structure: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
}

/* ------------------------------------------------------- sorted linked list */

struct lnode {
	long key;
	struct lnode *next;
};

struct list {
	struct lnode *head;   /* sentinel with LONG_MIN, never removed; the tail has LONG_MAX */
};

static struct list *list_new(void)
{
	struct list *l = alloc_or_die(sizeof(*l));
	struct lnode *tail = alloc_or_die(sizeof(*tail));

	tail->key = LONG_MAX;
	tail->next = NULL;
	l->head = alloc_or_die(sizeof(*l->head));
	l->head->key = LONG_MIN;
	l->head->next = tail;
	return l;
}

static int list_contains(struct list *l, long key)
{
	TM_RESULT int found = 0;

	TM_ATOMIC {
		struct lnode *head = TM_READ(l->head);
		struct lnode *next = TM_READ(head->next);
		long v;

		while ((v = TM_READ(next->key)) < key)
			next = TM_READ(next->next);
		found = v == key;
	}
	return found;
}

static int list_add(struct list *l, long key)
{
	TM_RESULT int added = 0;

	TM_ATOMIC {
		struct lnode *prev = TM_READ(l->head);
		struct lnode *next = TM_READ(prev->next);
		long v;

		while ((v = TM_READ(next->key)) < key) {
			prev = next;
			next = TM_READ(prev->next);
		}
		added = v != key;
		if (added) {
			struct lnode *n = TM_MALLOC(sizeof(*n));

			if (!n)
				out_of_memory();
			n->key = key;   /* not yet published: plain stores */
			n->next = next;
			TM_WRITE(prev->next, n);
		}
	}
	return added;
}

static int list_remove(struct list *l, long key)
{
	TM_RESULT int removed = 0;

	TM_ATOMIC {
		struct lnode *prev = TM_READ(l->head);
		struct lnode *next = TM_READ(prev->next);
		long v;

		while ((v = TM_READ(next->key)) < key) {
			prev = next;
			next = TM_READ(prev->next);
		}
		removed = v == key;
		if (removed) {
			TM_WRITE(prev->next, TM_READ(next->next));
			TM_FREE(next);
		}
	}
	return removed;
}

static long list_check(struct list *l)
{
	long size = 0, prev = LONG_MIN;
	struct lnode *n;

	for (n = l->head->next; n && n->next; n = n->next, size++) {
		if (n->key <= prev)
			damaged("list keys out of order: %ld after %ld", n->key, prev);
		prev = n->key;
	}
	if (!n || n->key != LONG_MAX)
		damaged("list does not end with its tail (after %ld keys)", size);
	return size;
}

static void list_free(struct list *l)
{
	for (struct lnode *n = l->head, *next; n; n = next) {
		next = n->next;
		free(n);
	}
	free(l);
}

/* ------------------------------------------------------- red-black tree */

struct rbnode {
	long key;
	struct rbnode *left, *right, *parent;
	long red;   /* 1 red, 0 black; a whole word, like the other fields */
};

struct rbtree {
	struct rbnode *root;
};

static struct rbtree *rb_new(void)
{
	struct rbtree *t = alloc_or_die(sizeof(*t));

	t->root = NULL;
	return t;
}

static TM_SAFE int rb_is_red(struct rbnode *n)
{
	return n && TM_READ(n->red);
}

/* Puts @p new where @p old hangs under @p parent (the root when parent is NULL). */
static TM_SAFE void rb_replace_child(struct rbtree *t, struct rbnode *parent, struct rbnode *old,
                                     struct rbnode *new)
{
	if (!parent)
		TM_WRITE(t->root, new);
	else if (TM_READ(parent->left) == old)
		TM_WRITE(parent->left, new);
	else
		TM_WRITE(parent->right, new);
}

static TM_SAFE void rb_rotate_left(struct rbtree *t, struct rbnode *x)
{
	struct rbnode *y = TM_READ(x->right);
	struct rbnode *middle = TM_READ(y->left);
	struct rbnode *p = TM_READ(x->parent);

	TM_WRITE(x->right, middle);
	if (middle)
		TM_WRITE(middle->parent, x);
	TM_WRITE(y->parent, p);
	rb_replace_child(t, p, x, y);
	TM_WRITE(y->left, x);
	TM_WRITE(x->parent, y);
}

static TM_SAFE void rb_rotate_right(struct rbtree *t, struct rbnode *x)
{
	struct rbnode *y = TM_READ(x->left);
	struct rbnode *middle = TM_READ(y->right);
	struct rbnode *p = TM_READ(x->parent);

	TM_WRITE(x->left, middle);
	if (middle)
		TM_WRITE(middle->parent, x);
	TM_WRITE(y->parent, p);
	rb_replace_child(t, p, x, y);
	TM_WRITE(y->right, x);
	TM_WRITE(x->parent, y);
}

static TM_SAFE struct rbnode *rb_find(struct rbtree *t, long key)
{
	struct rbnode *n = TM_READ(t->root);

	while (n) {
		long k = TM_READ(n->key);

		if (k == key)
			return n;
		n = TM_READ_SELECT(key < k, n->left, n->right);
	}
	return NULL;
}

static TM_SAFE int rb_insert(struct rbtree *t, long key)
{
	struct rbnode *p = NULL, *x = TM_READ(t->root), *z;

	while (x) {
		long k = TM_READ(x->key);

		if (k == key)
			return 0;
		p = x;
		x = TM_READ_SELECT(key < k, x->left, x->right);
	}
	z = TM_MALLOC(sizeof(*z));
	if (!z)
		out_of_memory();
	z->key = key;   /* not yet published: plain stores */
	z->left = z->right = NULL;
	z->parent = p;
	z->red = 1;
	if (!p)
		TM_WRITE(t->root, z);
	else if (key < TM_READ(p->key))
		TM_WRITE(p->left, z);
	else
		TM_WRITE(p->right, z);

	/* Restore the rules: no red node has a red child; the root is black. */
	while ((p = TM_READ(z->parent)) && TM_READ(p->red)) {
		struct rbnode *g = TM_READ(p->parent);   /* p is red, so not the root */

		if (p == TM_READ(g->left)) {
			struct rbnode *uncle = TM_READ(g->right);

			if (rb_is_red(uncle)) {
				TM_WRITE(p->red, 0);
				TM_WRITE(uncle->red, 0);
				TM_WRITE(g->red, 1);
				z = g;
				continue;
			}
			if (z == TM_READ(p->right)) {
				z = p;
				rb_rotate_left(t, z);
				p = TM_READ(z->parent);
			}
			TM_WRITE(p->red, 0);
			TM_WRITE(g->red, 1);
			rb_rotate_right(t, g);
		} else {
			struct rbnode *uncle = TM_READ(g->left);

			if (rb_is_red(uncle)) {
				TM_WRITE(p->red, 0);
				TM_WRITE(uncle->red, 0);
				TM_WRITE(g->red, 1);
				z = g;
				continue;
			}
			if (z == TM_READ(p->left)) {
				z = p;
				rb_rotate_right(t, z);
				p = TM_READ(z->parent);
			}
			TM_WRITE(p->red, 0);
			TM_WRITE(g->red, 1);
			rb_rotate_left(t, g);
		}
	}
	struct rbnode *root = TM_READ(t->root);
	if (TM_READ(root->red))
		TM_WRITE(root->red, 0);
	return 1;
}

/* After a black node was unlinked, @p x (possibly NULL) under @p xp is one black short. */
static TM_SAFE void rb_delete_fixup(struct rbtree *t, struct rbnode *x, struct rbnode *xp)
{
	while (x != TM_READ(t->root) && !rb_is_red(x)) {
		if (x == TM_READ(xp->left)) {
			struct rbnode *w = TM_READ(xp->right);   /* not NULL: its side has a black node */

			if (TM_READ(w->red)) {
				TM_WRITE(w->red, 0);
				TM_WRITE(xp->red, 1);
				rb_rotate_left(t, xp);
				w = TM_READ(xp->right);
			}
			if (!rb_is_red(TM_READ(w->left)) && !rb_is_red(TM_READ(w->right))) {
				TM_WRITE(w->red, 1);
				x = xp;
				xp = TM_READ(x->parent);
				continue;
			}
			if (!rb_is_red(TM_READ(w->right))) {
				struct rbnode *wl = TM_READ(w->left);

				TM_WRITE(wl->red, 0);
				TM_WRITE(w->red, 1);
				rb_rotate_right(t, w);
				w = TM_READ(xp->right);
			}
			struct rbnode *wr = TM_READ(w->right);
			TM_WRITE(w->red, TM_READ(xp->red));
			TM_WRITE(xp->red, 0);
			TM_WRITE(wr->red, 0);
			rb_rotate_left(t, xp);
		} else {
			struct rbnode *w = TM_READ(xp->left);

			if (TM_READ(w->red)) {
				TM_WRITE(w->red, 0);
				TM_WRITE(xp->red, 1);
				rb_rotate_right(t, xp);
				w = TM_READ(xp->left);
			}
			if (!rb_is_red(TM_READ(w->left)) && !rb_is_red(TM_READ(w->right))) {
				TM_WRITE(w->red, 1);
				x = xp;
				xp = TM_READ(x->parent);
				continue;
			}
			if (!rb_is_red(TM_READ(w->left))) {
				struct rbnode *wr = TM_READ(w->right);

				TM_WRITE(wr->red, 0);
				TM_WRITE(w->red, 1);
				rb_rotate_left(t, w);
				w = TM_READ(xp->left);
			}
			struct rbnode *wl = TM_READ(w->left);
			TM_WRITE(w->red, TM_READ(xp->red));
			TM_WRITE(xp->red, 0);
			TM_WRITE(wl->red, 0);
			rb_rotate_right(t, xp);
		}
		x = TM_READ(t->root);
		xp = NULL;
	}
	if (x)
		TM_WRITE(x->red, 0);
}

static TM_SAFE int rb_delete(struct rbtree *t, long key)
{
	struct rbnode *z = rb_find(t, key), *y, *x, *xp, *l;

	if (!z)
		return 0;
	/* Unlink y: z itself if it has at most one child, else z's successor,
	 * whose key then moves into z. */
	y = z;
	if (TM_READ(z->left) && (l = TM_READ(z->right)) != NULL) {
		y = l;
		while ((l = TM_READ(y->left)) != NULL)
			y = l;
	}
	x = TM_READ(y->left);
	if (!x)
		x = TM_READ(y->right);
	xp = TM_READ(y->parent);
	if (x)
		TM_WRITE(x->parent, xp);
	rb_replace_child(t, xp, y, x);
	if (y != z)
		TM_WRITE(z->key, TM_READ(y->key));
	if (!TM_READ(y->red))
		rb_delete_fixup(t, x, xp);
	TM_FREE(y);
	return 1;
}

static int rbtree_contains(struct rbtree *t, long key)
{
	TM_RESULT int found = 0;

	TM_ATOMIC {
		found = rb_find(t, key) != NULL;
	}
	return found;
}

static int rbtree_add(struct rbtree *t, long key)
{
	TM_RESULT int added = 0;

	TM_ATOMIC {
		added = rb_insert(t, key);
	}
	return added;
}

static int rbtree_remove(struct rbtree *t, long key)
{
	TM_RESULT int removed = 0;

	TM_ATOMIC {
		removed = rb_delete(t, key);
	}
	return removed;
}

static int rb_is_red_plain(const struct rbnode *n)
{
	return n && n->red;
}

/* Checks the subtree under @p n (keys strictly between lo and hi); returns its black height. */
static long rb_check_node(struct rbnode *n, struct rbnode *parent, long lo, long hi, long *size)
{
	if (!n)
		return 1;
	++*size;
	if (n->parent != parent)
		damaged("rbtree node %ld has a wrong parent link", n->key);
	if (n->key <= lo || n->key >= hi)
		damaged("rbtree key %ld out of order (bound %ld)", n->key, n->key <= lo ? lo : hi);
	if (n->red && (rb_is_red_plain(n->left) || rb_is_red_plain(n->right)))
		damaged("rbtree red node %ld has a red child", n->key);
	long bl = rb_check_node(n->left, n, lo, n->key, size);
	long br = rb_check_node(n->right, n, n->key, hi, size);
	if (bl != br)
		damaged("rbtree node %ld: black heights differ (left %ld)", n->key, bl);
	return bl + !n->red;
}

static long rbtree_check(struct rbtree *t)
{
	long size = 0;

	if (t->root && t->root->red)
		damaged("rbtree root %ld is red", t->root->key);
	rb_check_node(t->root, NULL, LONG_MIN, LONG_MAX, &size);
	return size;
}

static void rb_free_node(struct rbnode *n)
{
	if (n) {
		rb_free_node(n->left);
		rb_free_node(n->right);
		free(n);
	}
}

static void rbtree_free(struct rbtree *t)
{
	rb_free_node(t->root);
	free(t);
}

/* ------------------------------------------------------- skip list */

#define SKIP_MAX_LEVEL 32   /* levels 0..32, as TinySTM's */
#define SKIP_PERCENT 50     /* a node reaches the next level with this probability */

struct snode {
	long key;
	long level;                /* highest level it is linked on */
	struct snode *next[];      /* next[0..level] */
};

struct skiplist {
	struct snode *head, *tail; /* sentinels on every level; never change */
	long level;                /* highest level in use */
};

static struct snode *snode_new_plain(long key, long level)
{
	struct snode *n = alloc_or_die(sizeof(*n) + (size_t)(level + 1) * sizeof(n->next[0]));

	n->key = key;
	n->level = level;
	return n;
}

static struct skiplist *skip_new(void)
{
	struct skiplist *s = alloc_or_die(sizeof(*s));

	s->tail = snode_new_plain(LONG_MAX, SKIP_MAX_LEVEL);
	s->head = snode_new_plain(LONG_MIN, SKIP_MAX_LEVEL);
	for (int i = 0; i <= SKIP_MAX_LEVEL; i++) {
		s->head->next[i] = s->tail;
		s->tail->next[i] = NULL;
	}
	s->level = 0;
	return s;
}

/* Drawn before the transaction, so that a re-run does not draw again. */
static long skip_random_level(uint64_t *seed)
{
	long l = 0;

	while (l < SKIP_MAX_LEVEL && (int)(tm_rand(seed) % 100) < SKIP_PERCENT)
		l++;
	return l;
}

/* Finds, on every level from @p level down, the last node before @p key;
 * returns the key of the first node at or after it on level 0. */
static TM_SAFE long skip_search(struct skiplist *s, long key, long level, struct snode **update,
                                struct snode **found)
{
	struct snode *node = s->head, *next = NULL;
	long v = LONG_MIN;

	for (long i = level; i >= 0; i--) {
		next = TM_READ(node->next[i]);
		while ((v = TM_READ(next->key)) < key) {
			node = next;
			next = TM_READ(node->next[i]);
		}
		if (update)
			update[i] = node;
	}
	*found = next;
	return v;
}

static int skip_contains(struct skiplist *s, long key)
{
	TM_RESULT int found = 0;

	TM_ATOMIC {
		struct snode *n;

		found = skip_search(s, key, TM_READ(s->level), NULL, &n) == key;
	}
	return found;
}

static int skip_add(struct skiplist *s, long key, long new_level)
{
	TM_RESULT int added = 0;

	TM_ATOMIC {
		struct snode *update[SKIP_MAX_LEVEL + 1], *n;
		long level = TM_READ(s->level);

		added = skip_search(s, key, level, update, &n) != key;
		if (added) {
			if (new_level > level) {
				for (long i = level + 1; i <= new_level; i++)
					update[i] = s->head;
				TM_WRITE(s->level, new_level);
			}
			n = TM_MALLOC(sizeof(*n) + (size_t)(new_level + 1) * sizeof(n->next[0]));
			if (!n)
				out_of_memory();
			n->key = key;   /* not yet published: plain stores */
			n->level = new_level;
			for (long i = 0; i <= new_level; i++) {
				n->next[i] = TM_READ(update[i]->next[i]);
				TM_WRITE(update[i]->next[i], n);
			}
		}
	}
	return added;
}

static int skip_remove(struct skiplist *s, long key)
{
	TM_RESULT int removed = 0;

	TM_ATOMIC {
		struct snode *update[SKIP_MAX_LEVEL + 1], *n;
		long level = TM_READ(s->level);

		removed = skip_search(s, key, level, update, &n) == key;
		if (removed) {
			for (long i = 0; i <= level; i++) {
				if (TM_READ(update[i]->next[i]) == n)
					TM_WRITE(update[i]->next[i], TM_READ(n->next[i]));
			}
			long top = level;
			while (top > 0 && TM_READ(s->head->next[top]) == s->tail)
				top--;
			if (top != level)
				TM_WRITE(s->level, top);
			/* Its level never changes once it is linked in. */
			TM_FREE_SIZED(n, sizeof(*n) + (size_t)(TM_READ(n->level) + 1) * sizeof(n->next[0]));
		}
	}
	return removed;
}

static long skip_check(struct skiplist *s)
{
	long size = 0, top = 0;

	for (int i = 0; i <= SKIP_MAX_LEVEL; i++) {
		long prev = LONG_MIN, count = 0;
		struct snode *n;

		for (n = s->head->next[i]; n && n != s->tail; n = n->next[i], count++) {
			if (n->key <= prev)
				damaged("skip list level %d: keys out of order at %ld", i, n->key);
			if (n->level < i)
				damaged("skip list node %ld linked on level %d, above its level %ld", n->key, i, n->level);
			prev = n->key;
		}
		if (n != s->tail)
			damaged("skip list level %d does not end with the tail", i);
		if (i == 0)
			size = count;
		if (count)
			top = i;
	}
	if (top > s->level)
		damaged("skip list level %ld in use above the recorded level %ld", top, s->level);
	return size;
}

static void skip_free(struct skiplist *s)
{
	for (struct snode *n = s->head, *next; n; n = next) {
		next = n->next[0];
		free(n);
	}
	free(s);
}

/* ------------------------------------------------------- hash set */

struct hnode {
	long key;
	struct hnode *next;
};

struct hashset {
	struct hnode **buckets;    /* the array never moves; its slots are shared */
	unsigned long mask;        /* buckets - 1 */
};

/* Knuth's multiplicative hashing, as in TinySTM's hash set. */
static TM_SAFE unsigned long hash_bucket(const struct hashset *h, long key)
{
	return ((uint32_t)key * 2654435761u) & h->mask;
}

static struct hashset *hash_new(long buckets)
{
	struct hashset *h = alloc_or_die(sizeof(*h));

	h->buckets = calloc((size_t)buckets, sizeof(h->buckets[0]));
	if (!h->buckets)
		out_of_memory();
	h->mask = (unsigned long)buckets - 1;
	return h;
}

static int hash_contains(struct hashset *h, long key)
{
	TM_RESULT int found = 0;

	TM_ATOMIC {
		struct hnode *n = TM_READ(h->buckets[hash_bucket(h, key)]);

		while (n && TM_READ(n->key) != key)
			n = TM_READ(n->next);
		found = n != NULL;
	}
	return found;
}

static int hash_add(struct hashset *h, long key)
{
	TM_RESULT int added = 0;

	TM_ATOMIC {
		struct hnode **slot = &h->buckets[hash_bucket(h, key)];
		struct hnode *first = TM_READ(*slot), *n = first;

		while (n && TM_READ(n->key) != key)
			n = TM_READ(n->next);
		added = n == NULL;
		if (added) {
			n = TM_MALLOC(sizeof(*n));
			if (!n)
				out_of_memory();
			n->key = key;   /* not yet published: plain stores */
			n->next = first;
			TM_WRITE(*slot, n);
		}
	}
	return added;
}

static int hash_remove(struct hashset *h, long key)
{
	TM_RESULT int removed = 0;

	TM_ATOMIC {
		struct hnode **link = &h->buckets[hash_bucket(h, key)];
		struct hnode *n = TM_READ(*link);

		while (n && TM_READ(n->key) != key) {
			link = &n->next;
			n = TM_READ(n->next);
		}
		removed = n != NULL;
		if (removed) {
			TM_WRITE(*link, TM_READ(n->next));
			TM_FREE(n);
		}
	}
	return removed;
}

static long hash_check(struct hashset *h)
{
	long size = 0;

	for (unsigned long b = 0; b <= h->mask; b++) {
		for (struct hnode *n = h->buckets[b]; n; n = n->next, size++) {
			if (hash_bucket(h, n->key) != b)
				damaged("hash key %ld in the wrong bucket %lu", n->key, b);
			for (struct hnode *m = n->next; m; m = m->next)
				if (m->key == n->key)
					damaged("hash key %ld twice in bucket %lu", n->key, b);
		}
	}
	return size;
}

static void hash_free(struct hashset *h)
{
	for (unsigned long b = 0; b <= h->mask; b++) {
		for (struct hnode *n = h->buckets[b], *next; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(h->buckets);
	free(h);
}

/* ------------------------------------------------------- one interface */

static enum set_type set_type = SET_LIST;
static union {
	struct list *list;
	struct rbtree *rbtree;
	struct skiplist *skip;
	struct hashset *hash;
} set;

static int set_contains(long key)
{
	switch (set_type) {
	case SET_LIST: return list_contains(set.list, key);
	case SET_RBTREE: return rbtree_contains(set.rbtree, key);
	case SET_SKIPLIST: return skip_contains(set.skip, key);
	default: return hash_contains(set.hash, key);
	}
}

static int set_add(long key, uint64_t *seed)
{
	switch (set_type) {
	case SET_LIST: return list_add(set.list, key);
	case SET_RBTREE: return rbtree_add(set.rbtree, key);
	case SET_SKIPLIST: return skip_add(set.skip, key, skip_random_level(seed));
	default: return hash_add(set.hash, key);
	}
}

static int set_remove(long key)
{
	switch (set_type) {
	case SET_LIST: return list_remove(set.list, key);
	case SET_RBTREE: return rbtree_remove(set.rbtree, key);
	case SET_SKIPLIST: return skip_remove(set.skip, key);
	default: return hash_remove(set.hash, key);
	}
}

/* Checks the structure (problems go to damaged()) and returns its size. */
static long set_check(void)
{
	switch (set_type) {
	case SET_LIST: return list_check(set.list);
	case SET_RBTREE: return rbtree_check(set.rbtree);
	case SET_SKIPLIST: return skip_check(set.skip);
	default: return hash_check(set.hash);
	}
}

static void set_free(void)
{
	switch (set_type) {
	case SET_LIST: list_free(set.list); break;
	case SET_RBTREE: rbtree_free(set.rbtree); break;
	case SET_SKIPLIST: skip_free(set.skip); break;
	default: hash_free(set.hash); break;
	}
}

/* ------------------------------------------------------- the run */

static long key_range = 512;
static int update_percent = 20;
static int alternate = 1;
static volatile int stop;   /* set by the main thread; a plain flag is enough here */
static pthread_barrier_t start_line;

struct worker {
	pthread_t thread;
	uint64_t seed;
	uint64_t adds, removes, contains, found;
	long diff;   /* successful adds minus successful removes */
	char pad[64];
};

static long random_key(uint64_t *seed)
{
	return (long)(tm_rand(seed) % (uint64_t)key_range) + 1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	long last = -1;   /* the key this thread inserted last, to remove next */

	TM_THREAD_ENTER();
	pthread_barrier_wait(&start_line);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		int op = (int)(tm_rand(&w->seed) % 100);

		if (op >= update_percent) {
			if (set_contains(random_key(&w->seed)))
				w->found++;
			w->contains++;
		} else if (alternate ? last < 0 : (op & 1) == 0) {
			long key = random_key(&w->seed);

			if (set_add(key, &w->seed)) {
				w->diff++;
				last = key;
			}
			w->adds++;
		} else {
			long key = alternate ? last : random_key(&w->seed);

			if (set_remove(key))
				w->diff--;
			w->removes++;
			last = -1;
		}
	}
	TM_THREAD_EXIT();
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: intset [-t list|rbtree|skiplist|hash] [-n threads] [-d duration_ms]\n"
	           "              [-i initial_size] [-r range] [-u update_percent] [-a] [-b buckets] [-s seed]\n"
	           "  -t  the set: sorted linked list, red-black tree, skip list or hash set (default list)\n"
	           "  -n  threads (default 1)\n"
	           "  -d  duration in milliseconds (default 2000)\n"
	           "  -i  keys in the set at the start (default 256)\n"
	           "  -r  keys are drawn from 1 to this (default twice -i)\n"
	           "  -u  percent of operations that update (default 20)\n"
	           "  -a  do not alternate inserts and removals: random ones of random keys\n"
	           "  -b  hash set buckets, a power of two (default 65536)\n"
	           "  -s  random seed (default 1)\n");
}

int main(int argc, char **argv)
{
	long threads = 1, duration = 2000, initial = 256, seed = 1, buckets = 65536;
	int c, range_given = 0;

	while ((c = getopt(argc, argv, "t:n:d:i:r:u:ab:s:h")) != -1) {
		switch (c) {
		case 't': {
			int i;

			for (i = 0; i < 4 && strcmp(optarg, type_names[i]) != 0; i++)
				;
			if (i == 4) {
				fprintf(stderr, "intset: -t must be list, rbtree, skiplist or hash, not \"%s\"\n",
				        optarg);
				return 2;
			}
			set_type = (enum set_type)i;
			break;
		}
		case 'n': threads = tm_parse("intset", c, optarg, 1, TM_MAX_THREADS); break;
		case 'd': duration = tm_parse("intset", c, optarg, 1, 3600000); break;
		case 'i': initial = tm_parse("intset", c, optarg, 0, 1L << 26); break;
		case 'r': key_range = tm_parse("intset", c, optarg, 1, INT32_MAX); range_given = 1; break;
		case 'u': update_percent = (int)tm_parse("intset", c, optarg, 0, 100); break;
		case 'a': alternate = 0; break;
		case 'b': buckets = tm_parse("intset", c, optarg, 1, 1L << 30); break;
		case 's': seed = tm_parse("intset", c, optarg, 0, LONG_MAX); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!range_given)
		key_range = initial > 0 ? 2 * initial : 1;
	if (initial > key_range) {
		fprintf(stderr, "intset: -i %ld keys do not fit in the range 1..%ld\n", initial, key_range);
		return 2;
	}
	if (buckets & (buckets - 1)) {
		fprintf(stderr, "intset: -b must be a power of two, not %ld\n", buckets);
		return 2;
	}

	TM_STARTUP();
	switch (set_type) {
	case SET_LIST: set.list = list_new(); break;
	case SET_RBTREE: set.rbtree = rb_new(); break;
	case SET_SKIPLIST: set.skip = skip_new(); break;
	default: set.hash = hash_new(buckets); break;
	}
	uint64_t fill_seed = tm_seed(seed, -1);
	for (long n = 0; n < initial;)
		n += set_add(random_key(&fill_seed), &fill_seed);

	struct worker *w = calloc((size_t)threads, sizeof(*w));
	if (!w)
		out_of_memory();
	struct lucid_stats before;
	tm_stats_get(&before);
	pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
	for (long i = 0; i < threads; i++) {
		w[i].seed = tm_seed(seed, i);
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "intset: cannot create thread %ld\n", i);
			return 1;
		}
	}
	pthread_barrier_wait(&start_line);

	double secs, cpu_secs;
	tm_run_for(duration, &stop, &secs, &cpu_secs);
	uint64_t adds = 0, removes = 0, contains = 0, found = 0;
	long diff = 0;
	for (long i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		adds += w[i].adds;
		removes += w[i].removes;
		contains += w[i].contains;
		found += w[i].found;
		diff += w[i].diff;
	}
	uint64_t txs = adds + removes + contains;

	long size = set_check();
	int ok = damage == 0 && size == initial + diff && tm_violations_seen() == 0;

	printf("intset variant=%s set=%s threads=%ld duration_ms=%.0f cpu_ms=%.0f initial=%ld range=%ld "
	       "update_pct=%d alternate=%d",
	       TM_VARIANT, type_names[set_type], threads, secs * 1000, cpu_secs * 1000, initial, key_range,
	       update_percent, alternate);
	if (set_type == SET_HASH)
		printf(" buckets=%ld", buckets);
	printf(" txs=%" PRIu64 " throughput=%.0f adds=%" PRIu64 " removes=%" PRIu64
	       " contains=%" PRIu64 " found=%" PRIu64,
	       txs, (double)txs / secs, adds, removes, contains, found);
	tm_stats_print(stdout, &before, txs);
	printf(" size=%ld expected=%ld invariant=%s\n", size, initial + diff, ok ? "ok" : "VIOLATED");
	pthread_barrier_destroy(&start_line);
	set_free();
	free(w);
	TM_SHUTDOWN();
	return ok ? 0 : 1;
}
