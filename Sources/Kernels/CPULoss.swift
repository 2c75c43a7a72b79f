// Batched softmax cross-entropy with softmax error vectors and per-example outputs.

extension CPUDevice {
    public func softmaxCrossEntropy(logits: Tensor, labels: Tensor, gradScale: Float,
                                    errors: Tensor, outputs: Tensor) {
        let (K, N) = Check.loss(logits: logits, labels: labels, errors: errors, outputs: outputs)
        let z = logits.hostFloats, y = labels.hostInts, e = errors.hostFloats, out = outputs.hostFloats
        for n in 0..<N {
            let label = Int(y[n])
            guard label >= 0 && label < K else { Check.fail("softmaxCrossEntropy", "label \(label) outside 0..<\(K)") }
            var top = -Float.infinity, argmax = 0, other = -Float.infinity
            for k in 0..<K {
                let v = z[k * N + n]
                if v > top { top = v; argmax = k }
                if k != label && v > other { other = v }
            }
            var sum: Float = 0
            for k in 0..<K { sum += (z[k * N + n] - top).exp() }
            let logSum = sum.log()
            var squared: Float = 0
            for k in 0..<K {
                let p = (z[k * N + n] - top - logSum).exp()
                let err = p - (k == label ? 1 : 0)
                squared += err * err
                e[k * N + n] = gradScale * err
            }
            let zy = z[label * N + n]
            out[ExampleOutput.loss.rawValue * N + n] = top + logSum - zy
            out[ExampleOutput.correct.rawValue * N + n] = argmax == label ? 1 : 0
            out[ExampleOutput.margin.rawValue * N + n] = zy - other
            out[ExampleOutput.probability.rawValue * N + n] = (zy - top - logSum).exp()
            out[ExampleOutput.el2n.rawValue * N + n] = squared.squareRoot()
            out[ExampleOutput.predicted.rawValue * N + n] = Float(argmax)
        }
    }

    public func sgdStep(parameter w: Tensor, gradient g: Tensor, momentum m: Tensor, hyper h: SGDHyperparameters) {
        Check.elements("sgdStep", w.count, w, g, m)
        let ws = w.hostFloats, gs = g.hostFloats, ms = m.hostFloats
        let lr = h.learningRate, mu = h.momentum, wd = h.weightDecay, nesterov = h.nesterov
        split(w.count, grain: 1 << 15) { _, r in
            for i in r {
                let grad = gs[i] + wd * ws[i]
                let buf = mu * ms[i] + grad
                ms[i] = buf
                ws[i] -= lr * (nesterov ? grad + mu * buf : buf)
            }
        }
    }
}

extension Float {
    @inline(__always) func exp() -> Float { Float(_exp(Double(self))) }
    @inline(__always) func log() -> Float { Float(_log(Double(self))) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
#endif
