import Kernels
import Metrics
import Report
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// A job ready to run: its spec, what it runs on, and the protocol built from both.
struct Job {
    var spec: JobSpec
    var setup: ExperimentSetup
    var built: Built

    /// The protocol of each kind of job.
    enum Built {
        case ensemble(CheckpointEnsemble)
        case audit(AuditProtocol)
        case ssft(SecondSplitForgetting)
        case pruneCurve(PruneCurve, columns: [String])
        case cleaning(Cleaning)
    }

    init(spec: JobSpec, setup: ExperimentSetup) throws {
        self.spec = spec.resolved(setup.configuration)
        self.setup = setup
        let spec = self.spec
        switch spec.protocol {
        case .grand(let e), .el2n(let e):
            var gradNorms = false
            if case .grand = spec.protocol { gradNorms = true }
            built = .ensemble(try CheckpointEnsemble(setup: setup, seeds: e.seeds, atEpoch: e.atEpoch, gradNorms: gradNorms,
                                                     scheduleEpochs: e.scheduleEpochs))
        case .dynamics(let d):
            let training = try DynamicsRun(setup: setup, epochs: d.epochs, seed: d.seed, aumFromEpoch: d.aumFromEpoch, vog: d.vog)
            let threshold = d.aumThreshold ? try AUMThresholdRuns(setup: setup, epochs: d.epochs, seed: d.seed, aumFromEpoch: d.aumFromEpoch) : nil
            built = .audit(AuditProtocol(training: training, threshold: threshold))
        case .audit(let a):
            var training = try DynamicsRun(setup: setup, epochs: a.epochs, seed: a.seed, aumFromEpoch: a.aumFromEpoch, vog: a.vog,
                                           checkpoints: a.checkpointEpochs, probabilityEpochs: a.probabilityEpochs)
            training.embeddings = true
            built = .audit(AuditProtocol(
                training: training,
                threshold: a.aumThreshold ? try AUMThresholdRuns(setup: setup, epochs: a.epochs, seed: a.seed, aumFromEpoch: a.aumFromEpoch) : nil,
                atInit: a.inits > 0 ? try CheckpointEnsemble(setup: setup, seeds: (0..<UInt64(a.inits)).map { a.seed &+ 1000 &+ $0 },
                                                             atEpoch: 0, gradNorms: true) : nil,
                twoSplit: a.ssft ? try SecondSplitForgetting(setup: setup, epochs: a.ssftEpochs ?? a.epochs, seeds: [a.seed]) : nil,
                crossValidation: a.folds > 0 ? try CrossValidation(setup: setup, folds: a.folds, epochs: a.epochs, seed: a.seed) : nil))
        case .ssft(let s):
            built = .ssft(try SecondSplitForgetting(setup: setup, epochs: s.epochs, seeds: (0..<UInt64(s.seeds)).map { s.firstSeed &+ $0 }))
        case .clean(var c):
            let issues = try RunFolder.readLabelIssues(c.audit)
            var labels = setup.data.labels
            var hash = ContentHash()
            let path = RunFolder.join(c.audit, RunFolder.labelIssuesFile)
            for issue in issues {
                guard issue.index < labels.count, labels[issue.index] == issue.given else {
                    throw TrainerError.invalid("\(path): example \(issue.index) with label \(issue.given) is not in this data "
                                               + "(the audit ran on other data, or the file was edited)")
                }
                guard issue.suggested >= 0, Int(issue.suggested) < setup.data.classes else {
                    throw TrainerError.invalid("\(path): the suggested label \(issue.suggested) of example \(issue.index) is not a class "
                                               + "of this data (0-\(setup.data.classes - 1)); the file was edited")
                }
                hash.add(UInt64(issue.index)); hash.add(UInt64(issue.suggested)); hash.add(issue.sure ? 1 : 0)
            }
            if let recorded = c.issuesFingerprint, recorded != hash.hex {
                throw TrainerError.invalid("\(c.audit): its label_issues.csv is not the verdict this cleaning used; give the same audit")
            }
            c.issuesFingerprint = hash.hex
            self.spec.protocol = .clean(c)
            // drop: every flagged example goes; relabel: each takes its suggestion; fix: the sure ones do, the rest go.
            let relabelled = issues.filter { c.mode == .relabel || (c.mode == .fix && $0.sure) }
            for issue in relabelled { labels[issue.index] = issue.suggested }
            let dropped = c.mode == .relabel ? [] : Set(issues.filter { c.mode == .drop || !$0.sure }.map(\.index))
            built = .cleaning(try Cleaning(setup: setup, kept: (0..<labels.count).filter { !dropped.contains($0) }, labels: labels,
                                           seeds: c.seeds, epochs: c.epochs, oracle: c.oracle))
        case .pruneCurve(var p):
            guard setup.data.split.test.count > 0 else {
                throw TrainerError.invalid("\(spec.data.source) has no test set, and a prune curve is test accuracy: hold one out with --val 0.1")
            }
            let folder = try RunFolder(scores: p.scoresFile)
            let columns = try p.scores.map { name in
                (name: name, values: try folder.scores.values(name), direction: try folder.rankingDirection(of: name, override: p.direction))
            }
            var curve = try PruneCurve(setup: setup, scores: columns, selections: p.selections, seeds: p.seeds, epochs: p.epochs)
            curve.neverLearned = folder.neverLearned
            // The values ranked by are part of the job: a resumed or merged curve must rank by the same.
            var hash = ContentHash()
            for c in columns { hash.add(c.name); hash.add(c.values) }
            if let recorded = p.scoresFingerprint, recorded != hash.hex {
                throw TrainerError.invalid("\(p.scoresFile): its scores are not the ones this prune curve ranked by (fingerprint "
                                           + "\(hash.hex), the job recorded \(recorded)); give the same scores")
            }
            p.scoresFingerprint = hash.hex
            self.spec.protocol = .pruneCurve(p)
            built = .pruneCurve(curve, columns: columns.map { "\($0.direction)" })
        }
    }

