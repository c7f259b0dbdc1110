/*
 * dict_lines - incremental reader of logical lines in table source files.
 *
 * Owns: joining continuation lines, skipping comments and blank lines, line
 * numbers, and the bound on line length. dict_source wraps it around a file
 * descriptor.
 *
 * Security: every line is bounded (DICT_LINE_MAX by default); an over-long
 * line is consumed to its end without being stored and reported as one bad
 * line, so a huge or binary file costs memory of one bounded line only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lib/dict/dict_lines.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

struct dict_lines_item {
    char *text;      /* the logical line, or NULL for a bad line */
    const char *why; /* static reason of a bad line */
    int lineno;
};

struct dict_lines {
    size_t max;
    struct buf *phys;   /* the physical line being read */
    bool phys_long;     /* it went over max: being skipped */
    bool phys_nul;      /* it contains a NUL byte */
    int lineno;         /* physical lines completed */

    struct buf *logical; /* the logical line being joined */
    bool have_logical;
    const char *logical_bad; /* reason it is bad, or NULL */
    int logical_lineno;

    struct dict_lines_item *queue; /* completed, not yet taken */
    size_t qhead, qlen, qsize;
    char *last; /* the item handed out last (freed at the next call) */
    bool ended;
};

/* Create an empty reader. */
struct dict_lines *dict_lines_create(void)
{
    struct dict_lines *l = mem_alloc(sizeof(*l));

    l->max = DICT_LINE_MAX;
    l->phys = buf_create(256);
    l->logical = buf_create(256);
    return l;
}

/* Destroy a reader. */
void dict_lines_free(struct dict_lines **lp)
{
    struct dict_lines *l = *lp;

    if (l == NULL)
        return;
    for (size_t i = l->qhead; i < l->qlen; i++)
        mem_free(l->queue[i].text);
    mem_free(l->queue);
    mem_free(l->last);
    buf_free(&l->phys);
    buf_free(&l->logical);
    mem_free(l);
    *lp = NULL;
}

/* Set the longest logical line. */
void dict_lines_set_max(struct dict_lines *l, size_t max)
{
    l->max = max;
}

/* Append a completed item to the queue. */
static void dict_lines_push(struct dict_lines *l, char *text, const char *why, int lineno)
{
    if (l->qhead > 0 && l->qhead == l->qlen) {
        l->qhead = l->qlen = 0;
    }
    if (l->qlen == l->qsize) {
        if (l->qhead > 0) {
            memmove(l->queue, l->queue + l->qhead, (l->qlen - l->qhead) * sizeof(*l->queue));
            l->qlen -= l->qhead;
            l->qhead = 0;
        } else {
            l->qsize = l->qsize ? l->qsize * 2 : 8;
            l->queue = mem_realloc_array(l->queue, l->qsize, sizeof(*l->queue));
        }
    }
    l->queue[l->qlen].text = text;
    l->queue[l->qlen].why = why;
    l->queue[l->qlen].lineno = lineno;
    l->qlen++;
}

/* The logical line being joined is complete. */
static void dict_lines_flush(struct dict_lines *l)
{
    if (!l->have_logical)
        return;
    if (l->logical_bad != NULL)
        dict_lines_push(l, NULL, l->logical_bad, l->logical_lineno);
    else
        dict_lines_push(l, mem_strndup(buf_str(l->logical), buf_len(l->logical)), NULL,
                        l->logical_lineno);
    l->have_logical = false;
    l->logical_bad = NULL;
    buf_reset(l->logical);
}

/* A physical line is complete: classify and join it. */
static void dict_lines_physical(struct dict_lines *l)
{
    const char *p = buf_str(l->phys);
    size_t len = buf_len(l->phys);
    int lineno = ++l->lineno;
    size_t i = 0;

    if (!l->phys_long && len > 0 && p[len - 1] == '\r')
        buf_truncate(l->phys, --len);
    if (len > l->max)
        l->phys_long = true;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\f' || p[i] == '\v'))
        i++;
    if (!l->phys_long && !l->phys_nul && (i == len || p[i] == '#'))
        goto done; /* blank or comment */
    if (i > 0 || (l->phys_long && len > 0 && (p[0] == ' ' || p[0] == '\t'))) {
        /* Continuation of the current logical line. */
        if (!l->have_logical) {
            dict_lines_push(l, NULL, "continuation line (starting with whitespace) without a "
                                     "preceding line", lineno);
            goto done;
        }
        if (l->logical_bad != NULL)
            goto done;
        if (l->phys_long || buf_len(l->logical) + len > l->max)
            l->logical_bad = "line too long";
        else if (l->phys_nul)
            l->logical_bad = "NUL byte in line";
        else
            buf_append(l->logical, p, len);
        goto done;
    }
    dict_lines_flush(l);
    l->have_logical = true;
    l->logical_lineno = lineno;
    if (l->phys_long)
        l->logical_bad = "line too long";
    else if (l->phys_nul)
        l->logical_bad = "NUL byte in line";
    else
        buf_append(l->logical, p, len);
done:
    buf_reset(l->phys);
    l->phys_long = false;
    l->phys_nul = false;
}

