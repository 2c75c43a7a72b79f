// libjpeg-turbo (Debian libjpeg62-turbo-dev): JPEG images of an ImageFolder data set.
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* libjpeg's default error_exit calls exit(); the handler here longjmps back to the setjmp
 * in the same C function instead, so a jump never crosses a Swift frame. Swift sees return
 * codes. Warnings are silent, except the two that mean pixel data is missing (the file
 * ends early, or a segment is cut short), which are errors as in PIL. */
enum { SIEVE_JPEG_OK = 0, SIEVE_JPEG_CORRUPT = 1, SIEVE_JPEG_TOO_LARGE = 2, SIEVE_JPEG_NO_MEMORY = 3,
       SIEVE_JPEG_UNSUPPORTED_COLOR = 4 };

typedef struct {
    struct jpeg_error_mgr manager; /* first, so the library's pointer to it is one to this */
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} sieve_jpeg_error;

static inline void sieve_jpeg_error_exit(j_common_ptr cinfo) {
    sieve_jpeg_error *error = (sieve_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, error->message);
    longjmp(error->jump, 1);
}

static inline void sieve_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return; /* trace messages */
    cinfo->err->num_warnings++;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER)
        sieve_jpeg_error_exit(cinfo);
}

static inline void sieve_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static inline void sieve_jpeg_copy_message(const char *from, char *to, size_t size) {
    if (size == 0) return;
    strncpy(to, from, size - 1);
    to[size - 1] = 0;
}

/* One row of 4-channel CMYK samples as libjpeg returns them (Adobe's inverted convention,
 * which PIL assumes for every CMYK JPEG: ink = 255 - sample) -> RGB, as PIL's
 * convert("RGB") does: channel = (255 - k) - round((255 - k) * ink / 255), k the black ink. */
static inline void sieve_jpeg_cmyk_row_to_rgb(const unsigned char *in, unsigned char *out, size_t width) {
    for (size_t x = 0; x < width; x++, in += 4, out += 3) {
        int nk = in[3];                                  /* 255 - black ink */
        for (int c = 0; c < 3; c++) {
            int ink = 255 - in[c], t = ink * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);          /* ink * nk / 255, rounded (PIL's MULDIV255) */
            out[c] = (unsigned char)(v < 0 ? 0 : v);
        }
    }
}

/* sieve_jpeg_decode: one JPEG file in memory -> 8-bit gray (1 channel, from a grayscale
 * JPEG) or RGB (3 channels, from YCbCr or RGB, and from CMYK or YCCK as PIL converts
 * them). Returns 0 with *pixels a malloc'd height*width*channels buffer (HWC; the caller
 * frees it); 1 for a corrupt or truncated file (message set); 2 when width*height exceeds
 * max_pixels (width and height set); 3 when out of memory; 4 for an unknown colour space
 * (message names it). */
static inline int sieve_jpeg_decode(const unsigned char *data, size_t size, size_t max_pixels,
                                    unsigned char **pixels, unsigned *width, unsigned *height,
                                    unsigned *channels, char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    sieve_jpeg_error error;
    unsigned char *volatile buffer = NULL; /* volatile: set after setjmp, freed after longjmp */
    *pixels = NULL; *width = 0; *height = 0; *channels = 0;
    if (message_size > 0) message[0] = 0;
    memset(&cinfo, 0, sizeof cinfo); /* jpeg_destroy_decompress is safe on a zeroed struct */
    cinfo.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = sieve_jpeg_error_exit;
    error.manager.emit_message = sieve_jpeg_emit_message;
    error.manager.output_message = sieve_jpeg_output_message;
    error.message[0] = 0;
    if (setjmp(error.jump)) {
        free(buffer);
        jpeg_destroy_decompress(&cinfo);
        sieve_jpeg_copy_message(error.message, message, message_size);
        return SIEVE_JPEG_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    unsigned c, decoded;     /* channels out; channels libjpeg gives (4 for CMYK, YCCK) */
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; c = decoded = 1; break;
    case JCS_YCbCr: case JCS_RGB: cinfo.out_color_space = JCS_RGB; c = decoded = 3; break;
    case JCS_CMYK: case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; c = 3; decoded = 4; break;
    default:
        sieve_jpeg_copy_message("unknown colour space", message, message_size);
        jpeg_destroy_decompress(&cinfo);
        return SIEVE_JPEG_UNSUPPORTED_COLOR;
    }
    *width = cinfo.image_width; *height = cinfo.image_height; *channels = c;
    if ((size_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return SIEVE_JPEG_TOO_LARGE;
    }
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * c;
    if (cinfo.output_components != (int)decoded || cinfo.output_width != cinfo.image_width
        || cinfo.output_height != cinfo.image_height || stride == 0) {
        sieve_jpeg_copy_message("unexpected output layout", message, message_size);
        jpeg_destroy_decompress(&cinfo);
        return SIEVE_JPEG_CORRUPT;
    }
    buffer = (unsigned char *)malloc(stride * cinfo.output_height);
    if (buffer == NULL) { jpeg_destroy_decompress(&cinfo); return SIEVE_JPEG_NO_MEMORY; }
    /* CMYK rows land in libjpeg's own image-lifetime memory, then convert into the buffer */
    JSAMPARRAY cmyk = decoded == c ? NULL
        : (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, cinfo.output_width * decoded, 1);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = buffer + (size_t)cinfo.output_scanline * stride;
        if (jpeg_read_scanlines(&cinfo, cmyk != NULL ? cmyk : &row, 1) != 1) break; /* cannot happen with a memory source */
        if (cmyk != NULL) sieve_jpeg_cmyk_row_to_rgb(cmyk[0], row, cinfo.output_width);
    }
    if (cinfo.output_scanline < cinfo.output_height) {
        free(buffer);
        sieve_jpeg_copy_message("file ends early (truncated)", message, message_size);
        jpeg_destroy_decompress(&cinfo);
        return SIEVE_JPEG_CORRUPT;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *pixels = buffer;
    return SIEVE_JPEG_OK;
}

/* sieve_jpeg_encode: width*height pixels of `channels` interleaved samples (1 gray, 3 RGB,
 * 4 CMYK) -> a baseline JPEG at `quality` (1-100) in a malloc'd *out of *out_size bytes
 * (the caller frees it), stored in libjpeg's default colour space for the input, or in
 * `stored` when it is not JCS_UNKNOWN (e.g. JCS_YCCK for CMYK samples). Returns 0, or 1
 * with message set. Used by the tests to write fixtures; Sieve itself writes no JPEGs. */
static inline int sieve_jpeg_encode(const unsigned char *pixels, unsigned width, unsigned height,
                                    unsigned channels, J_COLOR_SPACE stored, int quality, unsigned char **out,
                                    unsigned long *out_size, char *message, size_t message_size) {
    struct jpeg_compress_struct cinfo;
    sieve_jpeg_error error;
    *out = NULL; *out_size = 0;
    if (message_size > 0) message[0] = 0;
    if (channels != 1 && channels != 3 && channels != 4) {
        sieve_jpeg_copy_message("channels must be 1, 3 or 4", message, message_size);
        return 1;
    }
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&error.manager);
    error.manager.error_exit = sieve_jpeg_error_exit;
    error.manager.output_message = sieve_jpeg_output_message;
    error.message[0] = 0;
    if (setjmp(error.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(*out); *out = NULL; *out_size = 0;
        sieve_jpeg_copy_message(error.message, message, message_size);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, out, out_size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = (int)channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    if (stored != JCS_UNKNOWN) jpeg_set_colorspace(&cinfo, stored);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return 0;
}
