/* Synthetic MATH-like benchmark generator and step checker; see synth.h. */
#include "data/synth.h"

#include "base/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- vocabulary: small and fixed, so a tiny model can learn it ---------- */

typedef struct { const char *name, *subj, *obj, *poss; } person;
static const person people[] = {
    {"Ann", "She", "her", "her"}, {"Amy", "She", "her", "her"},
    {"Eva", "She", "her", "her"}, {"Ivy", "She", "her", "her"},
    {"Mia", "She", "her", "her"}, {"Zoe", "She", "her", "her"},
    {"Ben", "He", "him", "his"},  {"Dan", "He", "him", "his"},
    {"Sam", "He", "him", "his"},  {"Tom", "He", "him", "his"},
    {"Max", "He", "him", "his"},  {"Leo", "He", "him", "his"},
};
static const char *items[] = {
    "apples", "pens", "books", "coins", "eggs", "cards",
    "shells", "stamps", "marbles", "cookies", "beads", "stickers",
};
#define N_PEOPLE ((int)(sizeof people / sizeof people[0]))
#define N_ITEMS  ((int)(sizeof items / sizeof items[0]))

/* Per-level knobs. Steps count computation lines (groups and remainders take
 * two). */
typedef struct {
    int steps_lo, steps_hi;   /* computation lines */
    int start_lo, start_hi;   /* the first quantity */
    int arg_hi;               /* largest added/subtracted operand */
    int factor_hi;            /* largest multiplier/divisor */
    int max_val;              /* running value never exceeds this */
    int p_groups, p_mul, p_div; /* percent chance of these op kinds */
    int p_distract;           /* percent chance of a distractor sentence */
    int p_more, p_rem;        /* percent chance of the final twists */
} level_cfg;

static const level_cfg cfgs[TTC_SYNTH_LEVELS] = {
    /* steps  start      arg  fac  max   grp mul div dis more rem */
    {1, 2,   2,  20,     9,  2,   40,    0,  0,  0,  0,  0,   0},
    {2, 3,   5,  40,    20,  3,  120,    0, 25,  0, 15, 15,   0},
    {3, 4,  10,  99,    50,  5,  400,   25, 20, 10, 35, 20,  10},
    {4, 5,  20, 200,    99,  9, 1500,   30, 20, 20, 60, 25,  20},
    {5, 7,  50, 500,   250,  9, 5000,   30, 20, 20, 100, 30, 30},
};

/* ---- small string builder ---------------------------------------------- */

typedef struct { char *p; size_t cap, len; bool full; } sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->full) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) { b->full = true; b->p[b->len] = 0; return; }
    b->len += (size_t)n;
}

static int rnd(ttc_rng *r, int lo, int hi) { /* uniform in [lo, hi] */
    return hi <= lo ? lo : lo + (int)ttc_rng_below(r, (uint64_t)(hi - lo + 1));
}
static bool chance(ttc_rng *r, int percent) { return (int)ttc_rng_below(r, 100) < percent; }

/* ---- one problem -------------------------------------------------------- */

#define MAX_SENT 12

/* Inserts s where it cannot make another sentence ambiguous: a sentence
 * about the main person P goes last (before the question); one about
 * someone else goes first or last. Anywhere in between, the next sentence
 * ("She loses 8.", "Tom gives her 5 more.", "Then she gets 2 times as
 * many.") could be read as being about the inserted person or item. */
static void insert_sentence(ttc_rng *r, char sent[][96], int *ns, const char *s, bool about_p) {
    int at = about_p || chance(r, 50) ? *ns : 0;
    memmove(sent[at + 1], sent[at], (size_t)(*ns - at) * sizeof sent[0]);
    snprintf(sent[at], 96, "%s", s);
    (*ns)++;
}

/* Builds one candidate; returns false when it came out too long (the caller
 * draws again from the same stream). */