    /// The neighbours the audit's `outlier` score averages over (cleanlab's Datalab default).
    static let outlierNeighbours = 10

    /// The whole run's unit names, in order.
    var unitNames: [String] {
        switch built {
        case .ensemble(let p): p.units.map(p.unitName)
        case .audit(let p): p.units.map(p.unitName)
        case .ssft(let p): p.units.map(p.unitName)
        case .pruneCurve(let p, _): p.units.map(p.unitName)
        case .cleaning(let p): p.units.map(p.unitName)
        }
    }

    /// Runs `handler` on the protocol, then writes what it returned: a shard folder was
    /// written by the handler; results are combined and written as the job's run folder.
    func dispatch<H: UnitsHandler>(_ handler: H) throws -> JobOutcome {
        let c = handler.context
        switch built {
        case .ensemble(let p):
            let h = try handler.handle(p, job: self)
            guard case .results(let r, let files) = h else { return h.outcome! }
            let out = try p.combine(r)
            if case .grand = spec.protocol {
                let rho = out.grandInputNormCorrelation ?? .nan
                return try c.finish(self, scores: out.grandScores, meta: [("spearman_grand_input_norm", .double(rho))], files: files,
                                    details: .grand(inputNormCorrelation: rho)) { run in
                    try NPYFormat.write((out.gradNormPerRun ?? []).flatMap { $0 }, shape: [out.runs, self.setup.data.count],
                                        to: run.path("grand_per_init.npy"))
                }
            }
            return try c.finish(self, scores: out.el2nScores, meta: [], files: files)
        case .audit(let p):
            let h = try handler.handle(p, job: self)
            guard case .results(let r, let files) = h else { return h.outcome! }
            let out = try p.combine(r)
            let n = setup.data.count, epochs = out.training.epochs
            var scores = out.scores
            var meta: [(String, JSON)] = [("test_accuracy", .double(out.training.testAccuracy ?? .nan))]
            var verdict: LabelVerdict?
            var neighbours: Neighbours?
            if case .dynamics = spec.protocol {
                // `score dynamics`: the dynamics scores, the threshold flags before el2n_final.
                scores = out.training.scores
                if let t = out.threshold { scores.insert(t.score, at: scores.count - 1) }
            } else {
                meta.append(("batch_norm_while_scoring", .string("eval (running statistics)")))
                // The verdict on the averaged class probabilities, and the default ranking built on it.
                if let probabilities = out.training.probabilities, let aum = scores.first(where: { $0.name == ScoreKind.aum.name }) {
                    let k = setup.data.classes
                    var v = LabelVerdict(labels: setup.data.labels, probabilities: probabilities, classes: k)
                    // AUM and cartography's confidence: the training's views of the fit beside the margin
                    let views = [aum] + scores.filter { $0.name == ScoreKind.confidence.name }
                    let suspicion = Suspicion.combine(verdict: v, views: views.map { ($0.values, $0.direction) })
                    v = v.flagging(by: suspicion)
                    verdict = v
                    let s = v.noiseStructure, w = (s * 1000).rounded() / 1000
                    scores.insert(Score(.suspicion, values: suspicion,
                                        note: "\(w) x rank of error_probability + \(1 - w) x mean rank of the log-probability margin, \(views.map(\.name).joined(separator: ", ")) (\(w) = the noise structure)"), at: 0)
                    scores.insert(Score(.errorProbability, values: v.errorProbability,
                                        note: "posterior probability that the given label is wrong, under the noise the confident joint estimates"), at: 1)
                    let epochsText = "epochs " + p.training.probabilityEpochs.map(String.init).joined(separator: ", ")
                    meta.append(("label_errors", RunFolder.labelErrorsMeta(
                        v, method: "confident learning on the class probabilities averaged over the models after \(epochsText)")))
                }
                // The final model's embeddings: kNN distances (outliers, near duplicates) and the class prototypes.
                if let e = out.training.embeddings {
                    let d = out.training.embeddingDimensions
                    let t0 = monotonicSeconds()
                    let nn = try Neighbours(embeddings: e, count: n, dimensions: d, k: Self.outlierNeighbours, device: setup.device)
                    if !c.options.quiet {
                        c.hooks.note("embeddings: \(nn.k) nearest neighbours of \(n) examples (\(d) features) in \(((monotonicSeconds() - t0) * 10).rounded() / 10) s")
                    }
                    neighbours = nn
                    scores.append(Score(.outlier, values: nn.outlier,
                                        note: "mean cosine distance of the final model's penultimate features to the \(nn.k) nearest other training examples"))
                    scores.append(Score(.nearDuplicate, values: nn.nearestDistance,
                                        note: "cosine distance to the nearest other training example (near_duplicates.csv: which one, and whether the labels conflict)"))
                    scores.append(Score(.prototypeDistance, values: Neighbours.prototypeDistance(embeddings: e, count: n, dimensions: d,
                                                                                               labels: setup.data.labels, classes: setup.data.classes),
                                        note: "cosine distance of the penultimate features to the mean of the given class's (normalised)"))
                }
                if let cv = out.crossValidation {
                    meta.append(("cross_validation", .object([("out_of_sample_accuracy", .double(cv.outOfSampleAccuracy)),
                                                              ("mean_test_accuracy", .double(cv.meanTestAccuracy ?? .nan))])))
                }
            }
            return try c.finish(self, scores: scores, meta: meta, files: files, details: verdict.map { .verdict($0) } ?? .scores) { run in
                if let verdict { try RunFolder.writeLabelIssues(verdict, data: self.setup.data, suspicion: scores[0].values, to: run.path(RunFolder.labelIssuesFile)) }
                if case .audit = self.spec.protocol, let p = out.training.probabilities {
                    try NPYFormat.write(p, shape: [n, self.setup.data.classes], to: run.path("verdict_probs.npy"))
                }
                if let e = out.training.embeddings, let neighbours {
                    try NPYFormat.write(e, shape: [n, out.training.embeddingDimensions], to: run.path("embeddings.npy"))
                    try OutputFile.write(RunFolder.nearDuplicatesCSV(neighbours, labels: self.setup.data.labels), to: run.path(RunFolder.nearDuplicatesFile))
                }
                try NPYFormat.write(out.training.correctness, shape: [epochs, n], to: run.path("correctness_by_epoch.npy"))
                try NPYFormat.write(out.training.el2nByEpoch, shape: [epochs, n], to: run.path("el2n_by_epoch.npy"))
                if let g = out.atInit, let perInit = g.gradNormPerRun {
                    try NPYFormat.write(perInit.flatMap { $0 }, shape: [g.runs, n], to: run.path("grand_per_init.npy"))
                }
                if let cv = out.crossValidation {
                    try NPYFormat.write(cv.predProbs, shape: [n, cv.classes], to: run.path("pred_probs.npy"))
                }
            }
        case .ssft(let p):
            let h = try handler.handle(p, job: self)
            guard case .results(let r, let files) = h else { return h.outcome! }
            return try c.finish(self, scores: try p.combine(r).scores, meta: [], files: files)
        case .pruneCurve(let p, _):
            let h = try handler.handle(p, job: self)
            guard case .results(let r, _) = h else { return h.outcome! }
            return try c.finishCurve(self, try p.combine(r))
        case .cleaning(let p):
            let h = try handler.handle(p, job: self)
            guard case .results(let r, _) = h else { return h.outcome! }
            let out = try p.combine(r)
            return try c.finishFiles(self, details: .cleaning(out, seeds: p.seeds)) { run in
                try IndexList.write(p.kept, to: run.path("kept.txt"))
                try NPYFormat.write(p.labels, shape: [p.labels.count], to: run.path("labels.npy"))
                try OutputFile.write(out.csv, to: run.path("cleaning.csv"))
            }
        }
    }

