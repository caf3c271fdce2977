/* MATH answer extraction, normalization and equivalence; see grader.h. */
#include "data/grader.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GR_MAX 1024        /* longer answers are compared as raw strings */
#define GR_MAX_ELEMS 64

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static void copy_out(char *out, size_t cap, const char *s, size_t n) {
    if (!cap) return;
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

/* ---- extraction ---------------------------------------------------------- */

/* Index just past the '}' matching the '{' at s[i], or 0 if unmatched.
 * Escaped braces \{ \} do not count. */
static size_t match_brace(const char *s, size_t i) {
    int depth = 0;
    for (; s[i]; i++) {
        if (s[i] == '\\' && (s[i + 1] == '{' || s[i + 1] == '}')) { i++; continue; }
        if (s[i] == '{') depth++;
        else if (s[i] == '}' && --depth == 0) return i + 1;
    }
    return 0;
}

static void trim_answer(const char *a, size_t n, char *out, size_t cap) {
    while (n && (isspace((unsigned char)*a) || *a == ':' || *a == '$')) a++, n--;
    while (n && (isspace((unsigned char)a[n - 1]) || a[n - 1] == '.' || a[n - 1] == '$')) n--;
    copy_out(out, cap, a, n);
}

/* Case-insensitive last occurrence of needle in s, or NULL. */
static const char *last_ci(const char *s, const char *needle) {
    const char *hit = NULL, *p = s;
    while ((p = strcasestr(p, needle))) hit = p++;
    return hit;
}

bool ttc_extract_answer(const char *r, char *out, size_t cap) {
    if (cap) out[0] = 0;
    if (!r) return false;
    const char *b = NULL, *p;
    for (const char *k = r; (p = strstr(k, "\\boxed")); k = p + 1) b = p;
    for (const char *k = r; (p = strstr(k, "\\fbox")); k = p + 1) if (!b || p > b) b = p;
    if (b) {
        const char *s = b + (starts(b, "\\boxed") ? 6 : 5);
        while (*s == ' ') s++;
        if (*s == '{') {
            size_t end = match_brace(s, 0);
            if (end) {
                trim_answer(s + 1, end - 2, out, cap);
                if (cap && out[0]) return true;
            }
        } else if (s > b + 5 && *s && !is_alpha(*s)) {   /* "\boxed 5" */
            size_t n = 0;
            while (s[n] && s[n] != '$' && !isspace((unsigned char)s[n])) n++;
            trim_answer(s, n, out, cap);
            if (cap && out[0]) return true;
        }
    }
    const char *a = last_ci(r, "answer is");
    if (a) {
        a += 9;
        size_t n = strcspn(a, "\n");
        trim_answer(a, n, out, cap);
        if (cap && out[0]) return true;
    }
    /* last number: -?digits(,ddd)*(.digits)?(/digits)? */
    const char *best = NULL;
    size_t best_n = 0;
    for (const char *s = r; *s; s++) {
        if (!is_digit(*s) || (s > r && (is_digit(s[-1]) || s[-1] == '.'))) continue;
        const char *t = s;
        while (is_digit(*t)) t++;
        while (t[0] == ',' && is_digit(t[1]) && is_digit(t[2]) && is_digit(t[3]) && !is_digit(t[4])) t += 4;
        if (t[0] == '.' && is_digit(t[1])) { t++; while (is_digit(*t)) t++; }
        if (t[0] == '/' && is_digit(t[1])) { t++; while (is_digit(*t)) t++; }
        best = s > r && s[-1] == '-' ? s - 1 : s;
        best_n = (size_t)(t - best);
        s = t - 1;
    }
    if (best) { copy_out(out, cap, best, best_n); return true; }
    return false;
}

/* ---- normalization ------------------------------------------------------- */

/* Replaces every occurrence of from by to in s (capacity GR_MAX). */
static void replace_all(char *s, const char *from, const char *to) {
    char tmp[GR_MAX];
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    const char *p = s, *q;
    if (!strstr(s, from)) return;
    while ((q = strstr(p, from))) {
        size_t k = (size_t)(q - p);
        if (n + k + tl >= GR_MAX) break;
        memcpy(tmp + n, p, k); n += k;
        memcpy(tmp + n, to, tl); n += tl;
        p = q + fl;
    }
    size_t rest = strlen(p);
    if (n + rest >= GR_MAX) rest = GR_MAX - 1 - n;
    memcpy(tmp + n, p, rest); n += rest;
    tmp[n] = 0;
    memcpy(s, tmp, n + 1);
}

/* "\text{X}" (and friends) -> "X". */
static void unwrap_text(char *s) {
    static const char *cmds[] = {"\\text{", "\\textbf{", "\\textrm{", "\\mbox{", "\\mathrm{", "\\mathbf{",
                                 "\\operatorname{", "\\textit{", "\\boxed{", "\\fbox{"};
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        char *p;
        while ((p = strstr(s, cmds[c]))) {
            size_t cl = strlen(cmds[c]);
            size_t end = match_brace(p, cl - 1);
            if (!end) { memmove(p, p + cl, strlen(p + cl) + 1); continue; }
            size_t inner = end - cl - 1;
            memmove(p, p + cl, inner);
            memmove(p + inner, p + end, strlen(p + end) + 1);
        }
    }
}

