import Testing
import Kernels
import Metrics
@testable import Trainer

/// The pieces of `sieve audit`: cross-validated probabilities, scoring passes at
/// checkpoints inside the dynamics run, and work plans that match what runs.
struct AuditProtocolTests {
    /// Sums the example-passes a protocol reports, by kind.
    final class Counter {
        var work = WorkPlan()
        var last: (unit: String, pass: Pass, done: Int)?
        var progress: ProtocolProgress {
            ProtocolProgress(step: { [self] unit, pass, done, total in
                let previous = (last.map { $0.unit == unit && $0.pass == pass && done >= $0.done } ?? false) ? last!.done : 0
                work.add(pass, done - previous)
                last = (unit, pass, done)
                #expect(done <= total && done > 0)
            })
        }
    }

    @Test func crossValidationFoldsAreStratifiedAndDisjoint() throws {
        let labels: [Int32] = (0..<103).map { Int32($0 % 3 == 0 ? 0 : ($0 % 7 == 0 ? 2 : 1)) }
        let folds = CrossValidation.stratifiedFolds(labels: labels, classes: 3, k: 5, seed: 9)
        #expect(folds.count == 5)
        let all = folds.flatMap { $0 }
        #expect(all.count == 103 && Set(all).count == 103)
        #expect(folds.map(\.count).max()! - folds.map(\.count).min()! <= 1)
        for c in 0..<3 {   // each class spread over the folds within one example
            let perFold = folds.map { f in f.filter { labels[Int($0)] == Int32(c) }.count }
            #expect(perFold.max()! - perFold.min()! <= 1)
        }
        #expect(folds == CrossValidation.stratifiedFolds(labels: labels, classes: 3, k: 5, seed: 9))
        #expect(folds != CrossValidation.stratifiedFolds(labels: labels, classes: 3, k: 5, seed: 10))
    }

    @Test func crossValidatedProbabilitiesAreOutOfSample() throws {
        let s = ProtocolTests.setup(count: 64, noise: .symmetric(rate: 0.25))
        let cv = try CrossValidation(setup: s, folds: 4, epochs: 2, seed: 1)
        let counter = Counter()
        let out = try cv.run(progress: counter.progress)
        #expect(counter.work == cv.plan)
        #expect(out.predProbs.count == 64 * s.data.classes)
        for i in 0..<64 {
            let row = out.predProbs[(i * out.classes)..<((i + 1) * out.classes)]
            #expect(row.allSatisfy { $0 >= 0 && $0 <= 1 } && abs(row.reduce(0, +) - 1) < 1e-9)
        }
        // Each fold's probabilities are those of a model that never saw it: training on
        // the other folds alone and predicting the fold gives the same numbers.
        let fold = 2
        let held = Set(cv.folds[fold])
        let training: [Int32] = (0..<Int32(64)).filter { !held.contains($0) }
        let session = try s.session(epochs: 2, seed: 1 &+ UInt64(fold), indices: training)
        try s.train(session, unit: "", progress: ProtocolProgress.silent)
        let direct: [Double] = try session.probabilities(of: cv.folds[fold])
        let classes = out.classes
        for (j, i) in cv.folds[fold].enumerated() {
            for k in 0..<classes {
                let a: Double = out.predProbs[Int(i) * classes + k], b: Double = direct[j * classes + k]
                #expect(a == b)
            }
        }
        // cleanlab's definitions.
        let y = Int(s.data.labels[5])
        let p: [Double] = Array(out.predProbs[(5 * classes)..<(6 * classes)])
        #expect(out.selfConfidence[5] == p[y])
        var other = 0.0
        for k in 0..<classes where k != y { other = max(other, p[k]) }
        let margin: Double = (p[y] - other + 1) / 2
        #expect(abs(out.normalizedMargin[5] - margin) < 1e-12)
        #expect(throws: TrainerError.self) { try CrossValidation(setup: s, folds: 1, epochs: 1, seed: 0) }
        #expect(throws: TrainerError.self) { try CrossValidation(setup: s, folds: 40, epochs: 1, seed: 0) }
    }

    /// The scoring pass at a checkpoint inside the dynamics run equals a separate
    /// training stopped at that epoch and scored (same seed, same schedule).
    @Test func dynamicsCheckpointsScoreTheModelOfThatEpoch() throws {
        let s = ProtocolTests.setup(count: 48)
        let run = try DynamicsRun(setup: s, epochs: 3, seed: 2, checkpoints: [3, 1])
        #expect(run.checkpoints == [1, 3])
        let counter = Counter()
        let result = try run.run(progress: counter.progress)
        #expect(counter.work == run.plan)
        #expect(result.checkpointScores.map(\.epoch) == [1, 3])
        let session = try s.session(epochs: 3, seed: 2)
        try s.train(session, unit: "", progress: .silent, stoppingAfter: 1)
        let separate = try session.scoreTrainingSet(gradNorms: true)
        #expect(result.checkpointScores[0].scores.gradNorm == separate.gradNorm)
        #expect(result.checkpointScores[0].scores.el2n == separate.el2n)
        // The last checkpoint is the final model: its EL2N is el2n_final.
        #expect(result.checkpointScores[1].scores.el2n == result.el2nFinal)
        let names = result.scores.map(\.name)
        #expect(names.contains("grand_e1") && names.contains("el2n_e3"))
        #expect(result.el2nByEpoch.count == 3 * 48 && result.el2nByEpoch.allSatisfy { $0.isFinite && $0 >= 0 })
        #expect(throws: TrainerError.self) { try DynamicsRun(setup: s, epochs: 3, seed: 2, checkpoints: [4]) }
    }

    @Test func plansMatchTheReportedWork() throws {
        let s = ProtocolTests.setup(count: 40)
        let protocols: [(String, () throws -> WorkPlan)] = [
            ("ssft", {
                let p = try SecondSplitForgetting(setup: s, epochs: 2, seeds: [1])
                let c = Counter(); _ = try p.run(progress: c.progress)
                #expect(c.work == p.plan, "ssft"); return p.plan
            }),
            ("ensemble", {
                let p = try CheckpointEnsemble(setup: s, seeds: [1, 2], atEpoch: 1, gradNorms: true)
                let c = Counter(); _ = try p.run(progress: c.progress)
                #expect(c.work == p.plan, "ensemble"); return p.plan
            }),
            ("aum threshold", {
                let p = try AUMThresholdRuns(setup: s, epochs: 2, seed: 1, aumFromEpoch: 1)
                let c = Counter(); _ = try p.run(progress: c.progress)
                #expect(c.work == p.plan, "aum"); return p.plan
            }),
            ("dynamics with VoG", {
                let p = try DynamicsRun(setup: s, epochs: 2, seed: 1, aumFromEpoch: 1, vog: true)
                let c = Counter(); _ = try p.run(progress: c.progress)
                #expect(c.work == p.plan, "vog"); return p.plan
            }),
        ]
        for (name, check) in protocols { #expect(try check().training > 0, "\(name)") }
    }
}
