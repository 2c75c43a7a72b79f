import ArgumentParser
import Jobs
import Kernels
import Metrics
import Storage
import Trainer

#if canImport(Glibc)
import Glibc
#endif

/// Output options of the commands that write a run folder.
struct ScoreOutput: ParsableArguments {
    @Option(help: "Output directory.")
    var out: String = "scores"

    @Option(help: "Also write a JSON summary (detection AUROC/AP with --noise) here.")
    var json: String?

    @Flag(help: "Print only the summary.")
    var quiet: Bool = false

    @Flag(help: "Replace --out whole if it already holds files (another run's); also discards the finished units of an interrupted run in OUT.units/.")
    var force: Bool = false

    @Flag(inversion: .prefixedNo, help: "Write report.html (histograms, ROC/PR curves, correlations, image grids) into --out.")
    var report: Bool = true

    /// How the job writes its folder.
    func runOptions(resume: Bool = false, saveStateEvery: Int? = nil) -> RunOptions {
        var o = RunOptions(out: out)
        o.force = force
        o.resume = resume
        o.quiet = quiet
        o.report = report
        o.saveStateEvery = saveStateEvery
        o.commandLine = CommandLine.arguments.joined(separator: " ")
        return o
    }
}

/// `--resume` of the commands whose units are stored (`score ...`, `prune-curve`, `audit`).
struct ResumeOption: ParsableArguments {
    @Flag(help: "Continue an interrupted run into the same --out: load the units finished in OUT.units/ (refused when its job differs) and run only the rest.")
    var resume: Bool = false
}

/// `--shard`, `--resume` and `--save-state-every`: how a job's units are run.
struct UnitOptions: ParsableArguments {
    @OptionGroup var resumeOption: ResumeOption
    var resume: Bool { resumeOption.resume }

    @Option(help: "Run shard I of N (0-based: --shard 0/4 ... --shard 3/4) and write it into --out as a shard folder for `sieve merge`. A shard runs the units at positions p with p % N == I (seeds, splits, folds, the audit's parts); `score grand`/`el2n` with more shards than seeds run equal ranges of the seeds' scoring batches.")
    var shard: String?

    @Option(name: [.customLong("save-state-every"), .customLong("checkpoint-every")], parsing: .unconditional,
            help: ArgumentHelp("Also keep each training's state every STEPS optimiser steps (default: at the end of each epoch only), so a killed long epoch resumes with --resume losing at most STEPS steps (score grand, score el2n; --checkpoint-every is the same option).", valueName: "steps"))
    var saveStateEvery: Int?
}

/// The hooks that put a job's lines, progress and warnings on the console.
func consoleHooks(quiet: Bool = false, device: ModelOptions? = nil) -> JobHooks {
    var hooks = JobHooks()
    hooks.note = log
    hooks.notes = unitNotes
    hooks.warnings = { runWarnings }
    hooks.storeOpened = { OpenUnitStores.shared.add($0) }
    nonisolated(unsafe) var display: JobProgress?
    hooks.progress = { plan in
        display = JobProgress(quiet: quiet, plan: plan)
        return display!.callbacks
    }
    hooks.progressDone = { display?.finish() }
    if let device { hooks.makeDevice = { _ in try device.makeDevice() } }
    return hooks
}

/// Runs `spec` into `output`'s folder and prints what it did.
func runJob(_ spec: JobSpec, output: ScoreOutput, model: ModelOptions, units: UnitOptions? = nil) throws {
    try runJob(spec, options: output.runOptions(resume: units?.resume ?? false, saveStateEvery: units?.saveStateEvery),
               json: output.json, model: model)
}

/// Runs `spec` as `options` say, prints what it did and writes the JSON summary to `json`.
func runJob(_ spec: JobSpec, options: RunOptions, json: String?, model: ModelOptions?) throws {
    if let json { try OutputFile.checkWritable(json, option: "--json", replacing: .jsonSummary) }
    let outcome = try JobRunner.run(spec, options: options, hooks: consoleHooks(quiet: options.quiet, device: model))
    try printOutcome(outcome, json: json)
}