static const char *units[] = {
    "unit", "sq", "square", "degree", "cm", "centimeter", "m", "meter", "km", "kilometer", "mm",
    "millimeter", "inch", "inche", "foot", "feet", "ft", "yard", "mile", "mph", "hour", "hr",
    "minute", "min", "second", "sec", "day", "week", "month", "year", "dollar", "cent",
    "pound", "lb", "ounce", "oz", "gallon", "liter", "ml", "gram", "g", "kg", "kilogram",
    "mathrm", "radian", "point", "per", "percent", "p.m", "a.m",
};

static bool is_unit(const char *w, size_t n) {
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t ul = strlen(units[u]);
        if ((n == ul || (n == ul + 1 && w[ul] == 's') || (n == ul + 2 && w[ul] == 'e' && w[ul + 1] == 's'))
            && !strncasecmp(w, units[u], ul))
            return true;
    }
    return false;
}

/* Drops trailing unit words ("5 cm^2", "12 square feet") after a number. */
static void strip_units(char *s) {
    for (;;) {
        size_t n = strlen(s);
        while (n && s[n - 1] == ' ') s[--n] = 0;
        size_t k = n;
        if (k >= 2 && s[k - 2] == '^' && (s[k - 1] == '2' || s[k - 1] == '3')) k -= 2;
        else if (k >= 4 && !strncmp(s + k - 4, "^{", 2) && (s[k - 2] == '2' || s[k - 2] == '3') && s[k - 1] == '}') k -= 4;
        size_t j = k;
        while (j && is_alpha(s[j - 1])) j--;
        if (j == k || !is_unit(s + j, k - j)) return;
        if (j && s[j - 1] == '\\') return;
        if (k - j <= 2 && !(j && s[j - 1] == ' ')) return;  /* "2m" may be an expression */
        bool digit = false;
        for (size_t i = 0; i < j; i++) digit |= is_digit(s[i]);
        if (!digit) return;
        s[j] = 0;
    }
}

/* \frac12 -> \frac{1}{2}, \frac{3}7 -> \frac{3}{7}, \sqrt2 -> \sqrt{2}. */
static void brace_args(char *s) {
    char tmp[GR_MAX];
    size_t n = 0;
    for (const char *p = s; *p && n < GR_MAX - 8;) {
        int nargs = starts(p, "\\frac") && !is_alpha(p[5]) ? 2 : starts(p, "\\sqrt") && !is_alpha(p[5]) ? 1 : 0;
        if (!nargs) { tmp[n++] = *p++; continue; }
        memcpy(tmp + n, p, 5); n += 5; p += 5;
        if (nargs == 1 && *p == '[') {            /* \sqrt[n]{x} */
            while (*p && *p != ']' && n < GR_MAX - 8) tmp[n++] = *p++;
            if (*p) tmp[n++] = *p++;
        }
        for (int a = 0; a < nargs && *p && n < GR_MAX - 8; a++) {
            if (*p == '{') {
                size_t end = match_brace(p, 0);
                if (!end || n + end >= GR_MAX - 8) break;
                memcpy(tmp + n, p, end); n += end; p += end;
            } else if (*p == '\\' && is_alpha(p[1])) {   /* \frac\pi2 */
                size_t k = 1;
                while (is_alpha(p[k])) k++;
                if (n + k + 2 >= GR_MAX - 8) break;
                tmp[n++] = '{'; memcpy(tmp + n, p, k); n += k; p += k; tmp[n++] = '}';
            } else {
                tmp[n++] = '{'; tmp[n++] = *p++; tmp[n++] = '}';
            }
        }
    }
    tmp[n] = 0;
    memcpy(s, tmp, n + 1);
}

