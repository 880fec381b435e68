/* A minimal worldsim client in C99: libzmq + msgpack-c, the protocol of docs/protocol.md.
 *
 *   worldsim_client ADDRESS RENDERER STEPS OUTDIR [CURVE_DIR CURVE_NAME]
 *
 * HELLO -> WELCOME, OPEN (controls ["camera"]) -> OPENED, STEPS x STEP -> FRAMES (inline frames:
 * no shared memory), CLOSE -> CLOSED. The camera turns right by TURN_DEG every video frame; every
 * frame is written to OUTDIR/frame_NNNN.ppm. Any ERROR or timeout ends it with one line, exit 1.
 * Protocol 3's snapshots and shared sessions (SNAPSHOT .. CONTROL) are not used: a client that
 * never sends them gets none of their messages, and it ignores the fields it does not read
 * (OPENED `token`, FRAMES `timings`). */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include <zmq.h>

enum { HELLO = 1, WELCOME, OPEN, OPENED, STEP, FRAMES, CLOSE, CLOSED, PING, PONG, ERROR_MSG,
       SNAPSHOT, STATE, RESTORE, RESTORED, JOIN, JOINED, WATCH, HANDOVER, CONTROL };   /* 1..20 */
#define PROTOCOL_VERSION 3
#define REPLY_TIMEOUT_MS 10000
#define MAX_FRAME_BYTES (64 * 1024 * 1024)
#define TURN_DEG 3.0
#define EYE_M 1.7
#define PI 3.14159265358979323846

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("worldsim_client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ---- packing helpers ------------------------------------------------------------------- */
static void pack_str(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void send_msg(void *sock, int type, msgpack_sbuffer *header) {
    unsigned char t = (unsigned char)type;
    if (zmq_send(sock, &t, 1, ZMQ_SNDMORE) != 1 || zmq_send(sock, header->data, header->size, 0) < 0)
        die("cannot send message type %d: %s", type, zmq_strerror(zmq_errno()));
    msgpack_sbuffer_clear(header);
}

/* ---- a received message: type, header (a msgpack map), at most one payload frame --------- */
typedef struct {
    int type;
    msgpack_unpacked header;     /* its strings point into `raw`: both live until reply_free */
    zmq_msg_t raw, payload;
    int has_payload;
} reply_t;

static const msgpack_object *get(const msgpack_object *map, const char *key) {
    if (map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static int64_t get_int(const msgpack_object *map, const char *key) {
    const msgpack_object *v = get(map, key);
    if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (int64_t)v->via.u64;
    if (v && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return v->via.i64;
    die("reply has no integer field '%s'", key);
    return 0;
}

static void reply_free(reply_t *r) {
    msgpack_unpacked_destroy(&r->header);
    zmq_msg_close(&r->raw);
    zmq_msg_close(&r->payload);
    r->has_payload = 0;
}

/* Wait for the reply to request `rid`; an ERROR reply ends the program with its code and message. */
static void recv_reply(void *sock, int64_t rid, int want, reply_t *r) {
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, REPLY_TIMEOUT_MS) <= 0)
        die("no reply from the worker within %d ms (is `worldsim serve` running at that address?)",
            REPLY_TIMEOUT_MS);
    zmq_msg_t part[3];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) die("receive failed: %s", zmq_strerror(zmq_errno()));
        more = zmq_msg_more(&m);
        if (n < 3) {
            zmq_msg_init(&part[n]);
            zmq_msg_move(&part[n++], &m);
        }
        zmq_msg_close(&m);
    }
    if (n < 2 || zmq_msg_size(&part[0]) != 1) die("malformed reply of %d frames", n);
    r->type = *(unsigned char *)zmq_msg_data(&part[0]);
    zmq_msg_init(&r->raw);
    zmq_msg_move(&r->raw, &part[1]);
    msgpack_unpacked_init(&r->header);
    if (msgpack_unpack_next(&r->header, zmq_msg_data(&r->raw), zmq_msg_size(&r->raw), NULL)
        != MSGPACK_UNPACK_SUCCESS || r->header.data.type != MSGPACK_OBJECT_MAP)
        die("reply header is not a msgpack map");
    r->has_payload = n == 3;
    zmq_msg_init(&r->payload);
    if (r->has_payload) zmq_msg_move(&r->payload, &part[2]);
    for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    const msgpack_object *h = &r->header.data;
    if (r->type == ERROR_MSG) {
        const msgpack_object *code = get(h, "code"), *msg = get(h, "message");
        die("worker answered ERROR [%.*s] %.*s", code ? (int)code->via.str.size : 0, code ? code->via.str.ptr : "",
            msg ? (int)msg->via.str.size : 0, msg ? msg->via.str.ptr : "");
    }
    if (r->type != want) die("expected message type %d, got %d", want, r->type);
    if (get_int(h, "rid") != rid) die("reply to request %lld answers %lld", (long long)rid,
                                      (long long)get_int(h, "rid"));
}

/* ---- CURVE: keys in the text files `worldsim keys` writes (public-key = "<40 Z85 chars>") ---- */
static void read_key(const char *dir, const char *file, const char *field, char out[41]) {
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f) die("cannot read CURVE key file %s", path);
    out[0] = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, field), *q;
        if (p && (q = strchr(p, '"')) && strlen(q) > 41 && q[41] == '"') {
            memcpy(out, q + 1, 40);
            out[40] = 0;
        }
    }
    fclose(f);
    if (!out[0]) die("no %s in %s", field, path);
}