static bool make_once(ttc_rng *r, int level, ttc_synth_problem *out) {
    const level_cfg *c = &cfgs[level - 1];
    int ip = rnd(r, 0, N_PEOPLE - 1);
    int jf = (ip + rnd(r, 1, N_PEOPLE - 1)) % N_PEOPLE;      /* friend in ops */
    int jg = jf;                                             /* other person */
    while (jg == jf || jg == ip) jg = rnd(r, 0, N_PEOPLE - 1);
    const person *P = &people[ip], *F = &people[jf], *G = &people[jg];
    int it = rnd(r, 0, N_ITEMS - 1);
    const char *item = items[it];

    char sent[MAX_SENT][96];
    int ns = 0;
    char pb[sizeof out->problem], sb[sizeof out->solution];
    sbuf prob = {pb, sizeof pb, 0, false}, sol = {sb, sizeof sb, 0, false};

    int target = rnd(r, c->steps_lo, c->steps_hi);
    int twist = 0; /* 0 none, 1 how-many-more, 2 remainder */
    if (chance(r, c->p_rem) && target >= 3) twist = 2;
    else if (chance(r, c->p_more) && target >= 2) twist = 1;
    int body = target - (twist == 2 ? 2 : twist == 1 ? 1 : 0);
    int steps = 0;
    long x;

    /* opening quantity */
    if (c->p_groups && body >= 2 && chance(r, c->p_groups)) {
        int k = rnd(r, 2, c->factor_hi), m = rnd(r, 2, TTC_MIN(c->arg_hi, c->max_val / k));
        x = (long)k * m;
        snprintf(sent[ns++], 96, "%s buys %d packs of %d %s.", P->name, k, m, item);
        sb_printf(&sol, "%s buys %d packs of %d, so %d * %d = %ld.\n", P->name, k, m, k, m, x);
        steps++;
    } else {
        x = rnd(r, c->start_lo, c->start_hi);
        snprintf(sent[ns++], 96, "%s has %ld %s.", P->name, x, item);
    }

    while (steps < body && ns < MAX_SENT - 3) {
        int left = body - steps;
        long y;
        int kind = (int)ttc_rng_below(r, 100);
        int pg = c->p_groups, pm = c->p_mul, pd = c->p_div;
        if (kind < pg && left >= 2) {                 /* groups: k * m, then +/- */
            int k = rnd(r, 2, c->factor_hi);
            bool add = x < 2 * k || chance(r, 55);
            long room = add ? (c->max_val - x) / k : (x - 1) / k;
            if (room < 2) continue;
            int m = rnd(r, 2, (int)TTC_MIN(room, (long)c->arg_hi));
            long p = (long)k * m;
            if (add) {
                y = x + p;
                snprintf(sent[ns++], 96, "%s buys %d packs of %d.", P->subj, k, m);
                sb_printf(&sol, "%s buys %d packs of %d, so %d * %d = %ld.\n", P->subj, k, m, k, m, p);
                sb_printf(&sol, "Then %s has %ld + %ld = %ld.\n", P->subj[0] == 'S' ? "she" : "he", x, p, y);
            } else {
                y = x - p;
                snprintf(sent[ns++], 96, "%s gives %d friends %d each.", P->subj, k, m);
                sb_printf(&sol, "%s gives %d friends %d each, so %d * %d = %ld.\n", P->subj, k, m, k, m, p);
                sb_printf(&sol, "Then %s has %ld - %ld = %ld.\n", P->subj[0] == 'S' ? "she" : "he", x, p, y);
            }
            steps += 2;
        } else if (kind < pg + pm) {                  /* multiply */
            long kmax = TTC_MIN((long)c->factor_hi, c->max_val / TTC_MAX(x, 1));
            if (kmax < 2) continue;
            int k = rnd(r, 2, (int)kmax);
            y = x * k;
            snprintf(sent[ns++], 96, "Then %s gets %d times as many.", P->subj[0] == 'S' ? "she" : "he", k);
            sb_printf(&sol, "%s gets %d times as many, so %ld * %d = %ld.\n", P->subj, k, x, k, y);
            steps++;
        } else if (kind < pg + pm + pd) {             /* divide exactly */
            int ds[8], nd = 0;
            for (int k = 2; k <= c->factor_hi; k++)
                if (x % k == 0 && x / k >= 2) ds[nd++] = k;
            if (!nd) continue;
            int k = ds[ttc_rng_below(r, (uint64_t)nd)];
            y = x / k;
            snprintf(sent[ns++], 96, "%s splits %s %s into %d equal piles and keeps one.", P->subj, P->poss, item, k);
            sb_printf(&sol, "%s keeps 1 of %d piles, so %ld / %d = %ld.\n", P->subj, k, x, k, y);
            steps++;
        } else if (x >= 2 && (x > c->max_val / 2 || chance(r, 45))) {   /* subtract */
            int b = rnd(r, 1, (int)TTC_MIN((long)c->arg_hi, x - 1));
            y = x - b;
            switch (ttc_rng_below(r, 3)) {
            case 0:
                snprintf(sent[ns++], 96, "%s gives %d to %s.", P->subj, b, F->name);
                sb_printf(&sol, "%s gives away %d, so %ld - %d = %ld.\n", P->subj, b, x, b, y);
                break;
            case 1:
                snprintf(sent[ns++], 96, "%s loses %d.", P->subj, b);
                sb_printf(&sol, "%s loses %d, so %ld - %d = %ld.\n", P->subj, b, x, b, y);
                break;
            default:
                snprintf(sent[ns++], 96, "%s sells %d.", P->subj, b);
                sb_printf(&sol, "%s sells %d, so %ld - %d = %ld.\n", P->subj, b, x, b, y);
            }
            steps++;
        } else {                                       /* add */
            long room = c->max_val - x;
            if (room < 1) continue;
            int b = rnd(r, 1, (int)TTC_MIN((long)c->arg_hi, room));
            y = x + b;
            switch (ttc_rng_below(r, 3)) {
            case 0:
                snprintf(sent[ns++], 96, "%s finds %d more.", P->subj, b);
                sb_printf(&sol, "%s finds %d more, so %ld + %d = %ld.\n", P->subj, b, x, b, y);
                break;
            case 1:
                snprintf(sent[ns++], 96, "%s gives %s %d more.", F->name, P->obj, b);
                sb_printf(&sol, "%s gives %s %d, so %ld + %d = %ld.\n", F->name, P->obj, b, x, b, y);
                break;
            default:
                snprintf(sent[ns++], 96, "%s buys %d more.", P->subj, b);
                sb_printf(&sol, "%s buys %d more, so %ld + %d = %ld.\n", P->subj, b, x, b, y);
            }
            steps++;
        }
        x = y;
    }

    /* distractor: a quantity of another item, anywhere after the opening */
    if (chance(r, c->p_distract) && ns < MAX_SENT - 2) {
        int other = (it + rnd(r, 1, N_ITEMS - 1)) % N_ITEMS;
        int d = rnd(r, 2, c->start_hi);
        bool about_p = chance(r, 50);
        char s[96];
        if (about_p) snprintf(s, sizeof s, "%s also has %d %s.", P->subj, d, items[other]);
        else snprintf(s, sizeof s, "%s has %d %s.", F->name, d, items[other]);
        insert_sentence(r, sent, &ns, s, about_p);
    }

    long ans = x;
    char question[128];
    if (twist == 1 && x >= 2) {                        /* how many more */
        int cg = rnd(r, 1, (int)TTC_MIN(x - 1, (long)c->max_val));
        char s[96];
        snprintf(s, sizeof s, "%s has %d %s.", G->name, cg, item);
        insert_sentence(r, sent, &ns, s, false);
        ans = x - cg;
        sb_printf(&sol, "%s has %d, so %ld - %d = %ld.\n", G->name, cg, x, cg, ans);
        snprintf(question, sizeof question, "How many more %s does %s have than %s?", item, P->name, G->name);
        steps++;
    } else if (twist == 2 && x >= 4) {                 /* remainder */
        int k = rnd(r, 3, TTC_MAX(3, TTC_MIN(c->factor_hi + 3, (int)(x / 2))));
        long q = x / k, p = q * k;
        while (x % k == 0 && k + 1 < x) { k++; q = x / k; p = q * k; }
        ans = x - p;
        snprintf(question, sizeof question, "%s packs %s %s into boxes of %d. How many are left over?",
                 P->name, P->poss, item, k);
        sb_printf(&sol, "%s fills %ld boxes, so %ld * %d = %ld.\n", P->subj, q, q, k, p);
        sb_printf(&sol, "The rest are left over, so %ld - %ld = %ld.\n", x, p, ans);
        steps += 2;
    } else {
        snprintf(question, sizeof question, "How many %s does %s have now?", item, P->name);
    }
    if (steps == 0) {   /* level 1 with a single "has" sentence: add one op */
        int b = rnd(r, 1, c->arg_hi);
        snprintf(sent[ns++], 96, "%s finds %d more.", P->subj, b);
        sb_printf(&sol, "%s finds %d more, so %ld + %d = %ld.\n", P->subj, b, x, b, x + b);
        ans = x + b;
        steps++;
    }
    sb_printf(&sol, "The answer is \\boxed{%ld}.\n", ans);

    for (int i = 0; i < ns; i++) sb_printf(&prob, "%s%s", i ? " " : "", sent[i]);
    sb_printf(&prob, " %s", question);
    if (prob.full || sol.full || prob.len > 300 || sol.len > 300) return false;
    memcpy(out->problem, pb, prob.len + 1);
    memcpy(out->solution, sb, sol.len + 1);
    snprintf(out->answer, sizeof out->answer, "%ld", ans);
    out->level = level;
    out->n_steps = steps;
    out->unique_id[0] = 0;
    return true;
}