/* Number clean-ups on one element: thousands separators, ".5", "5.0". */
static void fix_number(char *s) {
    size_t n = strlen(s);
    const char *p = s + (*s == '-');
    /* -?\d{1,3}(,\d{3})+(\.\d+)? */
    size_t lead = 0;
    while (is_digit(p[lead])) lead++;
    if (lead >= 1 && lead <= 3 && p[lead] == ',') {
        const char *q = p + lead;
        while (q[0] == ',' && is_digit(q[1]) && is_digit(q[2]) && is_digit(q[3])) q += 4;
        if (*q == '.' && is_digit(q[1])) { q++; while (is_digit(*q)) q++; }
        if (!*q) {
            size_t w = 0;
            for (size_t i = 0; i < n; i++) if (s[i] != ',') s[w++] = s[i];
            s[w] = 0;
            n = w;
        }
    }
    /* .5 -> 0.5 (only for a whole number element) */
    if ((s[0] == '.' || (s[0] == '-' && s[1] == '.')) && n + 1 < GR_MAX) {
        size_t at = s[0] == '-';
        if (is_digit(s[at + 1])) { memmove(s + at + 1, s + at, n - at + 1); s[at] = '0'; n++; }
    }
    /* integer-valued decimals: 5.0 -> 5, 5. -> 5 */
    p = s + (*s == '-');
    size_t d = 0;
    while (is_digit(p[d])) d++;
    if (d && p[d] == '.') {
        size_t z = d + 1;
        while (p[z] == '0') z++;
        if (!p[z]) s[(size_t)(p - s) + d] = 0;
    }
    if (!strcmp(s, "-0")) strcpy(s, "0");
}

/* Unicode "√20" -> "\sqrt{20}" (all the digits: plain-text convention),
 * "√x" -> "\sqrt x". */
static void fix_unicode_sqrt(char *s) {
    char tmp[GR_MAX];
    size_t n = 0;
    for (const char *p = s; *p && n < GR_MAX - 8;) {
        if (strncmp(p, "\xe2\x88\x9a", 3)) { tmp[n++] = *p++; continue; }
        p += 3;
        memcpy(tmp + n, "\\sqrt", 5); n += 5;
        if (is_digit(*p)) {
            tmp[n++] = '{';
            while ((is_digit(*p) || *p == '.') && n < GR_MAX - 3) tmp[n++] = *p++;
            tmp[n++] = '}';
        } else {
            tmp[n++] = ' ';
        }
    }
    tmp[n] = 0;
    memcpy(s, tmp, n + 1);
}

size_t ttc_answer_normalize(const char *answer, char *out, size_t cap) {
    char s[GR_MAX];
    copy_out(s, sizeof s, answer ? answer : "", answer ? strlen(answer) : 0);
    if (strstr(s, "\xe2\x88\x9a")) fix_unicode_sqrt(s);
    unwrap_text(s);
    static const char *drop[][2] = {
        {"\\\\", "\x01"},   /* protect matrix row breaks from "\ " */
        {"\\left", ""}, {"\\right", ""}, {"\\displaystyle", ""},
        {"\\qquad", " "}, {"\\quad", " "}, {"\\!", ""}, {"\\,", " "}, {"\\;", " "}, {"\\:", " "},
        {"\\ ", " "}, {"~", " "}, {"{,}", ","},
        {"\\dfrac", "\\frac"}, {"\\tfrac", "\\frac"},
        {"^{\\circ}", ""}, {"^\\circ", ""}, {"\\circ", ""}, {"\\degree", ""}, {"\xc2\xb0", ""},
        {"\\%", ""}, {"%", ""}, {"\\$", ""}, {"$", ""},
        {"\\cdot", "*"}, {"\\times", "*"}, {"\\div", "/"},
        {"\\bmatrix", "\\pmatrix"}, {"{bmatrix}", "{pmatrix}"},
        /* unicode math that models write */
        {"\xe2\x88\x92", "-"}, {"\xcf\x80", "\\pi "}, {"\xc3\x97", "*"}, {"\xc2\xb7", "*"},
        {"\xc3\xb7", "/"}, {"\xe2\x88\x9e", "\\infty "},
    };
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) replace_all(s, drop[i][0], drop[i][1]);
    strip_units(s);
    size_t w = 0;
    for (size_t i = 0; s[i]; i++)
        if (!isspace((unsigned char)s[i])) s[w++] = (char)tolower((unsigned char)s[i]);
    s[w] = 0;
    while (w && s[w - 1] == '.') s[--w] = 0;
    /* "x=5" -> "5" when the left side is at most two characters */
    char *eq = strchr(s, '=');
    if (eq && !strchr(eq + 1, '=') && eq - s <= 2 && eq > s && eq[1])
        memmove(s, eq + 1, strlen(eq + 1) + 1);
    else if (eq && !strchr(eq + 1, '=') && starts(s, "\\theta="))
        memmove(s, eq + 1, strlen(eq + 1) + 1);
    /* "x\in[-2,7]" -> "[-2,7]" */
    char *in = strstr(s, "\\in");
    if (in && in > s && in - s <= 2 && !is_alpha(in[3]) && in[3])
        memmove(s, in + 3, strlen(in + 3) + 1);
    replace_all(s, "\x01", "\\\\");
    brace_args(s);
    fix_number(s);
    copy_out(out, cap, s, strlen(s));
    return strlen(s) < cap ? strlen(s) : (cap ? cap - 1 : 0);
}