static void secure(void *sock, const char *dir, const char *name) {
    char server[41], pub[41], sec[41], file[300];
    read_key(dir, "server.key", "public-key", server);
    snprintf(file, sizeof file, "%s.key_secret", name);
    read_key(dir, file, "public-key", pub);
    read_key(dir, file, "secret-key", sec);
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server, 40) || zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40)
        || zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40))
        die("bad CURVE keys in %s: %s", dir, zmq_strerror(zmq_errno()));
}

/* ---- frames ------------------------------------------------------------------------------ */
static void write_ppm(const char *dir, int index, const unsigned char *rgb, int w, int h) {
    char path[1024];
    snprintf(path, sizeof path, "%s/frame_%04d.ppm", dir, index);
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write %s", path);
    fprintf(f, "P6\n%d %d\n255\n", w, h);
    if (fwrite(rgb, 3, (size_t)w * h, f) != (size_t)w * h || fclose(f) != 0) die("cannot write %s", path);
}

/* Row-major OpenCV camera-to-world (x right, y down, z forward) in a +y-up world: a level camera
 * EYE_M above the origin, turned right by `a` radians from looking along -z (R = Ry(-a) diag(1,-1,-1)). */
static void pack_camera_packet(msgpack_packer *pk, double a) {
    double c = cos(a), s = sin(a);
    double m[16] = {c, 0, s, 0, 0, -1, 0, EYE_M, s, 0, -c, 0, 0, 0, 0, 1};
    msgpack_pack_map(pk, 1);
    pack_str(pk, "camera");
    msgpack_pack_map(pk, 1);
    pack_str(pk, "c2w");
    msgpack_pack_array(pk, 16);
    for (int i = 0; i < 16; i++) msgpack_pack_double(pk, m[i]);
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 7) {
        fprintf(stderr, "usage: %s ADDRESS RENDERER STEPS OUTDIR [CURVE_DIR CURVE_NAME]\n", argv[0]);
        return 2;
    }
    const char *address = argv[1], *renderer = argv[2], *outdir = argv[4];
    int steps = atoi(argv[3]);
    if (steps < 1) die("STEPS must be at least 1, got %s", argv[3]);
    void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    int64_t maxmsg = MAX_FRAME_BYTES;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (argc == 7) secure(sock, argv[5], argv[6]);
    if (zmq_connect(sock, address) != 0) die("cannot connect to %s: %s", address, zmq_strerror(zmq_errno()));

    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    reply_t r = {0};
    int64_t rid = 0;

    /* HELLO -> WELCOME */
    msgpack_pack_map(&pk, 3);
    pack_str(&pk, "rid"); msgpack_pack_int64(&pk, ++rid);
    pack_str(&pk, "version"); msgpack_pack_int64(&pk, PROTOCOL_VERSION);
    pack_str(&pk, "client"); pack_str(&pk, "worldsim-c-example");
    send_msg(sock, HELLO, &buf);
    recv_reply(sock, rid, WELCOME, &r);
    reply_free(&r);

    /* OPEN -> OPENED: session id and the renderer's spec */
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "rid"); msgpack_pack_int64(&pk, ++rid);
    pack_str(&pk, "renderer"); pack_str(&pk, renderer);
    pack_str(&pk, "seed"); msgpack_pack_int64(&pk, 1);
    pack_str(&pk, "controls"); msgpack_pack_array(&pk, 1); pack_str(&pk, "camera");
    send_msg(sock, OPEN, &buf);
    recv_reply(sock, rid, OPENED, &r);
    int64_t session = get_int(&r.header.data, "session");
    const msgpack_object *spec = get(&r.header.data, "spec");
    if (!spec) die("OPENED has no spec");
    int width = (int)get_int(spec, "width"), height = (int)get_int(spec, "height");
    int first = (int)get_int(spec, "first_step_frames"), per = (int)get_int(spec, "frames_per_step");
    reply_free(&r);
    printf("session %lld: %s %dx%d, %d frame(s) on the first step, %d after\n", (long long)session, renderer,
           width, height, first, per);

    /* STEP -> FRAMES, one control packet per video frame */
    int tick = 0;
    for (int s = 0; s < steps; s++) {
        int count = s == 0 ? first : per;
        msgpack_pack_map(&pk, 4);
        pack_str(&pk, "rid"); msgpack_pack_int64(&pk, ++rid);
        pack_str(&pk, "session"); msgpack_pack_int64(&pk, session);
        pack_str(&pk, "tick"); msgpack_pack_int64(&pk, tick);
        pack_str(&pk, "packets"); msgpack_pack_array(&pk, (size_t)count);
        for (int i = 0; i < count; i++) pack_camera_packet(&pk, (tick + i) * TURN_DEG * PI / 180.0);
        send_msg(sock, STEP, &buf);
        recv_reply(sock, rid, FRAMES, &r);
        const msgpack_object *desc = get(&r.header.data, "frames"), *shape = desc ? get(desc, "shape") : NULL;
        const msgpack_object *dtype = desc ? get(desc, "dtype") : NULL;
        if (!shape || shape->type != MSGPACK_OBJECT_ARRAY || shape->via.array.size != 4 || !dtype
            || dtype->type != MSGPACK_OBJECT_STR || dtype->via.str.size != 5 || memcmp(dtype->via.str.ptr, "uint8", 5) != 0)
            die("FRAMES must describe uint8 [F, H, W, 3] frames");
        uint64_t f = shape->via.array.ptr[0].via.u64, h = shape->via.array.ptr[1].via.u64;
        uint64_t w = shape->via.array.ptr[2].via.u64;
        if (!r.has_payload) die("FRAMES came without a payload (in a shared-memory slot?)");
        if (zmq_msg_size(&r.payload) != f * h * w * 3)
            die("payload of %zu bytes for %llu frames of %llux%llu", zmq_msg_size(&r.payload),
                (unsigned long long)f, (unsigned long long)w, (unsigned long long)h);
        for (uint64_t i = 0; i < f; i++)
            write_ppm(outdir, tick + (int)i, (unsigned char *)zmq_msg_data(&r.payload) + i * h * w * 3, (int)w, (int)h);
        tick += (int)f;
        reply_free(&r);
    }

    /* CLOSE -> CLOSED */
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "rid"); msgpack_pack_int64(&pk, ++rid);
    pack_str(&pk, "session"); msgpack_pack_int64(&pk, session);
    send_msg(sock, CLOSE, &buf);
    recv_reply(sock, rid, CLOSED, &r);
    reply_free(&r);
    printf("wrote %d frames to %s\n", tick, outdir);

    msgpack_sbuffer_destroy(&buf);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}
