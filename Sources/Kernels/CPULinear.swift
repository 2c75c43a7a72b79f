// Fully connected layer on feature-major activations x[in, N].

extension CPUDevice {
    public func linearForward(input x: Tensor, weight w: Tensor, bias b: Tensor, output y: Tensor,
                              inFeatures: Int, outFeatures: Int, batch: Int) {
        Check.linear("linearForward", x, y, inFeatures: inFeatures, outFeatures: outFeatures, batch: batch)
        w.require(outFeatures * inFeatures, .float32, "linearForward", "weight [out, in]")
        b.require(outFeatures, .float32, "linearForward", "bias [out]")
        let ys = y.hostFloats, bs = b.hostFloats
        for o in 0..<outFeatures { (ys + o * batch).update(repeating: bs[o], count: batch) }
        // y[out, N] += w[out, in] * x[in, N]
        parallelSgemm(false, false, outFeatures, batch, inFeatures, 1, w.hostFloats, inFeatures, x.hostFloats, batch, 1, ys, batch)
    }

    public func linearBackward(input x: Tensor, weight w: Tensor, gradOutput dy: Tensor,
                               gradInput dx: Tensor?, gradWeight dw: Tensor, gradBias db: Tensor,
                               inFeatures: Int, outFeatures: Int, batch: Int) {
        Check.linear("linearBackward", x, dy, inFeatures: inFeatures, outFeatures: outFeatures, batch: batch)
        w.require(outFeatures * inFeatures, .float32, "linearBackward", "weight [out, in]")
        dw.require(outFeatures * inFeatures, .float32, "linearBackward", "gradWeight [out, in]")
        db.require(outFeatures, .float32, "linearBackward", "gradBias [out]")
        dx?.require(inFeatures * batch, .float32, "linearBackward", "gradInput [in, N]")
        // dw[out, in] = dy[out, N] * x[in, N]^T
        parallelSgemm(false, true, outFeatures, inFeatures, batch, 1, dy.hostFloats, batch, x.hostFloats, batch, 0, dw.hostFloats, inFeatures)
        let dys = dy.hostFloats, dbs = db.hostFloats
        for o in 0..<outFeatures {
            var sum: Float = 0
            let row = dys + o * batch
            for n in 0..<batch { sum += row[n] }
            dbs[o] = sum
        }
        // dx[in, N] = w^T[in, out] * dy[out, N]
        if let dx {
            parallelSgemm(true, false, inFeatures, batch, outFeatures, 1, w.hostFloats, inFeatures, dy.hostFloats, batch, 0, dx.hostFloats, batch)
        }
    }
}
