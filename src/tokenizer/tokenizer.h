/* Tokenizers: byte-level BPE (GPT-2, Llama 3, Qwen2) and SentencePiece
 * (Llama 2), loaded from GGUF metadata or built from in-memory arrays.
 *
 * Behaviour follows llama.cpp, so token ids match its test vectors exactly:
 *  - special tokens: USER_DEFINED tokens are always matched as whole tokens;
 *    CONTROL and UNKNOWN tokens only when parse_special is true. Matching is
 *    longest token first over the whole text, then the pieces in between are
 *    tokenized as plain text.
 *  - BPE: pre-tokenizer regex (PCRE2, UTF + UCP), GPT-2 byte <-> unicode
 *    mapping, merges by rank (lowest first, leftmost on ties). Invalid UTF-8
 *    bytes in the input are replaced by U+FFFD (EF BF BD) before splitting,
 *    one per offending byte, as llama.cpp does for stray and truncated
 *    bytes (surrogates, overlong forms and code points past U+10FFFF get
 *    U+FFFD too; llama.cpp decodes those leniently or aborts).
 *  - SentencePiece: "▁" for spaces, a leading "▁" per add_space_prefix
 *    (also after each special token), bigram merges by score, byte fallback
 *    <0xNN> for characters that are not tokens. Characters are cut by the
 *    length their lead byte announces (as llama.cpp), so invalid UTF-8 goes
 *    through byte fallback unchanged.
 *  - end of generation: EOS/EOT/EOM plus llama.cpp's end tokens by name
 *    (<|im_end|>, <|eot_id|>, <|endoftext|>, </s>, ...), which like in
 *    llama.cpp become CONTROL tokens if the file says otherwise.
 * Verified against llama.cpp's test vectors and, token by token and on
 * random texts, against libllama itself (tests/test_conformance.c).
 * A tokenizer is immutable once built; one may be shared by many threads. */
#ifndef TTC_TOKENIZER_H
#define TTC_TOKENIZER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ttc.h"

typedef struct ttc_tokenizer ttc_tokenizer;
typedef struct ttc_gguf ttc_gguf;
typedef struct ttc_gguf_writer ttc_gguf_writer;

/* Token types as stored in tokenizer.ggml.token_type. */
enum {
    TTC_TOKEN_UNDEFINED    = 0,
    TTC_TOKEN_NORMAL       = 1,
    TTC_TOKEN_UNKNOWN      = 2,
    TTC_TOKEN_CONTROL      = 3,
    TTC_TOKEN_USER_DEFINED = 4,
    TTC_TOKEN_UNUSED       = 5,
    TTC_TOKEN_BYTE         = 6,
};

typedef enum ttc_tok_model { TTC_TOK_BPE, TTC_TOK_SPM } ttc_tok_model;

/* Everything a tokenizer is made of, as plain arrays (not retained: the
 * tokenizer copies what it needs). Ids are -1 when absent. */
typedef struct ttc_tokenizer_spec {
    const char *model;              /* "gpt2" (byte-level BPE) or "llama" (SPM) */
    const char *pre;                /* BPE pre-tokenizer: "gpt-2", "default",
                                       "llama3"/"llama-bpe", "qwen2"; NULL = "default" */
    int n_vocab;
    const char *const *tokens;      /* n_vocab token strings */
    const uint32_t *token_lens;     /* their byte lengths; NULL = strlen */
    const int32_t *types;           /* NULL = all NORMAL */
    const float *scores;            /* SPM merge scores; NULL = all 0 */
    int n_merges;                   /* BPE: "left right" strings, by rank */
    const char *const *merges;
    const uint32_t *merge_lens;     /* NULL = strlen */
    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix;
    const char *chat_template;      /* may be NULL */
} ttc_tokenizer_spec;

/* A spec with every id -1, no arrays, add_space_prefix true (SPM default). */
ttc_tokenizer_spec ttc_tokenizer_spec_default(void);