    /// The job's settings as `meta.json` records them, with the values the run used.
    var meta: [(String, JSON)] {
        var m = JobSpec.settingsMeta(data: spec.data, training: spec.training, configuration: setup.configuration)
            + [("train_examples", .int(setup.data.count)), ("classes", .int(setup.data.classes))]
        switch spec.protocol {
        case .grand(let e):
            m += [("inits", .int(e.runs)), ("at_epoch", .int(e.atEpoch)), ("schedule_epochs", .int(e.scheduleEpochs ?? e.atEpoch)),
                  ("first_seed", .uint(e.firstSeed)), ("batch_norm_while_scoring", .string("eval (running statistics)"))]
        case .el2n(let e):
            m += [("seeds", .int(e.runs)), ("at_epoch", .int(e.atEpoch)), ("schedule_epochs", .int(e.scheduleEpochs ?? e.atEpoch)),
                  ("first_seed", .uint(e.firstSeed))]
        case .dynamics(let x):
            m += [("epochs", .int(x.epochs)), ("seed", .uint(x.seed)), ("aum_from_epoch", .int(x.aumFromEpoch)),
                  ("vog", .bool(x.vog)), ("aum_threshold", .bool(x.aumThreshold))]
        case .ssft(let s):
            m += [("epochs_per_split", .int(s.epochs)), ("seeds", .int(s.seeds)), ("first_seed", .uint(s.firstSeed)),
                  ("batch_norm_while_recording", .string("eval (running statistics)"))]
        case .audit(let a):
            m += [("epochs", .int(a.epochs)), ("seed", .uint(a.seed)), ("aum_from_epoch", .int(a.aumFromEpoch)),
                  ("checkpoints", .array(a.checkpointEpochs.map(JSON.int))), ("verdict_epochs", .array(a.probabilityEpochs.map(JSON.int))),
                  ("inits", .int(a.inits)),
                  ("ssft_epochs_per_split", a.ssft ? .int(a.ssftEpochs ?? a.epochs) : .string("none")), ("folds", .int(a.folds)),
                  ("vog", .bool(a.vog)), ("aum_threshold", .bool(a.aumThreshold))]
        case .clean(let c):
            m += [("audit", .string(c.audit)), ("mode", .string(c.mode.rawValue)), ("seeds", .int(c.seeds)), ("epochs", .int(c.epochs)),
                  ("oracle", .bool(c.oracle))]
        case .pruneCurve(let p):
            guard case .pruneCurve(_, let directions) = built else { break }
            m += [("scores", .string(p.scores.joined(separator: ","))), ("directions", .string(directions.joined(separator: ","))),
                  ("selections", .array(p.selections.map { .string($0.description) })), ("seeds", .int(p.seeds)), ("epochs", .int(p.epochs))]
        }
        return m
    }

}