void ttc_synth_make(ttc_rng *r, int level, ttc_synth_problem *out) {
    if (level < 1) level = 1;
    if (level > TTC_SYNTH_LEVELS) level = TTC_SYNTH_LEVELS;
    while (!make_once(r, level, out)) {}
}

/* ---- splits, dedup ------------------------------------------------------ */

static uint64_t text_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 0x100000001b3ull; }
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33;
    return h;
}

/* 1/20 of the hash space is test, 1/20 val, the rest train. */
static int split_of_hash(uint64_t h) {
    uint64_t b = h % 20;
    return b == 0 ? TTC_SPLIT_TEST : b == 1 ? TTC_SPLIT_VAL : TTC_SPLIT_TRAIN;
}

int ttc_synth_split_of(const char *problem_text) { return split_of_hash(text_hash(problem_text)); }

const char *ttc_synth_split_name(int split) {
    return split == TTC_SPLIT_TEST ? "test" : split == TTC_SPLIT_VAL ? "val" : "train";
}

int ttc_synth_split_parse(const char *name, int *split, ttc_err *e) {
    if (name && !strcmp(name, "train")) { *split = TTC_SPLIT_TRAIN; return TTC_OK; }
    if (name && !strcmp(name, "val"))   { *split = TTC_SPLIT_VAL;   return TTC_OK; }
    if (name && !strcmp(name, "test"))  { *split = TTC_SPLIT_TEST;  return TTC_OK; }
    return ttc_err_set(e, TTC_EINVAL, "split \"%s\": expected train, val or test", name ? name : "");
}

