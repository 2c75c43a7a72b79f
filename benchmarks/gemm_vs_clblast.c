// Sieve's OpenCL GEMM kernel (Sources/Kernels/OpenCL/gemm.cl, with the -D tuning of its
// device kind) against CLBlast's SGEMM on the same OpenCL device and queue, in one run:
// GFLOP/s for the GEMM shapes of CIFAR ResNet-18 (width 64, batch 128) convolutions.
// Build and run: benchmarks/gemm_vs_clblast.sh [DEVICE_INDEX]
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(x) do { cl_int s_ = (x); if (s_ != CL_SUCCESS) { fprintf(stderr, "%s failed: %d\n", #x, s_); exit(1); } } while (0)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static char* slurp(const char* path) {
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    char* s = malloc(n + 1); fread(s, 1, n, f); s[n] = 0; fclose(f);
    return s;
}

int main(int argc, char** argv) {
    int index = argc > 1 ? atoi(argv[1]) : 0;
    const char* kernelPath = argc > 2 ? argv[2] : "Sources/Kernels/OpenCL/gemm.cl";
    cl_platform_id platforms[8]; cl_uint np = 0;
    CHECK(clGetPlatformIDs(8, platforms, &np));
    cl_device_id devices[32]; cl_uint nd = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint n = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 32 - nd, devices + nd, &n) == CL_SUCCESS) nd += n;
    }
    if (index >= (int)nd) { fprintf(stderr, "no OpenCL device %d (%u found)\n", index, nd); return 1; }
    cl_device_id dev = devices[index];
    char name[256]; cl_device_type type;
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name, name, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    cl_int err;
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err); CHECK(err);
    cl_command_queue q = clCreateCommandQueue(ctx, dev, 0, &err); CHECK(err);
    // the same tuning table as OpenCLTuning.forDevice
    int gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    int tsm = 64, tsn = 64, tsk = 16, wptm = 8, wptn = 8;   // OpenCLTuning.forDevice (same for both kinds today)
    // SIEVE_GEMM="TSM TSN TSK WPTM WPTN" overrides the table, for tuning sweeps
    if (getenv("SIEVE_GEMM")) sscanf(getenv("SIEVE_GEMM"), "%d %d %d %d %d", &tsm, &tsn, &tsk, &wptm, &wptn);
    char options[160];
    snprintf(options, sizeof options, "-cl-std=CL1.2 -DTSM=%d -DTSN=%d -DTSK=%d -DWPTM=%d -DWPTN=%d", tsm, tsn, tsk, wptm, wptn);
    const char* src = slurp(kernelPath);
    cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err); CHECK(err);
    CHECK(clBuildProgram(prog, 1, &dev, options, NULL, NULL));
    cl_kernel k = clCreateKernel(prog, "gemm", &err); CHECK(err);
    // (m, n, k) = (K, N*P*Q, C*R*S) of ResNet-18 width 64 forward convolutions, batch 128
    int shapes[][3] = {{64, 131072, 576}, {128, 32768, 1152}, {256, 8192, 2304}, {512, 2048, 4608}, {1024, 1024, 1024}};
    printf("device: %s; sieve gemm %s\n", name, options);
    printf("%-22s %12s %12s %8s\n", "m x n x k", "sieve GF/s", "CLBlast GF/s", "ratio");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], n = shapes[s][1], kk = shapes[s][2];
        if (!gpu) n /= 16;   // keep CPU devices (PoCL) to seconds
        size_t bytesA = (size_t)m * kk * 4, bytesB = (size_t)kk * n * 4, bytesC = (size_t)m * n * 4;
        float* h = malloc(bytesA > bytesB ? (bytesA > bytesC ? bytesA : bytesC) : (bytesB > bytesC ? bytesB : bytesC));
        for (size_t i = 0; i < bytesB / 4 || i < bytesA / 4; i++) h[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
        cl_mem A = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytesA, h, &err); CHECK(err);
        cl_mem B = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytesB, h, &err); CHECK(err);
        cl_mem C = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytesC, NULL, &err); CHECK(err);
        int zero = 0, lda = kk, ldb = n, ldc = n; float alpha = 1, beta = 0;
        int args[] = {m, n, kk};
        for (int a = 0; a < 3; a++) CHECK(clSetKernelArg(k, a, 4, &args[a]));
        CHECK(clSetKernelArg(k, 3, 4, &alpha));
        CHECK(clSetKernelArg(k, 4, sizeof(cl_mem), &A)); CHECK(clSetKernelArg(k, 5, 4, &zero));
        CHECK(clSetKernelArg(k, 6, 4, &lda)); CHECK(clSetKernelArg(k, 7, 4, &zero));
        CHECK(clSetKernelArg(k, 8, sizeof(cl_mem), &B)); CHECK(clSetKernelArg(k, 9, 4, &zero));
        CHECK(clSetKernelArg(k, 10, 4, &ldb)); CHECK(clSetKernelArg(k, 11, 4, &zero));
        CHECK(clSetKernelArg(k, 12, 4, &beta)); CHECK(clSetKernelArg(k, 13, sizeof(cl_mem), &C));
        CHECK(clSetKernelArg(k, 14, 4, &zero)); CHECK(clSetKernelArg(k, 15, 4, &ldc));
        size_t local[2] = {tsn / wptn, tsm / wptm};
        size_t global[2] = {(size_t)((n + tsn - 1) / tsn) * local[0], (size_t)((m + tsm - 1) / tsm) * local[1]};
        int reps = gpu ? 20 : 2;
        double flops = 2.0 * m * n * kk;
        CHECK(clEnqueueNDRangeKernel(q, k, 2, NULL, global, local, 0, NULL, NULL)); clFinish(q);
        double t0 = now();
        for (int r = 0; r < reps; r++) CHECK(clEnqueueNDRangeKernel(q, k, 2, NULL, global, local, 0, NULL, NULL));
        clFinish(q);
        double ours = flops * reps / (now() - t0) / 1e9;
        cl_event e;
        CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n, kk, 1, A, 0, lda, B, 0, ldb, 0, C, 0, ldc, &q, &e);
        clFinish(q);
        t0 = now();
        for (int r = 0; r < reps; r++) {
            CLBlastStatusCode st = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n, kk, 1,
                                                A, 0, lda, B, 0, ldb, 0, C, 0, ldc, &q, NULL);
            if (st != CLBlastSuccess) { fprintf(stderr, "CLBlastSgemm: %d\n", st); return 1; }
        }
        clFinish(q);
        double theirs = flops * reps / (now() - t0) / 1e9;
        char label[64]; snprintf(label, sizeof label, "%d x %d x %d", m, n, kk);
        printf("%-22s %12.1f %12.1f %7.2fx\n", label, ours, theirs, ours / theirs);
        clReleaseMemObject(A); clReleaseMemObject(B); clReleaseMemObject(C); free(h);
    }
    return 0;
}