extension JobSpec {
    /// The spec with every default filled in as a run on `config` resolves it (the
    /// learning rate, the augmentation, the checkpoints, the AUM start, the schedule's
    /// length), so a job typed with its defaults spelled out is the same job.
    func resolved(_ config: TrainingConfiguration) -> JobSpec {
        var s = self
        s.training.lr = config.schedule.peak
        let a = config.augmentation
        s.training.augment = AugmentationSpec(crop: a.cropPadding > 0, flip: a.horizontalFlip, reflect: a.reflect && a.cropPadding > 0)
        switch s.protocol {
        case .grand(var e): e.scheduleEpochs = e.scheduleEpochs ?? e.atEpoch; s.protocol = .grand(e)
        case .el2n(var e): e.scheduleEpochs = e.scheduleEpochs ?? e.atEpoch; s.protocol = .el2n(e)
        case .dynamics(var d): d.aumFrom = d.aumFromEpoch; s.protocol = .dynamics(d)
        case .audit(var x):
            x.checkpoints = x.checkpointEpochs
            x.verdictEpochs = x.probabilityEpochs
            x.aumFrom = x.aumFromEpoch
            x.ssftEpochs = x.ssft ? x.ssftEpochs ?? x.epochs : nil
            s.protocol = .audit(x)
        case .ssft, .pruneCurve, .clean: break
        }
        return s
    }