int ttc_synth_levels_parse(const char *spec, unsigned *mask, ttc_err *e) {
    unsigned m = 0;
    const char *s = spec ? spec : "";
    while (*s) {
        if (*s < '1' || *s > '0' + TTC_SYNTH_LEVELS) goto bad;
        int lo = *s++ - '0', hi = lo;
        if (*s == '-') {
            s++;
            if (*s < '1' || *s > '0' + TTC_SYNTH_LEVELS) goto bad;
            hi = *s++ - '0';
            if (hi < lo) goto bad;
        }
        for (int l = lo; l <= hi; l++) m |= 1u << (l - 1);
        if (*s == ',') { s++; if (!*s) goto bad; }
        else if (*s) goto bad;
    }
    if (!m) goto bad;
    *mask = m;
    return TTC_OK;
bad:
    return ttc_err_set(e, TTC_EINVAL, "levels \"%s\": expected e.g. 1-5, 3 or 1,3,5 (levels 1..%d)",
                       spec ? spec : "", TTC_SYNTH_LEVELS);
}

struct ttc_synth_gen {
    int split;
    uint64_t seed, stream;   /* stream counts candidate draws */
    int levels[TTC_SYNTH_LEVELS], n_levels;
    uint64_t count;          /* problems returned */
    uint64_t *set;           /* open addressing, 0 = empty */
    size_t set_cap, set_len;
};

