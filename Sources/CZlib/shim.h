// zlib: gzip-compressed IDX files (Debian's Fashion-MNIST ships .gz).
#include <zlib.h>