    /// The data and training settings as `meta.json` records them, with the values
    /// `configuration` resolved (the model's defaults filled in).
    public static func settingsMeta(data d: DataSpec, training t: TrainingSpec, configuration config: TrainingConfiguration) -> [(String, JSON)] {
        [("data", .string(d.source)), ("limit", d.limit.map(JSON.int) ?? .string("none")),
         ("test_limit", d.testLimit.map(JSON.int) ?? .string("none")),
         ("model", .string(t.model.rawValue)), ("width", .int(config.width)), ("batch", .int(config.batchSize)),
         ("lr", .double(Double(config.schedule.peak))), ("schedule", .string(t.schedule.spec)), ("warmup_epochs", .int(t.warmup)),
         ("momentum", .double(Double(t.momentum))), ("nesterov", .bool(t.nesterov)),
         ("weight_decay", .double(Double(t.weightDecay))), ("augment", .string(describe(config.augmentation))),
         ("noise", .string(d.noise?.description ?? "none")), ("noise_seed", .uint(d.noiseSeed)),
         ("val", d.val.map(JSON.double) ?? .string("none")), ("val_seed", .uint(d.valSeed)),
         ("resize", .string(d.resize.map { "\($0) (\($0.torchvision))" } ?? "none"))]
    }

    /// `--augment`'s words for an augmentation (`crop:4,flip`).
    static func describe(_ a: Augmentation) -> String {
        a.isNone ? "none" : [a.cropPadding > 0 ? "crop:\(a.cropPadding)" : nil, a.horizontalFlip ? "flip" : nil, a.reflect ? "reflect" : nil]
            .compactMap { $0 }.joined(separator: ",")
    }
}

/// Where a job's results are written and what the caller asked for.
struct Context {
    var job: Job
    var run: RunDirectory
    var options: RunOptions
    var hooks: JobHooks
    var t0: Double
    /// A merge's shard folders (recorded in meta.json).
    var mergedShards: [String]?
    /// The device meta.json names (a merge records the shards').
    var deviceName: String?
    /// The backend job.json records (a merge records the shards').
    var backend: String?

    /// What every `meta.json` starts with: the run's identity, the command, and the checks
    /// `evaluate` and `prune` use to refuse files of different runs.
    func runMeta(seconds: Double) -> [(String, JSON)] {
        let data = job.setup.data
        var m: [(String, JSON)] = [("run_id", .string(run.runID)), ("command", .string(options.commandLine)),
                                   ("version", .string(Version.sieve)), ("score_command", .string(job.spec.command)),
                                   ("device", .string(deviceName ?? job.setup.device.name)), ("data_fingerprint", .string(data.fingerprint)),
                                   ("seconds", .double(seconds)), ("warnings", .array(hooks.warnings().map(JSON.string)))]
        if let flipped = data.flipped {
            m.append(("flipped", .object([("count", .int(flipped.count)), ("checksum", .string(IndexList.checksum(flipped)))])))
        }
        return m
    }

