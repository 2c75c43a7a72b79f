// OpenCL 1.2 API: the level NVIDIA, AMD, Intel and PoCL all implement.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