/* ---- structure ----------------------------------------------------------- */

enum { K_SCALAR, K_TUPLE, K_SET, K_LIST, K_UNION, K_MATRIX };

typedef struct {
    int kind;
    char open, close;          /* tuple brackets */
    int rows, cols;            /* matrix shape */
    int n;
    char elem[GR_MAX_ELEMS][GR_MAX];
} parsed;

/* Splits s[0..n) at top-level occurrences of sep (a string); false if too
 * many parts. Depth counts ( [ { against ) ] }. */
static bool split_top(const char *s, size_t n, const char *sep, parsed *ps) {
    size_t sl = strlen(sep), start = 0;
    int depth = 0;
    for (size_t i = 0; i <= n; i++) {
        bool at_sep = i < n && depth == 0 && i + sl <= n && !strncmp(s + i, sep, sl);
        if (i == n || at_sep) {
            if (ps->n >= GR_MAX_ELEMS) return false;
            copy_out(ps->elem[ps->n], GR_MAX, s + start, i - start);
            fix_number(ps->elem[ps->n]);
            ps->n++;
            if (at_sep) { i += sl - 1; start = i + 1; }
            continue;
        }
        if (s[i] == '(' || s[i] == '[' || s[i] == '{') depth++;
        else if (s[i] == ')' || s[i] == ']' || s[i] == '}') depth--;
    }
    return true;
}

static bool has_top(const char *s, size_t n, const char *sep) {
    int depth = 0;
    size_t sl = strlen(sep);
    for (size_t i = 0; i < n; i++) {
        if (depth == 0 && i + sl <= n && !strncmp(s + i, sep, sl)) return true;
        if (s[i] == '(' || s[i] == '[' || s[i] == '{') depth++;
        else if (s[i] == ')' || s[i] == ']' || s[i] == '}') depth--;
    }
    return false;
}

/* True when the bracket at s[0] closes exactly at s[n-1]. */
static bool wraps(const char *s, size_t n) {
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '(' || s[i] == '[' || s[i] == '{') depth++;
        else if (s[i] == ')' || s[i] == ']' || s[i] == '}') depth--;
        if (depth == 0) return i == n - 1;
    }
    return false;
}

static void parse_struct(const char *s, parsed *ps) {
    size_t n = strlen(s);
    ps->n = 0; ps->kind = K_SCALAR; ps->open = ps->close = 0; ps->rows = ps->cols = 0;
    const char *b = strstr(s, "\\begin{pmatrix}"), *e = strstr(s, "\\end{pmatrix}");
    if (b && e && e > b) {
        const char *in = b + 15;
        size_t len = (size_t)(e - in);
        parsed rows = {0};
        if (split_top(in, len, "\\\\", &rows)) {
            ps->kind = K_MATRIX;
            ps->rows = rows.n;
            for (int r = 0; r < rows.n; r++) {
                int before = ps->n;
                if (!split_top(rows.elem[r], strlen(rows.elem[r]), "&", ps)) break;
                if (r == 0) ps->cols = ps->n - before;
                else if (ps->n - before != ps->cols) ps->cols = -1;
            }
            return;
        }
        ps->n = 0;
    }
    if (has_top(s, n, "\\cup")) {
        ps->kind = K_UNION;
        if (split_top(s, n, "\\cup", ps)) return;
        ps->n = 0;
    }
    if (n >= 4 && starts(s, "\\{") && !strcmp(s + n - 2, "\\}")) {
        ps->kind = K_SET;
        if (split_top(s + 2, n - 4, ",", ps)) return;
        ps->n = 0;
    }
    if (n >= 3 && (s[0] == '(' || s[0] == '[') && (s[n - 1] == ')' || s[n - 1] == ']') && wraps(s, n)
        && has_top(s + 1, n - 2, ",")) {
        ps->kind = K_TUPLE;
        ps->open = s[0]; ps->close = s[n - 1];
        if (split_top(s + 1, n - 2, ",", ps)) return;
        ps->n = 0;
    }
    if (has_top(s, n, ",")) {
        ps->kind = K_LIST;
        if (split_top(s, n, ",", ps)) return;
        ps->n = 0;
    }
    ps->kind = K_SCALAR;
    copy_out(ps->elem[0], GR_MAX, s, n);
    ps->n = 1;
}