int ttc_synth_gen_new(ttc_synth_gen **out, int split, uint64_t seed, unsigned level_mask, ttc_err *e) {
    *out = NULL;
    if (split < TTC_SPLIT_TRAIN || split > TTC_SPLIT_TEST)
        return ttc_err_set(e, TTC_EINVAL, "synth: bad split %d", split);
    ttc_synth_gen *g = calloc(1, sizeof *g);
    if (!g) return ttc_err_set(e, TTC_ENOMEM, "synth: out of memory");
    for (int l = 1; l <= TTC_SYNTH_LEVELS; l++)
        if (level_mask & (1u << (l - 1))) g->levels[g->n_levels++] = l;
    if (!g->n_levels) { free(g); return ttc_err_set(e, TTC_EINVAL, "synth: empty level set"); }
    g->split = split;
    /* every split has its own seed stream, on top of the hash partition */
    g->seed = seed ^ (0x5eed0000ull + (uint64_t)split * 0x9e3779b97f4a7c15ull);
    g->set_cap = 1024;
    g->set = calloc(g->set_cap, sizeof *g->set);
    if (!g->set) { free(g); return ttc_err_set(e, TTC_ENOMEM, "synth: out of memory"); }
    *out = g;
    return TTC_OK;
}

void ttc_synth_gen_free(ttc_synth_gen *g) {
    if (!g) return;
    free(g->set);
    free(g);
}

/* Inserts h into the dedup set; *fresh is false when it was already there.
 * TTC_ENOMEM if the set cannot grow. */
static int set_insert(ttc_synth_gen *g, uint64_t h, bool *fresh) {
    if (!h) h = 1;
    if (2 * (g->set_len + 1) > g->set_cap) {
        size_t nc = g->set_cap * 2;
        uint64_t *ns = calloc(nc, sizeof *ns);
        if (!ns) return TTC_ENOMEM;
        for (size_t i = 0; i < g->set_cap; i++) {
            uint64_t v = g->set[i];
            if (!v) continue;
            size_t j = v & (nc - 1);
            while (ns[j]) j = (j + 1) & (nc - 1);
            ns[j] = v;
        }
        free(g->set);
        g->set = ns;
        g->set_cap = nc;
    }
    size_t j = h & (g->set_cap - 1);
    while (g->set[j]) {
        if (g->set[j] == h) { *fresh = false; return TTC_OK; }
        j = (j + 1) & (g->set_cap - 1);
    }
    g->set[j] = h;
    g->set_len++;
    *fresh = true;
    return TTC_OK;
}

int ttc_synth_gen_next(ttc_synth_gen *g, ttc_synth_problem *out, ttc_err *e) {
    int level = g->levels[g->count % (uint64_t)g->n_levels];
    for (int tries = 0; tries < 100000; tries++) {
        ttc_rng r;
        ttc_rng_split(&r, g->seed, g->stream++);
        ttc_synth_make(&r, level, out);
        uint64_t h = text_hash(out->problem);
        if (split_of_hash(h) != g->split) continue;
        bool fresh;
        if (set_insert(g, h, &fresh)) return ttc_err_set(e, TTC_ENOMEM, "synth: out of memory (dedup set)");
        if (!fresh) continue;
        snprintf(out->unique_id, sizeof out->unique_id, "synth/%s/L%d/%06" PRIu64,
                 ttc_synth_split_name(g->split), level, g->count);
        g->count++;
        return TTC_OK;
    }
    return ttc_err_set(e, TTC_ENOMEM, "synth: level %d exhausted after %" PRIu64 " problems of split %s",
                       level, g->count, ttc_synth_split_name(g->split));
}

