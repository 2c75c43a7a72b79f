/// Learning-rate schedules, evaluated per optimiser step.
public enum ScheduleKind: Sendable, Equatable {
    /// Constant learning rate.
    case constant
    /// Multiply by `factor` at each milestone epoch (Data Diet: x0.2 at 60/120/160).
    case step(milestones: [Int], factor: Float)
    /// Cosine decay from the peak to zero over the whole run.
    case cosine
}

/// A learning-rate schedule with optional linear warm-up.
public struct LearningRateSchedule: Sendable, Equatable {
    public var peak: Float
    public var kind: ScheduleKind
    /// Epochs of linear warm-up: the rate rises from `peak / W` to `peak` over the
    /// first `W = warmupEpochs * stepsPerEpoch` steps.
    public var warmupEpochs: Int

    public init(peak: Float, kind: ScheduleKind = .cosine, warmupEpochs: Int = 0) {
        self.peak = peak; self.kind = kind; self.warmupEpochs = warmupEpochs
    }

    /// Learning rate of step `step` (0-based) of `totalSteps`, `stepsPerEpoch` per epoch.
    public func rate(step: Int, totalSteps: Int, stepsPerEpoch: Int) -> Float {
        let warmupSteps = warmupEpochs * stepsPerEpoch
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        switch kind {
        case .constant:
            return peak
        case .step(let milestones, let factor):
            let epoch = step / max(1, stepsPerEpoch)
            let passed = milestones.filter { epoch >= $0 }.count
            var lr = peak
            for _ in 0..<passed { lr *= factor }
            return lr
        case .cosine:
            let span = max(1, totalSteps - warmupSteps)
            let t = Double(step - warmupSteps) / Double(span)
            return peak * Float(0.5 * (1 + cos(Double.pi * min(1, t))))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
