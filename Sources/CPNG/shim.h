// libpng (Debian libpng-dev): PNG images of an ImageFolder data set, and the report's
// image grids.
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* sieve_png_decode: one PNG file in memory -> 8-bit gray (1 channel) or RGB (3 channels).
 *
 * libpng reports errors by longjmp, which must never cross Swift frames, so the setjmp
 * and every libpng call that may jump live in this one C function; Swift sees a return
 * code. The low-level API (not png_image) is used because its transforms match what
 * torchvision's PIL loader gives: alpha dropped (not composited), palettes expanded to
 * RGB, 1/2/4-bit gray expanded, 16-bit reduced to its high byte, gamma ignored.
 *
 * Returns 0 with *pixels a malloc'd height*width*channels buffer (rows of interleaved
 * samples, HWC; the caller frees it); 1 for a corrupt or truncated file (message set);
 * 2 when width*height exceeds max_pixels (width and height set, nothing allocated);
 * 3 when out of memory. */
enum { SIEVE_PNG_OK = 0, SIEVE_PNG_CORRUPT = 1, SIEVE_PNG_TOO_LARGE = 2, SIEVE_PNG_NO_MEMORY = 3 };

typedef struct {
    const unsigned char *data;
    size_t size, offset;
    char *message;
    size_t message_size;
} sieve_png_source;

static inline void sieve_png_read(png_structp png, png_bytep out, png_size_t length) {
    sieve_png_source *src = (sieve_png_source *)png_get_io_ptr(png);
    if (length > src->size - src->offset) png_error(png, "file ends early (truncated)");
    memcpy(out, src->data + src->offset, length);
    src->offset += length;
}

static inline void sieve_png_error(png_structp png, png_const_charp message) {
    sieve_png_source *src = (sieve_png_source *)png_get_error_ptr(png);
    if (src->message_size > 0) {
        strncpy(src->message, message, src->message_size - 1);
        src->message[src->message_size - 1] = 0;
    }
    png_longjmp(png, 1);
}

static inline void sieve_png_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static inline int sieve_png_decode(const unsigned char *data, size_t size, size_t max_pixels,
                                   unsigned char **pixels, unsigned *width, unsigned *height,
                                   unsigned *channels, char *message, size_t message_size) {
    sieve_png_source src = { data, size, 0, message, message_size };
    png_structp png = NULL;
    png_infop info = NULL;
    unsigned char *volatile buffer = NULL; /* volatile: set after setjmp, freed after longjmp */
    png_bytep *volatile rows = NULL;
    *pixels = NULL; *width = 0; *height = 0; *channels = 0;
    if (message_size > 0) message[0] = 0;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, sieve_png_error, sieve_png_warning);
    if (png == NULL) return SIEVE_PNG_NO_MEMORY;
    info = png_create_info_struct(png);
    if (info == NULL) { png_destroy_read_struct(&png, NULL, NULL); return SIEVE_PNG_NO_MEMORY; }
    if (setjmp(png_jmpbuf(png))) {
        free(buffer); free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return SIEVE_PNG_CORRUPT;
    }
    png_set_read_fn(png, &src, sieve_png_read);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color_type = png_get_color_type(png, info), bit_depth = png_get_bit_depth(png, info);
    unsigned c = (color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1; /* palette types carry the colour bit */
    *width = w; *height = h; *channels = c;
    if (w == 0 || h == 0) png_error(png, "zero width or height");
    if ((size_t)w * h > max_pixels) { png_destroy_read_struct(&png, &info, NULL); return SIEVE_PNG_TOO_LARGE; }
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png); /* also the alpha a palette's tRNS chunk expands to */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != c || png_get_rowbytes(png, info) != (size_t)w * c)
        png_error(png, "unexpected row layout after transforms");
    buffer = (unsigned char *)malloc((size_t)w * h * c);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
    if (buffer == NULL || rows == NULL) {
        free(buffer); free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return SIEVE_PNG_NO_MEMORY;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buffer + (size_t)y * w * c;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* reads to IEND: a file cut after its pixels is still an error */
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *pixels = buffer;
    return SIEVE_PNG_OK;
}