/* ---- rational literals --------------------------------------------------- */

enum { R_NONE, R_INT, R_DEC, R_FRAC, R_MIXED };

typedef struct { int kind; bool neg; int64_t num, den; int64_t whole; } rational;

static bool read_u(const char **p, int64_t *v, int *digits) {
    int64_t x = 0;
    int n = 0;
    while (is_digit(**p)) {
        if (++n > 17) return false;
        x = x * 10 + (*(*p)++ - '0');
    }
    *v = x;
    if (digits) *digits = n;
    return n > 0;
}

/* Parses the integers of "{a}{b}" (after \frac). */
static bool read_frac_args(const char **p, int64_t *a, int64_t *b) {
    const char *s = *p;
    if (*s++ != '{' || !read_u(&s, a, NULL) || *s++ != '}') return false;
    if (*s++ != '{' || !read_u(&s, b, NULL) || *s++ != '}') return false;
    *p = s;
    return *b != 0;
}

static rational parse_rational(const char *s) {
    rational r = {R_NONE, false, 0, 1, 0};
    const char *p = s;
    if (*p == '-') { r.neg = true; p++; }
    int64_t a, b;
    if (starts(p, "\\frac")) {
        p += 5;
        if (read_frac_args(&p, &a, &b) && !*p) { r.kind = R_FRAC; r.num = a; r.den = b; }
        return r;
    }
    int nd;
    if (!read_u(&p, &a, &nd)) return r;
    if (!*p) { r.kind = R_INT; r.num = a; return r; }
    if (*p == '/') {
        p++;
        if (read_u(&p, &b, NULL) && !*p && b) { r.kind = R_FRAC; r.num = a; r.den = b; }
        return r;
    }
    if (*p == '.') {
        p++;
        int64_t f;
        if (!read_u(&p, &f, &nd) || *p || nd > 17) return r;
        int64_t den = 1;
        for (int i = 0; i < nd; i++) den *= 10;
        if (a > (INT64_MAX - f) / den) return r;
        r.kind = R_DEC; r.num = a * den + f; r.den = den;
        return r;
    }
    if (starts(p, "\\frac")) {
        p += 5;
        if (read_frac_args(&p, &b, &r.den) && !*p && b < r.den && a < INT64_MAX / r.den - b) {
            r.kind = R_MIXED; r.whole = a; r.num = a * r.den + b;
        }
    }
    return r;
}

static bool rational_eq(rational x, rational y) {
    bool zx = x.num == 0, zy = y.num == 0;
    if (zx || zy) return zx && zy;
    if (x.neg != y.neg) return false;
    return (__int128)x.num * y.den == (__int128)y.num * x.den;
}

static int64_t gcd64(int64_t a, int64_t b) { while (b) { int64_t t = a % b; a = b; b = t; } return a; }

/* ---- expression evaluator ------------------------------------------------ */

typedef struct { const char *p; int point; bool bad; int depth; } ev;

static double ev_sum(ev *v);
static double ev_unary(ev *v);

static double var_value(unsigned h, int point) {
    double f = fmod(h * 0.7548776662466927 + point * 0.5698402909980532, 1.0);
    return 1.25 + 1.5 * f;
}

static bool starts_primary(const ev *v) {
    char c = *v->p;
    return is_digit(c) || c == '.' || is_alpha(c) || c == '(' || c == '{' ||
           (c == '\\' && is_alpha(v->p[1]));
}

static double ev_group(ev *v, char open, char close) {
    if (*v->p != open) { v->bad = true; return 0; }
    v->p++;
    double x = ev_sum(v);
    if (*v->p != close) { v->bad = true; return 0; }
    v->p++;
    return x;
}