    /// Writes the scores (`scores.csv`, one `.npy` each), `flipped.txt`, `meta.json`,
    /// `job.json`, the job's own `extra` files, the units' side `files` and `report.html`
    /// into the run folder, and commits it.
    func finish(_ job: Job, scores: [Score], meta extra: [(String, JSON)], files: [String: String],
                details: FinishedRun.Details = .scores, extra writeExtra: (RunDirectory) throws -> Void = { _ in }) throws -> JobOutcome {
        let data = job.setup.data
        var table = data.scoreTable()
        for s in scores { table.add(s) }
        if let flipped = data.flipped { try IndexList.write(flipped, to: run.path("flipped.txt")) }
        let seconds = monotonicSeconds() - t0
        let merged: [(String, JSON)] = mergedShards.map { [("merged_shards", .array($0.map(JSON.string)))] } ?? []
        let meta = try table.write(to: run.staging, meta: runMeta(seconds: seconds) + job.meta + extra + merged)
        try OutputFile.write(JobRecord.make(job, backend: backend).rendered + "\n", to: run.path(JobRunner.jobFile))
        for (name, path) in files.sorted(by: { $0.key < $1.key }) { try linkOrCopy(path, to: run.path(name)) }
        try writeExtra(run)
        if options.report {
            let folder = RunFolder(path: run.staging, table: table, meta: meta)
            let input = try folder.reportInput(scores: try folder.reportScores(), images: data.train, classes: data.classes,
                                               classNames: data.train.classNames)
            try OutputFile.write(HTMLReport.render(input), to: run.path(RunFolder.reportFile))
        }
        try run.commit()
        return .finished(FinishedRun(command: job.spec.command, folder: run.target, seconds: seconds, data: data, device: job.setup.device,
                                     table: table, report: options.report, details: details))
    }

    /// Writes `prune_curve.csv`, `meta.json` and `job.json` and commits.
    func finishCurve(_ job: Job, _ curve: PruneCurve.Output) throws -> JobOutcome {
        guard case .pruneCurve(let p) = job.spec.protocol else { preconditionFailure("a prune curve's job") }
        return try finishFiles(job, details: .pruneCurve(curve, seeds: p.seeds)) { run in
            try OutputFile.write(curve.csv, to: run.path(RunFolder.pruneCurveFile))
        }
    }

    /// Writes a job's own files (`write`), `meta.json` and `job.json`, and commits: the
    /// folder of a job that writes no scores.
    func finishFiles(_ job: Job, details: FinishedRun.Details, write: (RunDirectory) throws -> Void) throws -> JobOutcome {
        try write(run)
        let seconds = monotonicSeconds() - t0
        let merged: [(String, JSON)] = mergedShards.map { [("merged_shards", .array($0.map(JSON.string)))] } ?? []
        try OutputFile.write(JSON.object(runMeta(seconds: seconds) + job.meta + merged).rendered + "\n", to: run.path("meta.json"))
        try OutputFile.write(JobRecord.make(job, backend: backend).rendered + "\n", to: run.path(JobRunner.jobFile))
        try run.commit()
        return .finished(FinishedRun(command: job.spec.command, folder: run.target, seconds: seconds, data: job.setup.data,
                                     device: job.setup.device, table: nil, report: false, details: details))
    }
}

/// A second name for `path` at `target` (a hard link: the unit folder keeps its copy until
/// the run commits), or a copy where links are refused (another file system).
func linkOrCopy(_ path: String, to target: String) throws {
    if link(path, target) == 0 { return }
    let bytes = try InputFile.read(path, expecting: "a file of a unit folder")
    let file = try OutputFile(path: target)
    try bytes.withUnsafeBytes { try file.write($0) }
    try file.commit()
}

/// What a handler of the units gives back: every unit's result (with the side files the
/// run folder takes), or nothing more to do (it wrote a shard folder).
enum Handled<UnitResult> {
    case results([UnitResult], files: [String: String])
    case shardWritten(ShardOutcome)

    /// The outcome of a written shard.
    var outcome: JobOutcome? {
        if case .shardWritten(let o) = self { return .shard(o) }
        return nil
    }
}

/// Runs a protocol's units (``Runner``) or collects them from shard folders (``Merger``).
protocol UnitsHandler {
    var context: Context { get }
    func handle<P: StoredUnits>(_ p: P, job: Job) throws -> Handled<P.UnitResult>
}

/// Sieve's version, as `sieve --version` prints it and `meta.json` records it.
public enum Version {
    public static let sieve = "0.1.0"
}
