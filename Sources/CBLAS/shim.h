// OpenBLAS's CBLAS interface: cblas_sgemm and the thread controls
// (openblas_set_num_threads, openblas_get_config) that Debian's cblas.h declares.
#include <cblas.h>
