/*
 * mynetworks - client address match lists (see mynetworks.h).
 *
 * Owns the parsed list: networks as (family, bytes, prefix), tables as
 * maps(3) lists of one table each, each item possibly negated. Matching is
 * a linear walk in list order, first match wins.
 *
 * Security: this decides who may relay. A malformed item is a
 * configuration error (the daemon refuses to start) rather than an item
 * that is silently skipped or, worse, matches too much; host bits past the
 * prefix are refused for the same reason. A table error is reported as
 * such, so the caller defers instead of treating the client as untrusted
 * (which would reject) or trusted (which would relay).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/dict/dict.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/maps.h"
#include "lib/mail/mynetworks.h"
#include "lib/mail/param.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"

#define MYNETWORKS_FILE_MAX (1024 * 1024) /* bytes in one /file/name item */
#define MYNETWORKS_DEPTH_MAX 4            /* files that name files */

enum mn_kind { MN_NET, MN_TABLE };

struct mn_item {
    enum mn_kind kind;
    bool negate;
    int family;
    unsigned char net[16];
    int prefix;
    struct maps *table;
};

struct mynetworks {
    char *title;
    struct mn_item *v;
    size_t count, size;
    struct buf *why;
};

static struct buf *mn_create_why; /* reason of the last failed create */

/* Parse an address text into family and bytes; IPv4-mapped IPv6 becomes IPv4. */
int mynetworks_parse_addr(const char *text, int *family_r, unsigned char addr_r[16])
{
    char tmp[INET6_ADDRSTRLEN + 1];
    size_t len = strlen(text);
    const char *pct;

    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }
    if (len >= 5 && str_ncmp_icase(text, "IPv6:", 5) == 0) {
        text += 5;
        len -= 5;
    }
    pct = memchr(text, '%', len);
    if (pct != NULL)
        len = (size_t)(pct - text);
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    memset(addr_r, 0, 16);
    if (strchr(tmp, ':') == NULL) {
        struct in_addr a4;

        if (inet_pton(AF_INET, tmp, &a4) != 1)
            return -1;
        memcpy(addr_r, &a4, 4);
        *family_r = AF_INET;
        return 0;
    }
    {
        struct in6_addr a6;

        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return -1;
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            memcpy(addr_r, a6.s6_addr + 12, 4);
            *family_r = AF_INET;
            return 0;
        }
        memcpy(addr_r, a6.s6_addr, 16);
        *family_r = AF_INET6;
        return 0;
    }
}

/* Canonical text of an address into out; -1 (and a copy) when it is none. */
int mynetworks_normalize_addr(const char *text, char *out, size_t size)
{
    unsigned char a[16];
    char tmp[INET6_ADDRSTRLEN];
    int family;

    if (mynetworks_parse_addr(text, &family, a) < 0 ||
        inet_ntop(family, a, tmp, sizeof(tmp)) == NULL) {
        (void)str_copy(out, size, text);
        return -1;
    }
    return str_copy(out, size, tmp) < 0 ? -1 : 0;
}

/* Append an empty item. */
static struct mn_item *mn_add(struct mynetworks *mn)
{
    if (mn->count == mn->size) {
        mn->size = mn->size ? 2 * mn->size : 8;
        mn->v = mem_realloc_array(mn->v, mn->size, sizeof(*mn->v));
    }
    memset(&mn->v[mn->count], 0, sizeof(mn->v[0]));
    return &mn->v[mn->count++];
}

/* Record why item is bad; returns -1. */
static int mn_bad(struct mynetworks *mn, const char *item, const char *why)
{
    buf_reset(mn->why);
    buf_printf(mn->why, "%s: bad item \"%s\": %s", mn->title, item, why);
    return -1;
}

/* Parse "addr[/prefix]" into a network item. */
static int mn_parse_net(struct mynetworks *mn, const char *item, struct mn_item *it)
{
    const char *slash = strrchr(item, '/');
    char addr[INET6_ADDRSTRLEN + 16];
    size_t alen = slash ? (size_t)(slash - item) : strlen(item);
    int max, prefix;
    bool mapped;

    if (alen == 0 || alen >= sizeof(addr))
        return mn_bad(mn, item, "not a network address");
    memcpy(addr, item, alen);
    addr[alen] = '\0';
    if (mynetworks_parse_addr(addr, &it->family, it->net) < 0)
        return mn_bad(mn, item, "not a network address");
    /* An IPv4-mapped pattern was turned into IPv4: its prefix shrinks by 96. */
    mapped = it->family == AF_INET && strchr(addr, ':') != NULL;
    max = it->family == AF_INET ? 32 : 128;
    if (slash == NULL) {
        prefix = max;
    } else {
        const char *why;

        if (str_parse_int(slash + 1, 0, mapped ? 128 : max, &prefix, &why) < 0)
            return mn_bad(mn, item, "bad prefix length");
        if (mapped) {
            if (prefix < 96)
                return mn_bad(mn, item, "IPv4-mapped prefix shorter than 96");
            prefix -= 96;
        }
    }
    /* Host bits past the prefix: refuse, the network is probably a typo. */
    for (int bit = prefix; bit < max; bit++)
        if (it->net[bit / 8] & (0x80 >> (bit % 8)))
            return mn_bad(mn, item, "non-zero host bits after the prefix length");
    it->kind = MN_NET;
    it->prefix = prefix;
    return 0;
}