/* Builds a tokenizer from a spec; validates model, pre-tokenizer, ids and
 * merges (a merge naming a token that does not exist is an error). */
int ttc_tokenizer_new(const ttc_tokenizer_spec *spec, ttc_tokenizer **out, ttc_err *e);

/* Shorthand for a byte-level BPE tokenizer (model "gpt2"); types may be
 * NULL; the special ids in `ids` are {bos, eos, eot, eom, unk, pad} (NULL =
 * none). */
int ttc_tokenizer_new_bpe(const char *const *tokens, const int32_t *types, int n_vocab,
                          const char *const *merges, int n_merges, const char *pre,
                          const int32_t ids[6], ttc_tokenizer **out, ttc_err *e);

/* Reads the tokenizer.ggml.* keys of an open GGUF file (model, pre, tokens,
 * token_type, scores, merges, special ids, add_bos/eos/space_prefix,
 * tokenizer.chat_template). Unknown model or pre-tokenizer, missing arrays,
 * mismatched lengths and out-of-range ids are errors naming the key. */
int ttc_tokenizer_from_gguf(const ttc_gguf *g, ttc_tokenizer **out, ttc_err *e);

/* Writes every tokenizer.ggml.* key (and tokenizer.chat_template when set)
 * the way llama.cpp expects them. */
int ttc_tokenizer_to_gguf(const ttc_tokenizer *tok, ttc_gguf_writer *w, ttc_err *e);

void ttc_tokenizer_free(ttc_tokenizer *tok);

/* Which special id ttc_tokenizer_set_special changes. */
typedef enum ttc_special { TTC_SPECIAL_BOS, TTC_SPECIAL_EOS, TTC_SPECIAL_EOT,
                           TTC_SPECIAL_EOM, TTC_SPECIAL_UNK, TTC_SPECIAL_PAD } ttc_special;

/* Sets one special id (-1 clears it); EOS/EOT/EOM also become
 * end-of-generation tokens. Errors on an id out of range. */
int ttc_tokenizer_set_special(ttc_tokenizer *tok, ttc_special which, int32_t id, ttc_err *e);
/* Sets the add_bos / add_eos defaults stored in the metadata. */
void ttc_tokenizer_set_add_bos(ttc_tokenizer *tok, bool add_bos, bool add_eos);

/* Tokenizes len bytes of text into ids[0..cap). *n receives the number of
 * tokens; when that exceeds cap, returns TTC_ENOMEM with *n = the count that
 * would be needed (ids holds the first cap). add_bos prepends BOS (if the
 * vocabulary has one); EOS is appended when the metadata says add_eos and
 * add_bos is set (llama.cpp's add_special). parse_special: recognise
 * CONTROL/UNKNOWN tokens written in the text (USER_DEFINED ones always are).
 * No per-token allocation: a few buffers per call, reused across pieces. */
int ttc_tokenize(const ttc_tokenizer *tok, const char *text, size_t len, bool add_bos,
                 bool parse_special, int32_t *ids, int cap, int *n, ttc_err *e);

/* Like ttc_tokenize into a fresh malloc'd array (*ids, caller frees). */
int ttc_tokenize_alloc(const ttc_tokenizer *tok, const char *text, size_t len, bool add_bos,
                       bool parse_special, int32_t **ids, int *n, ttc_err *e);

/* The bytes a token stands for (byte-level decoded; SPM "▁" -> " ",
 * <0xNN> -> that byte; special tokens as their text). Copies at most cap
 * bytes to buf (NUL-terminated when room remains) and returns the full
 * length, or TTC_EINVAL for an id out of range. */
int ttc_token_to_piece(const ttc_tokenizer *tok, int32_t id, char *buf, int cap);

/* The stored token string (e.g. "Ġthe", "▁the", "<0x0A>"); *len gets its
 * length; NULL for an id out of range. Not NUL-terminated. */
const char *ttc_token_text(const ttc_tokenizer *tok, int32_t id, size_t *len);
int  ttc_token_type(const ttc_tokenizer *tok, int32_t id);   /* -1 if out of range */