static double ev_primary(ev *v) {
    if (++v->depth > 200) { v->bad = true; return 0; }
    double x = 0;
    const char *p = v->p;
    if (is_digit(*p) || (*p == '.' && is_digit(p[1]))) {
        double scale = 0;
        for (; is_digit(*p) || (*p == '.' && scale == 0); p++) {
            if (*p == '.') { scale = 1; continue; }
            if (scale) x += (*p - '0') * (scale /= 10);
            else x = x * 10 + (*p - '0');
        }
        v->p = p;
    } else if (*p == '(') {
        x = ev_group(v, '(', ')');
    } else if (*p == '{') {
        x = ev_group(v, '{', '}');
    } else if (*p == '[') {
        x = ev_group(v, '[', ']');
    } else if (is_alpha(*p)) {
        x = var_value((unsigned)*p, v->point);
        v->p++;
    } else if (*p == '\\') {
        /* spaces are gone ("\cot x" -> "\cotx"): take the longest known
         * command that prefixes the letters */
        static const char *known[] = {"frac", "sqrt", "pi", "sin", "cos", "tan", "cot", "sec", "csc",
                                      "ln", "log", "exp", "arcsin", "arccos", "arctan", "alpha", "beta",
                                      "gamma", "delta", "theta", "phi", "omega", "lambda", "mu",
                                      "sigma", "tau", "rho"};
        char name[16] = "";
        size_t n = 0;
        p++;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
            size_t kl = strlen(known[i]);
            if (kl > n && !strncmp(p, known[i], kl)) { n = kl; strcpy(name, known[i]); }
        }
        if (!n) { v->bad = true; v->depth--; return 0; }
        v->p = p + n;
        if (!strcmp(name, "frac")) {
            double a = ev_group(v, '{', '}');
            double b = ev_group(v, '{', '}');
            x = a / b;
        } else if (!strcmp(name, "sqrt")) {
            double k = 2;
            if (*v->p == '[') k = ev_group(v, '[', ']');
            double a = *v->p == '{' ? ev_group(v, '{', '}') : ev_primary(v);
            x = k == 2 ? sqrt(a) : k == 3 ? cbrt(a) : pow(a, 1.0 / k);
        } else if (!strcmp(name, "pi")) {
            x = M_PI;
        } else {
            static const char *fn[] = {"sin", "cos", "tan", "cot", "sec", "csc", "ln", "log", "exp",
                                       "arcsin", "arccos", "arctan"};
            int f = -1;
            for (int i = 0; i < (int)(sizeof fn / sizeof fn[0]); i++) if (!strcmp(name, fn[i])) f = i;
            if (f < 0) {
                static const char *greek[] = {"alpha", "beta", "gamma", "delta", "theta", "phi",
                                              "omega", "lambda", "mu", "sigma", "tau", "rho"};
                for (int i = 0; i < (int)(sizeof greek / sizeof greek[0]); i++)
                    if (!strcmp(name, greek[i])) { x = var_value(200u + (unsigned)i, v->point); goto done; }
                v->bad = true;
                goto done;
            }
            double pw = 1;
            if (*v->p == '^') { v->p++; pw = *v->p == '{' ? ev_group(v, '{', '}') : ev_primary(v); }
            double a = ev_unary(v);
            switch (f) {
            case 0: x = sin(a); break;
            case 1: x = cos(a); break;
            case 2: x = tan(a); break;
            case 3: x = 1 / tan(a); break;
            case 4: x = 1 / cos(a); break;
            case 5: x = 1 / sin(a); break;
            case 6: x = log(a); break;
            case 7: x = log10(a); break;
            case 8: x = exp(a); break;
            case 9: x = asin(a); break;
            case 10: x = acos(a); break;
            default: x = atan(a); break;
            }
            x = pow(x, pw);
        }
    } else {
        v->bad = true;
    }
done:
    v->depth--;
    return x;
}

static double ev_power(ev *v) {
    double b = ev_primary(v);
    while (!v->bad && *v->p == '^') {
        v->p++;
        double e;
        if (*v->p == '{') e = ev_group(v, '{', '}');
        else if (*v->p == '-' || *v->p == '+') e = ev_unary(v);
        else e = ev_primary(v);
        b = pow(b, e);
    }
    return b;
}

static double ev_unary(ev *v) {
    if (++v->depth > 200) { v->bad = true; return 0; }
    double x;
    if (*v->p == '-') { v->p++; x = -ev_unary(v); }
    else if (*v->p == '+') { v->p++; x = ev_unary(v); }
    else x = ev_power(v);
    v->depth--;
    return x;
}

static double ev_term(ev *v) {
    double x = ev_unary(v);
    while (!v->bad) {
        if (*v->p == '*') { v->p++; x *= ev_unary(v); }
        else if (*v->p == '/') { v->p++; x /= ev_unary(v); }
        else if (starts_primary(v)) x *= ev_power(v);
        else break;
    }
    return x;
}

static double ev_sum(ev *v) {
    double x = ev_term(v);
    while (!v->bad && (*v->p == '+' || *v->p == '-')) {
        char op = *v->p++;
        double y = ev_term(v);
        x = op == '+' ? x + y : x - y;
    }
    return x;
}