/// Prints a job's outcome: a shard's units and what comes next, or the run's summary
/// (detection figures when the labels were noised, the most suspicious examples
/// otherwise), and writes the JSON summary.
func printOutcome(_ outcome: JobOutcome, json: String?) throws {
    switch outcome {
    case .shard(let s):
        print("\(s.command): shard \(s.shard) ran \(s.units.count) unit(s) (\(s.units.joined(separator: ", "))"
              + (s.whole.map { "; \($0)" } ?? "") + ") -> \(s.folder)")
        print("once all \(s.shard.count) shards are done: sieve merge <their folders, this one is \(s.folder)> --out OUT")
    case .finished(let run):
        if case .pruneCurve(let curve, let seeds) = run.details {
            print("kept    selection                          test accuracy (mean ± std over \(seeds) seeds)")
            for p in curve.points {
                print("\((format(100 * p.keptFraction, 0) + "%").padding(7)) \(p.selection.padding(34)) "
                      + "\(format(100 * p.mean, 2))% ± \(format(100 * p.std, 2))")
            }
            return
        }
        if case .cleaning(let out, let seeds) = run.details {
            print("training set    kept     test accuracy (mean ± std over \(seeds) seeds, the same optimiser steps)")
            for v in Cleaning.Variant.allCases where out.accuracies[v] != nil {
                let (mean, std) = out.summary(v)
                let what = switch v {
                case .noisy: "noisy labels"
                case .cleaned: "cleaned"
                case .random: "random drop"
                case .oracle: "oracle drop"
                case .clean: "clean labels"
                }
                print("\(what.padding(15)) \(String(out.sizes[v] ?? 0).padding(8)) \(format(100 * mean, 2))% ± \(format(100 * std, 2))")
            }
            if let g = out.gapRecovered { print("the cleaning recovers \(format(100 * g, 1))% of the noisy-to-oracle gap") }
            print("kept examples -> \(run.folder)/kept.txt, cleaned labels -> \(run.folder)/labels.npy, every training -> \(run.folder)/cleaning.csv")
            if let json {
                let fields: [(String, JSON)] = Cleaning.Variant.allCases.filter { out.accuracies[$0] != nil }.map { v in
                    (v.rawValue, .object([("mean_test_accuracy", .double(out.summary(v).mean)), ("std", .double(out.summary(v).std))]))
                }
                try OutputFile.writeSummary(JSON.object([("command", .string(run.command)), ("kept", .int(out.kept))] + fields), to: json)
            }
            return
        }
        guard let table = run.table else { return }
        let data = run.data
        var summary: [(String, JSON)] = [("command", .string(run.command)), ("examples", .int(table.count)),
                                         ("seconds", .double(run.seconds)), ("warnings", .array(runWarnings.map { .string($0) }))]
        print("\(run.command): scored \(table.count) examples in \(JobProgress.duration(run.seconds)) -> \(run.folder)/scores.csv")
        if let positives = data.flippedMask, let noise = data.noise {
            print("detecting the \(data.flipped?.count ?? 0) flipped labels (\(noise)):")
            print("  score                      AUROC   AP      (suspicious end)")
            let (results, _) = Detection.evaluate(table.scores.map { ($0.name, $0.values, $0.direction) }, positives: positives)
            for r in results.sorted(by: { $0.auroc > $1.auroc }) {
                print("  \(r.name.padding(25)) \(format(r.auroc, 4))  \(format(r.averagePrecision, 4))  (\(r.direction.rawValue))")
            }
            summary.append(("detection", .object(results.map {
                ($0.name, .object([("auroc", .double($0.auroc)), ("average_precision", .double($0.averagePrecision))]))
            })))
        } else {
            print("most suspicious examples (index) by each score:")
            let tieBreak = table["suspicion"]?.values
            for s in table.scores {
                let top = Pruning.mostSuspicious(s.values, direction: s.direction, count: 8, tieBreak: tieBreak)
                print("  \(s.name.padding(25)) " + top.map(String.init).joined(separator: " "))
            }
        }
        if case .verdict(let v) = run.details {
            print(labelErrorsLine(v, examples: table.count, folder: run.folder))
            print("  noise structure \(format(v.noiseStructure, 2)) (0 = spread evenly over the other classes, 1 = each class's errors in one other class)")
            summary.append(("label_errors", .object([("estimated", .double(v.estimatedErrors)),
                                                     ("interval_95", .array([.double(v.interval.low), .double(v.interval.high)])),
                                                     ("flagged", .int(v.flagged.count)), ("sure", .int(v.flagged.filter { v.sure[$0] }.count)),
                                                     ("noise_structure", .double(v.noiseStructure)),
                                                     ("most_labels_look_wrong", .bool(v.mostLabelsLookWrong))])))
            if let positives = data.flippedMask {
                let hits = v.flagged.filter { positives[$0] }.count
                let precision = Double(hits) / Double(max(1, v.flagged.count)), recall = Double(hits) / Double(max(1, data.flipped?.count ?? 0))
                let right = zip(v.flagged, v.suggested).filter { positives[$0.0] && $0.1 == data.split.train.labels[$0.0] }.count
                print("  against the flipped labels: precision \(format(precision, 3)), recall \(format(recall, 3)), F1 "
                      + "\(format(2 * precision * recall / max(1e-12, precision + recall), 3)); suggested label right for "
                      + "\(right) of \(hits) flagged flipped examples")
            }
        }
        if run.report { print("report: \(run.folder)/report.html") }
        if let profile = reportProfile(run.device, title: run.command) { summary.append(("profile", profile)) }
        if let json { try OutputFile.writeSummary(JSON.object(summary), to: json) }
        if case .grand(let rho) = run.details { print("rank correlation of GraNd with the input norm: \(format(rho, 3))") }
    }
}

