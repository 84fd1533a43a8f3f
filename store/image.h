/* store/image.h: images inside store/ (jansson stays in store/ and registry/). */
#ifndef IMGBUILD_STORE_IMAGE_H
#define IMGBUILD_STORE_IMAGE_H

#include <jansson.h>

#include "common/cleanup.h"
#include "store/internal.h"

IB_DEFINE_AUTO(struct store_image, store_image_free)

struct store_image {
    json_t *manifest;
    json_t *config;
    struct digest id;     /* config digest ("" until committed) */
    struct digest digest; /* manifest digest ("" until committed) */
    uint64_t manifest_size;
    struct store_layer *layers;
    size_t nlayers, cap;
};

void image_json_dump(const json_t *j, struct ib_buf *out);
int image_json_parse(const char *s, size_t n, const char *what, json_t **out, struct ib_err **err);
/* A JSON blob; *out: json_decref. */
int image_read_json(struct store *st, const struct digest *d, json_t **out, struct ib_err **err);
/* o[key] as a string, "" when missing. */
const char *image_jstr(const json_t *o, const char *key);
enum store_compression image_media_compression(const char *media_type);
const char *image_layer_media(enum store_compression c);
/* Load the image whose manifest is d.  *out: store_image_free. */
int image_load(struct store *st, const struct digest *d, struct store_image **out,
               struct ib_err **err);
/* index.json as JSON (*out: json_decref); write it back atomically (hold the index lock). */
int image_index_read(struct store *st, json_t **out, struct ib_err **err);
/* Read an index.json from fd (open for reading) and check it has a manifests array; where
 * names the file in errors. */
int image_index_read_fd(int fd, const char *where, json_t **out, struct ib_err **err);
int image_index_write(struct store *st, json_t *index, struct ib_err **err);
/* The reference annotation of an index entry, or NULL. */
const char *image_entry_ref(const json_t *entry);
/* Write manifest from img->layers and config (blobs) and set id/digest. */
int image_write(struct store *st, struct store_image *img, struct ib_err **err);
/* RFC 3339 time (UTC) of t; caller frees. */
char *image_time_string(int64_t t);
/* SOURCE_DATE_EPOCH if set, else now. */
int64_t image_now(void);

#endif