/* A run of 3+ letters outside a \command: a word, not an expression. */
static bool has_word(const char *s) {
    for (size_t i = 0; s[i];) {
        if (s[i] == '\\') { i++; while (is_alpha(s[i])) i++; continue; }
        size_t j = i;
        while (is_alpha(s[j])) j++;
        if (j - i >= 3) return true;
        i = j > i ? j : i + 1;
    }
    return false;
}

static bool has_var(const char *s) {
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\') {
            i++;
            const char *c = s + i;
            if (starts(c, "frac") || starts(c, "sqrt") || starts(c, "pi") || starts(c, "sin") ||
                starts(c, "cos") || starts(c, "tan") || starts(c, "cot") || starts(c, "sec") ||
                starts(c, "csc") || starts(c, "ln") || starts(c, "log") || starts(c, "exp") ||
                starts(c, "arc")) { while (is_alpha(s[i])) i++; i--; continue; }
            return true;   /* a greek letter */
        }
        if (is_alpha(s[i])) return true;
    }
    return false;
}

#define N_POINTS 3

/* Evaluates s at the sample points; false if it does not parse or is not
 * finite. */
static bool eval_points(const char *s, double out[N_POINTS]) {
    if (!*s || has_word(s)) return false;
    for (int k = 0; k < N_POINTS; k++) {
        ev v = {s, k, false, 0};
        out[k] = ev_sum(&v);
        if (v.bad || *v.p || !isfinite(out[k])) return false;
    }
    return true;
}

/* "L=R" (one '=') -> L - R at the sample points. */
static bool eval_equation(const char *s, double out[N_POINTS]) {
    const char *eq = strchr(s, '=');
    if (!eq || strchr(eq + 1, '=') || eq == s || !eq[1] || eq - s >= GR_MAX) return false;
    char left[GR_MAX];
    memcpy(left, s, (size_t)(eq - s));
    left[eq - s] = 0;
    double r[N_POINTS];
    if (!eval_points(left, out) || !eval_points(eq + 1, r)) return false;
    for (int k = 0; k < N_POINTS; k++) out[k] -= r[k];
    return true;
}

static bool close_enough(double a, double b) {
    double m = fmax(1.0, fmax(fabs(a), fabs(b)));
    return fabs(a - b) <= 1e-9 * m;
}

/* ---- equality ------------------------------------------------------------ */

static bool elem_equal(const char *given, const char *gt) {
    if (!strcmp(given, gt)) return true;
    if (!*given || !*gt) return false;
    rational rg = parse_rational(given), rt = parse_rational(gt);
    if (rg.kind == R_FRAC && rt.kind == R_FRAC)
        return rg.neg == rt.neg && rg.num == rt.num && rg.den == rt.den;
    if ((rg.kind == R_INT) != (rt.kind == R_INT)) return false;
    if (rg.kind != R_NONE && rt.kind != R_NONE) return rational_eq(rg, rt);
    double a[N_POINTS], b[N_POINTS];
    const char *eg = strchr(given, '='), *et = strchr(gt, '=');
    if (eg || et) {   /* equations: L - R proportional (5x+4=0 is 10x=-8) */
        if (!eg || !et || !eval_equation(given, a) || !eval_equation(gt, b)) return false;
        int m = 0;
        for (int k = 1; k < N_POINTS; k++) if (fabs(a[k]) > fabs(a[m])) m = k;
        if (fabs(a[m]) < 1e-12 || fabs(b[m]) < 1e-12) return false;
        double c = b[m] / a[m];
        for (int k = 0; k < N_POINTS; k++) if (!close_enough(c * a[k], b[k])) return false;
        return true;
    }
    if (!eval_points(given, a) || !eval_points(gt, b)) return false;
    for (int k = 0; k < N_POINTS; k++) if (!close_enough(a[k], b[k])) return false;
    return true;
}

static bool multiset_equal(const parsed *g, const parsed *t) {
    if (g->n != t->n) return false;
    bool used[GR_MAX_ELEMS] = {false};
    for (int i = 0; i < t->n; i++) {
        int hit = -1;
        for (int j = 0; j < g->n && hit < 0; j++)
            if (!used[j] && elem_equal(g->elem[j], t->elem[i])) hit = j;
        if (hit < 0) return false;
        used[hit] = true;
    }
    return true;
}

