// Fully connected layer on feature-major activations x[in, N].

extension CPUDevice {
    public func linearForward(input x: Tensor, weight w: Tensor, bias b: Tensor, output y: Tensor,
                              inFeatures: Int, outFeatures: Int, batch: Int) {
        let ys = y.floats, bs = b.floats
        for o in 0..<outFeatures { (ys + o * batch).update(repeating: bs[o], count: batch) }
        // y[out, N] += w[out, in] * x[in, N]
        parallelSgemm(false, false, outFeatures, batch, inFeatures, 1, w.floats, inFeatures, x.floats, batch, 1, ys, batch)
    }

    public func linearBackward(input x: Tensor, weight w: Tensor, gradOutput dy: Tensor,
                               gradInput dx: Tensor?, gradWeight dw: Tensor, gradBias db: Tensor,
                               inFeatures: Int, outFeatures: Int, batch: Int) {
        // dw[out, in] = dy[out, N] * x[in, N]^T
        parallelSgemm(false, true, outFeatures, inFeatures, batch, 1, dy.floats, batch, x.floats, batch, 0, dw.floats, inFeatures)
        let dys = dy.floats, dbs = db.floats
        for o in 0..<outFeatures {
            var sum: Float = 0
            let row = dys + o * batch
            for n in 0..<batch { sum += row[n] }
            dbs[o] = sum
        }
        // dx[in, N] = w^T[in, out] * dy[out, N]
        if let dx {
            parallelSgemm(true, false, inFeatures, batch, outFeatures, 1, w.floats, inFeatures, dy.floats, batch, 0, dx.floats, batch)
        }
    }
}
