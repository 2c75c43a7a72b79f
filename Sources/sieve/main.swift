import Kernels

// OpenBLAS picks slow generic kernels on CPUs it does not recognise; fix that before anything runs.
OpenBLASCore.relaunchIfMisdetected(arguments: CommandLine.arguments)
Sieve.main()
