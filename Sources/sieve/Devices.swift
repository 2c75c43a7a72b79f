import ArgumentParser
import Kernels

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices", abstract: "List the compute devices Sieve can use.",
        discussion: "Example:\n  sieve devices")

    func run() throws {
        let cpu = CPUDevice()
        print("cpu: \(cpu.name), \(workerCount) cores")
        let (devices, problem) = Devices.openCL()
        if let problem { print("opencl: \(problem)") }
        for (i, d) in devices.enumerated() { print("opencl:\(i): \(d)") }
        let best = Devices.best { print("note: " + $0) }
        print("default device: \(best.name)")
    }
}