/// The unit folders this process opened, for its last words when it stops early: a run
/// stopped by a signal or an error keeps its finished units and training states for
/// `--resume` (an empty folder is removed), except after a divergence, which the same
/// settings would repeat.
final class OpenUnitStores: @unchecked Sendable {
    static let shared = OpenUnitStores()
    private var stores: [UnitStore] = []
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }

    func add(_ store: UnitStore) {
        pthread_mutex_lock(&mutex)
        stores.append(store)
        pthread_mutex_unlock(&mutex)
    }

    /// Removes the folders without work (all of them when `discard`) and returns a line
    /// naming those kept, or nil.
    func settle(discard: Bool) -> String? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        var kept: [String] = []
        for store in stores where store.exists {
            if discard || !store.holdsWork { store.remove() } else { kept.append(store.folder) }
        }
        guard !kept.isEmpty else { return nil }
        return "the finished units and training state are kept in \(kept.joined(separator: ", ")): "
            + "rerun the same command with --resume to continue, or with --force to start over"
    }
}

/// The verdict's line on stdout: the estimated number of label errors with its interval and
/// share of the labels, how many were flagged (and how many of their suggestions are sure), and
/// the file that lists them; a warning line below it when most labels look wrong
/// (``LabelVerdict/mostLabelsLookWrong``).
func labelErrorsLine(_ v: LabelVerdict, examples: Int, folder: String) -> String {
    "label errors: about \(format(v.estimatedErrors, 0)) (95% interval \(format(v.interval.low, 0))-\(format(v.interval.high, 0)), "
        + "\(format(100 * v.estimatedErrors / Double(max(1, examples)), 1))% of the labels); \(v.flagged.count) flagged with a "
        + "suggested label (\(v.flagged.filter { v.sure[$0] }.count) sure) -> \(folder)/\(RunFolder.labelIssuesFile)"
        + (v.mostLabelsLookWrong
            ? "\n  warning: more than half the labels look wrong, as they do to a network that has not learned the classes: "
              + "check the test accuracy, and train longer (--epochs) or at another --lr before acting on this verdict"
            : "")
}