/* Add input bytes. */
void dict_lines_feed(struct dict_lines *l, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t chunk = nl != NULL ? (size_t)(nl - data) : len;

        if (!l->phys_long) {
            if (buf_len(l->phys) + chunk > l->max + 1) {
                /* Keep the first bytes for classification; drop the rest. */
                l->phys_long = true;
                if (buf_len(l->phys) < 1 && chunk > 0)
                    buf_append(l->phys, data, 1);
            } else {
                if (memchr(data, '\0', chunk) != NULL)
                    l->phys_nul = true;
                buf_append(l->phys, data, chunk);
            }
        }
        if (nl == NULL)
            break;
        dict_lines_physical(l);
        data += chunk + 1;
        len -= chunk + 1;
    }
}

/* End of input: complete the last line. */
void dict_lines_end(struct dict_lines *l)
{
    if (l->ended)
        return;
    if (buf_len(l->phys) > 0 || l->phys_long || l->phys_nul)
        dict_lines_physical(l);
    dict_lines_flush(l);
    l->ended = true;
}

/* Take the next completed logical line. */
int dict_lines_next(struct dict_lines *l, const char **line_r, int *lineno_r, const char **why_r)
{
    struct dict_lines_item *it;

    MEM_FREE(&l->last);
    if (l->qhead == l->qlen)
        return 0;
    it = &l->queue[l->qhead++];
    *lineno_r = it->lineno;
    if (it->text == NULL) {
        *why_r = it->why;
        return -1;
    }
    l->last = it->text;
    *line_r = it->text;
    return 1;
}

struct dict_source {
    char *name;
    int fd;
    bool own_fd;
    bool eof;
    struct stat st;
    struct dict_lines *lines;
    struct buf *why;
};

/* Common part of the two constructors. */
static struct dict_source *dict_source_make(int fd, const char *name, bool own)
{
    struct dict_source *s = mem_alloc(sizeof(*s));

    s->name = mem_strdup(name);
    s->fd = fd;
    s->own_fd = own;
    s->lines = dict_lines_create();
    s->why = buf_create(64);
    if (fstat(fd, &s->st) < 0)
        memset(&s->st, 0, sizeof(s->st));
    return s;
}

/* Open a text file for reading. */
struct dict_source *dict_source_open(const char *path, const char **why_r)
{
    static struct buf *why;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;

    if (why == NULL)
        why = buf_create(64);
    if (fd < 0) {
        buf_reset(why);
        buf_printf(why, "open %s: %m", path);
        *why_r = buf_str(why);
        return NULL;
    }
    /* A FIFO or device could feed us forever: tables are regular files. */
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        buf_reset(why);
        buf_printf(why, "open %s: not a regular file", path);
        *why_r = buf_str(why);
        (void)close(fd);
        return NULL;
    }
    (void)fcntl(fd, F_SETFL, 0); /* O_NONBLOCK only kept a FIFO from blocking the open */
    return dict_source_make(fd, path, true);
}

/* Read from an already open descriptor. */
struct dict_source *dict_source_fdopen(int fd, const char *name)
{
    return dict_source_make(fd, name, false);
}

/* Next logical line of the file. */
int dict_source_next(struct dict_source *s, const char **line_r, int *lineno_r,
                     const char **why_r)
{
    char chunk[16384];
    const char *why;
    int rc;

    for (;;) {
        rc = dict_lines_next(s->lines, line_r, lineno_r, &why);
        if (rc == 1)
            return 1;
        if (rc < 0) {
            msg_warn("%s, line %d: %s -- ignoring this line", s->name, *lineno_r, why);
            continue;
        }
        if (s->eof)
            return 0;
        ssize_t n = read(s->fd, chunk, sizeof(chunk));

        if (n < 0) {
            if (errno == EINTR)
                continue;
            buf_reset(s->why);
            buf_printf(s->why, "read %s: %m", s->name);
            *why_r = buf_str(s->why);
            return -1;
        }
        if (n == 0) {
            s->eof = true;
            dict_lines_end(s->lines);
        } else {
            dict_lines_feed(s->lines, chunk, (size_t)n);
        }
    }
}

/* The name used in messages. */
const char *dict_source_name(const struct dict_source *s)
{
    return s->name;
}

/* fstat of the file taken at open. */
const struct stat *dict_source_stat(const struct dict_source *s)
{
    return &s->st;
}

/* Close the source. */
void dict_source_close(struct dict_source **sp)
{
    struct dict_source *s = *sp;

    if (s == NULL)
        return;
    if (s->own_fd)
        (void)close(s->fd);
    dict_lines_free(&s->lines);
    buf_free(&s->why);
    mem_free(s->name);
    mem_free(s);
    *sp = NULL;
}