bool ttc_answer_equal(const char *candidate, const char *reference) {
    if (!candidate || !reference || !*candidate || !*reference) return false;
    if (strlen(candidate) >= GR_MAX - 64 || strlen(reference) >= GR_MAX - 64)
        return !strcmp(candidate, reference);
    char a[GR_MAX], b[GR_MAX];
    ttc_answer_normalize(candidate, a, sizeof a);
    ttc_answer_normalize(reference, b, sizeof b);
    if (!*a || !*b) return false;
    if (!strcmp(a, b)) return true;
    parsed *g = malloc(sizeof *g), *t = malloc(sizeof *t);
    bool eq = false;
    if (!g || !t) goto out;
    parse_struct(a, g);
    parse_struct(b, t);
    bool unordered = t->kind == K_SET || t->kind == K_LIST;
    if (t->kind == K_SCALAR && g->kind == K_SCALAR) {
        eq = elem_equal(g->elem[0], t->elem[0]);
    } else if (unordered && (g->kind == K_SET || g->kind == K_LIST)) {
        eq = multiset_equal(g, t);
    } else if (g->kind == t->kind && g->n == t->n) {
        if (t->kind == K_TUPLE && (g->open != t->open || g->close != t->close)) goto out;
        if (t->kind == K_MATRIX && (g->rows != t->rows || g->cols != t->cols || t->cols < 0)) goto out;
        eq = true;
        for (int i = 0; i < t->n && eq; i++) eq = elem_equal(g->elem[i], t->elem[i]);
    }
out:
    free(g);
    free(t);
    return eq;
}

/* ---- canonical key ------------------------------------------------------- */

static void elem_key(const char *s, char *out, size_t cap) {
    rational r = parse_rational(s);
    if (r.kind != R_NONE) {
        const char *sg = r.neg && r.num ? "-" : "";
        if (r.kind == R_INT) { snprintf(out, cap, "%s%lld", sg, (long long)r.num); return; }
        int64_t g = gcd64(r.num, r.den);
        if (r.kind == R_FRAC && (g != 1 || r.den == 1)) {   /* unreduced: matches only itself */
            snprintf(out, cap, "%s%lld/%lld!", sg, (long long)r.num, (long long)r.den);
            return;
        }
        if (!g) g = 1;
        snprintf(out, cap, "%s%lld/%lld", sg, (long long)(r.num / g), (long long)(r.den / g));
        return;
    }
    double x[N_POINTS];
    if (eval_points(s, x)) {
        if (has_var(s)) snprintf(out, cap, "=%.10g,%.10g,%.10g", x[0], x[1], x[2]);
        else snprintf(out, cap, "=%.10g", x[0]);
        return;
    }
    snprintf(out, cap, "%s", s);
}

/* Appends printf output to buf[0..cap) at *n, truncating at the end. */
static void key_put(char *buf, size_t cap, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void key_put(char *buf, size_t cap, size_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (w > 0) *n = *n + (size_t)w < cap - 1 ? *n + (size_t)w : cap - 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

size_t ttc_answer_canonical(const char *answer, char *out, size_t cap) {
    if (!cap) return 0;
    out[0] = 0;
    char a[GR_MAX];
    ttc_answer_normalize(answer, a, sizeof a);
    parsed *ps = malloc(sizeof *ps);
    char (*keys)[128] = malloc(GR_MAX_ELEMS * sizeof *keys);
    if (!ps || !keys) { free(ps); free(keys); copy_out(out, cap, a, strlen(a)); return strlen(out); }
    parse_struct(a, ps);
    char *order[GR_MAX_ELEMS];
    for (int i = 0; i < ps->n; i++) { elem_key(ps->elem[i], keys[i], sizeof keys[i]); order[i] = keys[i]; }
    if (ps->kind == K_SET || ps->kind == K_LIST) qsort(order, (size_t)ps->n, sizeof order[0], cmp_str);
    char buf[GR_MAX * 2];
    size_t n = 0;
    if (ps->kind == K_TUPLE) key_put(buf, sizeof buf, &n, "%c", ps->open);
    else if (ps->kind == K_SET || ps->kind == K_LIST) key_put(buf, sizeof buf, &n, "{");
    else if (ps->kind == K_MATRIX) key_put(buf, sizeof buf, &n, "[%dx%d:", ps->rows, ps->cols);
    for (int i = 0; i < ps->n; i++)
        key_put(buf, sizeof buf, &n, "%s%s", i ? (ps->kind == K_UNION ? "U" : ",") : "", order[i]);
    if (ps->kind == K_TUPLE) key_put(buf, sizeof buf, &n, "%c", ps->close);
    else if (ps->kind == K_SET || ps->kind == K_LIST) key_put(buf, sizeof buf, &n, "}");
    else if (ps->kind == K_MATRIX) key_put(buf, sizeof buf, &n, "]");
    free(ps);
    free(keys);
    copy_out(out, cap, buf, n);
    return strlen(out);
}