int     ttc_tokenizer_n_vocab(const ttc_tokenizer *tok);
ttc_tok_model ttc_tokenizer_model(const ttc_tokenizer *tok);
const char *ttc_tokenizer_pre(const ttc_tokenizer *tok);     /* canonical pre name */
int32_t ttc_tokenizer_bos(const ttc_tokenizer *tok);          /* -1 if none */
int32_t ttc_tokenizer_eos(const ttc_tokenizer *tok);
int32_t ttc_tokenizer_eot(const ttc_tokenizer *tok);
int32_t ttc_tokenizer_pad(const ttc_tokenizer *tok);
int32_t ttc_tokenizer_unk(const ttc_tokenizer *tok);
bool    ttc_tokenizer_add_bos(const ttc_tokenizer *tok);
bool    ttc_tokenizer_add_eos(const ttc_tokenizer *tok);
/* Jinja chat template from the metadata, or NULL. */
const char *ttc_tokenizer_chat_template(const ttc_tokenizer *tok);
/* True for end-of-generation tokens: EOS, EOT, EOM and the end tokens
 * llama.cpp knows by name (<|im_end|>, <|eot_id|>, <|endoftext|>,
 * <|end_of_text|>, <end_of_turn>, </s>, ...). */
bool    ttc_tokenizer_is_eog(const ttc_tokenizer *tok, int32_t id);
/* True for CONTROL / UNKNOWN / USER_DEFINED tokens (not plain text). */
bool    ttc_tokenizer_is_special(const ttc_tokenizer *tok, int32_t id);
/* Id of the token whose stored string is exactly text (e.g. "<|im_end|>",
 * "+", "Ġ+"), or -1. */
int32_t ttc_tokenizer_find(const ttc_tokenizer *tok, const char *text);

/* Streaming detokenizer: feed ids one at a time, get back only complete
 * UTF-8 characters (partial sequences wait for the next token; invalid
 * bytes come out as U+FFFD). */
enum {
    TTC_DETOK_SPECIAL     = 1,  /* render CONTROL/UNKNOWN tokens (else skipped) */
    TTC_DETOK_STRIP_SPACE = 2,  /* SPM: drop the space prefix of the first piece */
};
typedef struct ttc_detok {
    const ttc_tokenizer *tok;
    unsigned flags;
    bool started;
    int npend;
    unsigned char pend[4];
    char *buf;
    size_t cap;
} ttc_detok;

/* Prepares d for tok (allocates its output buffer once). */
int  ttc_detok_init(ttc_detok *d, const ttc_tokenizer *tok, unsigned flags, ttc_err *e);
/* Feeds one id; *text points at the newly completed bytes (valid until the
 * next call). Returns their count, or TTC_EINVAL for an id out of range. */
int  ttc_detok_push(ttc_detok *d, int32_t id, const char **text);
/* Ends the stream: pending incomplete bytes come out as U+FFFD. */
int  ttc_detok_flush(ttc_detok *d, const char **text);
void ttc_detok_free(ttc_detok *d);

/* Whole-sequence detokenization into a fresh NUL-terminated string (UTF-8
 * sanitised as by ttc_detok). */
int ttc_detokenize(const ttc_tokenizer *tok, const int32_t *ids, int n, unsigned flags,
                   char **out, size_t *len, ttc_err *e);

/* Byte-level BPE training (bpe_train.c): texts are pre-tokenized with `pre`
 * ("qwen2" keeps digits single); starts from the 256 byte tokens (id = byte
 * value) and repeatedly merges the most frequent adjacent pair within
 * pre-tokens (ties: smaller left id, then smaller right id) until
 * vocab_size - n_special tokens exist or no pair occurs twice; the special
 * tokens are appended as CONTROL tokens. The result may be smaller than
 * vocab_size. */
int ttc_bpe_train(const char *const *texts, int n_texts, int vocab_size, const char *pre,
                  const char *const *special_tokens, int n_special, ttc_tokenizer **out,
                  ttc_err *e);
#endif