static int mn_add_items(struct mynetworks *mn, const char *value, int depth);

/*
 * True when item is "type:name" with a known table type. A bare IPv6
 * address could look alike ("cdb::1"), which is why IPv6 networks are
 * best written in [brackets], as in Postfix.
 */
static bool mn_is_table(const char *item)
{
    const char *colon = strchr(item, ':');
    char type[32];
    size_t len;

    if (colon == NULL || !isalpha((unsigned char)*item))
        return false;
    len = (size_t)(colon - item);
    if (len >= sizeof(type))
        return false;
    memcpy(type, item, len);
    type[len] = '\0';
    return dict_type_known(type);
}

/* Add one item (maybe negated, a table, a file, or a network). */
static int mn_add_item(struct mynetworks *mn, const char *item, int depth)
{
    bool negate = false;
    const char *why;

    while (*item == '!') {
        negate = !negate;
        item++;
    }
    if (*item == '\0')
        return mn_bad(mn, "!", "nothing after '!'");
    if (*item == '/') {
        char *text;
        size_t len;
        int r;

        if (negate)
            return mn_bad(mn, item, "a file name cannot be negated");
        if (depth >= MYNETWORKS_DEPTH_MAX)
            return mn_bad(mn, item, "files nested too deeply");
        r = config_load_file(item, MYNETWORKS_FILE_MAX, &text, &len, &why);
        if (r <= 0)
            return mn_bad(mn, item, r == 0 ? "no such file" : why);
        /* '#' comments run to the end of the line */
        for (char *cp = text; (cp = strchr(cp, '#')) != NULL;)
            while (*cp != '\0' && *cp != '\n')
                *cp++ = ' ';
        r = mn_add_items(mn, text, depth + 1);
        mem_free(text);
        return r;
    }
    if (mn_is_table(item)) {
        struct mn_item *it;
        struct maps *m;

        if (maps_create(mn->title, item, 0, &m, &why) < 0) {
            buf_set(mn->why, why);
            return -1;
        }
        it = mn_add(mn);
        it->kind = MN_TABLE;
        it->negate = negate;
        it->table = m;
        return 0;
    }
    {
        struct mn_item it = {0};

        if (mn_parse_net(mn, item, &it) < 0)
            return -1;
        it.negate = negate;
        *mn_add(mn) = it;
    }
    return 0;
}

/* Add every item of a list text. */
static int mn_add_items(struct mynetworks *mn, const char *value, int depth)
{
    struct argv *items = param_list_split(value);
    int r = 0;

    for (size_t i = 0; i < items->argc && r == 0; i++)
        r = mn_add_item(mn, items->argv[i], depth);
    argv_free(&items);
    return r;
}

/* Build the list; -1 with *why_r naming the bad item. */
int mynetworks_create(const char *title, const char *value, struct mynetworks **mn_r,
                      const char **why_r)
{
    struct mynetworks *mn = mem_alloc(sizeof(*mn));

    mn->title = mem_strdup(title);
    mn->why = buf_create(100);
    *mn_r = NULL;
    if (mn_add_items(mn, value, 0) < 0) {
        if (mn_create_why == NULL)
            mn_create_why = buf_create(100);
        buf_set(mn_create_why, buf_str(mn->why));
        *why_r = buf_str(mn_create_why);
        mynetworks_free(&mn);
        return -1;
    }
    *mn_r = mn;
    return 0;
}

/* Free the list; clear the caller's pointer. */
void mynetworks_free(struct mynetworks **mnp)
{
    struct mynetworks *mn = *mnp;

    if (mn == NULL)
        return;
    for (size_t i = 0; i < mn->count; i++)
        maps_free(&mn->v[i].table);
    mem_free(mn->v);
    mem_free(mn->title);
    buf_free(&mn->why);
    mem_free(mn);
    *mnp = NULL;
}

/* True when addr (family, bytes) is inside the network item. */
static bool mn_net_match(const struct mn_item *it, int family, const unsigned char *a)
{
    int full = it->prefix / 8, rest = it->prefix % 8;

    if (family != it->family)
        return false;
    if (memcmp(a, it->net, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((a[full] ^ it->net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Is addr in the list? 1 yes, 0 no, -1 table error. */
int mynetworks_match(struct mynetworks *mn, const char *addr, const char **why_r)
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    int family;

    if (mynetworks_parse_addr(addr, &family, a) < 0 ||
        inet_ntop(family, a, text, sizeof(text)) == NULL)
        return 0;
    for (size_t i = 0; i < mn->count; i++) {
        const struct mn_item *it = &mn->v[i];
        bool hit;

        if (it->kind == MN_NET) {
            hit = mn_net_match(it, family, a);
        } else {
            const char *value;
            int r = maps_find(it->table, text, &value, why_r);

            if (r < 0)
                return -1;
            hit = r > 0;
        }
        if (hit)
            return it->negate ? 0 : 1;
    }
    return 0;
}

/* The mynetworks value in force (main.cf, or computed from mynetworks_style). */
char *mynetworks_config_value(void)
{
    if (config_is_set("mynetworks"))
        return mem_strdup(config_str("mynetworks"));
    return param_mynetworks(config_str("mynetworks_style"));
}