/* ---- JSONL -------------------------------------------------------------- */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { fputc('\\', f); fputc(ch, f); }
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

int ttc_synth_write_jsonl(FILE *f, const ttc_synth_problem *p, ttc_err *e) {
    fputs("{\"problem\": ", f);
    json_str(f, p->problem);
    fputs(", \"solution\": ", f);
    json_str(f, p->solution);
    fputs(", \"answer\": ", f);
    json_str(f, p->answer);
    fprintf(f, ", \"subject\": \"synth\", \"level\": %d, \"unique_id\": ", p->level);
    json_str(f, p->unique_id);
    fputs("}\n", f);
    if (ferror(f)) return ttc_err_set(e, TTC_EIO, "synth: write failed for %s", p->unique_id);
    return TTC_OK;
}

/* ---- step checker ------------------------------------------------------- */

/* Parses a non-negative integer at *s (digits only, at most 18); advances. */
static bool parse_uint(const char **s, int64_t *v) {
    const char *p = *s;
    int64_t x = 0;
    int n = 0;
    while (*p >= '0' && *p <= '9') {
        if (++n > 18) return false;
        x = x * 10 + (*p++ - '0');
    }
    if (!n) return false;
    *v = x;
    *s = p;
    return true;
}

static void skip_sp(const char **s) { while (**s == ' ') (*s)++; }

/* Tries "A op B = C" at s (s at a digit, not preceded by a digit). */
static bool parse_calc(const char *s, ttc_synth_step *st) {
    int64_t a, b, c;
    if (!parse_uint(&s, &a)) return false;
    skip_sp(&s);
    char op = *s;
    if (op == 'x' || op == 'X') op = '*';
    if (op != '+' && op != '-' && op != '*' && op != '/') return false;
    s++;
    skip_sp(&s);
    if (!parse_uint(&s, &b)) return false;
    skip_sp(&s);
    if (*s++ != '=') return false;
    skip_sp(&s);
    if (!parse_uint(&s, &c)) return false;
    if (*s >= '0' && *s <= '9') return false;
    st->op = op; st->a = a; st->b = b; st->c = c;
    return true;
}

int ttc_synth_check_steps(const char *solution, ttc_synth_step *steps, int cap,
                          int *n_lines, int *n_wrong) {
    int line = 0, nl = 0, nw = 0, first = 0;
    const char *s = solution ? solution : "";
    while (*s) {
        const char *end = strchr(s, '\n');
        if (!end) end = s + strlen(s);
        line++;
        bool blank = true;
        for (const char *p = s; p < end; p++) if (*p != ' ' && *p != '\t' && *p != '\r') blank = false;
        if (!blank) {
            ttc_synth_step st = {.line = line, .status = TTC_STEP_NOCALC};
            for (const char *p = s; p < end; p++) {
                if (*p < '0' || *p > '9' || (p > s && p[-1] >= '0' && p[-1] <= '9')) continue;
                ttc_synth_step t = st;   /* a match never crosses '\n' */
                if (parse_calc(p, &t)) { st = t; st.status = TTC_STEP_OK; }
            }
            if (st.status == TTC_STEP_OK) {
                bool ok;
                switch (st.op) {
                case '+': ok = st.a + st.b == st.c; break;
                case '-': ok = st.a - st.b == st.c; break;
                case '*': ok = (st.b == 0 || st.a <= INT64_MAX / st.b) && st.a * st.b == st.c; break;
                default:  ok = st.b != 0 && st.a % st.b == 0 && st.a / st.b == st.c; break;
                }
                if (!ok) {
                    st.status = TTC_STEP_WRONG;
                    nw++;
                    if (!first) first = line;
                }
            }
            if (steps && nl < cap) steps[nl] = st;
            nl++;
        }
        s = *end ? end + 1 : end;
    }
    if (n_lines) *n_lines = nl;
    if (n_wrong) *n_wrong = nw;
    return first;
}
